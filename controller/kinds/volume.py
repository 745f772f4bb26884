"""Volume: an EBS volume; VolumeAttachment: a volume attached to a VM (derived, no tags of its own).

A Volume document expands to the volume and, when a deployed or powered-off VM lists it in
`volumes`, its attachment (device `/dev/sdf` onwards by the volume's position in that list). Data
volumes attach with DeleteOnTermination false unless the document says otherwise, so undeploying
or deleting a VM leaves them `available` (the platform's rule: only the boot disk goes with the VM).

Availability zone: as given; else the zone of the primary network of the VM that lists it; else
the VDC's zone; else `<region>a` for a volume of the cloud location (no VDC). Only a zone the user
set or a VM needs is compared: a detached volume with no zone of its own is fine wherever it is.

Moving a document between VDCs (or to the region level) keeping its name re-tags the volume in
place instead of replacing it: see docs/volumes.md.
"""

from __future__ import annotations

import weakref
from typing import Any

from controller.aws import tags as tag_style
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    TAG_PROTECT,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    client_token,
    ownership_tags,
    register,
    set_by_user,
    tags_of,
)
from controller.spec.catalog import Catalog, vdc_zone
from controller.spec.models import Resource

FIRST_DEVICE = "f"
MAX_VOLUMES = ord("z") - ord(FIRST_DEVICE) + 1  # /dev/sdf .. /dev/sdz
ATTACHED_STATES = ("attaching", "attached")
GONE_STATES = ("deleting", "deleted", "error")
VOLUMES = AwsFacts("ec2", "describe_volumes", "Volumes", "VolumeId", tag_style.EC2, resource_type="volume",
                   adopt_filter="volume-id", id_prefix="vol-")
FIELDS = {"size_gi_b": "sizeGiB", "type": "type", "iops": "iops", "encrypted": "encrypted",
          "kms_key_id": "kmsKeyId", "availability_zone": "availabilityZone"}

# volume address -> (the VM that lists it, its position in that VM's list), built once per catalog
_owners: weakref.WeakKeyDictionary[Catalog, dict[str, tuple[Resource, int]]] = weakref.WeakKeyDictionary()


def volume_owners(catalog: Catalog) -> dict[str, tuple[Resource, int]]:
    index = _owners.get(catalog)
    if index is None:
        index = {}
        for vm in catalog.of_kind("VirtualMachine"):
            for i, name in enumerate(vm.spec.volumes):
                v = catalog.volume(vm.metadata.enterprise, vm.vdc, name)
                if v is not None:
                    index.setdefault(v.address, (vm, i))
        _owners[catalog] = index
    return index


def vm_zone(vm: Resource, catalog: Catalog) -> str | None:
    """The availability zone of a VM: its primary network's."""
    vdc = catalog.vdc_of(vm)
    if vdc is None or not vm.spec.nics:
        return None
    net = catalog.get("PrivateNetwork", vm.spec.nics[0].network, vm.metadata.enterprise, vm.vdc)
    if net is None:
        return vdc_zone(vdc.spec)
    return net.spec.availability_zone or vdc_zone(vdc.spec)


def device_name(position: int) -> str:
    return f"/dev/sd{chr(ord(FIRST_DEVICE) + position)}"


def attachment_id(volume_id: str) -> str:
    return volume_id.replace("/Volume/", "/VolumeAttachment/")


def kind_segment(address: str) -> str:
    parts = address.split("@")[0].split("/")
    return parts[-2] if len(parts) >= 2 else ""


