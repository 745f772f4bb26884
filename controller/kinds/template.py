"""Template: an AMI in the enterprise's catalogue. Nothing is created in AWS: the node only checks
that the AMI exists in its region and tells the VMs its root device name.

Nodes: `ent/Template/name` for Template documents, `ent/Template/ami-xxxx` for a VM whose template is
a literal AMI id (made by the VirtualMachine kind). Both observe as derived Lives (aws_id = the AMI id,
attrs rootDeviceName).
"""

from __future__ import annotations

import datetime as dt

from controller.aws import tags as tag_style
from controller.errors import ResourceError
from controller.graph import Node
from controller.kinds.base import AwsFacts, Kind, Live, Observation, Op, register
from controller.spec.catalog import Catalog
from controller.spec.models import Resource

# read only (a catalogue entry names an AMI; nothing is created, tagged or adopted)
IMAGES = AwsFacts("ec2", "describe_images", "Images", "ImageId", tag_style.EC2, id_prefix="ami-")


@register
class Template(Kind):
    name = "Template"
    tagged = False
    spec_kinds = ("Template",)
    force_new = frozenset({"ami"})
    facts = (IMAGES,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        return [self.node(self.name, r, {"ami": r.spec.ami}, region=r.spec.region)]

    def observe(self, obs: Observation) -> list[Live]:
        wanted = {i: n for i, n in obs.desired.items() if n.kind == self.name}
        amis = sorted({n.props["ami"] for n in wanted.values()})
        if not amis:
            return []
        # IncludeDeprecated: a deprecated AMI still exists (and still launches); the plan warns about it
        images = {i["ImageId"]: i for i in obs.list(IMAGES.service, IMAGES.describe, IMAGES.key, IncludeDeprecated=True,
                                                    Filters=[{"Name": "image-id", "Values": amis}])
                  if i.get("State", "available") == "available"}
        out = []
        for nid, n in sorted(wanted.items()):
            img = images.get(n.props["ami"])
            if img is None:
                continue
            out.append(Live(id=nid, kind=self.name, aws_id=img["ImageId"], props={"ami": img["ImageId"]},
                            attrs={"rootDeviceName": img.get("RootDeviceName"),
                                   "deprecationTime": img.get("DeprecationTime"), "name": img.get("Name")},
                            derived=True))
        return out

    def check(self, node: Node, live: Live | None) -> str | None:
        if live is None:
            return (f"Template {node.address}: AMI {node.props['ami']} is gone or not visible to this account in "
                    f"region {node.region}; choose another image (`controller catalog templates`)")
        return None

    def warning(self, node: Node, live: Live | None) -> str | None:
        when = deprecated_since(live.attrs.get("deprecationTime") if live else None)
        if when is None:
            return None
        return (f"Template {node.address}: AMI {node.props['ami']} is deprecated since {when}; it still launches, "
                "but choose a newer image (`controller catalog templates --latest`)")

    def create(self, op: Op) -> Live:
        # a template is a catalogue entry: the plan refuses a missing AMI before apply gets here
        ami = op.props.get("ami")
        raise ResourceError(op.address, "use template", "InvalidAMIID.NotFound",
                            f"AMI {ami} does not exist in region {op.region}")

    def update(self, op: Op, changes: list[str]) -> None:
        return None

    def delete(self, op: Op) -> None:
        return None  # never deregister an image: the catalogue entry just goes away


def deprecated_since(value: str | None, now: dt.datetime | None = None) -> str | None:
    """The DeprecationTime of an image if it has passed (ISO 8601, as EC2 returns it), else None."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # unparseable but present: say it rather than hide it
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return value if when <= (now or dt.datetime.now(dt.UTC)) else None
