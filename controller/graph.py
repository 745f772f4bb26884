"""The desired state as a graph of nodes: one node per AWS object the controller manages.

Spec resources expand (through their kind plugins) into nodes; a node's references to other
nodes (`Ref`) are its dependency edges. Creates walk the graph top-down, deletes bottom-up.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from controller.errors import ConfigError


@dataclass(frozen=True)
class Ref:
    """A reference to another node; resolves to that node's AWS id (or another attribute) at apply time."""

    id: str  # the node id referred to
    attr: str = "id"

    def to_json(self) -> dict[str, str]:
        return {"$ref": self.id, "attr": self.attr}


def refs_in(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in refs_in(v)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in refs_in(v)]
    return []


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


@dataclass
class Node:
    """One desired AWS object.

    id: unique key (the address, plus `@region` for objects an enterprise-level resource puts in
    several regions). props: what create needs. compared: the props the user set, the only ones
    whose difference from AWS is drift. secret: props shown only as a digest.
    """

    id: str
    kind: str
    address: str
    enterprise: str
    region: str
    props: dict[str, Any]
    compared: frozenset[str] = frozenset()
    protect: bool = False
    source: str = ""  # file:line of the document it came from
    extra_deps: tuple[str, ...] = ()
    absent: str | None = None  # set: the object must not exist, for this reason (a VM undeployed)
    adopt: str | None = None  # AWS id of an untagged object to adopt while none carries this node's tags
    tags: dict[str, str] = field(default_factory=dict)  # your tags (defaultTags and metadata.tags), set at creation
    ignore: tuple[str, ...] = ()  # prop paths (and tags.KEY globs) neither compared nor written by an update

    @property
    def name(self) -> str:
        return self.address.rsplit("/", 1)[-1].split("@")[0]

    @property
    def deps(self) -> list[str]:
        out = [r.id for r in refs_in(self.props)]
        out += list(self.extra_deps)
        return list(dict.fromkeys(d for d in out if d != self.id))

    def digest(self) -> str:
        blob = json.dumps([self.id, self.kind, to_jsonable(self.props), sorted(self.compared), self.protect,
                           self.absent, *([sorted(self.tags.items()), list(self.ignore)]
                                          if self.tags or self.ignore else [])],
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)

    def add(self, node: Node) -> None:
        same = self.nodes.get(node.id)
        if same is not None and same.digest() == node.digest():
            return  # two documents need the same object (an AMI used by several VMs)
        if same is not None:
            raise ConfigError(f"two documents produce the same AWS object {node.id}")
        self.nodes[node.id] = node

    def order(self) -> list[str]:
        """Topological order (dependencies first); a cycle is a ConfigError naming it."""
        indeg = {i: 0 for i in self.nodes}
        deps_of = {i: [d for d in n.deps if d in self.nodes] for i, n in self.nodes.items()}
        rev: dict[str, list[str]] = defaultdict(list)
        for i, ds in deps_of.items():
            indeg[i] = len(ds)
            for d in ds:
                rev[d].append(i)
        ready = sorted(i for i, k in indeg.items() if k == 0)
        out: list[str] = []
        while ready:
            i = ready.pop(0)
            out.append(i)
            for j in sorted(rev[i]):
                indeg[j] -= 1
                if indeg[j] == 0:
                    ready.append(j)
        if len(out) != len(self.nodes):
            stuck = sorted(set(self.nodes) - set(out))
            raise ConfigError(f"dependency cycle among: {', '.join(stuck[:6])}")
        return out

    def missing_refs(self) -> list[tuple[str, str]]:
        return [(n.id, d) for n in self.nodes.values() for d in n.deps if d not in self.nodes]

    def digest(self) -> str:
        h = hashlib.sha256()
        for i in sorted(self.nodes):
            h.update(self.nodes[i].digest().encode())
        return h.hexdigest()
