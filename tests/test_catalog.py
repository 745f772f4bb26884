"""`controller catalog hardware|templates` against the local AWS endpoint, through the CLI: what a user
sees (generation flags, zones, written files), and what validate and plan then say (the zone rule, the
generation warning, deprecated and gone templates)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from controller.kinds.template import deprecated_since
from controller.offerings.images import Image, latest, template_names
from controller.spec.hardware import built_in
from tests.faults import FaultProxy, Rule
from tests.helpers import DEFAULT_VDC, client, enterprise_doc, write_specs

HW = ("catalog", "hardware", "--enterprise", "acme", "--region", "us-east-1")
TPL = ("catalog", "templates", "--enterprise", "acme", "--region", "us-east-1")


def vm_doc(name: str, profile: str, template: str = "ami-03c3da4cfa8e8943a", network: str = "default") -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: {name}, enterprise: acme, vdc: web}}
spec: {{template: {template}, hardwareProfile: {profile}, nics: [{{network: {network}}}]}}
"""


def in_zone(zone: str) -> str:
    return DEFAULT_VDC.replace("availabilityZone: us-east-1a", f"availabilityZone: {zone}")


def test_hardware_catalogue_of_a_region(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc()})
    r = cli(*HW, "--specs", str(specs), "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    profiles = {p["name"]: p for p in out["profiles"]}
    assert out["total"] == len(profiles) > 1000
    assert profiles["t3.micro"]["currentGeneration"] is True and profiles["m1.small"]["currentGeneration"] is False
    t3 = profiles["t3.micro"]
    assert (t3["vcpus"], t3["memoryMiB"], t3["maxNetworkInterfaces"], t3["ipv4PerInterface"]) == (2, 1024, 2, 2)
    assert t3["zones"] == ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]
    # two paginated listings (types, offerings), plus the credentials check
    calls = out["api_calls"]["by_operation"]
    assert calls["ec2.DescribeInstanceTypes"] == 1 and calls["ec2.DescribeInstanceTypeOfferings"] == 1
    assert out["api_calls"]["total"] == 3, calls
    assert out["written"] is None and not (specs / "catalog").exists()

    r = cli(*HW, "--specs", str(specs), "--family", "t3", "--current-only", "--min-vcpus", "2", "--min-memory", "2")
    assert r.code == 0, r.err
    rows = {line.split("│")[1].strip(): line for line in r.out.splitlines() if line.startswith("│")}
    rows.pop("profile", None)  # the header, if drawn with the same bar
    assert set(rows) == {"t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge"}, rows
    assert re.search(r"│ yes\s+│ us-east-1a us-east-1b us-east-1c us-east-1d us-east-1f\s+│", rows["t3.small"]), \
        rows["t3.small"]
    r = cli(*HW, "--specs", str(specs), "--family", "m1", "--zone", "us-east-1d")
    assert "m1.small" in r.out and "no (previous)" in r.out and "t3.micro" not in r.out


def test_region_outside_the_enterprise_is_refused(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc()})
    r = cli(*HW[:-1], "eu-west-1", "--specs", str(specs))
    assert r.code == 1 and "eu-west-1 is not one of acme's regions" in r.err and "Traceback" not in r.err


