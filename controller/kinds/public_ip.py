"""PublicIp: an Elastic IP; PublicIpAssociation: an Elastic IP on a VM's nic (derived, no tags of its own).

PublicIp documents allocate an Elastic IP each (a given `address` is allocated exactly). A VM nic
with `publicIp: auto` gets its own Elastic IP, `ent/vdc/PublicIp/<vm>.nic<i>`, released when the
VM is undeployed or gone; a named one stays allocated while its document exists.

Both kinds read ONE tag-filtered describe_addresses per region. Only Elastic IPs whose address tag
names a PublicIp are ours here: the NAT gateway's own EIP carries the NAT's address (vdc.py) and is
never touched. Associations are observed only to instances (InstanceId), never to a NAT's ENI (a
region-level PublicIp a NAT gateway reuses stays with the NAT). An association to an instance that
is not the desired one (moto keeps EIPs on terminated instances) is drift: apply re-associates.
"""

from __future__ import annotations

from typing import Any

from controller.aws import tags as tag_style
from controller.errors import ResourceError
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    TAG_PROTECT,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    ownership_tags,
    register,
    tags_of,
)
from controller.kinds.vm import INSTANCES
from controller.spec.catalog import Catalog
from controller.spec.models import Resource, address_of

AUTO = "auto"
ADDRESSES = AwsFacts("ec2", "describe_addresses", "Addresses", "AllocationId", tag_style.EC2,
                     resource_type="elastic-ip", adopt_filter="allocation-id", id_prefix="eipalloc-")


def association_id(public_ip_id: str) -> str:
    return public_ip_id.replace("/PublicIp/", "/PublicIpAssociation/")


def _kind_segment(address: str) -> str:
    parts = address.split("@")[0].split("/")
    return parts[-2] if len(parts) >= 2 else ""


def _ours(obs: Observation) -> list[dict[str, Any]]:
    """The enterprise's Elastic IPs that are PublicIps (one call per pass, shared by both kinds)."""
    return [a for a in obs.owned(ADDRESSES)
            if _kind_segment(tags_of(a).get(TAG_ADDRESS, "")) == PublicIp.name]


def _instance_nics(obs: Observation) -> dict[str, tuple[str, int | None]]:
    """ENI id -> (instance id, nic index) of the enterprise's instances (the listing the VM kind shares)."""
    instances = obs.owned(INSTANCES)
    return {n["NetworkInterfaceId"]: (i["InstanceId"], n.get("Attachment", {}).get("DeviceIndex"))
            for i in instances for n in i.get("NetworkInterfaces") or []}


def _instance_of(a: dict[str, Any], nics: dict[str, tuple[str, int | None]]) -> str | None:
    """The instance an Elastic IP is on: InstanceId, or the instance of its ENI (moto leaves InstanceId
    empty when associated through the ENI). A NAT gateway's ENI is no instance's: None."""
    if a.get("InstanceId"):
        return str(a["InstanceId"])
    eni = a.get("NetworkInterfaceId")
    return nics[eni][0] if eni in nics else None


