"""Template and User end to end through the CLI against a real moto server: a missing AMI is a plan
error (and apply refuses), a user's key pair in each region where a VM uses it, replaced when the key
changes, deleted with the document."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers import by_address, client, enterprise_doc, write_specs

REGIONS = ("us-east-1", "eu-west-1")


def template_doc(name: str, ami: str, region: str = "us-east-1") -> str:
    return f"""\
apiVersion: controller/v1
kind: Template
metadata: {{name: {name}, enterprise: acme}}
spec: {{region: {region}, ami: {ami}, os: Amazon Linux 2023, username: ec2-user}}
"""


def new_key(comment: str) -> str:
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{pub} {comment}"


def user_doc(key: str) -> str:
    return f"""\
apiVersion: controller/v1
kind: User
metadata: {{name: alice, enterprise: acme}}
spec:
  sshPublicKey: {key}
"""


def test_template_whose_ami_does_not_exist_is_a_plan_error(aws, cli, tmp_path: Path):
    missing = "ami-0123456789abcdef0"
    specs = write_specs(tmp_path / "specs", {
        "ent.yaml": enterprise_doc(regions="us-east-1, eu-west-1"),
        "catalogue.yaml": template_doc("al2023", "ami-03c3da4cfa8e8943a") + "---\n"
        + template_doc("al2023-eu", "ami-010210687841fde65", "eu-west-1") + "---\n" + template_doc("gone", missing),
    })
    r = cli("plan", "--specs", str(specs))
    assert r.code == 1, r.out + r.err
    assert f"Template acme/Template/gone: AMI {missing} is gone or not visible to this account in region us-east-1" \
        in r.out.replace("\n      ", " ")
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 1
    errors = {c["id"]: c["error"] for c in json.loads(r.out)["changes"] if c["error"]}
    assert list(errors) == ["acme/Template/gone"]
    assert errors["acme/Template/gone"].startswith(f"Template acme/Template/gone: AMI {missing} is gone or not visible")
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 1
    assert "acme/Template/gone" in r.err + r.out and "nothing was changed" in r.err + r.out

    # the existing AMIs (one per region) are catalogue entries: nothing to do
    specs = write_specs(tmp_path / "specs", {"catalogue.yaml": template_doc("al2023", "ami-03c3da4cfa8e8943a")
                                             + "---\n" + template_doc("al2023-eu", "ami-010210687841fde65",
                                                                      "eu-west-1")})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out + r.err
    assert "No changes" in r.out


def key_pairs(region: str) -> list[dict]:
    kps = client("ec2", region=region).describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
    return by_address(kps, f"acme/User/alice@{region}")


def vm_using_alice(region: str, ami: str, cidr: str) -> str:
    vdc = f"dc-{region}"
    return f"""\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {{name: {vdc}, enterprise: acme}}
spec: {{region: {region}, addressRange: {cidr}/16, network: {{type: none}}}}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {{name: net, enterprise: acme, vdc: {vdc}}}
spec: {{cidr: {cidr}/24}}
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: vm, enterprise: acme, vdc: {vdc}}}
spec: {{template: {ami}, hardwareProfile: t3.micro, nics: [{{network: net}}], sshKey: alice}}
"""


def test_user_key_pair_goes_where_vms_use_it(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(regions="us-east-1, eu-west-1"),
                                             "users.yaml": user_doc(new_key("alice@laptop"))})
    r = cli("plan", "--specs", str(specs), "--json")
    creates = sorted(c["id"] for c in json.loads(r.out)["changes"] if c["action"] == "create")
    assert creates == ["acme/User/alice@us-east-1"], "no VM uses it yet: the enterprise's first region only"
    write_specs(specs, {"vms.yaml": vm_using_alice("eu-west-1", "ami-010210687841fde65", "10.7.0.0")})
    r = cli("plan", "--specs", str(specs), "--json")
    creates = sorted(c["id"] for c in json.loads(r.out)["changes"] if c["action"] == "create" and "/User/" in c["id"])
    assert creates == ["acme/User/alice@eu-west-1"], "where the VM is, and nowhere else"


def test_user_key_pair_round_trip(aws, cli, tmp_path: Path):
    first = new_key("alice@laptop")
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(regions="us-east-1, eu-west-1"),
                                             "users.yaml": user_doc(first),
                                             "vms.yaml": vm_using_alice("us-east-1", "ami-03c3da4cfa8e8943a",
                                                                        "10.6.0.0") + "---\n"
                                             + vm_using_alice("eu-west-1", "ami-010210687841fde65", "10.7.0.0")})
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    ids = {}
    for region in REGIONS:
        kps = key_pairs(region)
        assert len(kps) == 1, region
        assert kps[0]["KeyName"] == "alice"
        assert kps[0]["PublicKey"].split()[:2] == first.split()[:2]
        ids[region] = kps[0]["KeyPairId"]
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0 and "No changes" in r.out, r.out + r.err

    # only the comment changed: the same key, nothing to do
    write_specs(specs, {"users.yaml": user_doc(" ".join(first.split()[:2]) + " alice@desktop")})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out + r.err

    # a new key: the key pair is replaced in both regions
    second = new_key("alice@laptop")
    write_specs(specs, {"users.yaml": user_doc(second)})
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 2, r.out + r.err
    changes = {c["id"]: c for c in json.loads(r.out)["changes"]}
    for region in REGIONS:
        ch = changes[f"acme/User/alice@{region}"]
        assert ch["action"] == "replace"
        assert [(f["path"], f["forces_replacement"]) for f in ch["fields"]] == [("publicKey", True)]
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    for region in REGIONS:
        kps = key_pairs(region)
        assert len(kps) == 1 and kps[0]["KeyPairId"] != ids[region]
        assert kps[0]["PublicKey"].split()[:2] == second.split()[:2]
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out + r.err

    # the document removed (with the VMs that use it): the key pairs are deleted
    (specs / "users.yaml").unlink()
    (specs / "vms.yaml").unlink()
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "- acme/User/alice@eu-west-1" in r.out, r.out + r.err
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    for region in REGIONS:
        assert client("ec2", region=region).describe_key_pairs()["KeyPairs"] == []
