"""The reconcile loop: trees in, one level-triggered reconcile per enterprise key out.

    source (dir / git) ──tree──▶ on_tree: load + validate, per-enterprise digests
                                    │ changed enterprises: queue.reset(e)
    resync timer (±10 %) ──────────▶│ every enterprise: queue.add(e)
    lease keeper ── acquired ──────▶│ queue.add(e)
                                    ▼
                          WorkQueue ──▶ workers: reconcile(e) = plan → policies → guard → apply
                                          success: forget(e) │ failure: add_rate_limited(e)

A reconcile always plans from the tree in force at the moment it starts (level-triggered: the key
says which enterprise, never what changed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.daemon.lease import LeaseKeeper, LeaseTable
from controller.daemon.metrics import Metrics
from controller.daemon.queue import WorkQueue
from controller.engine.apply import Applier, Outcome
from controller.engine.diff import Action, Cause, Change
from controller.engine.guard import DeleteLimitError, check_plan
from controller.engine.observe import Session, desired
from controller.engine.plan import make_plan
from controller.errors import ControllerError
from controller.logs import get_logger
from controller.spec.diagnostics import SpecError
from controller.spec.validate import Specs, load_specs


@dataclass
class Options:
    parallelism: int = 10
    workers: int = 4
    resync: float = 300.0
    self_heal: bool | None = None  # None: the Enterprise's policies decide
    prune: bool | None = None
    suspend: bool | None = None
    max_deletes: int = 10
    lease_table: str | None = None
    lease_region: str | None = None
    lease_seconds: float = 30.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0


@dataclass
class Tree:
    commit: str
    specs: Specs
    digests: dict[str, str]  # enterprise -> digest of its desired graph and its Enterprise document
    loaded_at: float = field(default_factory=time.time)


@dataclass
class EnterpriseState:
    applied_digest: str | None = None  # the desired digest last applied successfully
    commit: str | None = None          # the commit it was last reconciled at
    session: Session | None = None
    session_key: str = ""
    last_result: str = ""
    last_error: str = ""
    last_success: float | None = None
    reconciles: int = 0


@dataclass
class Policies:
    self_heal: bool
    prune: bool
    suspend: bool


class ReconcileFailed(ControllerError):
    pass


class DaemonApplier(Applier):
    """The engine's Applier, stopping cleanly: once `cancelled()` is true no new object is started;
    the objects already running finish (and are reported), the rest are reported as skipped."""

    def __init__(self, *args: Any, cancelled: Callable[[], bool], commit: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cancelled = cancelled
        self.log = get_logger(commit=commit)
        self.interrupted = False

    def run_change(self, ch: Change, phase: str) -> Outcome:
        if self.cancelled():
            self.interrupted = True
            return Outcome(ch.id, ch.action, "skipped", "because the daemon is stopping")
        return super().run_change(ch, phase)


def enterprise_digest(specs: Specs, name: str) -> str:
    graph = desired(specs.catalog, [name])
    ent = next(e for e in specs.catalog.enterprises() if e.name == name)
    h = hashlib.sha256(graph.digest().encode())
    h.update(ent.spec.model_dump_json().encode())
    return h.hexdigest()


class Daemon:
    def __init__(self, opts: Options, metrics: Metrics | None = None):
        self.opts = opts
        self.metrics = metrics or Metrics()
        self.log = get_logger()
        self.queue: WorkQueue[str] = WorkQueue(opts.backoff_base, opts.backoff_max)
        self.stopping = threading.Event()
        self.tree: Tree | None = None
        self.states: dict[str, EnterpriseState] = {}
        self.lost: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.workers_running = False
        self.leases: LeaseKeeper | None = None
        if opts.lease_table:
            table = LeaseTable(opts.lease_table, opts.lease_region)
            self.leases = LeaseKeeper(table, opts.lease_seconds, self._lease_acquired, self._lease_lost)

    # -- trees

    def on_tree(self, commit: str, path: Path) -> bool:
        """Load and validate a whole tree; switch to it only if all of it is good."""
        log = self.log.bind(commit=commit)
        try:
            specs = load_specs(path)
            digests = {e.name: enterprise_digest(specs, e.name) for e in specs.catalog.enterprises()}
        except SpecError as e:
            self.metrics.invalid_trees.inc()
            log.error("tree_invalid", errors=len(e.diagnostics), diagnostics=[d.render() for d in e.diagnostics],
                      in_force=self.tree.commit if self.tree else None)
            return False
        except ControllerError as e:
            self.metrics.invalid_trees.inc()
            log.error("tree_invalid", errors=1, diagnostics=[str(e)], in_force=self.tree.commit if self.tree else None)
            return False
        with self._lock:
            old = self.tree
            self.tree = Tree(commit, specs, digests)
            before = old.digests if old else {}
            changed = sorted(n for n, d in digests.items() if before.get(n) != d)
            removed = sorted(set(before) - set(digests))
            for n in removed:
                self.states.pop(n, None)
        self.metrics.trees.inc()
        self.metrics.set_tree_commit(commit)
        log.info("tree_loaded", enterprises=len(digests), changed=changed, removed=removed)
        for n in removed:
            self.queue.discard(n)
        if self.leases:
            self.leases.set_wanted(set(digests))
        for n in changed:
            self.queue.reset(n)  # a newer commit replaces a failing one: no backoff left over
        return True

    @property
    def ready(self) -> bool:
        return self.tree is not None and self.workers_running and not self.stopping.is_set()

    # -- leases

    def _lease_acquired(self, name: str) -> None:
        with self._lock:
            self.lost.discard(name)
        self.queue.add(name)

    def _lease_lost(self, name: str) -> None:
        with self._lock:
            self.lost.add(name)

    # -- threads

    def start(self) -> None:
        for i in range(max(1, self.opts.workers)):
            self._spawn(self._worker, f"worker-{i}")
        self._spawn(self._resync_loop, "resync")
        if self.leases:
            self.leases.table.ensure()
            self._spawn(self._lease_loop, "leases")
        self.workers_running = True

    def _spawn(self, fn: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=fn, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking work; let reconciles in flight finish their running objects; release leases."""
        self.stopping.set()
        self.queue.shut_down()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.1, deadline - time.monotonic()))
        if self.leases:
            self.leases.release_all()

    def _resync_loop(self) -> None:
        while not self.stopping.wait(self.opts.resync * random.uniform(0.9, 1.1)):
            tree = self.tree
            if tree is None:
                continue
            waiting = self.queue.delayed()
            names = [n for n in tree.digests if n not in waiting]  # in backoff: its retry is due anyway
            if self.leases:
                names = [n for n in names if self.leases.holds(n)]
            self.log.info("resync", enterprises=len(names))
            for n in names:
                self.queue.add(n)

    def _lease_loop(self) -> None:
        assert self.leases is not None
        next_at = time.monotonic()
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.leases.tick()
                took = time.monotonic() - started
                if took > self.leases.interval / 2:
                    self.log.warning("lease_tick_slow", seconds=round(took, 3), interval=self.leases.interval)
                self.metrics.leases.set(len(self.leases.owned()))
            except Exception as e:  # DynamoDB unreachable: keep trying; held leases lapse on their own
                self.log.error("lease_tick_failed", error=f"{type(e).__name__}: {e}")
            # fixed rate (start to start), so a slow tick does not stretch the renew period
            next_at = max(next_at + self.leases.interval, time.monotonic() + 0.05)
            self.stopping.wait(next_at - time.monotonic())

    def _worker(self) -> None:
        while True:
            name = self.queue.get()
            if name is None:
                return
            try:
                self.reconcile(name)
            except Exception as e:  # never lose a worker
                self.log.error("worker_error", enterprise=name, error=f"{type(e).__name__}: {e}")
            finally:
                self.queue.done(name)
                self.metrics.queue_depth.set(len(self.queue))

    # -- one enterprise

    def policies(self, tree: Tree, name: str) -> Policies:
        ent = next(e for e in tree.specs.catalog.enterprises() if e.name == name)
        p = ent.spec.policies
        o = self.opts
        return Policies(self_heal=p.self_heal if o.self_heal is None else o.self_heal,
                        prune=p.prune if o.prune is None else o.prune,
                        suspend=p.suspend if o.suspend is None else o.suspend)

    def reconcile(self, name: str) -> None:
        tree = self.tree
        if self.stopping.is_set() or tree is None or name not in tree.digests:
            return
        lock = self.leases.busy_lock(name) if self.leases else threading.Lock()
        with lock:
            lease = self.leases.holds(name) if self.leases else None
            if self.leases and lease is None:
                self.metrics.reconciles.labels(name, "skipped_no_lease").inc()
                return  # the lease keeper queues it again when it holds it
            log = self.log.bind(enterprise=name, commit=tree.commit)
            if lease is not None:
                log = log.bind(fence=lease.fence)
            started = time.monotonic()
            log.info("reconcile_started", t=time.time())
            try:
                result = self._reconcile(name, tree, log)
            except Exception as e:
                delay = self.queue.add_rate_limited(name)
                msg = str(e) if isinstance(e, ControllerError) else f"{type(e).__name__}: {e}"
                st = self.states.setdefault(name, EnterpriseState())
                st.last_result, st.last_error = "error", msg
                st.reconciles += 1
                self.metrics.reconciles.labels(name, "error").inc()
                self.metrics.errors.labels(name, "reconcile").inc()
                log.error("reconcile_failed", error=msg, retry_in=round(delay, 1), t=time.time())
                return
            finally:
                self.metrics.duration.labels(name).observe(time.monotonic() - started)
            if result != "interrupted":
                self.queue.forget(name)
            elif not self.stopping.is_set():
                self.queue.add_after(name, 1.0)  # the lease wavered: try again (skipped if it is gone)
            st = self.states.setdefault(name, EnterpriseState())
            st.last_result, st.last_error = result, ""
            st.reconciles += 1
            self.metrics.reconciles.labels(name, result).inc()
            log.info("reconcile_finished", result=result, seconds=round(time.monotonic() - started, 3),
                     t=time.time())

    def _session(self, st: EnterpriseState, tree: Tree, name: str) -> Session:
        ent = next(e for e in tree.specs.catalog.enterprises() if e.name == name)
        key = ent.spec.model_dump_json()
        if st.session is None or st.session_key != key:
            st.session = Session.open(tree.specs.catalog, [name], parallelism=self.opts.parallelism)
            st.session_key = key
        return st.session

    def _cancelled(self, name: str) -> Callable[[], bool]:
        """Start no new object when stopping, or when the lease is lost or about to lapse."""
        leases = self.leases
        return lambda: (self.stopping.is_set() or name in self.lost
                        or (leases is not None and leases.holds(name) is None))

    def _reconcile(self, name: str, tree: Tree, log: Any) -> str:
        st = self.states.setdefault(name, EnterpriseState())
        try:
            session = self._session(st, tree, name)
        except Exception:
            st.session = None
            raise
        planned = make_plan(tree.specs, name, self.opts.parallelism, session)
        pol = self.policies(tree, name)
        digest = tree.digests[name]
        new_commit = st.applied_digest != digest
        changes = planned.plan.changes
        if not pol.prune:
            pruned = [c for c in changes if c.cause == Cause.NOT_IN_SPECS]
            for c in pruned:
                self.metrics.withheld.labels(name, "delete", "prune").inc()
                log.warning("prune_withheld", address=c.id, action="delete", aws_id=c.aws_id,
                            reason=f"{c.reason}; prune is off, so it is kept")
            changes = [c for c in changes if c.cause != Cause.NOT_IN_SPECS]
        actionable = [c for c in changes if c.action != Action.NOOP]
        if actionable and not new_commit:
            self.metrics.drift.labels(name).inc(len(actionable))
            for c in actionable:
                log.warning("drift_found", address=c.id, action=c.action, reason=c.reason)
        if pol.suspend:
            for c in actionable:
                self.metrics.withheld.labels(name, c.action, "suspend").inc()
                log.info("change_withheld", address=c.id, action=c.action, reason=c.reason, policy="suspend")
            return "suspended"
        if actionable and not new_commit and not pol.self_heal:
            for c in actionable:
                self.metrics.withheld.labels(name, c.action, "selfHeal").inc()
            log.warning("drift_reported", changes=len(actionable), policy="selfHeal off: not reverted")
            return "drift_reported"
        plan = dataclasses.replace(planned.plan, changes=changes)
        try:
            check_plan(plan, self.opts.max_deletes, allow_deletes=False)
        except DeleteLimitError as e:  # the daemon's own knob, named for the operator
            raise ControllerError(f"{e} (the daemon's --max-deletes is {e.limit})") from None
        if actionable:
            if self._cancelled(name)():
                return "interrupted"
            applier = DaemonApplier(session, planned.graph, planned.observed, self.opts.parallelism,
                                    cancelled=self._cancelled(name), commit=tree.commit)
            report = applier.apply(changes)
            for o in report.outcomes:
                if o.status == "done":
                    self.metrics.actions.labels(name, o.action).inc()
                elif o.status == "failed":
                    self.metrics.errors.labels(name, "object").inc()
            if report.failed:
                first = report.failed[0]
                raise ReconcileFailed(f"{len(report.failed)} object(s) failed, {len(report.skipped)} skipped; "
                                      f"first: {first.detail}")
            if applier.interrupted:
                log.warning("reconcile_interrupted", done=sum(o.status == "done" for o in report.outcomes),
                            skipped=len(report.skipped))
                return "interrupted"
            log.info("applied", **report.counts())
        st.applied_digest = digest
        st.commit = tree.commit
        st.last_success = time.time()
        self.metrics.set_commit(name, tree.commit)
        self.metrics.last_success.labels(name).set(st.last_success)
        return "success"

    # -- status

    def status(self) -> dict[str, Any]:
        tree = self.tree
        held = set(self.leases.owned()) if self.leases else None
        ents: dict[str, Any] = {}
        for n in sorted(tree.digests if tree else []):
            st = self.states.get(n, EnterpriseState())
            ents[n] = {"commit": st.commit, "last_result": st.last_result or None,
                       "last_error": st.last_error or None, "last_success": st.last_success,
                       "reconciles": st.reconciles, "backoff_failures": self.queue.failures(n),
                       "lease_held": (n in held) if held is not None else None}
        return {"ready": self.ready, "commit": tree.commit if tree else None,
                "owner": self.leases.table.owner if self.leases else None,
                "replicas": self.leases.replicas if self.leases else None,
                "queue": len(self.queue), "enterprises": ents}
