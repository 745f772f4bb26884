"""Helpers for end-to-end tests: spec trees on disk and boto3 clients inside an enterprise's account."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import boto3

ENTERPRISE = """\
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: {name}}}
spec:
  account: "{account}"
  credentials:
    assumeRole: {{roleArn: "arn:aws:iam::{account}:role/controller"}}
  regions: [{regions}]
"""


# A VDC of network type default (a public and a NAT'd /24 in one zone), the most common fixture.
DEFAULT_VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.10.0.0/16, network: {type: default}}
"""


# A VDC of network type none with one network `a`: the smallest place for a VM.
NONE_VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.0.0.0/16, network: {type: none}}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: a, enterprise: acme, vdc: web}
spec: {cidr: 10.0.1.0/24}
"""


def enterprise_doc(name: str = "acme", account: str = "111111111111", regions: str = "us-east-1",
                   extra: str = "") -> str:
    """An Enterprise document; `extra`: more spec lines, indented by two spaces."""
    return ENTERPRISE.format(name=name, account=account, regions=regions) + extra


def write_specs(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: YAML text} under root (dedented); returns root."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def client(service: str, account: str = "111111111111", region: str = "us-east-1") -> Any:
    """A client acting inside `account` (the way the controller gets there: assume a role)."""
    sts = boto3.client("sts", region_name=region)
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/test", RoleSessionName="test")["Credentials"]
    return boto3.client(service, region_name=region, aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])


def by_address(items: list[dict[str, Any]], address: str) -> list[dict[str, Any]]:
    return [i for i in items if {"Key": "controller:address", "Value": address} in (i.get("Tags") or [])]


def apply_ok(cli: Any, specs: Path) -> None:
    """`controller apply --auto-approve` succeeds."""
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err


def no_changes(cli: Any, specs: Path) -> None:
    """`controller plan` exits 0 and says so."""
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out + r.err
    assert "No changes" in r.out


def plan_json(cli: Any, specs: Path) -> tuple[int, dict[str, Any]]:
    """`controller plan --json`: its exit code (0 or 2) and the plan."""
    import json

    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code in (0, 2), r.out + r.err
    return r.code, json.loads(r.out)


def changes_by_id(cli: Any, specs: Path, code: int = 2) -> dict[str, dict[str, Any]]:
    """The plan's changes by id, after checking its exit code (1: a plan with an error)."""
    import json

    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == code, r.out + r.err
    return {c["id"]: c for c in json.loads(r.out)["changes"]}