@register
class Volume(Kind):
    name = "Volume"
    spec_kinds = ("Volume",)
    force_new = frozenset({"availabilityZone", "encrypted", "kmsKeyId"})
    facts = (VOLUMES,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        s = r.spec
        vdc = catalog.vdc_of(r)
        region = vdc.spec.region if vdc is not None else s.region
        owner = volume_owners(catalog).get(r.address)
        vm, position = owner if owner else (None, 0)
        zone_from = "spec"
        zone = s.availability_zone
        if zone is None and vm is not None:
            zone, zone_from = vm_zone(vm, catalog), "vm"
        if zone is None and vdc is not None:
            zone, zone_from = vdc_zone(vdc.spec), "default"
        if zone is None:
            zone, zone_from = f"{region}a", "default"
        props: dict[str, Any] = {
            "availabilityZone": zone, "sizeGiB": s.size_gi_b, "type": s.type, "iops": s.iops,
            "encrypted": s.encrypted, "kmsKeyId": s.kms_key_id, "zoneFrom": zone_from, "position": position,
        }
        compared = [FIELDS[f] for f in set_by_user(s, *FIELDS)]
        if zone_from == "vm" and "availabilityZone" not in compared:
            compared.append("availabilityZone")
        if "sizeGiB" not in compared:
            compared.append("sizeGiB")
        nodes = [self.node(self.name, r, props, region=region, compared=compared)]
        if vm is not None and vm.spec.state in ("deployed", "powered-off"):
            att = {"instance": Ref(vm.address), "volume": Ref(r.address), "device": device_name(position),
                   "deleteOnTermination": s.delete_on_termination}
            attachment = self.node("VolumeAttachment", r, att, id=attachment_id(r.address), region=region,
                                   compared=["instance", "volume", "deleteOnTermination"])
            attachment.protect = False  # detaching loses no data: protection guards the volume itself
            nodes.append(attachment)
        return nodes

    def check(self, node: Node, live: Live | None) -> str | None:
        p = node.props
        if p["position"] >= MAX_VOLUMES:
            return f"a VM takes at most {MAX_VOLUMES} volumes (/dev/sdf to /dev/sdz)"
        if live is None:
            return None
        have = live.props.get("sizeGiB")
        if have is not None and p["sizeGiB"] < have:
            return (f"sizeGiB {p['sizeGiB']} is smaller than the volume's {have} GiB: EBS volumes only grow "
                    "(create a new volume and copy the data)")
        if p["zoneFrom"] == "vm" and live.props.get("availabilityZone") not in (None, p["availabilityZone"]):
            return (f"the volume is in {live.props['availabilityZone']} and the VM that lists it in "
                    f"{p['availabilityZone']}: set availabilityZone: {p['availabilityZone']} to replace the "
                    "volume (its data is lost), or attach it to a VM of its zone")
        return None

    def observe(self, obs: Observation) -> list[Live]:
        vols = [v for v in obs.owned(VOLUMES) if v.get("State") not in GONE_STATES]
        moved = _moves(obs, vols)
        out = []
        for v in vols:
            tags = tags_of(v)
            address = tags.get(TAG_ADDRESS, "")
            if kind_segment(address) != self.name:
                continue  # a VM's boot disk, tagged with the VM's address
            node_id = moved.get(v["VolumeId"], address)
            desired = obs.desired.get(node_id)
            out.append(Live(id=node_id, kind=self.name, aws_id=v["VolumeId"], tags=tags,
                            props=decode_volume(v, desired), attrs={"attachments": _attachments(v)}))
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        p = op.props
        kw: dict[str, Any] = {"AvailabilityZone": p["availabilityZone"], "Size": p["sizeGiB"],
                              "VolumeType": p["type"], "Encrypted": bool(p["encrypted"])}
        if p.get("iops") is not None:
            kw["Iops"] = p["iops"]
        if p.get("kmsKeyId"):
            kw["KmsKeyId"] = p["kmsKeyId"]
        vol = op.call("create volume", ec2.create_volume, **kw, ClientToken=client_token(node, op.props),
                      **self.tags_at_create(node))
        vid = vol["VolumeId"]
        v = vol if vol.get("State") == "available" else op.wait_for(  # AWS answers "creating": wait (batched)
            VOLUMES, vid, "volume available", ready=lambda v: v["State"] == "available",
            failed=lambda v: "the volume went to state error" if v["State"] == "error" else None)
        return Live(id=node.id, kind=self.name, aws_id=vid, props=decode_volume(v, node),
                    tags=ownership_tags(node), attrs={"attachments": []})

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        p = op.props
        kw: dict[str, Any] = {}
        if "sizeGiB" in changes:
            kw["Size"] = p["sizeGiB"]
        if "type" in changes:
            kw["VolumeType"] = p["type"]
        if "iops" in changes or ("type" in changes and p.get("iops") is not None):
            kw["Iops"] = p["iops"]
        if kw:
            op.call("modify volume", op.client().modify_volume, VolumeId=op.live.aws_id, **kw)

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        vid = op.live.aws_id
        # still attached (the VM is not ours, or its attachment was not planned): detach first
        for a in op.live.attrs.get("attachments") or []:
            _detach(op, vid, a["instance"], a.get("device"))
        op.call("delete volume", ec2.delete_volume, VolumeId=vid, ok_not_found=True,
                retry_codes=["VolumeInUse", "IncorrectState"], attempts=8)


def _attachments(v: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"instance": a["InstanceId"], "device": a.get("Device"), "state": a.get("State")}
            for a in v.get("Attachments") or [] if a.get("State") in ATTACHED_STATES]


def decode_volume(v: dict[str, Any], desired: Node | None = None) -> dict[str, Any]:
    """A volume as props (the one place a volume is read: observe compares it, onboarding writes it)."""
    kms = v.get("KmsKeyId")
    want = desired.props.get("kmsKeyId") if desired is not None else None
    if kms and want and (kms == want or kms.endswith(f"/{want}")):
        kms = want  # the user wrote the key id, AWS answers with its ARN
    return {"availabilityZone": v.get("AvailabilityZone"), "sizeGiB": v.get("Size"), "type": v.get("VolumeType"),
            "iops": v.get("Iops"), "encrypted": bool(v.get("Encrypted")), "kmsKeyId": kms}


