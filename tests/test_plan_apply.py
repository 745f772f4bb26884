"""Plan and apply behaviour a user relies on: exit codes, saved plans, safety guards, JSON format."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import by_address, client, enterprise_doc, write_specs


def vdc(name: str, cidr: str, net: str = "none", protect: bool = False) -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {{name: {name}, enterprise: acme, protect: {str(protect).lower()}}}
spec: {{region: us-east-1, addressRange: {cidr}, network: {{type: {net}}}}}
"""


def test_saved_plan_applies_exactly_and_refuses_when_aws_moved(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "a.yaml": vdc("a", "10.1.0.0/16")})
    plan_file = tmp_path / "a.plan.json"
    r = cli("plan", "--specs", str(specs), "--out", str(plan_file))
    assert r.code == 2 and plan_file.exists()
    saved = json.loads(plan_file.read_text())
    assert saved["format_version"] == "1" and saved["summary"]["create"] == 1

    # live state moves after the plan: apply FILE refuses and touches nothing
    ec2 = client("ec2")
    ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": "controller:address", "Value": "acme/VirtualDatacenter/stray"},
        {"Key": "controller:enterprise", "Value": "acme"}]}])
    r = cli("apply", "--specs", str(specs), str(plan_file))
    assert r.code == 1 and "live AWS state changed since this plan was made" in r.err, r.err
    assert by_address(ec2.describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/a") == []
    assert "Traceback" not in r.err

    # a fresh plan saved and applied: exactly that plan is carried out
    r = cli("plan", "--specs", str(specs), "--out", str(plan_file))
    assert r.code == 2 and "- acme/VirtualDatacenter/stray" in r.out
    r = cli("apply", "--specs", str(specs), str(plan_file))
    assert r.code == 0, r.out + r.err
    assert len(by_address(ec2.describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/a")) == 1
    assert by_address(ec2.describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/stray") == []


def test_saved_plan_refused_when_specs_changed(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "a.yaml": vdc("a", "10.1.0.0/16")})
    plan_file = tmp_path / "p.json"
    assert cli("plan", "--specs", str(specs), "--out", str(plan_file)).code == 2
    write_specs(specs, {"a.yaml": vdc("a", "10.2.0.0/16")})
    r = cli("apply", "--specs", str(specs), str(plan_file))
    assert r.code == 1 and "the specs changed since this plan was made" in r.err
    assert by_address(client("ec2").describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/a") == []


def test_protected_resource_is_never_deleted_or_replaced(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(),
                                             "a.yaml": vdc("a", "10.1.0.0/16", protect=True)})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    write_specs(specs, {"a.yaml": vdc("a", "10.5.0.0/16", protect=True)})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "-/+ acme/VirtualDatacenter/a" in r.out and "protected" in r.out
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 1 and "protected" in r.err and "nothing was changed" in r.err
    (specs / "a.yaml").unlink()
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "- acme/VirtualDatacenter/a" in r.out and "protected" in r.out
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 1
    vpcs = by_address(client("ec2").describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/a")
    assert [v["CidrBlock"] for v in vpcs] == ["10.1.0.0/16"]


def test_max_deletes_guard(aws, cli, tmp_path: Path):
    files = {"ent.yaml": enterprise_doc()}
    files.update({f"v{i}.yaml": vdc(f"v{i}", f"10.{i}.0.0/16") for i in range(3)})
    specs = write_specs(tmp_path / "specs", files)
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    for i in range(3):
        (specs / f"v{i}.yaml").unlink()
    r = cli("apply", "--specs", str(specs), "--auto-approve", "--max-deletes", "2")
    assert r.code == 1 and "--max-deletes" in r.err and "nothing was changed" in r.err
    assert len(client("ec2").describe_vpcs(Filters=[{"Name": "tag:controller:enterprise",
                                                     "Values": ["acme"]}])["Vpcs"]) == 3
    r = cli("apply", "--specs", str(specs), "--auto-approve", "--max-deletes", "2", "--allow-deletes")
    assert r.code == 0, r.out + r.err
    assert client("ec2").describe_vpcs(Filters=[{"Name": "tag:controller:enterprise", "Values": ["acme"]}])[
        "Vpcs"] == []


def test_a_broken_file_plans_nothing(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "a.yaml": vdc("a", "10.1.0.0/16")})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    # the VDC document is now broken: it must never read as "delete everything"
    write_specs(specs, {"a.yaml": vdc("a", "10.1.0.0/16").replace("addressRange", "adressRange")})
    for cmd in (["plan"], ["apply", "--auto-approve"]):
        r = cli(*cmd, "--specs", str(specs))
        assert r.code == 1
        assert "a.yaml:4:" in r.err and "unknown field 'adressRange'" in r.err, r.err
        assert "nothing was planned" in r.err and "Traceback" not in r.err
    assert len(by_address(client("ec2").describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/a")) == 1


def test_plan_json_is_versioned_and_counts_api_calls(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "a.yaml": vdc("a", "10.1.0.0/16")})
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 2
    plan = json.loads(r.out)
    assert plan["format_version"] == "1"
    assert plan["enterprises"] == ["acme"]
    assert plan["api_calls"]["total"] == sum(plan["api_calls"]["by_operation"].values()) > 0
    ops = plan["api_calls"]["by_operation"]
    assert ops["sts.AssumeRole"] == 1 and "sts.GetCallerIdentity" not in ops, "the AssumeRole answer names the account"
    assert plan["api_calls"]["by_operation"]["ec2.DescribeVpcs"] == 1, "one batched describe per kind"
    change = [c for c in plan["changes"] if c["id"] == "acme/VirtualDatacenter/a"][0]
    assert change["action"] == "create" and change["reason"] == "not in AWS"


def test_two_enterprises_on_one_account_is_an_error(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {
        "a.yaml": enterprise_doc("acme", "111111111111").replace('  account: "111111111111"\n', ""),
        "b.yaml": enterprise_doc("globex", "111111111111").replace('  account: "111111111111"\n', ""),
    })
    r = cli("plan", "--specs", str(specs))
    assert r.code == 1
    assert "'acme' and 'globex' both resolve to AWS account 111111111111" in r.err, r.err


def test_declared_account_must_match_credentials(aws, cli, tmp_path: Path):
    doc = enterprise_doc("acme", "111111111111").replace('account: "111111111111"', 'account: "999999999999"')
    specs = write_specs(tmp_path / "specs", {"a.yaml": doc})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 1 and "declares account 999999999999" in r.err and "111111111111" in r.err


def test_env_credentials_missing_variable_names_it(aws, cli, tmp_path: Path):
    doc = """\
        apiVersion: controller/v1
        kind: Enterprise
        metadata: {name: acme}
        spec:
          credentials: {env: {accessKeyId: ACME_KEY_ID, secretAccessKey: ACME_SECRET}}
          regions: [us-east-1]
        """
    specs = write_specs(tmp_path / "specs", {"a.yaml": doc})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 1 and "environment variable ACME_KEY_ID is not set" in r.err
    r = cli("plan", "--specs", str(specs), env={"ACME_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
                                                "ACME_SECRET": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
    assert r.code == 0, r.err
    r = cli("plan", "--specs", str(specs), "--json", env={"ACME_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
                                                          "ACME_SECRET": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
    assert json.loads(r.out)["api_calls"]["by_operation"]["sts.GetCallerIdentity"] == 1
    assert "AKIAIOSFODNN7EXAMPLE" not in r.out + r.err and "wJalrXUtnFEMI" not in r.out + r.err


def test_unreachable_endpoint_is_one_clear_line(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc()})
    r = cli("plan", "--specs", str(specs), env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"})
    assert r.code == 1
    assert "enterprise 'acme': cannot reach STS" in r.err and "Traceback" not in r.err, r.err
