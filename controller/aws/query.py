"""The query layer: one way for every kind to list, own, adopt, tag and retry, whatever the service.

A kind declares the AWS facts of each object type it manages as data (`AwsFacts`): service,
describe operation and result key, id field, tag style (controller/aws/tags.py), regional or
global, the describe filter that selects by AWS id (adoption). From those facts this module

  - pages a describe call (its paginator when it has one), memoized per observe pass, so kinds
    that need the same listing share one call;
  - keeps the objects carrying the enterprise's ownership tag: server-side for EC2 (a tag
    filter), else by reading the tags (inline `TagList`, or batched describe_tags /
    list_tags_for_resources) and filtering;
  - adopts untagged objects that a document names by AWS id (`metadata.awsId`,
    docs/onboarding.md), lending them the node's address tag for this pass;
  - writes tags (`retag`, and at creation through the style);
  - retries: `call` retries with jittered exponential backoff what AWS refused without doing it
    (throttling: ResourceError.retryable), server-side transient errors on reads only, and the
    "not yet" codes a caller names (eventual consistency, a dependency still going away).

Nothing here knows a kind: the engine and the kinds pass facts in.
"""

from __future__ import annotations

import builtins
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controller.aws.errors import TRANSIENT, aws_call, is_not_found
from controller.aws.session import AwsContext
from controller.aws.tags import TAG_ADDRESS, TAG_ENTERPRISE, TagStyle, tags_of
from controller.errors import ResourceError
from controller.graph import Node

Scope = Literal["regional", "global"]


@dataclass(frozen=True)
class AwsFacts:
    """What the query layer needs to know about one AWS object type (data, no code)."""

    service: str  # boto3 service name: ec2, elbv2, rds, route53
    describe: str  # the listing operation: describe_vpcs
    key: str  # where the items are in its answer: Vpcs, `Reservations[].Instances`
    id_field: str  # the item's AWS id: VpcId
    tags: TagStyle  # how its tags are read and written (controller/aws/tags.py)
    resource_type: str = ""  # EC2 TagSpecifications ResourceType (vpc); Route 53 tag ResourceType (hostedzone)
    scope: Scope = "regional"  # global: observed once per enterprise (Route 53), not once per region
    adopt_filter: str | None = None  # the describe filter selecting by AWS id (vpc-id): untagged objects adoptable
    id_prefix: str = ""  # the AWS ids of this type start so (vpc-): which `awsId`s are this type's
    tag_field: str | None = None  # the item field tag calls name the object by, when not id_field (an ARN)
    rare: str | None = None  # Resource Groups Tagging API `service:type`: listed only when desired or tagged
    describe_args: tuple[tuple[str, Any], ...] = ()  # fixed arguments of the listing (IncludePublicKey)
    listed_prefix: str = ""  # the listing's ids carry this prefix, AWS ids elsewhere do not (/hostedzone/)
    # more describe filters of a batched wait or lookup by `adopt_filter` (controller/aws/waiters.py):
    # a VPC's main route table is the route table of filters vpc-id=ID and association.main=true
    wait_filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def target_field(self) -> str:
        return self.tag_field or self.id_field

    def aws_id(self, item: Mapping[str, Any]) -> str:
        """An item's AWS id, as documents (awsId) and live objects name it."""
        return str(item.get(self.id_field, "")).removeprefix(self.listed_prefix)


# ------------------------------------------------------------------------------------------------
# Calls and pages


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Exponential backoff with jitter ("equal jitter": half fixed, half random)."""
    delay = min(cap, base * (2 ** attempt))
    return delay / 2 + random.uniform(0, delay / 2)


def should_retry(e: ResourceError, retry_codes: Iterable[str] = (), read: bool = False) -> bool:
    """Throttling (refused, nothing done) always; transient server errors on reads only (a write may
    have happened); and the "not yet" codes the caller names."""
    return e.retryable or e.code in set(retry_codes) or (read and e.code in TRANSIENT)


def call(address: str, operation: str, fn: Callable[..., Any], *args: Any, ok_not_found: bool = False,
         retry_codes: Iterable[str] = (), attempts: int = 10, read: bool = False, **kwargs: Any) -> Any:
    """One AWS call for a resource: errors name the address and the operation; retried (see should_retry).

    ok_not_found: a NotFound answer is success (deletes), returns None.
    """
    codes = set(retry_codes)
    for attempt in range(attempts):
        try:
            with aws_call(address, operation):
                return fn(*args, **kwargs)
        except ResourceError as e:
            if ok_not_found and is_not_found(e):
                return None
            if attempt < attempts - 1 and should_retry(e, codes, read):
                time.sleep(backoff(attempt))
                continue
            raise
    return None


def dig(page: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """`Reservations[].Instances` style keys."""
    head, _, rest = key.partition("[].")
    items = page.get(head, []) or []
    if not rest:
        return list(items)
    return [x for item in items for x in dig(item, rest)]


def pages(client: Any, operation: str, key: str, address: str, label: str, attempts: int = 4,
          **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a listing call, through its paginator when it has one (read: retried as a whole)."""

    def fetch() -> list[dict[str, Any]]:
        if client.can_paginate(operation):
            return [x for page in client.get_paginator(operation).paginate(**kwargs) for x in dig(page, key)]
        return dig(getattr(client, operation)(**kwargs), key)

    return list(call(address, label, fetch, attempts=attempts, read=True))


