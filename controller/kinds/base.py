"""The kind contract: every AWS kind is a plugin with the same small set of verbs.

    expand(resource, catalog) -> [Node]   spec document -> desired nodes (pure, no AWS)
    observe(obs) -> [Live]                one batched, tag-filtered describe per region; read-only
    create(op) -> Live                    idempotent: tags set at creation, ClientToken where taken
    update(op, changes) -> None           converge the changed fields only
    delete(op) -> None                    NotFound is success

The engine, not the kind, picks the verb (from the diff). A kind declares what forces
replacement (`force_new`) and which props compare as sets (`set_fields`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller.aws.errors import aws_call, is_not_found
from controller.aws.session import AwsContext
from controller.errors import ResourceError
from controller.graph import Node
from controller.spec.catalog import Catalog
from controller.spec.models import Resource
from controller.spec.tags import managed_keys_tags

TAG_ADDRESS = "controller:address"
TAG_ENTERPRISE = "controller:enterprise"
TAG_MANAGED_BY = "controller:managed-by"
TAG_PROTECT = "controller:protect"
MANAGED_BY = "controller"
# Object types that most estates have few of: one tagging-API call tells whether any exist.
# Adoption (onboarded documents, docs/onboarding.md): the describe calls whose untagged objects a node may
# adopt by AWS id, with the id filter and the id field. An adopted object is returned with the address tag
# of the node that names it, so every kind observes it like its own; the engine then drops the borrowed
# tags again (Observation.adopted), and the diff plans an `adopt` (tags only) for it.
ADOPTABLE = {
    "describe_vpcs": ("vpc-", "vpc-id", "VpcId"),
    "describe_subnets": ("subnet-", "subnet-id", "SubnetId"),
    "describe_security_groups": ("sg-", "group-id", "GroupId"),
    "describe_instances": ("i-", "instance-id", "InstanceId"),
    "describe_volumes": ("vol-", "volume-id", "VolumeId"),
    "describe_addresses": ("eipalloc-", "allocation-id", "AllocationId"),
    "describe_key_pairs": ("key-", "key-pair-id", "KeyPairId"),
    "describe_route_tables": ("rtb-", "route-table-id", "RouteTableId"),
    "describe_internet_gateways": ("igw-", "internet-gateway-id", "InternetGatewayId"),
    "describe_nat_gateways": ("nat-", "nat-gateway-id", "NatGatewayId"),
}
RARE_TYPES = ("elasticloadbalancing:loadbalancer", "ec2:vpn-connection", "ec2:customer-gateway", "ec2:vpn-gateway")


@dataclass
class Live:
    """One object as observed in AWS, normalized to the shape of the desired props."""

    id: str  # node id (from the ownership tags)
    kind: str
    aws_id: str
    props: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)  # AWS ids this object depends on (delete order)
    attrs: dict[str, Any] = field(default_factory=dict)  # what other nodes may reference (arn, ...)
    derived: bool = False  # a part of another object (rules of a group, an attachment): no tags of its own
    busy: str | None = None  # AWS is still working on it (a database `creating`): progress, not drift

    @property
    def protected(self) -> bool:
        return self.tags.get(TAG_PROTECT) == "true"

    @property
    def address(self) -> str:
        return self.tags.get(TAG_ADDRESS, self.id).split("@")[0]


def tags_of(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags") or obj.get("TagSet") or []}


def ownership_tags(node: Node) -> dict[str, str]:
    """Every tag the controller sets on the object of a node: your tags (defaultTags and metadata.tags), the
    `controller:tags` list of their keys (docs/tags.md), then the ownership tags."""
    tags = {**node.tags, **managed_keys_tags(node.tags),
            TAG_ADDRESS: node.id, TAG_ENTERPRISE: node.enterprise, TAG_MANAGED_BY: MANAGED_BY, "Name": node.name}
    if node.protect:
        tags[TAG_PROTECT] = "true"
    return tags


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tag_spec(resource_type: str, node: Node) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tag_list(ownership_tags(node))}]


def client_token(node: Node, resolved: dict[str, Any] | None = None) -> str:
    """Same node, same desired state, same AWS ids it refers to: same token, so AWS collapses a
    retried create. The resolved props are part of it: a VM replaced because its subnet was
    replaced refers to a new subnet id, so it gets a new token, never the old instance back."""
    blob = json.dumps(resolved or {}, sort_keys=True, default=str)
    return hashlib.sha256(f"{node.id}:{node.digest()}:{blob}".encode()).hexdigest()[:64]


class Observation:
    """One enterprise in one region during one observe pass: memoized, paginated describe calls.

    Kinds that need the same listing (instances for VMs and for volume attachments) share one call.
    """

    def __init__(self, ctx: AwsContext, region: str):
        self.ctx = ctx
        self.region = region
        self.enterprise = ctx.enterprise
        self._memo: dict[tuple[Any, ...], builtins.list[dict[str, Any]]] = {}
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._guard = threading.Lock()
        self.desired: dict[str, Node] = {}  # the desired nodes of this enterprise and region, by id
        self.adopted: dict[str, builtins.list[str]] = {}  # AWS id of an adopted object -> the tag keys lent it

    def client(self, service: str = "ec2") -> Any:
        return self.ctx.client(service, self.region)

    def owned_filter(self) -> builtins.list[dict[str, Any]]:
        return [{"Name": f"tag:{TAG_ENTERPRISE}", "Values": [self.enterprise]}]

    def list(self, service: str, operation: str, key: str, **kwargs: Any) -> builtins.list[dict[str, Any]]:
        """All items of a paginated describe call (memoized for this pass)."""
        memo_key = (service, operation, key, repr(sorted(kwargs.items())))
        with self._guard:
            lock = self._locks.setdefault(memo_key, threading.Lock())
        with lock:
            if memo_key not in self._memo:
                self._memo[memo_key] = self._fetch(service, operation, key, kwargs)
            return self._memo[memo_key]

    def _fetch(self, service: str, operation: str, key: str, kwargs: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        items = self._fetch_pages(service, operation, key, kwargs)
        if operation in ADOPTABLE and kwargs.get("Filters") == self.owned_filter():
            items = items + self._adoptable(service, operation, key, kwargs, items)
        return items

    def _adoptable(self, service: str, operation: str, key: str, kwargs: dict[str, Any],
                   owned: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        """Untagged objects that desired nodes name by AWS id, lent the node's address tag (one call)."""
        prefix, id_filter, id_field = ADOPTABLE[operation]
        wanted = {n.adopt: n for n in self.desired.values()
                  if n.adopt and n.adopt.startswith(prefix) and n.absent is None}
        taken = {tags_of(o).get(TAG_ADDRESS) for o in owned}
        wanted = {a: n for a, n in wanted.items() if n.id.split("@")[0] not in taken and n.id not in taken}
        if not wanted:
            return []
        extra = {k: v for k, v in kwargs.items() if k != "Filters"}
        found = self._fetch_pages(service, operation, key,
                                  {**extra, "Filters": [{"Name": id_filter, "Values": sorted(wanted)}]})
        out = []
        for o in found:
            node = wanted.get(str(o.get(id_field)))
            if node is None or TAG_ADDRESS in tags_of(o):
                continue  # tagged objects are never adopted: they belong to their address
            lent = {TAG_ADDRESS: node.id, TAG_ENTERPRISE: self.enterprise}
            o = {**o, "Tags": [*(o.get("Tags") or []), *({"Key": k, "Value": v} for k, v in lent.items())]}
            with self._guard:
                self.adopted[o[id_field]] = sorted(lent)
            out.append(o)
        return out

    def _fetch_pages(self, service: str, operation: str, key: str, kwargs: dict[str, Any]
                     ) -> builtins.list[dict[str, Any]]:
        c = self.client(service)
        with aws_call(f"{self.enterprise} in {self.region}", f"observe ({operation})"):
            if c.can_paginate(operation):
                items: builtins.list[dict[str, Any]] = []
                for page in c.get_paginator(operation).paginate(**kwargs):
                    items.extend(_dig(page, key))
                return items
            return list(_dig(getattr(c, operation)(**kwargs), key))

    def tagged_types(self) -> set[str]:
        """`service:type` of every object carrying this enterprise's tag in the region (one shared
        Resource Groups Tagging API call), e.g. `elasticloadbalancing:loadbalancer`, `ec2:vpn-connection`.

        Kinds that are rare in an estate (load balancers, VPNs) skip their own listing calls when
        nothing of theirs exists and nothing is desired, which keeps a no-change plan cheap.
        """
        items = self.list("resourcegroupstaggingapi", "get_resources", "ResourceTagMappingList",
                          TagFilters=[{"Key": TAG_ENTERPRISE, "Values": [self.enterprise]}],
                          ResourceTypeFilters=list(RARE_TYPES))
        out = set()
        for i in items:
            arn = i["ResourceARN"].split(":", 5)
            if len(arn) == 6:
                out.add(f"{arn[2]}:{arn[5].split('/')[0]}")
        return out

    def needs(self, kind: str, *tagged: str) -> bool:
        """Whether a rare kind must list its objects: something is desired, or tagged objects exist.

        `tagged` are `service:type` names from RARE_TYPES.
        """
        if any(n.kind == kind for n in self.desired.values()):
            return True
        return bool(self.tagged_types() & set(tagged))

    def owned(self, service: str, operation: str, key: str, **kwargs: Any) -> builtins.list[dict[str, Any]]:
        """Items carrying this enterprise's ownership tag."""
        return self.list(service, operation, key, Filters=self.owned_filter(), **kwargs)