def test_written_catalogue_is_used_by_validate_zone_rule_and_generation_warning(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": in_zone("us-east-1e"),
                                             "vm.yaml": vm_doc("web-1", "t3.micro")})
    r = cli("validate", "--specs", str(specs))
    assert r.code == 0, r.err
    assert "hardware profiles: us-east-1 from the built-in table" in r.err

    r = cli(*HW, "--specs", str(specs), "--write")
    assert r.code == 0, r.err
    path = specs / "catalog" / "hardware-us-east-1.json"
    assert f"wrote {path}" in r.out.replace("\n", "")
    data = json.loads(path.read_text())
    assert data["format"] == "controller/hardware-catalogue/v1" and data["region"] == "us-east-1"
    assert "controller catalog hardware --write" in data["about"]
    assert data["types"]["t3.micro"][4] is True and "us-east-1e" not in data["types"]["t3.micro"][5]

    # the zone rule, at validate now that the catalogue is in the tree
    r = cli("validate", "--specs", str(specs))
    assert r.code == 1
    assert re.search(r"vm\.yaml:4:\d+: error: hardware profile t3\.micro is not offered in us-east-1e", r.err), r.err
    assert "offered in: us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f" in r.err
    assert "Traceback" not in r.err

    # in a zone that offers it: valid, and validate says which table it used
    (specs / "vdc.yaml").write_text(in_zone("us-east-1a"))
    (specs / "vm.yaml").write_text(vm_doc("web-1", "t3.micro") + "---\n" + vm_doc("old-1", "m1.small"))
    r = cli("validate", "--specs", str(specs))
    assert r.code == 0, r.err  # a warning never changes the exit code
    assert f"hardware profiles: us-east-1 from {path}" in r.err or "hardware-us-east-1.json" in r.err
    assert re.search(r"vm\.yaml:9:\d+: warning: hardware profile m1\.small is not of the current generation", r.err)
    r = cli("validate", "--specs", str(specs), "--json")
    assert r.code == 0
    (w,) = json.loads(r.out)
    assert w["severity"] == "warning" and w["path"] == "spec.hardwareProfile" and w["line"] == 9
    suggested = re.search(r"use (\S+) \(1 vCPUs, (\d+) MiB\)", w["fix"])
    assert suggested, w
    assert data["types"][suggested.group(1)][0] == 1 and data["types"][suggested.group(1)][4] is True

    # the catalogue, not the built-in table: a profile the region does not have is unknown
    del data["types"]["t3.micro"]
    path.write_text(json.dumps(data))
    r = cli("validate", "--specs", str(specs))
    assert r.code == 1 and "unknown hardware profile 't3.micro' in us-east-1 (hardware catalogue" in r.err
    path.write_text("{not json")
    r = cli("validate", "--specs", str(specs))
    assert r.code == 1 and "hardware-us-east-1.json:1:1: error: not a hardware catalogue" in r.err
    assert "catalog hardware --region us-east-1 --write" in r.err


def test_zone_rule_at_plan_without_a_catalogue_and_warnings_in_the_plan(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": in_zone("us-east-1e"),
                                             "vm.yaml": vm_doc("web-1", "t3.micro") + "---\n"
                                             + vm_doc("old-1", "m1.small", network="public")})
    assert cli("validate", "--specs", str(specs)).code == 0
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 1, r.out + r.err
    plan = json.loads(r.out)
    errors = {c["id"]: c["error"] for c in plan["changes"] if c["error"]}
    assert set(errors) == {"acme/HardwareOffering/t3.micro@us-east-1e", "acme/HardwareOffering/m1.small@us-east-1e"}
    assert errors["acme/HardwareOffering/t3.micro@us-east-1e"].startswith(
        "hardware profile t3.micro is not offered in us-east-1e")
    assert plan["api_calls"]["by_operation"]["ec2.DescribeInstanceTypeOfferings"] == 1
    (w,) = plan["warnings"]
    assert w["severity"] == "warning" and "m1.small is not of the current generation" in w["message"]
    r = cli("plan", "--specs", str(specs))
    assert r.code == 1
    assert "! hardware profile t3.micro is not offered in us-east-1e" in r.out
    assert "warning:" in r.out and "m1.small is not of the current generation" in r.out

    (specs / "vdc.yaml").write_text(in_zone("us-east-1a"))
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 2, r.out + r.err  # a warning does not change the exit code
    plan = json.loads(r.out)
    assert not [c for c in plan["changes"] if c["error"]]
    assert [w["message"] for w in plan["warnings"]] == [
        "hardware profile m1.small is not of the current generation"]
    offerings = [c for c in plan["changes"] if c["kind"] == "HardwareOffering"]
    assert {c["action"] for c in offerings} == {"no-op"} and len(offerings) == 2


def test_templates_written_validate_and_apply(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC})
    out = specs / "templates"
    r = cli(*TPL, "--specs", str(specs), "--owner", "amazon", "--name", "al2023-ami-2023*", "--arch", "x86_64",
            "--latest", "--write", str(out), "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    images = result["images"]
    assert images and all(i["architecture"] == "x86_64" and i["name"].startswith("al2023-ami-2023") for i in images)
    # newest per family: one image per name family (the kernel line), never two builds of one
    families = [re.sub(r"2023\.\d+\.\d{8}\.\d+", "*", i["name"]) for i in images]
    assert len(families) == len(set(families)) and len(images) == len(result["written"])
    assert all(i["os"] == "amazon-linux" and i["username"] == "ec2-user" for i in images)
    chosen = next(i for i in images if "kernel-6.1-" in i["name"])
    doc = yaml.safe_load((out / f"{chosen['template']}.yaml").read_text())
    assert doc == {"apiVersion": "controller/v1", "kind": "Template",
                   "metadata": {"name": chosen["template"], "enterprise": "acme"},
                   "spec": {"region": "us-east-1", "ami": chosen["ami"], "os": "amazon-linux", "username": "ec2-user"}}
    (specs / "vm.yaml").write_text(vm_doc("web-1", "t3.micro", template=chosen["template"]))
    r = cli("validate", "--specs", str(specs))
    assert r.code == 0, r.err
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    inst = [i for res in client("ec2").describe_instances()["Reservations"] for i in res["Instances"]
            if i["State"]["Name"] == "running"]
    assert [i["ImageId"] for i in inst] == [chosen["ami"]]
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0 and "No changes" in r.out, r.out + r.err
    # written again (a refresh): the same files are rewritten, nothing else
    r = cli(*TPL, "--specs", str(specs), "--name", "al2023-ami-2023*", "--arch", "x86_64", "--latest",
            "--write", str(out))
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(w).name for w in result["written"])


