"""Saved plans that were tampered with or are not plans at all: refused in one line, nothing deleted.

`apply FILE` plans afresh and carries out the fresh plan only when its changes are exactly the saved
ones; protection comes from the specs and live AWS, never from the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.engine.plan import changes_digest
from tests.helpers import by_address, client, enterprise_doc, write_specs

VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.10.0.0/16, network: {type: none}}
"""


def volume(name: str, protect: bool) -> str:
    return f"""\
apiVersion: controller/v1
kind: Volume
metadata: {{name: {name}, enterprise: acme, vdc: web, protect: {str(protect).lower()}}}
spec: {{sizeGiB: 1}}
"""


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    return lines[0]


def volumes(address: str) -> list[dict[str, Any]]:
    return by_address(client("ec2").describe_volumes()["Volumes"], address)


@pytest.fixture
def estate(aws, cli, tmp_path: Path) -> tuple[Path, Path]:
    """An applied estate with a protected and an unprotected volume, and a saved no-change plan of it."""
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC,
                                             "vols.yaml": volume("keep", True) + "---\n" + volume("data", False)})
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    plan_file = tmp_path / "plan.json"
    r = cli("plan", "--specs", str(specs), "--out", str(plan_file))
    assert r.code == 0, r.out + r.err
    return specs, plan_file


def tamper(plan_file: Path, address: str, edit: dict[str, Any], redigest: bool) -> None:
    data = json.loads(plan_file.read_text())
    hit = [c for c in data["changes"] if c["address"] == address]
    assert hit, address
    hit[0].update(edit)
    if redigest:  # a careful forger recomputes the digest: the comparison with a fresh plan still refuses
        data["changes_digest"] = changes_digest(data["changes"])
    plan_file.write_text(json.dumps(data))


@pytest.mark.parametrize("address, edit, redigest, says", [
    ("acme/web/Volume/keep", {"action": "delete", "protected": False}, False, "was edited"),
    ("acme/web/Volume/keep", {"action": "delete", "protected": False}, True, "saved changes are not the ones"),
    ("acme/web/Volume/data", {"action": "delete"}, True, "saved changes are not the ones"),
    ("acme/web/Volume/data", {"action": "replace", "reason": "x"}, True, "saved changes are not the ones"),
], ids=["protected-delete", "protected-delete-redigested", "noop-to-delete", "noop-to-replace"])
def test_tampered_plan_is_refused_and_nothing_deleted(estate, cli, address: str, edit: dict[str, Any],
                                                       redigest: bool, says: str) -> None:
    specs, plan_file = estate
    tamper(plan_file, address, edit, redigest)
    r = cli("apply", "--specs", str(specs), str(plan_file), "--auto-approve")
    assert r.code == 1, r.out + r.err
    assert says in r.err and "nothing was changed" in r.err, r.err
    for name in ("keep", "data"):
        assert len(volumes(f"acme/web/Volume/{name}")) == 1


def test_dropped_change_is_refused(estate, cli) -> None:
    specs, plan_file = estate
    data = json.loads(plan_file.read_text())
    data["changes"] = [c for c in data["changes"] if c["address"] != "acme/web/Volume/data"]
    data["changes_digest"] = changes_digest(data["changes"])
    plan_file.write_text(json.dumps(data))
    r = cli("apply", "--specs", str(specs), str(plan_file))
    assert r.code == 1 and "saved changes are not the ones" in r.err, r.err


def test_untouched_plan_applies_exactly(aws, cli, tmp_path: Path) -> None:
    """The honest path: a plan with a pending create is carried out, then the next plan is empty."""
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC,
                                             "vols.yaml": volume("data", False)})
    plan_file = tmp_path / "plan.json"
    assert cli("plan", "--specs", str(specs), "--out", str(plan_file)).code == 2
    r = cli("apply", "--specs", str(specs), str(plan_file))
    assert r.code == 0, r.out + r.err
    assert len(volumes("acme/web/Volume/data")) == 1
    assert cli("plan", "--specs", str(specs)).code == 0


# ------------------------------------------------------------------------------------------------
# Files that are not plans: refused before any spec is read or AWS is called (no endpoint needed)


def _plan_text(**over: Any) -> str:
    base: dict[str, Any] = {"format_version": "1", "created_at": "x", "enterprises": ["acme"],
                            "desired_digest": "d", "fingerprint": "f", "changes": []}
    base["changes_digest"] = changes_digest(base["changes"])
    base.update(over)
    return json.dumps(base)


BAD_FILES: dict[str, bytes] = {
    "empty-list": b"[]",
    "null": b"null",
    "string": b'"a plan"',
    "number": b"42",
    "empty": b"",
    "truncated": _plan_text().encode()[:40],
    "binary": bytes(range(256)) * 4,
    "utf16": _plan_text().encode("utf-16"),
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "no-version": b"{}",
    "version-2": _plan_text(format_version="2").encode(),
    "version-int": _plan_text(format_version=1).encode(),
    "changes-null": _plan_text(changes=None).encode(),
    "changes-dict": _plan_text(changes={"a": 1}).encode(),
    "enterprises-str": _plan_text(enterprises="acme").encode(),
    "enterprises-ints": _plan_text(enterprises=[1, 2]).encode(),
    "digest-missing": json.dumps({k: v for k, v in json.loads(_plan_text()).items()
                                  if k != "changes_digest"}).encode(),
    "change-not-object": _plan_text(changes=[1], changes_digest=changes_digest([1])).encode(),
    "change-unknown-field": _plan_text(changes=[{"bogus": 1}], changes_digest=changes_digest([{"bogus": 1}])).encode(),
    "fields-not-list": _plan_text(changes=[{"fields": 3}], changes_digest=changes_digest([{"fields": 3}])).encode(),
}


@pytest.mark.parametrize("content", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_not_a_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_bytes(content)
    code = main(["apply", "--specs", str(tmp_path / "nowhere"), str(plan_file), "--auto-approve"])
    line = one_line_error(capsys.readouterr().err)
    assert code == 1 and str(plan_file) in line, line


@pytest.mark.parametrize("make", ["folder", "missing", "fifo", "unreadable"])
def test_unreadable_plan_path(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str) -> None:
    target = tmp_path / "plan.json"
    if make == "folder":
        target.mkdir()
    elif make == "fifo":
        os.mkfifo(target)
    elif make == "unreadable":
        target.write_text(_plan_text())
        target.chmod(0)
        if os.access(target, os.R_OK):
            pytest.skip("running as root: permissions do not stop reads")
    code = main(["apply", str(target), "--auto-approve"])
    line = one_line_error(capsys.readouterr().err)
    assert code == 1 and str(target) in line, line


@pytest.mark.parametrize("where", ["missing-folder", "onto-folder", "parent-is-file", "onto-fifo", "onto-device"])
def test_out_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    (tmp_path / "afile").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    out = {"missing-folder": tmp_path / "no" / "such" / "plan.json", "onto-folder": tmp_path,
           "parent-is-file": tmp_path / "afile" / "plan.json", "onto-fifo": tmp_path / "fifo",
           "onto-device": Path("/dev/null")}[where]
    code = main(["plan", "--specs", str(tmp_path / "nowhere"), "--out", str(out)])
    line = one_line_error(capsys.readouterr().err)
    assert code == 1 and str(out) in line and "cannot write the plan" in line, line
