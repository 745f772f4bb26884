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

from controller.engine.diff import TAGS, Action, Change, is_tag
from controller.engine.drift import masked
from controller.engine.observe import Observed, Session, kind_of
from controller.errors import ResourceError
from controller.graph import Graph, Ref
from controller.kinds import REGISTRY
from controller.kinds.base import Live, Op
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
    """One outcome per actionable change of the plan, in the plan's order."""

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


@dataclass
class Task:
    """One step of one change. `after`: tasks whose failure skips this one; `later_than`: tasks it only
    waits for (their failure does not matter to it). `label` names it in a reason (the address)."""

    label: str
    run: Callable[[], Outcome]
    after: set[str] = field(default_factory=set)
    later_than: set[str] = field(default_factory=set)
    fail: Callable[[str, str], Outcome] | None = None  # (status, detail) -> the outcome it gets unrun


def walk(tasks: dict[str, Task], parallelism: int, on_done: Callable[[Outcome], None] = lambda o: None
         ) -> dict[str, Outcome]:
    """Run every task after what it waits for; every task gets exactly one outcome.

    A failed or skipped task skips the tasks that need it (`after`). Tasks that can never start (a
    dependency cycle) fail with the cycle as their reason, and the walk goes on with the rest; a task
    that raises fails with the exception as its reason.

    Event-driven: each task counts the tasks it still waits for, and an outcome visits only the tasks
    that wait for it, so the walk's own cost grows with the dependencies, not with tasks x outcomes
    (it runs on the thread that the workers share the interpreter with).
    """
    results: dict[str, Outcome] = {}
    need = {k: {d for d in t.after if d in tasks and d != k} for k, t in tasks.items()}
    wait_for = {k: need[k] | {d for d in t.later_than if d in tasks and d != k} for k, t in tasks.items()}
    waiters: dict[str, list[str]] = {k: [] for k in tasks}
    for k in sorted(tasks):
        for d in wait_for[k]:
            waiters[d].append(k)
    left = {k: len(w) for k, w in wait_for.items()}
    pending = set(tasks)
    running: dict[Future[Outcome], str] = {}

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        def finished(k: str, outcome: Outcome) -> None:
            """Record an outcome; skip what needed a task that did not get done, start what is ready."""
            todo = [(k, outcome)]
            while todo:
                k, outcome = todo.pop()
                results[k] = outcome
                pending.discard(k)
                on_done(outcome)
                for j in waiters[k]:
                    if j not in pending:
                        continue
                    left[j] -= 1
                    if outcome.status != "done" and k in need[j]:
                        pending.discard(j)
                        todo.append((j, not_run(j, "skipped", f"because {tasks[k].label} {outcome.status}")))
                    elif left[j] == 0:
                        start(j)

        def not_run(k: str, status: str, detail: str) -> Outcome:
            t = tasks[k]
            return t.fail(status, detail) if t.fail else Outcome(k, "", status, detail)

        def start(k: str) -> None:
            pending.discard(k)
            running[pool.submit(tasks[k].run)] = k

        for k in sorted(k for k in pending if left[k] == 0):
            start(k)
        while pending or running:
            if not running:  # nothing runs and nothing can start: a cycle
                cycle = _cycle(sorted(pending), wait_for, results)
                names = " -> ".join(c for c in [*cycle, cycle[0]])
                pending.difference_update(cycle)  # each fails for the cycle, not skipped for another member
                for c in cycle:
                    finished(c, not_run(c, "failed", f"dependency cycle, nothing was done: {names}"))
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for f in done:
                k = running.pop(f)
                try:
                    outcome = f.result()
                except Exception as e:  # a task must not lose its outcome (nor the others theirs)
                    outcome = not_run(k, "failed", f"internal error: {type(e).__name__}: {e}")
                finished(k, outcome)
    return results


def _cycle(stuck: list[str], wait_for: dict[str, set[str]], results: dict[str, Outcome]) -> list[str]:
    """A cycle among the tasks that wait for each other (following unfinished dependencies)."""
    seen: list[str] = []
    k = stuck[0]
    while k not in seen:
        seen.append(k)
        k = sorted(d for d in wait_for[k] if d not in results)[0]
    return seen[seen.index(k):]


