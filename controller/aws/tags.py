"""Tags: the ownership tags, and how each family of AWS APIs reads and writes them (a tag style).

A kind names its tag style as data (`AwsFacts.tags`, controller/aws/query.py); the code of each
style is here, once:

    EC2      tags in the describe answer (`Tags`); the describe filters by tag server-side;
             written with create_tags / delete_tags; set at creation with TagSpecifications
    RDS      tags in the describe answer (`TagList`); written with add_tags_to_resource /
             remove_tags_from_resource on the ARN; set at creation with Tags
    ELBV2    read with describe_tags (20 ARNs a call); add_tags / remove_tags; Tags at creation
    ELB      the classic API: the same, by load balancer name
    ROUTE53  read with list_tags_for_resources (10 ids a call); change_tags_for_resource;
             create_hosted_zone takes no tags: they are written right after the create

Every tag written by the controller goes through `TagStyle.at_create` (the kwargs of a create
call) or `TagStyle.write` (retag: restore or remove tags on an existing object). The
tags to write are computed by the caller (`ownership_tags` in kinds/base.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.aws.query import AwsFacts

TAG_ADDRESS = "controller:address"
TAG_ENTERPRISE = "controller:enterprise"
TAG_MANAGED_BY = "controller:managed-by"
TAG_PROTECT = "controller:protect"
MANAGED_BY = "controller"

# call(operation, fn, **kwargs): one AWS call made for a resource (errors name it, retried as the caller says)
Call = Callable[..., Any]


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tags_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a described object, whatever the API calls the list (Tags, TagSet, TagList)."""
    items = obj.get("Tags") or obj.get("TagSet") or obj.get("TagList") or []
    return {t["Key"]: t["Value"] for t in items}


class TagStyle:
    """How one API family reads and writes tags. Subclasses are the styles; kinds name an instance."""

    name: str = ""
    inline: bool = True  # the describe answer carries the tags
    server_filter: bool = False  # the describe call filters by tag (EC2 `Filters=[tag:...]`)
    read_batch: int = 0  # ids per tag-reading call, when the tags are read apart

    def read(self, client: Any, facts: AwsFacts, targets: list[str],
             list_call: Callable[..., list[dict[str, Any]]]) -> dict[str, dict[str, str]]:
        """Tags by target (ARN, name or id) for styles whose describe answer carries none.

        list_call(service, operation, key, **kwargs) is the query layer's memoized, retried listing.
        """
        return {}

    def at_create(self, facts: AwsFacts, tags: Mapping[str, str]) -> dict[str, Any]:
        """The kwargs of a create call that set `tags` on the new object."""
        return {"Tags": tag_list(tags)}

    def after_create(self, call: Call, client: Any, facts: AwsFacts, target: str, tags: Mapping[str, str]) -> None:
        """Tags that the create call could not set (APIs without tags at creation)."""
        return None

    def write(self, call: Call, client: Any, facts: AwsFacts, target: str,
              keep: Mapping[str, str], drop: Iterable[str]) -> None:
        raise NotImplementedError