def test_templates_infer_os_and_user_or_ask_for_them(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc()})
    r = cli(*TPL, "--specs", str(specs), "--name", "*ubuntu*", "--json")
    assert r.code == 0, r.err
    ubuntu = json.loads(r.out)["images"]
    assert ubuntu and {(i["os"], i["username"]) for i in ubuntu} == {("ubuntu", "ubuntu")}
    r = cli(*TPL, "--specs", str(specs), "--name", "Windows_Server-2019*", "--latest", "--json")
    windows = json.loads(r.out)["images"]
    assert windows and {i["username"] for i in windows} == {"Administrator"}
    r = cli(*TPL, "--specs", str(specs), "--name", "RHEL*", "--json")
    assert {i["username"] for i in json.loads(r.out)["images"]} == {"ec2-user"}

    # an image nothing is known about: the document asks the user to fill os and username in
    ec2 = client("ec2")
    ec2.register_image(Name="mystery-appliance-1.0", RootDeviceName="/dev/xvda", Architecture="arm64",
                       BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])
    out = specs / "mine"
    r = cli(*TPL, "--specs", str(specs), "--owner", "self", "--write", str(out))
    assert r.code == 0, r.err
    assert "1 need os and username filled in" in r.out
    text = (out / "mystery-appliance-1-0.yaml").read_text()
    assert "fill them in" in text and "\n  os:" not in text and "username:" not in yaml.safe_load(text)["spec"]
    assert cli("validate", "--specs", str(specs)).code == 0
    # a file of the user's own is never overwritten
    (out / "mystery-appliance-1-0.yaml").write_text(text.split("\n", 1)[1])
    r = cli(*TPL, "--specs", str(specs), "--owner", "self", "--write", str(out))
    assert r.code == 1 and "was not written by `controller catalog templates`" in r.err


@pytest.fixture
def proxy(aws) -> Iterator[FaultProxy]:
    p = FaultProxy(aws.url)
    yield p
    p.stop()


def test_deprecated_template_is_a_plan_warning(proxy: FaultProxy, cli, tmp_path: Path):
    ami = "ami-03c3da4cfa8e8943a"
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "tpl.yaml": f"""\
apiVersion: controller/v1
kind: Template
metadata: {{name: al2023, enterprise: acme}}
spec: {{region: us-east-1, ami: {ami}, os: amazon-linux, username: ec2-user}}
"""})
    env = {"AWS_ENDPOINT_URL": proxy.url}
    r = cli("plan", "--specs", str(specs), "--json", env=env)
    assert r.code == 0 and json.loads(r.out)["warnings"] == [], r.out + r.err
    # moto cannot deprecate an image (EnableImageDeprecation is not implemented): the proxy adds the field
    tag = f"<imageId>{ami}</imageId>".encode()
    proxy.add(Rule("DescribeImages", code="", times=-1, rewrite=lambda body: body.replace(
        tag, tag + b"<deprecationTime>2024-01-01T00:00:00.000Z</deprecationTime>")))
    r = cli("plan", "--specs", str(specs), "--json", env=env)
    assert r.code == 0, r.out + r.err  # a warning, not an error: the AMI still launches
    (w,) = json.loads(r.out)["warnings"]
    assert w["address"] == "acme/Template/al2023" and w["severity"] == "warning"
    assert f"AMI {ami} is deprecated since 2024-01-01" in w["message"]
    r = cli("plan", "--specs", str(specs), env=env)
    assert r.code == 0 and "warning: acme/Template/al2023: Template acme/Template/al2023: AMI" in r.out