def _dig(page: dict[str, Any], key: str) -> Iterable[dict[str, Any]]:
    """`Reservations[].Instances` style keys."""
    head, _, rest = key.partition("[].")
    items = page.get(head, [])
    if not rest:
        return items
    return [x for item in items for x in _dig(item, rest)]


@dataclass
class Op:
    """What a verb gets: the AWS context, the node and its props with references resolved."""

    ctx: AwsContext
    region: str
    node: Node | None
    live: Live | None
    resolve: Callable[[Any], Any]
    props: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str = "ec2") -> Any:
        return self.ctx.client(service, self.region)

    @property
    def address(self) -> str:
        return self.node.id if self.node else (self.live.id if self.live else "?")

    @property
    def want(self) -> Node:
        """The desired node (create and update always have one)."""
        assert self.node is not None, "a create or update without a desired node"
        return self.node

    def call(self, operation: str, fn: Callable[..., Any], *args: Any, ok_not_found: bool = False,
             retry_codes: Iterable[str] = (), attempts: int = 10, **kwargs: Any) -> Any:
        """One AWS call for this resource: errors name the address and the operation.

        ok_not_found: a NotFound answer is success (deletes). retry_codes: codes that mean "not yet"
        (eventual consistency, a dependency still going away), retried with backoff.
        """
        retry = set(retry_codes)
        delay = 0.2
        for attempt in range(attempts):
            try:
                with aws_call(self.address, operation):
                    return fn(*args, **kwargs)
            except ResourceError as e:
                if ok_not_found and is_not_found(e):
                    return None
                if e.code in retry and attempt < attempts - 1:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise
        return None

    def wait(self, what: str, probe: Callable[[], Any], ready: Callable[[Any], bool], timeout: float = 600,
             failed: Callable[[Any], str | None] = lambda _: None) -> Any:
        """Poll until ready; a NotFound right after a create is tolerated (eventual consistency)."""
        deadline = time.monotonic() + timeout
        delay = 0.5
        while True:
            try:
                with aws_call(self.address, f"wait for {what}"):
                    value = probe()
            except ResourceError as e:
                if not is_not_found(e):
                    raise
                value = None
            if value is not None:
                if ready(value):
                    return value
                reason = failed(value)
                if reason:
                    raise ResourceError(self.address, f"wait for {what}", "Failed", reason)
            if time.monotonic() > deadline:
                raise ResourceError(self.address, f"wait for {what}", "Timeout", f"not {what} after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 10)


class Kind:
    """Base of every kind plugin."""

    name: ClassVar[str]
    spec_kinds: ClassVar[tuple[str, ...]] = ()  # spec kinds whose documents this plugin expands
    force_new: ClassVar[frozenset[str]] = frozenset()
    set_fields: ClassVar[frozenset[str]] = frozenset()
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    services: ClassVar[tuple[str, ...]] = ("ec2",)
    # "global": one object per account, not per region (Route 53): observed once per enterprise, in its
    # first region, and its nodes carry that region.
    scope: ClassVar[str] = "regional"
    # Whether its objects carry tags of their own (rules of a group, attachments and AMIs do not).
    tagged: ClassVar[bool] = True
    # Ignore paths (docs/tags.md): spec paths (YAML names, [*] for an index) whose prop has another name
    # or shape, e.g. {"hardwareProfile": "instanceType"} (several props: a tuple); any other spec path names
    # the prop of the same name.
    ignore_props: ClassVar[dict[str, str | tuple[str, ...]]] = {}

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        return []

    def observe(self, obs: Observation) -> list[Live]:
        raise NotImplementedError

    def create(self, op: Op) -> Live:
        raise NotImplementedError

    def update(self, op: Op, changes: list[str]) -> None:
        raise NotImplementedError(f"{self.name} cannot be updated in place")

    def delete(self, op: Op) -> None:
        raise NotImplementedError

    def check(self, node: Node, live: Live | None) -> str | None:
        """A reason this node cannot be applied at all (found while planning), or None."""
        return None

    def warning(self, node: Node, live: Live | None) -> str | None:
        """Something the plan should say about this node without refusing it (a deprecated AMI), or None."""
        return None

    def check_delete(self, live: Live) -> str | None:
        """A reason this object must not be deleted (a zone holding records of others), or None."""
        return None

    # helpers for plugins -------------------------------------------------------------------

    @staticmethod
    def live_from(kind: str, obj: dict[str, Any], aws_id: str, props: dict[str, Any],
                  refs: Iterable[str] = (), **attrs: Any) -> Live | None:
        tags = tags_of(obj)
        node_id = tags.get(TAG_ADDRESS)
        if not node_id:
            return None
        return Live(id=node_id, kind=kind, aws_id=aws_id, props=props, tags=tags,
                    refs=[r for r in refs if r], attrs=attrs)

    @staticmethod
    def node(kind: str, r: Resource, props: dict[str, Any], *, id: str | None = None, region: str,
             compared: Iterable[str] | None = None, extra_deps: Iterable[str] = ()) -> Node:
        """A node for a spec resource; by default every prop is compared."""
        return Node(
            id=id or r.address, kind=kind, address=r.address, enterprise=r.enterprise, region=region,
            props=props, compared=frozenset(props if compared is None else compared), protect=r.metadata.protect,
            source=f"{r.file}:{r.line}", extra_deps=tuple(extra_deps),
            adopt=r.metadata.aws_id if kind == r.kind else None,
        )


def prop_paths(kind: Kind, paths: Iterable[str]) -> tuple[str, ...]:
    """Ignore paths of a document (spec.X, tags.K) as paths over its nodes' props (tags.K unchanged)."""
    out = []
    for path in paths:
        if path.startswith("tags."):
            out.append(path)
            continue
        rest = path.removeprefix("spec.")
        for src, dst in kind.ignore_props.items():
            pattern = re.escape(src).replace(r"\[\*\]", r"\[(\d+|\*)\]")
            m = re.match(f"^{pattern}(?P<rest>([.\\[].*)?)$", rest)
            if m:
                indices = list(m.groups()[:-2])
                for one in (dst,) if isinstance(dst, str) else dst:
                    pieces = one.split("[*]")
                    target = pieces[0] + "".join(f"[{indices[i] if i < len(indices) else '*'}]{p}"
                                                 for i, p in enumerate(pieces[1:]))
                    out.append(target + m.group("rest"))
                break
        else:
            out.append(rest)
    return tuple(dict.fromkeys(out))


def set_by_user(spec: Any, *fields: str) -> list[str]:
    """The props the user wrote in the document (pydantic's fields_set): the only ones compared."""
    return [f for f in fields if f in spec.model_fields_set]


REGISTRY: dict[str, Kind] = {}


def register(cls: type[Kind]) -> type[Kind]:
    REGISTRY[cls.name] = cls()
    return cls