@register
class PublicIp(Kind):
    name = "PublicIp"
    spec_kinds = ("PublicIp", "VirtualMachine")
    force_new = frozenset({"address"})
    facts = (ADDRESSES,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        if r.kind == "PublicIp":
            vdc = catalog.vdc_of(r)
            region = vdc.spec.region if vdc is not None else r.spec.region
            props = {"address": r.spec.address} if r.spec.address else {}
            return [self.node(self.name, r, props, region=region)]
        return self._expand_vm(r, catalog)

    def _expand_vm(self, vm: Resource, catalog: Catalog) -> list[Node]:
        s = vm.spec
        vdc = catalog.vdc_of(vm)
        if s.state == "undeployed" or vdc is None:
            return []
        ent, region = vm.metadata.enterprise, vdc.spec.region
        nodes = []
        for i, nic in enumerate(s.nics):
            for ip, name in sorted(nic.secondary_public_ips.items()):  # on a secondary IP of the nic
                pip = catalog.public_ip(ent, vm.vdc, name)
                if pip is not None:
                    nodes.append(self._association(vm, pip.address, i, ip, region))
            if not nic.public_ip:
                continue
            if nic.public_ip == AUTO:
                pid = address_of(self.name, f"{vm.name}.nic{i}", ent, vm.vdc)
                nodes.append(Node(id=pid, kind=self.name, address=pid, enterprise=vm.enterprise, region=region,
                                  props={}, compared=frozenset(), protect=vm.metadata.protect,
                                  source=f"{vm.file}:{vm.line}"))
            else:
                pip = catalog.public_ip(ent, vm.vdc, nic.public_ip)
                if pip is None:
                    continue  # validation reports it
                pid = pip.address
            nodes.append(self._association(vm, pid, i, nic.ip, region))
        return nodes

    @staticmethod
    def _association(vm: Resource, pid: str, nic: int, ip: str | None, region: str) -> Node:
        props: dict[str, Any] = {"allocation": Ref(pid), "instance": Ref(vm.address), "privateIp": ip,
                                 "nic": nic, "enis": Ref(vm.address, "enis")}
        compared = ["allocation", "instance", "nic"] + (["privateIp"] if ip else [])
        aid = association_id(pid)
        return Node(id=aid, kind="PublicIpAssociation", address=aid, enterprise=vm.enterprise, region=region,
                    props=props, compared=frozenset(compared), protect=False, source=f"{vm.file}:{vm.line}")

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        eips = _ours(obs)
        nics = _instance_nics(obs) if any(a.get("AssociationId") for a in eips) else {}
        for a in eips:
            live = self.live_from(self.name, a, a["AllocationId"], {"address": a.get("PublicIp")},
                                  association=a.get("AssociationId"), instance=_instance_of(a, nics),
                                  publicIp=a.get("PublicIp"))
            if live:
                out.append(live)
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        # No lookup first: the plan this apply carries out has just observed the enterprise's Elastic IPs by
        # their tags, so one that an earlier, interrupted apply allocated is in the plan as existing, not as
        # a create (tests/test_crash.py); asking again per address was one DescribeAddresses per EIP.
        want = op.props.get("address")
        kw: dict[str, Any] = {"Domain": "vpc", **self.tags_at_create(node)}
        if want:
            kw["Address"] = want
        eip = op.call("allocate Elastic IP", ec2.allocate_address, **kw)
        return Live(id=node.id, kind=self.name, aws_id=eip["AllocationId"], props={"address": eip.get("PublicIp")},
                    tags=ownership_tags(node), attrs={"publicIp": eip.get("PublicIp")})

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        if op.live.attrs.get("association") and op.live.attrs.get("instance"):
            op.call("disassociate Elastic IP", ec2.disassociate_address,
                    AssociationId=op.live.attrs["association"], ok_not_found=True)
        op.call("release Elastic IP", ec2.release_address, AllocationId=op.live.aws_id, ok_not_found=True,
                retry_codes=["InvalidIPAddress.InUse"], attempts=6)


@register
class PublicIpAssociation(Kind):
    name = "PublicIpAssociation"
    tagged = False
    facts = (ADDRESSES,)  # the Elastic IP's association: no tags of its own (derived)

    def observe(self, obs: Observation) -> list[Live]:
        eips = [a for a in _ours(obs) if a.get("AssociationId")]
        if not eips:
            return []
        nics = _instance_nics(obs)
        out = []
        for a in eips:
            instance = _instance_of(a, nics)
            if instance is None:
                continue  # on a NAT gateway (a region-level PublicIp it reuses): not an association of ours
            eni = a.get("NetworkInterfaceId") or ""
            tags = tags_of(a)  # the EIP's (the engine finds the enterprise there); never its protection
            out.append(Live(
                id=association_id(tags[TAG_ADDRESS]), kind=self.name, aws_id=a["AssociationId"],
                tags={k: v for k, v in tags.items() if k != TAG_PROTECT},
                props={"allocation": a["AllocationId"], "instance": instance,
                       "privateIp": a.get("PrivateIpAddress"), "nic": nics[eni][1] if eni in nics else None},
                refs=[a["AllocationId"], instance], derived=True, attrs={"eni": eni}))
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        assoc = self._associate(op)
        p = op.props
        return Live(id=node.id, kind=self.name, aws_id=assoc, derived=True, refs=[p["allocation"], p["instance"]],
                    tags=ownership_tags(node),
                    props={k: p[k] for k in ("allocation", "instance", "privateIp", "nic")})

    def update(self, op: Op, changes: list[str]) -> None:
        self._associate(op)

    def _associate(self, op: Op) -> str:
        ec2 = op.client()
        p = op.props
        kw: dict[str, Any] = {"AllocationId": p["allocation"], "AllowReassociation": True}
        if p["nic"] == 0:  # the primary nic: through the instance, so AWS records the instance as well
            kw["InstanceId"] = p["instance"]
        else:
            kw["NetworkInterfaceId"] = self._eni(op)
        if p.get("privateIp"):
            kw["PrivateIpAddress"] = p["privateIp"]
        out = op.call("associate Elastic IP", ec2.associate_address, **kw,
                      retry_codes=["InvalidAllocationID.NotFound", "InvalidNetworkInterfaceID.NotFound",
                                   "InvalidInstanceID.NotFound", "IncorrectInstanceState"])
        return str(out["AssociationId"])

    @staticmethod
    def _eni(op: Op) -> str:
        """The ENI of the nic: from the VM's live attrs, else from AWS."""
        nic, enis = op.props["nic"], op.props.get("enis")
        if isinstance(enis, list) and nic < len(enis) and enis[nic]:
            return str(enis[nic])
        ec2 = op.client()
        res = op.call("find the VM's network interfaces", ec2.describe_instances, InstanceIds=[op.props["instance"]],
                      retry_codes=["InvalidInstanceID.NotFound"])
        for r in res["Reservations"]:
            for i in r["Instances"]:
                for n in i.get("NetworkInterfaces") or []:
                    if n.get("Attachment", {}).get("DeviceIndex") == nic:
                        return str(n["NetworkInterfaceId"])
        raise ResourceError(op.address, "associate Elastic IP", "NotFound",
                            f"instance {op.props['instance']} has no network interface {nic}")

    def delete(self, op: Op) -> None:
        assert op.live is not None
        op.call("disassociate Elastic IP", op.client().disassociate_address, AssociationId=op.live.aws_id,
                ok_not_found=True)