class Ec2Tags(TagStyle):
    name = "ec2"
    server_filter = True

    def at_create(self, facts: AwsFacts, tags: Mapping[str, str]) -> dict[str, Any]:
        return {"TagSpecifications": [self.spec(facts.resource_type, tags)]}

    @staticmethod
    def spec(resource_type: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """One TagSpecifications entry (a create that makes several objects passes one per type)."""
        return {"ResourceType": resource_type, "Tags": tag_list(tags)}

    def write(self, call: Call, client: Any, facts: AwsFacts, target: str,
              keep: Mapping[str, str], drop: Iterable[str]) -> None:
        if keep:
            call("tag", client.create_tags, Resources=[target], Tags=tag_list(keep))
        gone = sorted(drop)
        if gone:
            call("untag", client.delete_tags, Resources=[target], Tags=[{"Key": k} for k in gone])


class RdsTags(TagStyle):
    name = "rds"

    def write(self, call: Call, client: Any, facts: AwsFacts, target: str,
              keep: Mapping[str, str], drop: Iterable[str]) -> None:
        if keep:
            call("tag", client.add_tags_to_resource, ResourceName=target, Tags=tag_list(keep))
        gone = sorted(drop)
        if gone:
            call("untag", client.remove_tags_from_resource, ResourceName=target, TagKeys=gone)


class DescribeTags(TagStyle):
    """Elastic Load Balancing: describe_tags in batches of 20 (ARNs for elbv2, names for the classic API)."""

    inline = False
    read_batch = 20

    def __init__(self, name: str, param: str, id_key: str, remove_by_key_list: bool):
        self.name = name
        self.param = param  # ResourceArns | LoadBalancerNames
        self.id_key = id_key  # ResourceArn | LoadBalancerName
        self.remove_by_key_list = remove_by_key_list  # classic remove_tags takes Tags=[{Key}], elbv2 TagKeys

    def read(self, client: Any, facts: AwsFacts, targets: list[str],
             list_call: Callable[..., list[dict[str, Any]]]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(targets), self.read_batch):
            for d in list_call(facts.service, "describe_tags", "TagDescriptions",
                               **{self.param: targets[i:i + self.read_batch]}):
                out[str(d.get(self.id_key, ""))] = tags_of(d)
        return out

    def write(self, call: Call, client: Any, facts: AwsFacts, target: str,
              keep: Mapping[str, str], drop: Iterable[str]) -> None:
        if keep:
            call("tag", client.add_tags, **{self.param: [target]}, Tags=tag_list(keep))
        gone = sorted(drop)
        if gone:
            extra = {"Tags": [{"Key": k} for k in gone]} if self.remove_by_key_list else {"TagKeys": gone}
            call("untag", client.remove_tags, **{self.param: [target]}, **extra)


class Route53Tags(TagStyle):
    """Route 53: list_tags_for_resources (10 ids a call) and change_tags_for_resource; the resource type
    (`hostedzone`, `healthcheck`) is the kind's `resource_type`; ids without their `/hostedzone/` prefix."""

    name = "route53"
    inline = False
    read_batch = 10

    @staticmethod
    def bare(target: str) -> str:
        return target.rsplit("/", 1)[-1]

    def read(self, client: Any, facts: AwsFacts, targets: list[str],
             list_call: Callable[..., list[dict[str, Any]]]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        by_bare = {self.bare(t): t for t in targets}
        ids = sorted(by_bare)
        for i in range(0, len(ids), self.read_batch):
            for s in list_call(facts.service, "list_tags_for_resources", "ResourceTagSets",
                               ResourceType=facts.resource_type, ResourceIds=ids[i:i + self.read_batch]):
                out[by_bare.get(str(s.get("ResourceId")), str(s.get("ResourceId")))] = tags_of(s)
        return out

    def at_create(self, facts: AwsFacts, tags: Mapping[str, str]) -> dict[str, Any]:
        return {}

    def after_create(self, call: Call, client: Any, facts: AwsFacts, target: str, tags: Mapping[str, str]) -> None:
        self.write(call, client, facts, target, tags, ())

    def write(self, call: Call, client: Any, facts: AwsFacts, target: str,
              keep: Mapping[str, str], drop: Iterable[str]) -> None:
        kw: dict[str, Any] = {}
        if keep:
            kw["AddTags"] = tag_list(keep)
        gone = sorted(drop)
        if gone:
            kw["RemoveTagKeys"] = gone
        if kw:
            call("tag", client.change_tags_for_resource, ResourceType=facts.resource_type,
                 ResourceId=self.bare(target), **kw)


EC2 = Ec2Tags()
RDS = RdsTags()
ELBV2 = DescribeTags("elbv2", "ResourceArns", "ResourceArn", remove_by_key_list=False)
ELB = DescribeTags("elb", "LoadBalancerNames", "LoadBalancerName", remove_by_key_list=True)
ROUTE53 = Route53Tags()
