"""HardwareOffering: is a VM's hardware profile offered in its availability zone?

Nothing is created in AWS. A VM whose region has no hardware catalogue in the spec tree (validation
checked the zone rule otherwise, spec/hardware.py) gets one derived node per (profile, zone),
`ent/HardwareOffering/t3.micro@us-east-1a`. A VM of ours already running that profile in that zone
proves it (read from the VMs' own listing, no call of its own); the rest take one
DescribeInstanceTypeOfferings call per region, filtered by the profiles wanted. A profile not offered
in its zone is a plan error.
"""

from __future__ import annotations

from controller.aws import tags as tag_style
from controller.graph import Node
from controller.kinds.base import AwsFacts, Kind, Live, Observation, Op, register
from controller.spec.catalog import Catalog, vdc_zone
from controller.spec.models import Resource, address_of

KIND = "HardwareOffering"
# read only: which zones offer an instance type
OFFERINGS = AwsFacts("ec2", "describe_instance_type_offerings", "InstanceTypeOfferings", "InstanceType", tag_style.EC2)


def offering_node(vm: Resource, catalog: Catalog, vdc: Resource, region: str) -> Node | None:
    """The node that checks a VM's profile in its zone at plan, or None (checked at validate, or no nic)."""
    if region in catalog.zones_checked or not vm.spec.nics:
        return None
    net = catalog.get("PrivateNetwork", vm.spec.nics[0].network, vm.metadata.enterprise, vdc.name)
    if net is None:
        return None
    zone = net.spec.availability_zone or vdc_zone(vdc.spec)
    nid = f"{address_of(KIND, vm.spec.hardware_profile, vm.metadata.enterprise)}@{zone}"
    return Node(id=nid, kind=KIND, address=nid, enterprise=vm.enterprise, region=region,
                props={"instanceType": vm.spec.hardware_profile, "zone": zone},
                compared=frozenset(), source=f"{vm.file}:{vm.line}")  # nothing to compare: it exists or not


@register
class HardwareOffering(Kind):
    name = KIND
    facts = (OFFERINGS,)

    def observe(self, obs: Observation) -> list[Live]:
        wanted = {i: n for i, n in obs.desired.items() if n.kind == self.name}
        if not wanted:
            return []
        # A VM of ours running that profile in that zone proves the offering: read from the VMs' own listing
        # (memoized in this pass, so no call of its own), and a no-change plan asks AWS nothing more.
        from controller.kinds.vm import GONE, INSTANCES

        seen = {(i.get("InstanceType"), i.get("Placement", {}).get("AvailabilityZone"))
                for i in obs.owned(INSTANCES) if i.get("State", {}).get("Name") not in GONE}
        out = [Live(id=nid, kind=self.name, aws_id=n.props["instanceType"], props=dict(n.props),
                    attrs={"zones": [n.props["zone"]]}, derived=True)
               for nid, n in sorted(wanted.items()) if (n.props["instanceType"], n.props["zone"]) in seen]
        wanted = {nid: n for nid, n in wanted.items() if (n.props["instanceType"], n.props["zone"]) not in seen}
        if not wanted:
            return out
        types = sorted({n.props["instanceType"] for n in wanted.values()})
        offers = obs.list(OFFERINGS.service, OFFERINGS.describe, OFFERINGS.key, LocationType="availability-zone",
                          Filters=[{"Name": "instance-type", "Values": types}])
        zones: dict[str, set[str]] = {}
        for o in offers:
            zones.setdefault(o["InstanceType"], set()).add(o["Location"])
        for nid, n in sorted(wanted.items()):
            offered = zones.get(n.props["instanceType"], set())
            if n.props["zone"] in offered:
                out.append(Live(id=nid, kind=self.name, aws_id=n.props["instanceType"], props=dict(n.props),
                                attrs={"zones": sorted(offered)}, derived=True))
            else:  # remembered for the error message; not a live object
                n.props["offeredIn"] = sorted(offered)
        return out

    def check(self, node: Node, live: Live | None) -> str | None:
        if live is not None:
            return None
        p = node.props
        where = ", ".join(p.get("offeredIn") or ()) or "no zone of the region"
        return (f"hardware profile {p['instanceType']} is not offered in {p['zone']}, the zone of the VM's network "
                f"(offered in: {where}); use another profile, or a network in a zone that offers it")

    def create(self, op: Op) -> Live:
        raise NotImplementedError("the plan refuses a profile not offered in its zone before apply gets here")

    def delete(self, op: Op) -> None:
        return None
