"""Diff: desired nodes against live objects -> one Change per object, each with a human reason.

Only the props a user set are compared (a field left out is not drift). References compare by
node id: a live AWS id is mapped back to the node that owns it. Set-valued props (rules, routes,
address ranges) compare as sorted sets. A change to a `force_new` prop means replacement, and
replacement spreads to the nodes whose `force_new` props refer to a replaced node.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from controller.engine.drift import masked, tag_drift
from controller.engine.observe import Observed
from controller.graph import Graph, Node, Ref, refs_in
from controller.kinds import REGISTRY
from controller.kinds.base import TAG_ADDRESS, Live


class Action(StrEnum):
    """What apply does to one object. A StrEnum: it is its JSON value ("create", ...)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # delete, then create
    DELETE = "delete"
    ADOPT = "adopt"  # add the ownership tags to an untagged object, nothing else
    NOOP = "no-op"


ACTIONS = tuple(Action)


class Cause(StrEnum):
    """Why a change is planned: the typed value decisions read (prune, guards, exit codes). The
    change's `reason` is the same thing written for people (field names, the object referred to)."""

    NOT_IN_AWS = "not-in-aws"  # create: desired, nothing in AWS carries its tags
    NOT_IN_SPECS = "not-in-specs"  # delete: tagged as ours, no document describes it (prune)
    ABSENT = "absent"  # delete: a document says it must not exist (a VM undeployed)
    DRIFT = "drift"  # update: fields differ from the specs
    FORCES_REPLACEMENT = "forces-replacement"  # replace: a field that cannot change in place differs
    REPLACED_DEPENDENCY = "depends-on-replaced"  # replace or update: refers to an object that is replaced
    DUPLICATE = "duplicate"  # delete: a second object carrying the same ownership tags
    ADOPT = "adopt"  # adopt: exists in AWS without our ownership tags
    UP_TO_DATE = "up-to-date"  # no-op
    ALREADY_ABSENT = "already-absent"  # no-op: must not exist, and does not
TAGS = "tags."  # the path prefix of a tag's field change: tags.CostCenter


@dataclass
class FieldChange:
    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


@dataclass
class Change:
    id: str
    kind: str
    enterprise: str
    action: Action
    reason: str  # for people only: decisions read `action` and `cause`
    cause: Cause = Cause.UP_TO_DATE
    refers_to: str | None = None  # REPLACED_DEPENDENCY: the replaced object it refers to
    fields: list[FieldChange] = field(default_factory=list)
    aws_id: str | None = None
    protected: bool = False
    source: str = ""
    error: str | None = None
    ignored: int = 0  # live differences on ignored paths: neither shown nor corrected
    needed_by: str | None = None  # a partial plan: not targeted, planned because this targeted object needs it

    @property
    def address(self) -> str:
        return self.id

    def __post_init__(self) -> None:  # a saved plan's strings become the enums again
        self.action = Action(self.action)
        self.cause = Cause(self.cause)


def canon(value: Any, index: dict[str, str], sort: bool = False) -> Any:
    """A comparable, printable form: references and known AWS ids become node ids."""
    if isinstance(value, Ref):
        return f"→{value.id}" if value.attr == "id" else f"→{value.id}.{value.attr}"
    if isinstance(value, str) and value in index:
        return f"→{index[value]}"
    if isinstance(value, dict):
        return {k: canon(v, index) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [canon(v, index) for v in value]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=str)) if sort else items
    return value


def secret_view(value: Any) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"(sensitive, sha256:{digest})"