def test_catalogue_can_be_read_while_other_documents_are_invalid(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC,
                                             "vm.yaml": vm_doc("web-1", "no.such")})
    r = cli(*HW, "--specs", str(specs), "--family", "t3")
    assert r.code == 0, r.err
    assert "t3.micro" in r.out and "reading the catalogue with the Enterprise document as written" in r.err


# -- no AWS ------------------------------------------------------------------------------------------


def _image(name: str, created: str = "2026-01-01T00:00:00.000Z", desc: str = "", platform: str | None = None,
           arch: str = "x86_64") -> Image:
    return Image(ami=f"ami-{abs(hash(name)) % 16**8:08x}", name=name, description=desc, owner="1", owner_alias=None,
                 architecture=arch, created=created, platform=platform, deprecation_time=None)


@pytest.mark.parametrize("name, desc, platform, want", [
    ("al2023-ami-2023.6.20260930.0-kernel-6.1-x86_64", "", None, ("amazon-linux", "ec2-user")),
    ("amzn2-ami-hvm-2.0.20260930.0-x86_64-gp2", "", None, ("amazon-linux", "ec2-user")),
    ("RHEL-9.4.0_HVM-20240605-x86_64-82-Hourly2-GP3", "", None, ("rhel", "ec2-user")),
    ("suse-sles-15-sp5-v20240129-hvm-ssd-x86_64", "", None, ("suse", "ec2-user")),
    ("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240207", "", None, ("ubuntu", "ubuntu")),
    ("debian-12-amd64-20240201-1644", "", None, ("debian", "admin")),
    ("CentOS Stream 9 x86_64 20240101", "", None, ("centos", "centos")),
    ("Fedora-Cloud-Base-39-1.5.x86_64-hvm", "", None, ("fedora", "fedora")),
    ("Windows_Server-2022-English-Full-Base-2026.09.10", "", "windows", ("windows", "Administrator")),
    ("my-golden-image", "", "windows", ("windows", "Administrator")),
    ("Deep Learning AMI GPU PyTorch 2.1", "built on Ubuntu 20.04", None, ("ubuntu", "ubuntu")),
    ("my-golden-image-7", "built by the platform team", None, None),
], ids=lambda v: v if isinstance(v, str) and v else None)
def test_os_and_username_inference(name: str, desc: str, platform: str | None, want: tuple[str, str] | None):
    assert _image(name, desc=desc, platform=platform).os_user() == want


def test_latest_keeps_the_newest_build_of_each_family_and_architecture():
    old = _image("al2023-ami-2023.5.20250101.0-kernel-6.1-x86_64")
    new = _image("al2023-ami-2023.6.20260930.0-kernel-6.1-x86_64")
    arm = _image("al2023-ami-2023.5.20250101.0-kernel-6.1-arm64", arch="arm64")
    win_old = _image("Windows_Server-2022-English-Full-Base-2025.01.10")
    win_new = _image("Windows_Server-2022-English-Full-Base-2026.09.10")
    win19 = _image("Windows_Server-2019-English-Full-Base-2026.09.10")
    got = latest([new, old, arm, win_new, win_old, win19])
    assert {i.name for i in got} == {new.name, arm.name, win_new.name, win19.name}
    names = template_names(got, family=True)
    assert names[new.ami] == "al2023-ami-kernel-6-1-x86-64" and names[win19.ami] == "windows-server-2019-english-full-base"
    assert all(re.fullmatch(r"[a-z0-9-]{1,63}", n) for n in names.values())
    long = _image("x" * 80)
    assert len(template_names([long], family=False)[long.ami]) == 63


def test_deprecation_time_has_passed_or_not():
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    assert deprecated_since("2026-01-01T00:00:00.000Z", now) == "2026-01-01T00:00:00.000Z"
    assert deprecated_since("2027-01-01T00:00:00.000Z", now) is None
    assert deprecated_since(None, now) is None and deprecated_since("", now) is None


def test_current_profile_of_the_same_size():
    table = built_in()
    for old in ("m1.small", "m3.large", "c4.xlarge", "r3.2xlarge"):
        p = table.get(old)
        assert p is not None and p.current is False
        like = table.current_like(p)
        assert like is not None and like.current and like.vcpus == p.vcpus and like.memory_mib >= p.memory_mib
    m3 = table.get("m3.large")
    assert m3 is not None and table.current_like(m3).family.startswith("m")  # type: ignore[union-attr]