def listing(client: Any, facts: AwsFacts, address: str, label: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a kind's listing (its fixed arguments included)."""
    return pages(client, facts.describe, facts.key, address, label, **{**dict(facts.describe_args), **kwargs})


def retag(call_: Callable[..., Any], client: Any, facts: AwsFacts, target: str,
          tags: Mapping[str, str | None]) -> dict[str, str]:
    """Write `tags` on an existing object (a value None removes the key), in the kind's tag style.

    Returns the tags kept (the caller updates its Live with them)."""
    keep = {k: v for k, v in tags.items() if v is not None}
    drop = [k for k, v in tags.items() if v is None]
    facts.tags.write(call_, client, facts, target, keep, drop)
    return keep


# ------------------------------------------------------------------------------------------------
# One observe pass


GLOBAL_TAGGING_REGION = "us-east-1"  # the tagging API reports global services' objects (Route 53) here


class TaggedTypes:
    """One Resource Groups Tagging API call (GetResources, this enterprise's tag, filtered to `types`) made
    at most once, whichever observation asks first: a region's pass and the global pass share one when the
    global kinds' objects are reported in that region."""

    def __init__(self, ctx: AwsContext, region: str, types: Iterable[str]):
        self.ctx, self.region, self.types_wanted = ctx, region, tuple(sorted(set(types)))
        self._lock = threading.Lock()
        self._found: set[str] | None = None

    def types(self) -> set[str]:
        if not self.types_wanted:
            return set()
        with self._lock:
            if self._found is None:
                items = pages(self.ctx.client("resourcegroupstaggingapi", self.region), "get_resources",
                              "ResourceTagMappingList", self.ctx.enterprise, "observe (get_resources)",
                              TagFilters=[{"Key": TAG_ENTERPRISE, "Values": [self.ctx.enterprise]}],
                              ResourceTypeFilters=list(self.types_wanted))
                found = set()
                for i in items:
                    arn = i["ResourceARN"].split(":", 5)
                    if len(arn) == 6:  # arn:aws:SERVICE:region:account:TYPE/id (or TYPE:id, as RDS writes it)
                        found.add(f"{arn[2]}:{arn[5].split('/')[0].split(':')[0]}")
                self._found = found
            return self._found


class Observation:
    """One enterprise in one region (or, for global kinds, once per enterprise) during one observe pass:
    memoized, paginated, retried listing calls, filtered by ownership.

    Kinds that need the same listing (instances for VMs, attachments and Elastic IPs) share one call.
    `rare_types` are the tagging-API types of kinds listed only when needed (`needs`).
    """

    def __init__(self, ctx: AwsContext, region: str, rare_types: Iterable[str] = (), scope: Scope = "regional",
                 tagged: TaggedTypes | None = None):
        self.ctx = ctx
        self.region = region
        self.scope = scope
        self.enterprise = ctx.enterprise
        self.rare_types = tuple(sorted(set(rare_types)))
        # the tagging-API lookup: its own, or one shared with another pass in the same region (one call for both)
        self.tagged = tagged or TaggedTypes(ctx, GLOBAL_TAGGING_REGION if scope == "global" else region,
                                            self.rare_types)
        self._memo: dict[tuple[Any, ...], builtins.list[dict[str, Any]]] = {}
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._guard = threading.Lock()
        self.desired: dict[str, Node] = {}  # the desired nodes of this enterprise and region, by id
        self.adopted: dict[str, builtins.list[str]] = {}  # AWS id of an adopted object -> the tag keys lent it

    @property
    def where(self) -> str:
        return f"{self.enterprise}" if self.scope == "global" else f"{self.enterprise} in {self.region}"

    def client(self, service: str = "ec2") -> Any:
        return self.ctx.client(service, self.region)

    def owned_filter(self) -> builtins.list[dict[str, Any]]:
        return [{"Name": f"tag:{TAG_ENTERPRISE}", "Values": [self.enterprise]}]

    def _once(self, memo_key: tuple[Any, ...], fetch: Callable[[], builtins.list[dict[str, Any]]]
              ) -> builtins.list[dict[str, Any]]:
        with self._guard:
            lock = self._locks.setdefault(memo_key, threading.Lock())
        with lock:
            if memo_key not in self._memo:
                self._memo[memo_key] = fetch()
            return self._memo[memo_key]

    def list(self, service: str, operation: str, key: str, **kwargs: Any) -> builtins.list[dict[str, Any]]:
        """All items of a paginated listing call (memoized for this pass): detail calls, unfiltered listings."""
        memo_key = (service, operation, key, repr(sorted(kwargs.items())))
        return self._once(memo_key, lambda: pages(self.client(service), operation, key, self.where,
                                                  f"observe ({operation})", **kwargs))

    def owned(self, facts: AwsFacts, **kwargs: Any) -> builtins.list[dict[str, Any]]:
        """The items of a kind's listing carrying this enterprise's ownership tag, plus the untagged ones
        desired nodes adopt by AWS id; every item's tags readable with `tags_of` (memoized)."""
        args = {**dict(facts.describe_args), **kwargs}
        memo_key = ("owned", facts.service, facts.describe, facts.key, repr(sorted(args.items())))
        return self._once(memo_key, lambda: self._owned(facts, args))

    def _owned(self, facts: AwsFacts, args: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        if facts.tags.server_filter:
            owned = self.list(facts.service, facts.describe, facts.key, Filters=self.owned_filter(), **args)
            return owned + self._adopt(facts, owned, args)
        everything = self.list(facts.service, facts.describe, facts.key, **args)
        if not facts.tags.inline:
            targets = [str(i[facts.target_field]) for i in everything if i.get(facts.target_field)]
            found = facts.tags.read(self.client(facts.service), facts, targets, self.list) if targets else {}
            everything = [{**i, "Tags": [{"Key": k, "Value": v} for k, v in
                                         found.get(str(i.get(facts.target_field)), {}).items()]}
                          for i in everything]
        owned = [i for i in everything if tags_of(i).get(TAG_ENTERPRISE) == self.enterprise
                 and tags_of(i).get(TAG_ADDRESS)]
        return owned + self._adopt(facts, owned, args, everything)

    def _adopt(self, facts: AwsFacts, owned: builtins.list[dict[str, Any]], args: dict[str, Any],
               everything: builtins.list[dict[str, Any]] | None = None) -> builtins.list[dict[str, Any]]:
        """Untagged objects that desired nodes name by AWS id, lent the node's address tag (at most one call)."""
        if everything is None and not facts.adopt_filter:
            return []
        wanted = {n.adopt: n for n in self.desired.values()
                  if n.adopt and n.adopt.startswith(facts.id_prefix) and n.absent is None}
        taken = {tags_of(o).get(TAG_ADDRESS) for o in owned}
        wanted = {a: n for a, n in wanted.items() if n.id.split("@")[0] not in taken and n.id not in taken}
        if not wanted:
            return []
        if everything is None:
            found = self.list(facts.service, facts.describe, facts.key, **{
                **args, "Filters": [{"Name": facts.adopt_filter, "Values": sorted(wanted)}]})
        else:
            found = [o for o in everything if facts.aws_id(o) in wanted]
        out = []
        for o in found:
            node = wanted.get(facts.aws_id(o))
            if node is None or TAG_ADDRESS in tags_of(o):
                continue  # tagged objects are never adopted: they belong to their address
            lent = {TAG_ADDRESS: node.id, TAG_ENTERPRISE: self.enterprise}
            have = {k: v for k, v in tags_of(o).items() if k not in lent}
            o = {**o, "Tags": [*({"Key": k, "Value": v} for k, v in have.items()),
                               *({"Key": k, "Value": v} for k, v in lent.items())]}
            o.pop("TagSet", None)
            o.pop("TagList", None)
            with self._guard:
                self.adopted[facts.aws_id(o)] = sorted(lent)
            out.append(o)
        return out

    def tagged_types(self) -> set[str]:
        """`service:type` of every object carrying this enterprise's tag among `rare_types` (one shared
        Resource Groups Tagging API call), e.g. `elasticloadbalancing:loadbalancer`, `route53:hostedzone`."""
        return self.tagged.types() & set(self.rare_types)

    def needs(self, kind: str, *facts: AwsFacts) -> bool:
        """Whether a kind that is rare in an estate must list its objects: something of it is desired, or
        the tagging API shows tagged objects of one of its `rare` types. Keeps a no-change plan cheap."""
        if any(n.kind == kind for n in self.desired.values()):
            return True
        return bool(self.tagged_types() & {f.rare for f in facts if f.rare})