def compare(node: Node, live: Live, index: dict[str, str]) -> tuple[list[FieldChange], int]:
    """The fields that differ (your tags key by key, as `tags.KEY`) and how many ignored ones differed."""
    kind = REGISTRY[node.kind]
    props, ignored = masked(node, live, lambda a, b: canon(a, index) == canon(b, index))
    out = []
    for f in sorted(node.compared):
        want = props.get(f)
        if want is None:
            continue
        sort = f in kind.set_fields
        a, b = canon(want, index, sort), canon(live.props.get(f), index, sort)
        if a == b:
            continue
        if sort:
            from deepdiff import DeepDiff  # only when two sets differ as sorted lists

            if DeepDiff(a, b, ignore_order=True) == {}:
                continue
        if f in kind.secret_fields:
            a, b = secret_view(want), secret_view(live.props.get(f))
        out.append(FieldChange(f, b, a, forces_replacement=f in kind.force_new))
    if live.derived:
        return out, ignored
    # tags: yours and the identity tags (the Name restored, protection recorded), key by key
    tags, ignored_tags = tag_drift(node, live)
    out += [FieldChange(f"{TAGS}{k}", before, after) for k, (before, after) in sorted(tags.items())]
    return out, ignored + ignored_tags


def is_tag(f: FieldChange) -> bool:
    return f.path.startswith(TAGS)


def diff(graph: Graph, observed: Observed) -> list[Change]:
    changes: dict[str, Change] = {}
    index = observed.id_index
    for nid in graph.order():
        node = graph.nodes[nid]
        live = observed.live.get(nid)
        base: dict[str, Any] = {"id": nid, "kind": node.kind, "enterprise": node.enterprise, "protected": node.protect,
                "source": node.source, "aws_id": live.aws_id if live else None}
        if node.absent is not None:
            changes[nid] = Change(**base, action=Action.DELETE if live else Action.NOOP,
                                  cause=Cause.ABSENT if live else Cause.ALREADY_ABSENT,
                                  reason=node.absent if live else "absent, as desired")
            continue
        if live is None:
            kind = REGISTRY[node.kind]
            error = kind.check(node, None)
            shown = [FieldChange(f, None, secret_view(v) if f in kind.secret_fields else canon(v, index))
                     for f, v in sorted(node.props.items()) if v is not None and v != [] and f in node.compared]
            changes[nid] = Change(**base, action=Action.CREATE, cause=Cause.NOT_IN_AWS, reason="not in AWS",
                                  error=error, fields=shown)
            continue
        error = REGISTRY[node.kind].check(node, live)
        fields, base["ignored"] = compare(_with_known_attrs(node, observed, changes), live, index)
        if not fields:
            changes[nid] = Change(**base, action=Action.NOOP, cause=Cause.UP_TO_DATE, error=error,
                                  reason=f"in progress: {live.busy}" if live.busy else "up to date")
        elif not live.derived and (TAG_ADDRESS not in live.tags or (
                node.adopt == live.aws_id and all(is_tag(f) for f in fields))):
            # untagged, or tagged for another address while the document names this very object (awsId)
            changes[nid] = Change(**base, action=Action.ADOPT, cause=Cause.ADOPT, reason="exists in AWS without ownership tags: adopt it",
                                  fields=fields, error=error)
        elif any(f.forces_replacement for f in fields):
            forced = [f.path for f in fields if f.forces_replacement]
            changes[nid] = Change(**base, action=Action.REPLACE, cause=Cause.FORCES_REPLACEMENT, fields=fields,
                                  error=error,
                                  reason=f"{', '.join(forced)} changed: forces replacement")
        else:
            names = [f.path for f in fields]
            changes[nid] = Change(**base, action=Action.UPDATE, cause=Cause.DRIFT, fields=fields, error=error,
                                  reason=f"{', '.join(names)} not as specified")
    _spread_replacements(graph, changes, observed)
    for lid in sorted(observed.live):
        if lid in graph.nodes:
            continue
        live = observed.live[lid]
        changes[lid] = Change(id=lid, kind=live.kind, enterprise=live.tags.get("controller:enterprise", ""),
                              action=Action.DELETE, cause=Cause.NOT_IN_SPECS, reason="not in the specs",
                              aws_id=live.aws_id, protected=live.protected, error=REGISTRY[live.kind].check_delete(live))
    for dup in observed.duplicates:
        key = f"{dup.id}#{dup.aws_id}"
        changes[key] = Change(id=dup.id, kind=dup.kind, enterprise=dup.tags.get("controller:enterprise", ""),
                              action=Action.DELETE, cause=Cause.DUPLICATE, aws_id=dup.aws_id,
                              protected=dup.protected,
                              reason=f"duplicate of {observed.live[dup.id].aws_id} (same ownership tag)")
    return list(changes.values())


