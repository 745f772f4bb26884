"""Apply a plan: deletes bottom-up, then creates and updates top-down, independent objects in parallel.

A failed object skips the objects that depend on it; independent branches finish. Nothing is
recorded locally: AWS (with the ownership tags set at creation) is the state, so a re-run after a
crash observes what exists and carries on from there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from controller.engine.diff import TAGS, Change, is_tag
from controller.engine.drift import masked
from controller.engine.observe import Observed, Session, kind_of
from controller.errors import ResourceError
from controller.graph import Graph, Ref
from controller.kinds import REGISTRY
from controller.kinds.base import Live, Op, tag_list
from controller.logs import get_logger


@dataclass
class Outcome:
    id: str
    action: str
    status: str  # done | failed | skipped
    detail: str = ""
    seconds: float = 0.0
    aws_id: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    api_calls: int = 0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            if o.status == "done":
                out[o.action] = out.get(o.action, 0) + 1
        return out


def walk(tasks: dict[str, tuple[set[str], Callable[[], Outcome]]], parallelism: int,
         on_done: Callable[[Outcome], None] = lambda o: None) -> dict[str, Outcome]:
    """Run tasks after their dependencies; a failure skips everything downstream of it."""
    results: dict[str, Outcome] = {}
    deps = {k: {d for d in ds if d in tasks} for k, (ds, _) in tasks.items()}
    pending = set(tasks)
    running: dict[Future[Outcome], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        while pending or running:
            progressed = False
            for k in sorted(pending):
                bad = [d for d in deps[k] if d in results and results[d].status != "done"]
                if bad:
                    why = results[bad[0]]
                    results[k] = Outcome(k, "", "skipped", f"because {bad[0]} {why.status}")
                    on_done(results[k])
                    pending.discard(k)
                    progressed = True
                elif all(d in results for d in deps[k]):
                    running[pool.submit(tasks[k][1])] = k
                    pending.discard(k)
                    progressed = True
            if progressed and pending:
                continue
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for f in done:
                k = running.pop(f)
                results[k] = f.result()
                on_done(results[k])
    return results


class Applier:
    def __init__(self, session: Session, graph: Graph, observed: Observed, parallelism: int = 10,
                 on_event: Callable[[Outcome], None] = lambda o: None):
        self.session = session
        self.graph = graph
        self.live: dict[str, Live] = dict(observed.live)
        self.parallelism = parallelism
        self.on_event = on_event
        self.lock = threading.Lock()
        self.log = get_logger()

    # -- references

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            with self.lock:
                live = self.live.get(value.id)
            if live is None:
                raise ResourceError(value.id, "resolve reference", "DependencyMissing",
                                    f"{value.id} does not exist in AWS")
            return live.aws_id if value.attr == "id" else live.attrs.get(value.attr, live.props.get(value.attr))
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value

    def op(self, node_id: str, live: Live | None) -> Op:
        node = self.graph.nodes.get(node_id)
        ent = node.enterprise if node else (live.tags.get("controller:enterprise", "") if live else "")
        region = node.region if node else (live.attrs.get("region") if live else None)
        ctx = self.session.contexts[ent]
        if region is None:
            region = self.session.enterprises[ent].spec.regions[0]
        op = Op(ctx=ctx, region=region, node=node, live=live, resolve=self.resolve)
        if node is not None:  # an update never writes an ignored path: it writes back what AWS has
            op.props = self.resolve(masked(node, live)[0] if live is not None else node.props)
        return op

    # -- one change

    def run_change(self, ch: Change, phase: str) -> Outcome:
        started = time.monotonic()
        kind = REGISTRY[kind_of(ch.id)]
        log = self.log.bind(enterprise=ch.enterprise, address=ch.id, action=ch.action, phase=phase)
        try:
            live = self.live.get(ch.id)
            if phase == "delete":
                target = self._live_for_delete(ch)
                if target is not None:
                    kind.delete(self.op(ch.id, target))
                if ch.action == "delete":
                    with self.lock:
                        if self.live.get(ch.id) is target:
                            self.live.pop(ch.id, None)
                log.info("resource_deleted", aws_id=ch.aws_id)
                return Outcome(ch.id, ch.action, "done", "deleted" if ch.action == "delete" else "old one deleted",
                               time.monotonic() - started, ch.aws_id)
            node = self.graph.nodes[ch.id]
            if ch.action in ("create", "replace"):
                op = self.op(ch.id, None)
                new = kind.create(op)
                new.attrs.setdefault("region", node.region)
                with self.lock:
                    self.live[ch.id] = new
                log.info("resource_created", aws_id=new.aws_id)
                return Outcome(ch.id, ch.action, "done", "created", time.monotonic() - started, new.aws_id)
            assert live is not None
            op = self.op(ch.id, live)
            fields = [f.path for f in ch.fields]
            tags = {f.path.removeprefix(TAGS): f.after for f in ch.fields if is_tag(f)}
            if tags:
                self.retag(op, tags, live)
            rest = [f.path for f in ch.fields if not is_tag(f)]
            if rest:
                kind.update(op, rest)
            log.info("resource_updated", aws_id=live.aws_id, fields=fields)
            return Outcome(ch.id, ch.action, "done", "adopted" if ch.action == "adopt" else f"updated {', '.join(fields)}",
                           time.monotonic() - started, live.aws_id)
        except ResourceError as e:
            log.warning("resource_failed", error=str(e))
            return Outcome(ch.id, ch.action, "failed", str(e), time.monotonic() - started)
        except Exception as e:  # a bug in a kind must not stop independent branches
            log.error("resource_failed", error=repr(e))
            return Outcome(ch.id, ch.action, "failed", f"internal error: {type(e).__name__}: {e}",
                           time.monotonic() - started)

    def _live_for_delete(self, ch: Change) -> Live | None:
        live = self.live.get(ch.id)
        if live is not None and ch.aws_id and live.aws_id != ch.aws_id:
            return Live(id=ch.id, kind=live.kind, aws_id=ch.aws_id, tags=live.tags, props={}, attrs={})
        return live

    def retag(self, op: Op, tags: Mapping[str, str | None], live: Live) -> None:
        kind = REGISTRY[kind_of(live.id)]
        retag = getattr(kind, "retag", None)
        if retag is not None:
            retag(op, tags)
            return
        ec2 = op.client()
        keep = {k: v for k, v in tags.items() if v is not None}
        ids = [live.aws_id, *live.attrs.get("tagged_parts", ())]  # a VM's root volume and nics, ...
        if keep:
            op.call("tag", ec2.create_tags, Resources=ids, Tags=tag_list(keep))
        drop = [k for k, v in tags.items() if v is None]
        if drop:
            op.call("untag", ec2.delete_tags, Resources=ids, Tags=[{"Key": k} for k in drop])
        live.tags.update(keep)
        for k in drop:
            live.tags.pop(k, None)

    # -- the whole plan

    def apply(self, changes: list[Change]) -> Report:
        started = time.monotonic()
        calls_before = self.session.counter.total
        outcomes: dict[str, Outcome] = {}
        todo = [c for c in changes if c.action != "no-op"]
        # phase 1: deletes (and the old half of replacements), dependents before what they depend on
        deletes = {self._key(c): c for c in todo if c.action in ("delete", "replace")}
        del_deps: dict[str, set[str]] = {k: set() for k in deletes}
        by_aws = {c.aws_id: k for k, c in deletes.items() if c.aws_id}
        for k, c in deletes.items():
            live = self.live.get(c.id)
            for ref in (live.refs if live else []):
                target = by_aws.get(ref)
                if target and target != k:
                    del_deps[target].add(k)  # the referenced object waits for its dependents' deletes
        res = walk({k: (del_deps[k], partial(self.run_change, c, "delete")) for k, c in deletes.items()},
                   self.parallelism, self.on_event)
        for k, o in res.items():
            outcomes[k] = o if o.action else Outcome(o.id, deletes[k].action, o.status, o.detail)
        # phase 2: creates, updates, the new half of replacements; dependencies first
        ups = {c.id: c for c in todo if c.action in ("create", "update", "replace", "adopt")}
        failed_deletes = {deletes[k].id for k, o in res.items() if o.status != "done"}
        tasks: dict[str, tuple[set[str], Callable[[], Outcome]]] = {}
        for nid, c in ups.items():
            node = self.graph.nodes[nid]
            deps = {d for d in node.deps if d in ups}
            if nid in failed_deletes:  # the old one is still there: do not create a second
                tasks[nid] = (set(), partial(Outcome, nid, c.action, "skipped", "because deleting the old one failed"))
                continue
            tasks[nid] = (deps, partial(self.run_change, c, "create"))
        res2 = walk(tasks, self.parallelism, self.on_event)
        for k, o in res2.items():
            outcomes[k] = o if o.action else Outcome(o.id, ups[k].action, o.status, o.detail)
        return Report(outcomes=list(outcomes.values()), seconds=time.monotonic() - started,
                      api_calls=self.session.counter.total - calls_before)

    @staticmethod
    def _key(c: Change) -> str:
        return f"{c.id}#{c.aws_id}" if c.action == "delete" and c.aws_id else c.id
