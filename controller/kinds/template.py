"""Template: an AMI in the enterprise's catalogue. Nothing is created in AWS: the node only checks
that the AMI exists in its region and tells the VMs its root device name.

Nodes: `ent/Template/name` for Template documents, `ent/Template/ami-xxxx` for a VM whose template is
a literal AMI id (made by the VirtualMachine kind). Both observe as derived Lives (aws_id = the AMI id,
attrs rootDeviceName).
"""

from __future__ import annotations

from controller.errors import ResourceError
from controller.graph import Node
from controller.kinds.base import Kind, Live, Observation, Op, register
from controller.spec.catalog import Catalog
from controller.spec.models import Resource


@register
class Template(Kind):
    name = "Template"
    tagged = False
    spec_kinds = ("Template",)
    force_new = frozenset({"ami"})

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        return [self.node(self.name, r, {"ami": r.spec.ami}, region=r.spec.region)]

    def observe(self, obs: Observation) -> list[Live]:
        wanted = {i: n for i, n in obs.desired.items() if n.kind == self.name}
        amis = sorted({n.props["ami"] for n in wanted.values()})
        if not amis:
            return []
        images = {i["ImageId"]: i for i in obs.list("ec2", "describe_images", "Images",
                                                    Filters=[{"Name": "image-id", "Values": amis}])
                  if i.get("State", "available") == "available"}
        out = []
        for nid, n in sorted(wanted.items()):
            img = images.get(n.props["ami"])
            if img is None:
                continue
            out.append(Live(id=nid, kind=self.name, aws_id=img["ImageId"], props={"ami": img["ImageId"]},
                            attrs={"rootDeviceName": img.get("RootDeviceName")}, derived=True))
        return out

    def check(self, node: Node, live: Live | None) -> str | None:
        if live is None:
            return f"AMI {node.props['ami']} does not exist in region {node.region}"
        return None

    def create(self, op: Op) -> Live:
        # a template is a catalogue entry: the plan refuses a missing AMI before apply gets here
        ami = op.props.get("ami")
        raise ResourceError(op.address, "use template", "InvalidAMIID.NotFound",
                            f"AMI {ami} does not exist in region {op.region}")

    def update(self, op: Op, changes: list[str]) -> None:
        return None

    def delete(self, op: Op) -> None:
        return None  # never deregister an image: the catalogue entry just goes away