def _known_attrs(value: Any, observed: Observed, changes: dict[str, Change]) -> Any:
    """A reference to another object's attribute (a VM's public address, a database's endpoint) compares
    as that attribute's live value while the object stays; a created or replaced object's is not known
    before apply, so the reference stays and differs from what AWS holds (an update that follows it)."""
    if isinstance(value, Ref):
        live = observed.live.get(value.id)
        ch = changes.get(value.id)
        if value.attr == "id" or live is None or (ch is not None and ch.action in ("create", "replace", "delete")):
            return value
        got = live.attrs.get(value.attr, live.props.get(value.attr))
        return value if got is None else got
    if isinstance(value, dict):
        return {k: _known_attrs(v, observed, changes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_known_attrs(v, observed, changes) for v in value]
    return value


def _with_known_attrs(node: Node, observed: Observed, changes: dict[str, Change]) -> Node:
    if not any(r.attr != "id" for f in node.compared for r in refs_in(node.props.get(f))):
        return node
    return replace(node, props={f: _known_attrs(v, observed, changes) if f in node.compared else v
                                for f, v in node.props.items()})


def _spread_replacements(graph: Graph, changes: dict[str, Change], observed: Observed) -> None:
    """What refers to a replaced node changes with it, in the same plan (Terraform's "known after apply").

    A node whose replacement-forcing props refer to a replaced node is replaced too, and so is a part of
    a replaced object (the rules of a replaced group: its new group starts empty). A node that refers to
    a replaced node through a prop it can change in place (an Elastic IP's instance, a load balancer's
    members, a DNS record's target address) is updated after the new object exists: without it, the next
    plan would find it pointing at the old object.
    """
    for nid in graph.order():
        ch = changes[nid]
        if ch.action in (Action.CREATE, Action.REPLACE, Action.DELETE):
            continue
        node = graph.nodes[nid]
        kind = REGISTRY[node.kind]
        replaced = {r.id for r in refs_in(node.props) if changes.get(r.id) and changes[r.id].action == Action.REPLACE}
        if not replaced:
            continue
        live = observed.live.get(nid)
        part_of = sorted(r for r in replaced if live is not None and live.derived and observed.live.get(r) is not None
                         and observed.live[r].aws_id == live.aws_id)
        forcing = [(f, sorted(r.id for r in refs_in(node.props.get(f)) if r.id in replaced)) for f in sorted(kind.force_new)]
        forcing = [(f, hit) for f, hit in forcing if hit]
        if part_of or forcing:
            f, hit = forcing[0] if forcing else (next(iter(sorted(node.props))), part_of)
            ch.action, ch.cause, ch.refers_to = Action.REPLACE, Cause.REPLACED_DEPENDENCY, hit[0]
            ch.reason = (f"{f} refers to {hit[0]}, which is replaced" if forcing
                         else f"part of {hit[0]}, which is replaced")
            if forcing:
                ch.fields.append(FieldChange(f, "(replaced)", f"→{hit[0]}", forces_replacement=True))
            continue
        changed = {fc.path for fc in ch.fields}
        moved = [(f, sorted(r.id for r in refs_in(node.props.get(f)) if r.id in replaced))
                 for f in sorted(node.compared) if f not in changed]
        moved = [(f, hit) for f, hit in moved if hit]
        if not moved:
            continue
        for f, hit in moved:
            attr = next(r.attr for r in refs_in(node.props.get(f)) if r.id == hit[0])
            ch.fields.append(FieldChange(f, "(replaced)", f"→{hit[0]}" if attr == "id" else f"→{hit[0]}.{attr}"))
        if ch.action == Action.NOOP:
            first = moved[0][1][0]
            ch.action, ch.cause, ch.refers_to = Action.UPDATE, Cause.REPLACED_DEPENDENCY, first
            ch.reason = f"{', '.join(f for f, _ in moved)} refers to {first}, which is replaced"