class Applier:
    def __init__(self, session: Session, graph: Graph, observed: Observed, parallelism: int = 10,
                 on_event: Callable[[Outcome], None] = lambda o: None):
        self.session = session
        self.graph = graph
        self.live: dict[str, Live] = dict(observed.live)
        self.duplicates = {(d.id, d.aws_id): d for d in observed.duplicates}
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

    def op(self, node_id: str, live: Live | None, resolve: bool = True) -> Op:
        """The Op for one verb. A delete does not resolve the desired props (`resolve=False`): the old
        half of a replacement must not wait for, nor fail on, what only the new object refers to."""
        node = self.graph.nodes.get(node_id)
        ent = node.enterprise if node else (live.tags.get("controller:enterprise", "") if live else "")
        region = node.region if node else (live.attrs.get("region") if live else None)
        ctx = self.session.contexts[ent]
        if region is None:
            region = self.session.enterprises[ent].spec.regions[0]
        op = Op(ctx=ctx, region=region, node=node, live=live, resolve=self.resolve)
        if node is not None and resolve:  # an update never writes an ignored path: it writes back what AWS has
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
                    kind.delete(self.op(ch.id, target, resolve=False))
                if ch.action == Action.DELETE:
                    with self.lock:
                        if self.live.get(ch.id) is target:
                            self.live.pop(ch.id, None)
                log.info("resource_deleted", aws_id=ch.aws_id)
                return Outcome(ch.id, ch.action, "done", "deleted" if ch.action == Action.DELETE else "old one deleted",
                               time.monotonic() - started, ch.aws_id)
            node = self.graph.nodes[ch.id]
            if ch.action in (Action.CREATE, Action.REPLACE):
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
            return Outcome(ch.id, ch.action, "done", "adopted" if ch.action == Action.ADOPT else f"updated {', '.join(fields)}",
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
            dup = self.duplicates.get((ch.id, ch.aws_id))
            return dup or Live(id=ch.id, kind=live.kind, aws_id=ch.aws_id, tags=live.tags, props={}, attrs={})
        return live

    def retag(self, op: Op, tags: Mapping[str, str | None], live: Live) -> None:
        """Restore the ownership tags: the kind writes them in its tag style (the kind contract)."""
        REGISTRY[kind_of(live.id)].retag(op, tags)

    # -- the whole plan

    def apply(self, changes: list[Change]) -> Report:
        """Carry out every actionable change; one outcome each, in the plan's order.

        Each change is one task, a replacement two (delete the old object, create the new one). Tasks
        wait on tasks, keyed by change (address, action, AWS id), never by AWS id alone:
        - a delete waits for the deletes of the objects that refer to it (bottom-up), and for the
          updates of objects that still refer to it now (an update that drops a reference to a
          deleted group runs before the group's delete);
        - a create or update waits for the creates and updates of what it refers to (top-down), and
          for every delete (deleted objects free names and address ranges), except the updates a
          delete waits for and what those need;
        - the new half of a replacement waits for its old half.
        """
        started = time.monotonic()
        calls_before = self.session.counter.total
        todo = [c for c in changes if c.action != Action.NOOP]
        tasks = self._tasks(todo)
        res = walk(tasks, self.parallelism, self.on_event)
        outcomes = [self._outcome(c, res) for c in todo]
        return Report(outcomes=outcomes, seconds=time.monotonic() - started,
                      api_calls=self.session.counter.total - calls_before)

    def _tasks(self, todo: list[Change]) -> dict[str, Task]:
        tasks: dict[str, Task] = {}
        gone: dict[str, Change] = {}  # delete task -> its change
        made: dict[str, str] = {}  # node id -> its create/update task
        updates: dict[str, str] = {}  # node id -> its update/adopt task
        for c in todo:
            k = change_key(c)
            if c.action in (Action.DELETE, Action.REPLACE):
                tasks[k + ":delete"] = Task(c.id, partial(self.run_change, c, "delete"), fail=_unrun(c))
                gone[k + ":delete"] = c
            if c.action != Action.DELETE:
                if c.id not in self.graph.nodes:  # a saved plan for other specs: apply checks, this is a bug
                    tasks[k] = Task(c.id, partial(Outcome, c.id, c.action, "failed",
                                                  "internal error: no desired object for this change"))
                    continue
                tasks[k] = Task(c.id, partial(self.run_change, c, "create"), fail=_unrun(c))
                if c.action == Action.REPLACE:
                    tasks[k].after.add(k + ":delete")
                made[c.id] = k
                if c.action in (Action.UPDATE, Action.ADOPT):
                    updates[c.id] = k
        # deletes, bottom-up: the owner of an AWS id (not a part of it, such as the rules of a group) waits
        by_aws: dict[str, list[tuple[str, bool]]] = {}
        for t, c in gone.items():
            live = self._live_for_delete(c)
            if live is not None:
                by_aws.setdefault(live.aws_id, []).append((t, live.derived))
        owners = {a: [t for t, derived in ts if not derived] or [t for t, _ in ts] for a, ts in by_aws.items()}
        for t, c in gone.items():
            live = self._live_for_delete(c)
            for ref in live.refs if live else []:
                for target in owners.get(ref, []):
                    if target != t and gone[target].id != c.id:
                        tasks[target].after.add(t)
        # an update of an object that refers to an object deleted for good runs before that delete
        early: set[str] = set()
        for nid, k in updates.items():
            live = self.live.get(nid)
            for ref in live.refs if live else []:
                for target in owners.get(ref, []):
                    if gone[target].action == Action.DELETE and gone[target].id != nid:
                        tasks[target].after.add(k)
                        early.add(k)
        # creates and updates, top-down
        for nid, k in made.items():
            tasks[k].after |= {made[d] for d in self.graph.nodes[nid].deps if d in made}
        stack, steps = list(early), set(made.values())
        while stack:  # what an early update needs is early too
            for d in tasks[stack.pop()].after:
                if d in steps and d not in early:
                    early.add(d)
                    stack.append(d)
        for k in made.values():
            if k not in early:
                tasks[k].later_than |= set(gone)
        return tasks

    @staticmethod
    def _outcome(c: Change, res: dict[str, Outcome]) -> Outcome:
        k = change_key(c)
        if c.action == Action.DELETE:
            return res[k + ":delete"]
        if c.action != Action.REPLACE:
            return res[k]
        old, new = res[k + ":delete"], res[k]
        if old.status != "done":
            return old
        if new.status == "done":
            return Outcome(c.id, c.action, "done", "replaced", old.seconds + new.seconds, new.aws_id)
        return Outcome(c.id, c.action, new.status, f"the old one was deleted; {new.detail}",
                       old.seconds + new.seconds, new.aws_id)


def change_key(c: Change) -> str:
    """A change's key: its action and address, and the AWS id of a delete (duplicates share an address)."""
    return f"{c.action} {c.id}" + (f" {c.aws_id}" if c.action == Action.DELETE and c.aws_id else "")


def _unrun(c: Change) -> Callable[[str, str], Outcome]:
    return lambda status, detail: Outcome(c.id, c.action, status, detail, aws_id=c.aws_id)