def _moves(obs: Observation, vols: list[dict[str, Any]]) -> dict[str, str]:
    """Volumes whose document moved to another VDC (same enterprise, region and name): vol id -> new node id.

    The volume keeps its data: the diff sees its address tag differ and re-tags it in place.
    """
    have = {tags_of(v).get(TAG_ADDRESS) for v in vols}
    wanted: dict[str, list[str]] = {}
    for nid, n in obs.desired.items():
        if n.kind == Volume.name and nid not in have:
            wanted.setdefault(n.name, []).append(nid)
    out: dict[str, str] = {}
    if not wanted:
        return out
    orphans: dict[str, list[str]] = {}
    for v in vols:
        address = tags_of(v).get(TAG_ADDRESS, "")
        if kind_segment(address) == Volume.name and address not in obs.desired:
            orphans.setdefault(address.rsplit("/", 1)[-1], []).append(v["VolumeId"])
    for name, ids in wanted.items():
        if len(ids) == 1 and len(orphans.get(name, [])) == 1:
            out[orphans[name][0]] = ids[0]
    return out


def _detach(op: Op, volume_id: str, instance_id: str, device: str | None) -> None:
    ec2 = op.client()
    kw: dict[str, Any] = {"VolumeId": volume_id, "InstanceId": instance_id}  # moto fails without InstanceId
    if device:
        kw["Device"] = device
    op.call("detach volume", ec2.detach_volume, **kw, ok_not_found=True, retry_codes=["IncorrectState"])
    op.wait_for(VOLUMES, volume_id, "volume detached",
                ready=lambda v: not any(a["InstanceId"] == instance_id and a.get("State") in ATTACHED_STATES + (
                    "detaching",) for a in v.get("Attachments") or []))


@register
class VolumeAttachment(Kind):
    name = "VolumeAttachment"
    tagged = False
    force_new = frozenset({"instance", "volume"})
    facts = (VOLUMES,)  # the volume's attachment: no tags of its own (derived)

    def observe(self, obs: Observation) -> list[Live]:
        vols = [v for v in obs.owned(VOLUMES) if v.get("State") not in GONE_STATES]
        attached = [v for v in vols if _attachments(v) and kind_segment(tags_of(v).get(TAG_ADDRESS, "")) == "Volume"]
        if not attached:
            return []
        moved = _moves(obs, vols)
        # DeleteOnTermination is only in the instance's block device mappings (shared with the VM kind)
        from controller.kinds.vm import INSTANCES  # vm.py imports this module (a VM's boot disk is a volume)

        instances = obs.owned(INSTANCES)
        dot = {(i["InstanceId"], b.get("DeviceName")): b.get("Ebs", {}).get("DeleteOnTermination")
               for i in instances for b in i.get("BlockDeviceMappings") or []}
        out = []
        for v in attached:
            tags = tags_of(v)
            vol_node = moved.get(v["VolumeId"], tags[TAG_ADDRESS])
            a = _attachments(v)[0]
            out.append(Live(
                id=attachment_id(vol_node), kind=self.name, aws_id=f"{v['VolumeId']}@{a['instance']}",
                props={"instance": a["instance"], "volume": v["VolumeId"], "device": a["device"],
                       "deleteOnTermination": dot.get((a["instance"], a["device"]))},
                tags={k: t for k, t in tags.items() if k != TAG_PROTECT}, refs=[v["VolumeId"], a["instance"]],
                derived=True))
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        p = op.props
        vid, iid, device = p["volume"], p["instance"], p["device"]
        att = op.call("attach volume", ec2.attach_volume, VolumeId=vid, InstanceId=iid, Device=device,
                      retry_codes=["IncorrectState", "InvalidVolume.NotFound", "InvalidInstanceID.NotFound"])
        if att.get("State") != "attached":  # AWS answers "attaching": wait (batched)
            op.wait_for(VOLUMES, vid, "volume attached",
                        ready=lambda v: any(a["InstanceId"] == iid and a.get("State") == "attached"
                                            for a in v.get("Attachments") or []))
        if p["deleteOnTermination"]:  # AttachVolume leaves it false: only true needs a call
            self._delete_on_termination(op, iid, device, True)
        return Live(id=node.id, kind=self.name, aws_id=f"{vid}@{iid}", props=dict(p), tags=ownership_tags(node),
                    refs=[vid, iid], derived=True)

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        if "deleteOnTermination" in changes:
            device = op.live.props.get("device") or op.props["device"]
            self._delete_on_termination(op, op.props["instance"], device, bool(op.props["deleteOnTermination"]))

    @staticmethod
    def _delete_on_termination(op: Op, instance: str, device: str, value: bool) -> None:
        op.call("set delete on termination", op.client().modify_instance_attribute, InstanceId=instance,
                BlockDeviceMappings=[{"DeviceName": device, "Ebs": {"DeleteOnTermination": value}}])

    def delete(self, op: Op) -> None:
        assert op.live is not None
        p = op.live.props
        if p.get("volume") and p.get("instance"):
            _detach(op, p["volume"], p["instance"], p.get("device"))
