"""Desired graph and observation.

desired(): spec resources -> nodes, through each kind's expand().
observe(): one batched, ownership-filtered listing per object type per region per enterprise (a
global kind's once per enterprise), through the query layer (controller/aws/query.py), in
parallel; read-only. Returns every live object we own, keyed by node id, and an index from AWS
ids to node ids so the diff can compare references.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from controller.aws.query import GLOBAL_TAGGING_REGION, TaggedTypes
from controller.aws.session import AwsContext, CallCounter, context_for, verify_accounts
from controller.errors import ConfigError
from controller.graph import Graph
from controller.kinds import REGISTRY
from controller.kinds.base import Kind, Live, Observation, prop_paths
from controller.spec.catalog import Catalog
from controller.spec.models import Resource


def plugins_by_spec_kind() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in REGISTRY.values():
        for sk in k.spec_kinds:
            out.setdefault(sk, []).append(k.name)
    return out


def desired(catalog: Catalog, enterprises: list[str]) -> Graph:
    by_spec = plugins_by_spec_kind()
    graph = Graph()
    wanted = set(enterprises)
    for r in catalog.resources:
        if r.kind == "Enterprise" or r.enterprise not in wanted:
            continue
        plugins = by_spec.get(r.kind)
        if not plugins:
            raise ConfigError(f"{r.file}:{r.line}: kind {r.kind} cannot be planned yet by this version")
        tags = catalog.tags_of(r)
        ignore = prop_paths(REGISTRY.get(r.kind, REGISTRY[plugins[0]]), catalog.ignore_of(r))
        for plugin in plugins:
            for node in REGISTRY[plugin].expand(r, catalog):
                # the objects of this document (and the ones it makes of its own, an automatic public IP)
                if node.address == r.address or node.address not in catalog.by_address:
                    node.ignore = ignore
                    if REGISTRY[node.kind].tagged:
                        node.tags = dict(tags)
                graph.add(node)
    missing = graph.missing_refs()
    if missing:
        nid, dep = missing[0]
        raise ConfigError(f"{nid} refers to {dep}, which no document defines")
    graph.order()  # a cycle is an error before anything is observed
    return graph


def kind_of(node_id: str) -> str:
    return node_id.split("@")[0].split("/")[-2]


@dataclass
class Observed:
    live: dict[str, Live] = field(default_factory=dict)
    duplicates: list[Live] = field(default_factory=list)
    id_index: dict[str, str] = field(default_factory=dict)  # AWS id -> node id
    enterprises: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, live: Live) -> None:
        if live.id in self.live and self.live[live.id].aws_id != live.aws_id:
            self.duplicates.append(live)
            return
        self.live[live.id] = live
        if not live.derived:
            self.id_index[live.aws_id] = live.id


@dataclass
class Session:
    """The AWS side of one run: a context per enterprise, sharing one call counter."""

    contexts: dict[str, AwsContext]
    enterprises: dict[str, Resource]
    counter: CallCounter

    @classmethod
    def open(cls, catalog: Catalog, names: list[str], parallelism: int = 10, verify: bool = True) -> Session:
        counter = CallCounter()
        ents = {e.name: e for e in catalog.enterprises() if e.name in names}
        contexts = {n: context_for(e, counter=counter, max_pool=max(10, parallelism * 2)) for n, e in ents.items()}
        if verify:
            verify_accounts([(ents[n], contexts[n]) for n in sorted(contexts)])
        return cls(contexts, ents, counter)


def select_enterprises(catalog: Catalog, only: str | None) -> list[str]:
    names = sorted(e.name for e in catalog.enterprises())
    if only is None:
        return names
    if only not in names:
        raise ConfigError(f"enterprise {only!r} is not in the specs (known: {', '.join(names) or 'none'})")
    return [only]


def rare_types(kinds: list[Kind]) -> list[str]:
    """The tagging-API types of the object types that are listed only when needed (AwsFacts.rare)."""
    return sorted({f.rare for k in kinds for f in k.facts if f.rare})


def passes(session: Session, graph: Graph) -> list[tuple[Observation, str]]:
    """(observation, kind) jobs: per enterprise, one observation per region for the regional kinds and,
    when there are global kinds, one more for them (in the enterprise's first region, whose client
    reaches a global service's endpoint); each sees the desired nodes it may find."""
    regional = [k for k in REGISTRY if REGISTRY[k].scope == "regional"]
    global_ = [k for k in REGISTRY if REGISTRY[k].scope == "global"]
    jobs: list[tuple[Observation, str]] = []
    for name, ctx in sorted(session.contexts.items()):
        regions = session.enterprises[name].spec.regions
        mine = {i: n for i, n in graph.nodes.items() if n.enterprise == name}
        rare = rare_types([REGISTRY[k] for k in regional])
        rare_global = rare_types([REGISTRY[k] for k in global_])
        shared = None  # the region where the tagging API reports global objects asks for both: one call
        for region in regions:
            tagged = None
            if region == GLOBAL_TAGGING_REGION and global_:
                tagged = shared = TaggedTypes(ctx, region, [*rare, *rare_global])
            obs = Observation(ctx, region, rare_types=rare, tagged=tagged)
            obs.desired = {i: n for i, n in mine.items() if n.region == region and n.kind not in global_}
            jobs.extend((obs, k) for k in regional)
        if global_:
            obs = Observation(ctx, regions[0], rare_types=rare_global, scope="global", tagged=shared)
            obs.desired = {i: n for i, n in mine.items() if n.kind in global_}
            jobs.extend((obs, k) for k in global_)
    return jobs


def observe(session: Session, graph: Graph, workers: int = 16) -> Observed:
    started = time.monotonic()
    out = Observed(enterprises=sorted(session.contexts))
    jobs = passes(session, graph)

    def run(job: tuple[Observation, str]) -> list[Live]:
        obs, kind = job
        lives = [lv for lv in REGISTRY[kind].observe(obs) if kind_of(lv.id) == kind]
        for lv in lives:
            lv.attrs.setdefault("region", obs.region)
            if not lv.derived and lv.aws_id in obs.adopted:  # an untagged object a document adopts
                lv.tags = {k: v for k, v in lv.tags.items() if k not in obs.adopted[lv.aws_id]}
        return lives

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="observe") as pool:
        for lives in pool.map(run, jobs):
            for lv in lives:
                out.add(lv)
    out.seconds = time.monotonic() - started
    return out
