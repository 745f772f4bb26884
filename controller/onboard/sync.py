"""`controller sync`: what changed outside the controller (Elastic IPs, volumes, IPs), and the YAML
edits that make the next plan show no changes. Read-only in AWS: a plan (Describe*/List*/Get*)
plus one unfiltered describe of addresses, volumes and instances per region.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.kinds.base import TAG_ADDRESS, tags_of
from controller.kinds.database import DB_INSTANCES
from controller.kinds.public_ip import ADDRESSES
from controller.kinds.vm import INSTANCES
from controller.kinds.volume import VOLUMES, decode_volume
from controller.onboard.read import read
from controller.onboard.write import Names, label


@dataclass
class Finding:
    what: str  # eip-new | eip-moved | eip-detached | eip-attached | volume-new | volume-detached | ...
    aws_id: str
    detail: str
    address: str = ""  # the document concerned, when there is one
    fix: str = ""  # what --write does
    cost: float | None = None  # estimated USD per month when it costs money while idle


@dataclass
class Edits:
    """Document edits by address (a function on the raw document), new documents, removed documents."""

    change: dict[str, list[Any]] = field(default_factory=dict)
    add: list[dict[str, Any]] = field(default_factory=list)
    remove: set[str] = field(default_factory=set)

    def on(self, address: str, fn: Any) -> None:
        self.change.setdefault(address, []).append(fn)


def find_changes(planned: Any, resources: list[Any], enterprise: str) -> tuple[list[Finding], Edits]:
    from controller.pricing import monthly

    session = planned.session
    catalog_res = {r.address: r for r in resources}
    observed = planned.observed
    index = observed.id_index  # AWS id -> node id
    findings: list[Finding] = []
    edits = Edits()
    regions = session.enterprises[enterprise].spec.regions
    changes = {c.id: c for c in planned.plan.changes}
    vms = {r.address: r for r in catalog_res.values() if r.kind == "VirtualMachine" and r.enterprise == enterprise}

    # -- secondary IPs added or removed on a managed VM's nic
    for vid, vm in sorted(vms.items()):
        live = observed.live.get(vid)
        if live is None:
            continue
        have = live.props.get("secondaryIps") or []
        for i, nic in enumerate(vm.spec.nics):
            got = sorted(have[i]) if i < len(have) else []
            if got != sorted(nic.secondary_ips):
                findings.append(Finding("ips-changed", live.aws_id, f"nic {i} has secondary IPs {got or 'none'}, the "
                                        f"YAML says {sorted(nic.secondary_ips) or 'none'}", vid,
                                        "set the nic's secondaryIps"))
                edits.on(vid, _set_secondary(i, got))

    # -- Elastic IP associations of managed PublicIps that moved
    for cid, ch in sorted(changes.items()):
        if ch.kind != "PublicIpAssociation" or ch.action == "no-op":
            continue
        pip = cid.replace("/PublicIpAssociation/", "/PublicIp/")
        owner = _nic_with(vms, pip)
        live = observed.live.get(cid)
        if ch.action == "create":  # disassociated by hand
            findings.append(Finding("eip-detached", (observed.live.get(pip).aws_id if observed.live.get(pip) else ""),
                                    "disassociated outside the controller", pip, "remove the nic's publicIp"))
            if owner:
                edits.on(owner[0], _set_public_ip(owner[1], None))
        elif live is not None:
            target = index.get(live.props.get("instance"))
            nic = live.props.get("nic") or 0
            findings.append(Finding("eip-moved", live.props.get("allocation", ""),
                                    f"now on {target or live.props.get('instance')} nic {nic}", pip,
                                    "move publicIp to that nic" if target in vms else "remove the nic's publicIp"))
            if owner:
                edits.on(owner[0], _set_public_ip(owner[1], None))
            if target in vms:
                edits.on(target, _set_public_ip(nic, pip.rsplit("/", 1)[-1]))

    # -- volumes detached by hand, or left by a deleted VM: back to the pool (the region level)
    listed = {catalog_res_vol for vm in vms.values() for catalog_res_vol in _volumes_of(vm, catalog_res)}
    for addr, r in sorted(catalog_res.items()):
        if r.kind != "Volume" or r.enterprise != enterprise:
            continue
        live = observed.live.get(addr)
        if live is None:
            continue
        attached = bool(live.attrs.get("attachments"))
        att = changes.get(addr.replace("/Volume/", "/VolumeAttachment/"))
        cost = monthly("ebs", live.attrs.get("region", regions[0]), live.props.get("sizeGiB") or 0,
                       live.props.get("type") or "gp3")
        if att is not None and att.action == "create" and not attached:
            vm = next((v for v in vms.values() if addr in _volumes_of(v, catalog_res)), None)
            findings.append(Finding("volume-detached", live.aws_id, f"detached from {vm.address if vm else '?'}",
                                    addr, "remove it from the VM's volumes; move it to the region level", cost))
            if vm is not None:
                edits.on(vm.address, _drop_volume(r.name))
            if r.metadata.vdc:
                _to_region(edits, r, live)
        elif r.metadata.vdc and addr not in listed and not attached:
            findings.append(Finding("volume-left", live.aws_id, "in the VDC, no VM lists it (its VM was deleted)",
                                    addr, "move it to the region level", cost))
            _to_region(edits, r, live)
        elif not attached and addr not in listed:
            findings.append(Finding("volume-idle", live.aws_id, "not attached", addr, "", cost))

    # -- objects made by hand: Elastic IPs, volumes, instances in managed subnets
    taken: dict[str, set[str]] = {"Volume": set(), "PublicIp": set()}
    for r in catalog_res.values():
        if r.kind in taken and r.enterprise == enterprise:
            taken[r.kind].add(r.name)
    ctx = session.contexts[enterprise]
    for region in regions:
        ec2 = ctx.client("ec2", region)
        names = {k: Names(v) for k, v in taken.items()}
        for a in sorted(read(ec2, ADDRESSES), key=lambda a: a.get("PublicIp", "")):
            if TAG_ADDRESS in tags_of(a) or "AllocationId" not in a:
                continue
            inst = index.get(a.get("InstanceId") or "")
            if a.get("AssociationId") and inst is None:
                continue  # on something that is not ours (a NAT gateway, an unmanaged instance)
            name = names["PublicIp"].get(tags_of(a).get("Name"), a["AllocationId"])
            spec: dict[str, Any] = {"address": a["PublicIp"]}
            vm = vms.get(inst or "")
            idle = None if a.get("AssociationId") else monthly("eip", region)
            findings.append(Finding("eip-new", a["AllocationId"], f"{a['PublicIp']} allocated outside the controller"
                                    + (f", on {inst}" if inst else ""), "", "add a PublicIp", idle))
            if vm is not None:
                edits.add.append(_doc("PublicIp", name, enterprise, spec, vm.metadata.vdc, a["AllocationId"],
                                      label(a, a["AllocationId"])))
                edits.on(vm.address, _set_public_ip(0, name))
            else:
                edits.add.append(_doc("PublicIp", name, enterprise, {"region": region, **spec}, None,
                                      a["AllocationId"], label(a, a["AllocationId"])))
        for v in sorted(read(ec2, VOLUMES), key=lambda v: v["VolumeId"]):
            if TAG_ADDRESS in tags_of(v) or v.get("State") != "available":
                continue
            name = names["Volume"].get(tags_of(v).get("Name"), v["VolumeId"])
            p = decode_volume(v)
            size, kind = p["sizeGiB"], p["type"] or "gp3"
            cost = monthly("ebs", region, size, kind)
            findings.append(Finding("volume-new", v["VolumeId"], f"{size} GiB {kind} made outside "
                                    "the controller, not attached", "", "add a Volume at the region level", cost))
            edits.add.append(_doc("Volume", name, enterprise, {"region": region, "sizeGiB": size, "type": kind,
                                                              "availabilityZone": p["availabilityZone"]},
                                  None, v["VolumeId"], label(v, v["VolumeId"])))
        managed_subnets = {lv.aws_id: lv.id for lv in observed.live.values() if lv.kind == "PrivateNetwork"
                           and lv.attrs.get("region") == region}
        if managed_subnets:
            for inst in read(ec2, INSTANCES, Filters=[{"Name": "subnet-id", "Values": sorted(managed_subnets)}]):
                if TAG_ADDRESS in tags_of(inst) or inst.get("State", {}).get("Name") in ("terminated",):
                    continue
                ips = sorted((a["PrivateIpAddress"] for n in inst.get("NetworkInterfaces", [])
                              for a in n.get("PrivateIpAddresses", [])), key=ipaddress.IPv4Address)
                findings.append(Finding("ips-in-use", inst["InstanceId"], f"unmanaged instance uses {', '.join(ips)} "
                                        f"in {managed_subnets.get(inst.get('SubnetId', ''), '?')}", "",
                                        "nothing (onboard it with `controller onboard`)"))
        managed_vpcs = {lv.aws_id: lv.id for lv in observed.live.values() if lv.kind == "VirtualDatacenter"
                        and lv.attrs.get("region") == region}
        if managed_vpcs:  # databases made by hand in a managed VPC (RDS lists them region-wide)
            for db in read(ctx.client("rds", region), DB_INSTANCES):
                vpc = (db.get("DBSubnetGroup") or {}).get("VpcId")
                if vpc not in managed_vpcs or TAG_ADDRESS in tags_of({"Tags": db.get("TagList")}) \
                        or db.get("DBInstanceStatus") in ("deleting", "deleted"):
                    continue
                findings.append(Finding(
                    "database-new", db["DBInstanceIdentifier"], f"{db.get('Engine')} {db.get('DBInstanceClass')} "
                    f"made outside the controller in {managed_vpcs[vpc]}", "",
                    "nothing (onboard it with `controller onboard`)",
                    monthly("rds", region, db.get("AllocatedStorage") or 0, db.get("StorageType") or "gp3",
                            db.get("DBInstanceClass") or "", bool(db.get("MultiAZ")))))
        for lv in observed.live.values():  # NAT gateways cost while they exist
            if lv.kind == "NatGateway" and lv.attrs.get("region") == region:
                findings.append(Finding("nat-gateway", lv.aws_id, "NAT gateway", lv.id, "", monthly("nat", region)))
    return findings, edits


def _doc(kind: str, name: str, ent: str, spec: dict[str, Any], vdc: str | None, aws_id: str,
         comment: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "enterprise": ent, **({"vdc": vdc} if vdc else {}), "awsId": aws_id}
    return {"_comment": comment, "apiVersion": "controller/v1", "kind": kind, "metadata": meta, "spec": spec}


def _volumes_of(vm: Any, res: dict[str, Any]) -> list[str]:
    out = []
    for name in vm.spec.volumes:
        for addr in (f"{vm.enterprise}/{vm.vdc}/Volume/{name}", f"{vm.enterprise}/Volume/{name}"):
            if addr in res:
                out.append(addr)
                break
    return out


def _nic_with(vms: dict[str, Any], pip: str) -> tuple[str, int] | None:
    name = pip.rsplit("/", 1)[-1]
    for vid, vm in vms.items():
        for i, nic in enumerate(vm.spec.nics):
            if nic.public_ip == name:
                return vid, i
    return None


def _set_secondary(i: int, ips: list[str]) -> Any:
    def fn(d: dict[str, Any]) -> None:
        nic = d["spec"]["nics"][i]
        if ips:
            nic["secondaryIps"] = ips
        else:
            nic.pop("secondaryIps", None)
    return fn


def _set_public_ip(i: int, name: str | None) -> Any:
    def fn(d: dict[str, Any]) -> None:
        nics = d["spec"]["nics"]
        if i >= len(nics):
            return
        if name:
            nics[i]["publicIp"] = name
        else:
            nics[i].pop("publicIp", None)
    return fn


def _drop_volume(name: str) -> Any:
    def fn(d: dict[str, Any]) -> None:
        vols = [v for v in d["spec"].get("volumes", []) if v != name]
        if vols:
            d["spec"]["volumes"] = vols
        else:
            d["spec"].pop("volumes", None)
    return fn


def _to_region(edits: Edits, r: Any, live: Any) -> None:
    """A VDC volume back to the pool: its document moves to the region level (same name: re-tagged in place)."""
    edits.remove.add(r.address)
    spec = {"region": live.attrs.get("region"), "sizeGiB": r.spec.size_gi_b, "type": r.spec.type,
            "availabilityZone": live.props.get("availabilityZone")}
    edits.add.append(_doc("Volume", r.name, r.enterprise, spec, None, live.aws_id,
                          f"{live.aws_id}, moved from VDC {r.metadata.vdc} by `controller sync`"))


# -- writing ---------------------------------------------------------------------------------------


def _segments(text: str) -> list[tuple[int, list[str]]]:
    """(first line, lines) of every `---` separated document of a file (1-based lines)."""
    out: list[tuple[int, list[str]]] = []
    cur: list[str] = []
    start = 1
    for n, line in enumerate(text.splitlines(), 1):
        if line.rstrip() == "---" or line.startswith("--- "):
            out.append((start, cur))
            cur, start = [], n + 1
            continue
        cur.append(line)
    out.append((start, cur))
    return out


def apply_edits(edits: Edits, resources: list[Any], specs_dir: Path, enterprise: str) -> list[str]:
    """Rewrite the documents that change (their leading comments kept), drop removed ones, and add new
    documents to `<specs>/<enterprise>/synced.yaml`. Returns the files written."""
    by_file: dict[str, list[Any]] = {}
    for r in resources:
        if r.address in edits.change or r.address in edits.remove:
            by_file.setdefault(r.file, []).append(r)
    written = []
    for file, rs in sorted(by_file.items()):
        path = Path(file)
        segs = _segments(path.read_text())
        out_segs = []
        for start, lines in segs:
            end = start + len(lines)
            hit = next((r for r in rs if start <= r.line < end), None)
            if hit is None:
                out_segs.append(lines)
                continue
            if hit.address in edits.remove:
                continue
            head = []
            for line in lines:
                if line.startswith("#") or not line.strip():
                    head.append(line)
                else:
                    break
            data = yaml.safe_load("\n".join(lines))
            for fn in edits.change[hit.address]:
                fn(data)
            out_segs.append(head + yaml.safe_dump(data, sort_keys=False, width=110).splitlines())
        text = "\n---\n".join("\n".join(s) for s in out_segs if any(x.strip() for x in s) or s is out_segs[0])
        path.write_text(text.rstrip("\n") + "\n")
        written.append(str(path))
    if edits.add:
        path = specs_dir / enterprise / "synced.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text() if path.exists() else "# Written by `controller sync`: objects found in AWS.\n"
        parts = [old.rstrip("\n")]
        for d in edits.add:
            comment = d.pop("_comment")
            parts.append(f"---\n# {comment}\n" + yaml.safe_dump(d, sort_keys=False, width=110).rstrip("\n"))
        path.write_text("\n".join(parts) + "\n")
        written.append(str(path))
    return written
