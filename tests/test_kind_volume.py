"""Volume and VolumeAttachment end to end through the CLI against a real moto server, asserted on AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import apply_ok, by_address, client, enterprise_doc, no_changes, write_specs
from tests.helpers import changes_by_id as plan_json

AMI = "ami-03c3da4cfa8e8943a"  # al2023 x86_64 in us-east-1

VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1b, addressRange: 10.10.0.0/16, network: {type: none}}
"""

NETWORK = """\
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: apps, enterprise: acme, vdc: web}
spec: {cidr: 10.10.5.0/24, availabilityZone: us-east-1c}
"""


def volume(name: str, spec: str, vdc: str | None = "web") -> str:
    where = f", vdc: {vdc}" if vdc else ""
    return f"""\
apiVersion: controller/v1
kind: Volume
metadata: {{name: {name}, enterprise: acme{where}}}
spec: {spec}
"""


def vm(name: str, volumes: list[str], state: str = "deployed") -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: {name}, enterprise: acme, vdc: web}}
spec:
  template: {AMI}
  hardwareProfile: t3.micro
  state: {state}
  nics: [{{network: apps}}]
  volumes: {json.dumps(volumes)}
"""


def volumes_of(ec2, address: str) -> list[dict]:
    return by_address(ec2.describe_volumes()["Volumes"], address)


def one_volume(ec2, address: str) -> dict:
    found = volumes_of(ec2, address)
    assert len(found) == 1, f"expected one volume tagged {address}, found {len(found)}"
    return found[0]


def needs_vm_kind() -> None:
    from controller.kinds import REGISTRY

    if "VirtualMachine" not in REGISTRY:
        pytest.skip("the VirtualMachine kind (controller/kinds/vm.py) is not written yet")


def test_volume_round_trip(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC,
                               "vol.yaml": volume("data", "{sizeGiB: 10, type: gp3}")})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "+ acme/web/Volume/data" in r.out, r.out + r.err
    apply_ok(cli, specs)
    ec2 = client("ec2")
    v = one_volume(ec2, "acme/web/Volume/data")
    assert (v["Size"], v["VolumeType"], v["AvailabilityZone"], v["State"]) == (10, "gp3", "us-east-1b", "available")
    assert {t["Key"]: t["Value"] for t in v["Tags"]}["Name"] == "data"
    no_changes(cli, specs)

    # the type changed out of band: drift, corrected in place
    ec2.modify_volume(VolumeId=v["VolumeId"], VolumeType="gp2")
    changes = plan_json(cli, specs)
    ch = changes["acme/web/Volume/data"]
    assert ch["action"] == "update" and [(f["path"], f["before"], f["after"]) for f in ch["fields"]] == [
        ("type", "gp2", "gp3")]
    apply_ok(cli, specs)
    assert one_volume(ec2, "acme/web/Volume/data")["VolumeType"] == "gp3"
    no_changes(cli, specs)

    # grown out of band: putting the document's size back would shrink it, which EBS cannot: refused
    ec2.modify_volume(VolumeId=v["VolumeId"], Size=12)
    changes = plan_json(cli, specs, code=1)
    ch = changes["acme/web/Volume/data"]
    assert ch["action"] == "update" and [f["path"] for f in ch["fields"]] == ["sizeGiB"]
    assert (ch["fields"][0]["before"], ch["fields"][0]["after"]) == (12, 10)
    assert "only grow" in ch["error"]

    # the document grows it further: drift corrected in place (same volume id)
    write_specs(root, {"vol.yaml": volume("data", "{sizeGiB: 20, type: gp3}")})
    changes = plan_json(cli, specs)
    ch = changes["acme/web/Volume/data"]
    assert ch["action"] == "update" and ch["fields"][0]["before"] == 12 and ch["fields"][0]["after"] == 20
    apply_ok(cli, specs)
    v2 = one_volume(ec2, "acme/web/Volume/data")
    assert v2["VolumeId"] == v["VolumeId"] and v2["Size"] == 20
    no_changes(cli, specs)

    # type and iops change in place too
    write_specs(root, {"vol.yaml": volume("data", "{sizeGiB: 20, type: gp3, iops: 4000}")})
    changes = plan_json(cli, specs)
    assert changes["acme/web/Volume/data"]["action"] == "update"
    apply_ok(cli, specs)
    v3 = one_volume(ec2, "acme/web/Volume/data")
    assert v3["VolumeId"] == v["VolumeId"] and v3["Iops"] == 4000
    no_changes(cli, specs)

    # the document removed: the volume is deleted
    (root / "vol.yaml").unlink()
    changes = plan_json(cli, specs)
    assert changes["acme/web/Volume/data"]["action"] == "delete"
    apply_ok(cli, specs)
    assert volumes_of(ec2, "acme/web/Volume/data") == []
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [v["VolumeId"]]}])["Volumes"] == []


def test_region_level_and_encrypted_volumes(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {
        "ent.yaml": enterprise_doc(),
        "vol.yaml": volume("archive", "{sizeGiB: 5, region: us-east-1}", vdc=None) + "---\n"
        + volume("secret", "{sizeGiB: 8, region: us-east-1, availabilityZone: us-east-1d, encrypted: true}",
                 vdc=None),
    })
    apply_ok(cli, specs)
    ec2 = client("ec2")
    archive = one_volume(ec2, "acme/Volume/archive")
    assert archive["AvailabilityZone"] == "us-east-1a" and not archive["Encrypted"]
    secret = one_volume(ec2, "acme/Volume/secret")
    assert secret["AvailabilityZone"] == "us-east-1d" and secret["Encrypted"] and secret.get("KmsKeyId")
    no_changes(cli, specs)

    # encryption forces a new volume (AWS cannot encrypt one in place)
    write_specs(root, {"vol.yaml": volume("archive", "{sizeGiB: 5, region: us-east-1, encrypted: true}", vdc=None)
                       + "---\n" + volume("secret", "{sizeGiB: 8, region: us-east-1, availabilityZone: us-east-1d, "
                                                    "encrypted: true}", vdc=None)})
    changes = plan_json(cli, specs)
    ch = changes["acme/Volume/archive"]
    assert ch["action"] == "replace" and ch["fields"][0]["path"] == "encrypted"
    assert ch["fields"][0]["forces_replacement"]
    assert changes["acme/Volume/secret"]["action"] == "no-op"
    apply_ok(cli, specs)
    new = one_volume(ec2, "acme/Volume/archive")
    assert new["VolumeId"] != archive["VolumeId"] and new["Encrypted"]
    no_changes(cli, specs)


def test_volume_moved_to_another_vdc_keeps_its_data(aws, cli, tmp_path: Path):
    other_vdc = VDC.replace("name: web", "name: ops").replace("10.10.0.0/16", "10.20.0.0/16")
    root = tmp_path / "specs"
    specs = write_specs(root, {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC + "---\n" + other_vdc,
                               "vol.yaml": volume("data", "{sizeGiB: 10}")})
    apply_ok(cli, specs)
    ec2 = client("ec2")
    before = one_volume(ec2, "acme/web/Volume/data")
    write_specs(root, {"vol.yaml": volume("data", "{sizeGiB: 10}", vdc="ops")})
    changes = plan_json(cli, specs)
    ch = changes["acme/ops/Volume/data"]
    assert ch["action"] == "update" and ch["aws_id"] == before["VolumeId"], ch
    assert "acme/web/Volume/data" not in changes
    apply_ok(cli, specs)
    after = one_volume(ec2, "acme/ops/Volume/data")
    assert after["VolumeId"] == before["VolumeId"]
    no_changes(cli, specs)


def test_attach_detach_and_vm_deleted(aws, cli, tmp_path: Path):
    needs_vm_kind()
    root = tmp_path / "specs"
    specs = write_specs(root, {
        "ent.yaml": enterprise_doc(), "vdc.yaml": VDC + "---\n" + NETWORK,
        "vol.yaml": volume("data", "{sizeGiB: 10}") + "---\n" + volume("logs", "{sizeGiB: 4}"),
        "vm.yaml": vm("app-1", ["data", "logs"]),
    })
    apply_ok(cli, specs)
    ec2 = client("ec2")
    data, logs = one_volume(ec2, "acme/web/Volume/data"), one_volume(ec2, "acme/web/Volume/logs")
    # no zone given: the zone of the VM's primary network, not the VDC's
    assert data["AvailabilityZone"] == logs["AvailabilityZone"] == "us-east-1c"
    inst = by_address([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
                      "acme/web/VirtualMachine/app-1")[0]
    assert [(a["InstanceId"], a["Device"]) for a in data["Attachments"]] == [(inst["InstanceId"], "/dev/sdf")]
    assert [(a["InstanceId"], a["Device"]) for a in logs["Attachments"]] == [(inst["InstanceId"], "/dev/sdg")]
    dot = {b["DeviceName"]: b["Ebs"]["DeleteOnTermination"] for b in inst["BlockDeviceMappings"]}
    assert dot["/dev/sdf"] is False and dot["/dev/sdg"] is False, "data volumes survive their VM"
    no_changes(cli, specs)

    # deleteOnTermination changed out of band: drift, corrected
    ec2.modify_instance_attribute(InstanceId=inst["InstanceId"], BlockDeviceMappings=[
        {"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": True}}])
    changes = plan_json(cli, specs)
    ch = changes["acme/web/VolumeAttachment/data"]
    assert ch["action"] == "update" and [f["path"] for f in ch["fields"]] == ["deleteOnTermination"]
    apply_ok(cli, specs)
    no_changes(cli, specs)

    # detached out of band: the attachment is re-created
    ec2.detach_volume(VolumeId=logs["VolumeId"], InstanceId=inst["InstanceId"])
    changes = plan_json(cli, specs)
    assert changes["acme/web/VolumeAttachment/logs"]["action"] == "create"
    apply_ok(cli, specs)
    no_changes(cli, specs)

    # removed from the VM's list: detached, the volume survives, available
    write_specs(root, {"vm.yaml": vm("app-1", ["data"])})
    changes = plan_json(cli, specs)
    assert changes["acme/web/VolumeAttachment/logs"]["action"] == "delete"
    assert changes["acme/web/Volume/logs"]["action"] == "no-op"
    apply_ok(cli, specs)
    logs = one_volume(ec2, "acme/web/Volume/logs")
    assert logs["State"] == "available" and logs["Attachments"] == []
    no_changes(cli, specs)

    # the VM deleted: its data volume survives, available
    (root / "vm.yaml").unlink()
    apply_ok(cli, specs)
    data = one_volume(ec2, "acme/web/Volume/data")
    assert data["State"] == "available" and data["Attachments"] == []
    no_changes(cli, specs)


def test_undeployed_vm_keeps_its_data_volume(aws, cli, tmp_path: Path):
    needs_vm_kind()
    root = tmp_path / "specs"
    specs = write_specs(root, {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC + "---\n" + NETWORK,
                               "vol.yaml": volume("data", "{sizeGiB: 10}"), "vm.yaml": vm("app-1", ["data"])})
    apply_ok(cli, specs)
    ec2 = client("ec2")
    vid = one_volume(ec2, "acme/web/Volume/data")["VolumeId"]
    # the instance terminated out of band: the data volume (DeleteOnTermination false) survives it
    inst = by_address([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
                      "acme/web/VirtualMachine/app-1")[0]
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    data = one_volume(ec2, "acme/web/Volume/data")
    assert data["VolumeId"] == vid and data["State"] == "available"
    apply_ok(cli, specs)  # the VM comes back, with its volume
    data = one_volume(ec2, "acme/web/Volume/data")
    assert data["State"] == "in-use" and data["Attachments"][0]["InstanceId"] != inst["InstanceId"]
    no_changes(cli, specs)

    write_specs(root, {"vm.yaml": vm("app-1", ["data"], state="undeployed")})
    apply_ok(cli, specs)
    data = one_volume(ec2, "acme/web/Volume/data")
    assert data["VolumeId"] == vid and data["State"] == "available"
    no_changes(cli, specs)
