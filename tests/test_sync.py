"""`controller sync`: out-of-band Elastic IPs, volumes and IPs are reported; --write updates the YAML so
the next plan shows no changes; sync itself calls only Describe*/List*/Get* (and STS AssumeRole)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import by_address, client, enterprise_doc, write_specs

AMI = "ami-03c3da4cfa8e8943a"
SPECS = {
    "acme/enterprise.yaml": enterprise_doc(),
    "acme/web.yaml": f"""\
        apiVersion: controller/v1
        kind: VirtualDatacenter
        metadata: {{name: web, enterprise: acme}}
        spec:
          region: us-east-1
          addressRange: 10.0.0.0/16
          network: {{type: custom, cidr: 10.0.0.0/24, internetGateway: true}}
        ---
        apiVersion: controller/v1
        kind: PublicIp
        metadata: {{name: front, enterprise: acme, vdc: web}}
        spec: {{}}
        ---
        apiVersion: controller/v1
        kind: Volume
        metadata: {{name: data, enterprise: acme, vdc: web}}
        spec: {{sizeGiB: 10}}
        ---
        # the web server
        apiVersion: controller/v1
        kind: VirtualMachine
        metadata: {{name: web-1, enterprise: acme, vdc: web}}
        spec:
          template: {AMI}
          hardwareProfile: t3.large
          nics: [{{network: default, ip: 10.0.0.10, publicIp: front}}]
          volumes: [data]
        """,
}
READ_ONLY = ("Describe", "List", "Get", "AssumeRole")


def sync(cli, specs: Path, *extra: str) -> dict:
    r = cli("sync", "--specs", str(specs), "--enterprise", "acme", "--json", *extra)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    ops = out["api_calls"]["by_operation"]
    assert ops and all(op.split(".")[-1].startswith(READ_ONLY) for op in ops), ops  # sync never changes AWS
    return out


def test_sync_reports_and_writes_out_of_band_changes(aws, cli, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", SPECS)
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0
    assert sync(cli, specs)["findings"] == []
    ec2 = client("ec2")
    vm = by_address([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
                    "acme/web/VirtualMachine/web-1")[0]
    vol = by_address(ec2.describe_volumes()["Volumes"], "acme/web/Volume/data")[0]
    eip = by_address(ec2.describe_addresses()["Addresses"], "acme/web/PublicIp/front")[0]
    # out of band: a secondary IP, the volume detached, the Elastic IP disassociated, a new EIP and a new volume
    ec2.assign_private_ip_addresses(NetworkInterfaceId=vm["NetworkInterfaces"][0]["NetworkInterfaceId"],
                                    PrivateIpAddresses=["10.0.0.20"])
    ec2.detach_volume(VolumeId=vol["VolumeId"], InstanceId=vm["InstanceId"])
    ec2.disassociate_address(AssociationId=eip["AssociationId"])
    new_eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    new_vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=3)["VolumeId"]
    assert cli("plan", "--specs", str(specs)).code == 2
    before = {"eips": len(ec2.describe_addresses()["Addresses"]), "vols": len(ec2.describe_volumes()["Volumes"])}

    found = sync(cli, specs)["findings"]
    what = {(f["what"], f["aws_id"]) for f in found}
    assert ("ips-changed", vm["InstanceId"]) in what
    assert ("volume-detached", vol["VolumeId"]) in what
    assert ("eip-detached", eip["AllocationId"]) in what
    assert ("eip-new", new_eip) in what and ("volume-new", new_vol) in what
    assert next(f for f in found if f["aws_id"] == new_eip)["cost"] > 0  # an idle Elastic IP costs money
    human = cli("sync", "--specs", str(specs), "--enterprise", "acme", env={"COLUMNS": "220"})
    assert human.code == 0 and "volume-detached" in human.out and "Idle resources cost about" in human.out

    out = sync(cli, specs, "--write")
    assert out["written"]
    web = (specs / "acme" / "web.yaml").read_text()
    assert "# the web server" in web and "10.0.0.20" in web and "volumes" not in web and "publicIp" not in web
    synced = (specs / "acme" / "synced.yaml").read_text()
    assert new_eip in synced and new_vol in synced and "name: data" in synced
    assert cli("validate", "--specs", str(specs)).code == 0
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out + r.err
    assert {"eips": len(ec2.describe_addresses()["Addresses"]),
            "vols": len(ec2.describe_volumes()["Volumes"])} == before
    # the adoptions (the new objects, the volume's new address) are tags only
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0 and "adopt" not in r.out, r.out
    assert by_address(ec2.describe_volumes()["Volumes"], "acme/Volume/data")[0]["VolumeId"] == vol["VolumeId"]
