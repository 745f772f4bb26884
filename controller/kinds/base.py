"""The kind contract: every AWS kind is a plugin with the same small set of verbs over AWS facts as data.

    facts                                 the AWS object types it manages, as data (aws/query.py AwsFacts):
                                          service, listing call, id field, tag style, scope, adoption filter
    expand(resource, catalog) -> [Node]   spec document -> desired nodes (pure, no AWS)
    observe(obs) -> [Live]                from the query layer's listings (obs.owned(facts)); read-only
    create(op) -> Live                    idempotent: tags set at creation (tags_at_create), ClientToken where taken
    update(op, changes) -> None           converge the changed fields only
    delete(op) -> None                    NotFound is success
    retag(op, tags) -> None               restore the ownership tags: written once per tag style from the facts

The engine, not the kind, picks the verb (from the diff). A kind declares what forces
replacement (`force_new`) and which props compare as sets (`set_fields`). Every module of this
package is discovered (controller/kinds/__init__.py): a new kind is a new module, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller.aws import query, waiters
from controller.aws.errors import aws_call, is_not_found
from controller.aws.query import AwsFacts, Observation, Scope
from controller.aws.session import AwsContext
from controller.aws.tags import (
    MANAGED_BY,
    TAG_ADDRESS,
    TAG_ENTERPRISE,
    TAG_MANAGED_BY,
    TAG_PROTECT,
    tag_list,
    tags_of,
)
from controller.errors import ResourceError
from controller.graph import Node
from controller.spec.catalog import Catalog
from controller.spec.models import Resource
from controller.spec.tags import managed_keys_tags

__all__ = ["MANAGED_BY", "TAG_ADDRESS", "TAG_ENTERPRISE", "TAG_MANAGED_BY", "TAG_PROTECT", "AwsFacts", "Kind", "Live",
           "Observation", "Op", "REGISTRY", "client_token", "ownership_tags", "register", "set_by_user", "tag_list",
           "tags_at_create", "tags_of"]


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


def ownership_tags(node: Node) -> dict[str, str]:
    """Every tag the controller sets on the object of a node: your tags (defaultTags and metadata.tags), the
    `controller:tags` list of their keys (docs/tags.md), then the ownership tags."""
    tags = {**node.tags, **managed_keys_tags(node.tags),
            TAG_ADDRESS: node.id, TAG_ENTERPRISE: node.enterprise, TAG_MANAGED_BY: MANAGED_BY, "Name": node.name}
    if node.protect:
        tags[TAG_PROTECT] = "true"
    return tags


def tags_at_create(node: Node, facts: AwsFacts, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The kwargs of a create call that tag the new object (in the style of `facts`): the ownership tags,
    plus `extra` (e.g. a VM's user-data digest). The one place a create's tags come from."""
    return facts.tags.at_create(facts, {**ownership_tags(node), **(extra or {})})


def client_token(node: Node, resolved: dict[str, Any] | None = None) -> str:
    """Same node, same desired state, same AWS ids it refers to: same token, so AWS collapses a
    retried create. The resolved props are part of it: a VM replaced because its subnet was
    replaced refers to a new subnet id, so it gets a new token, never the old instance back."""
    blob = json.dumps(resolved or {}, sort_keys=True, default=str)
    return hashlib.sha256(f"{node.id}:{node.digest()}:{blob}".encode()).hexdigest()[:64]


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
        """One AWS call for this resource (controller/aws/query.py `call`): errors name the address and
        the operation; throttling is retried with jittered backoff.

        ok_not_found: a NotFound answer is success (deletes). retry_codes: codes that mean "not yet"
        (eventual consistency, a dependency still going away), retried the same way.
        """
        return query.call(self.address, operation, fn, *args, ok_not_found=ok_not_found, retry_codes=retry_codes,
                          attempts=attempts, **kwargs)

    def retag(self, facts: AwsFacts, target: str, tags: Mapping[str, str | None]) -> None:
        """Write `tags` on an existing object of type `facts` (None removes a key), in its tag style."""
        keep = query.retag(self.call, self.client(facts.service), facts, target, tags)
        if self.live is not None:
            self.live.tags.update(keep)
            for k in [k for k, v in tags.items() if v is None]:
                self.live.tags.pop(k, None)

    def tag_new(self, facts: AwsFacts, target: str) -> None:
        """After a create: the tags its call could not set (styles without tags at creation, Route 53)."""
        facts.tags.after_create(self.call, self.client(facts.service), facts, target, ownership_tags(self.want))

    def wait_for(self, facts: AwsFacts, aws_id: str, what: str, ready: Callable[[dict[str, Any]], bool],
                 failed: Callable[[dict[str, Any]], str | None] = lambda _: None, timeout: float = 600,
                 absent_ok: bool = False) -> dict[str, Any]:
        """Wait for one object of type `facts` (its describe item), batched with every other wait for that
        type in this enterprise and region: one describe call per poll for all of them
        (controller/aws/waiters.py). absent_ok: a delete's wait, where an object gone from the answer is done."""
        return waiters.wait_for(self.ctx, self.region, facts, aws_id, self.address, what, ready, failed,
                                timeout=timeout, absent_ok=absent_ok)

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
    # The AWS object types this kind manages or reads, as data; the first is its own (retag, tags at creation).
    facts: ClassVar[tuple[AwsFacts, ...]] = ()
    # Whether its objects carry tags of their own (rules of a group, attachments and AMIs do not).
    tagged: ClassVar[bool] = True
    # Ignore paths (docs/tags.md): spec paths (YAML names, [*] for an index) whose prop has another name
    # or shape, e.g. {"hardwareProfile": "instanceType"} (several props: a tuple); any other spec path names
    # the prop of the same name.
    ignore_props: ClassVar[dict[str, str | tuple[str, ...]]] = {}

    @property
    def scope(self) -> Scope:
        """global: observed once per enterprise (Route 53); regional: once per region of the enterprise."""
        return "global" if self.facts and all(f.scope == "global" for f in self.facts) else "regional"

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

    # tags: the contract's, from the facts ------------------------------------------------

    def facts_of(self, live: Live) -> AwsFacts:
        """The object type of a live object (a kind managing two, like classic and application load
        balancers, picks by its id)."""
        if not self.facts:
            raise ResourceError(live.id, "tag", "NotTaggable", f"kind {self.name} declares no AWS object type")
        return self.facts[0]

    def tag_target(self, op: Op) -> str:
        """What the tag calls name the object by: its AWS id, or the `tagTarget` attr (an ARN, a name)."""
        assert op.live is not None
        return str(op.live.attrs.get("tagTarget") or op.live.aws_id)

    def retag(self, op: Op, tags: Mapping[str, str | None]) -> None:
        """Restore the ownership tags of a live object (None removes a key), in its type's tag style."""
        assert op.live is not None
        if op.live.derived:
            raise ResourceError(op.address, "tag", "NotTaggable", f"{self.name} has no tags of its own")
        facts = self.facts_of(op.live)
        op.retag(facts, self.tag_target(op), tags)
        # the parts that carry the object's tags (a VM's root volume and nics, a NAT gateway's own Elastic
        # IP, an ALB's target groups, a VPN's gateways), in the same tag style
        for part in op.live.attrs.get("tagged_parts") or ():
            op.retag(facts, part, tags)

    def tags_at_create(self, node: Node, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The kwargs of this kind's create call that tag the new object (see `tags_at_create`)."""
        return tags_at_create(node, self.facts[0], extra)

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

