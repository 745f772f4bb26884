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
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from controller.daemon import DEFAULT_RECONCILE_TIMEOUT
from controller.daemon.lease import LeaseKeeper, LeaseTable
from controller.daemon.metrics import Metrics
from controller.daemon.notify import Notifier, slack_escape
from controller.daemon.queue import WorkQueue
from controller.engine.apply import Applier, Outcome, Report
from controller.engine.diff import Action, Cause, Change
from controller.engine.guard import DeleteLimitError, check_plan
from controller.engine.observe import Session, desired
from controller.engine.plan import Plan, make_plan
from controller.errors import ControllerError
from controller.logs import get_logger
from controller.spec.diagnostics import SpecError
from controller.spec.validate import Specs, load_specs

ABANDON_GRACE = 2.0  # seconds a timed-out or superseded apply gets to finish the objects it is changing
EVENTS_KEPT = 50     # recent events kept per enterprise (the dashboard's list)
SYNC_STATUSES = ("Synced", "OutOfSync", "Progressing", "Failed", "Suspended")
T = TypeVar("T")


def short(commit: str | None) -> str:
    """A commit as people read it: 12 characters of a git hash, a directory digest as is."""
    if not commit:
        return "-"
    return commit if commit.startswith("dir:") else commit[:12]


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
    reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT


@dataclass
class Tree:
    commit: str
    specs: Specs
    digests: dict[str, str]  # enterprise -> digest of its desired graph and its Enterprise document
    loaded_at: float = field(default_factory=time.time)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # enterprise -> objects per kind
    enterprises: dict[str, Any] = field(default_factory=dict)  # name -> its Enterprise document

    def __post_init__(self) -> None:
        if not self.enterprises:
            self.enterprises = {e.name: e for e in self.specs.catalog.enterprises()}


@dataclass
class Record:
    """One line of an enterprise's (or the daemon's) recent events, as the dashboard lists them."""

    t: float
    kind: str  # reconciled, drift, applied, failed, timed_out, superseded, suspended, resumed, loaded, rejected
    text: str
    commit: str | None = None


@dataclass
class Rejected:
    commit: str
    errors: list[str]
    at: float
    in_force: str | None


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
    # what the dashboard shows (wall-clock times)
    last_started: float | None = None
    last_finished: float | None = None
    last_seconds: float = 0.0
    plan: Plan | None = None             # the last plan made
    plan_at: float | None = None
    plan_commit: str | None = None
    drift: Plan | None = None            # the last plan that found changes (kept while later plans find none)
    drift_found_at: float | None = None  # the last resync that found drift (changes made in AWS), and how many
    drift_found: int = 0
    drift_at: float | None = None
    drift_commit: str | None = None
    withheld: list[tuple[Change, str]] = field(default_factory=list)  # found, not made: (change, policy)
    outcomes: list[Outcome] = field(default_factory=list)  # the last apply's, one per change
    apply_at: float | None = None
    apply_commit: str | None = None
    apply_note: str = ""
    events: deque[Record] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    suspended: bool | None = None        # the suspend policy the last reconcile saw
    notified: dict[str, str] = field(default_factory=dict)  # event type -> fingerprint last sent


@dataclass
class Policies:
    self_heal: bool
    prune: bool
    suspend: bool


class ReconcileFailed(ControllerError):
    result = "error"


class ReconcileTimedOut(ReconcileFailed):
    result = "timed_out"


class Run:
    """One reconcile in flight: its deadline, and the newer commit that superseded it, if any."""

    def __init__(self, name: str, commit: str, timeout: float):
        self.name = name
        self.commit = commit
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.superseded_by: str | None = None
        self.applying = False  # changes found and being made (the dashboard's Progressing)
        self.cond = threading.Condition()  # notified when a phase in a thread ends, and on supersede

    def supersede(self, commit: str) -> None:
        with self.cond:
            self.superseded_by = commit
            self.cond.notify_all()

    def in_thread(self, fn: Callable[[], T], name: str) -> tuple[threading.Event, dict[str, Any]]:
        """Run fn in a daemon thread; the event is set when it returned (box["value"]) or raised
        (box["error"]), and the run's condition notified. box["thread"] is the thread."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as e:  # handed to the waiting side
                box["error"] = e
            finally:
                with self.cond:
                    done.set()
                    self.cond.notify_all()

        box["thread"] = threading.Thread(target=target, name=name, daemon=True)
        box["thread"].start()
        return done, box

    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline

    def abandon_reason(self) -> str | None:
        """Why the reconcile must stop without waiting for what it is doing (None: it may go on)."""
        if self.superseded_by:
            return f"commit {short(self.superseded_by)} superseded it"
        if self.overdue():
            return f"the reconcile timed out (--reconcile-timeout {self.timeout:g} s)"
        return None


class DaemonApplier(Applier):
    """The engine's Applier, stopping cleanly: once `cancelled()` gives a reason no new object is
    started; the objects already running finish (and are reported), the rest are reported as skipped.

    `busy` is the enterprise's set of objects being changed, shared by every apply of that
    enterprise: an object still being changed by an earlier, abandoned reconcile is skipped (and
    retried), never changed by two at once."""

    def __init__(self, *args: Any, cancelled: Callable[[], str | None], commit: str, busy: set[str],
                 busy_lock: threading.Lock, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cancelled = cancelled
        self.log = get_logger(commit=commit)
        self.interrupted = False
        self.stopped_because: str | None = None
        self.busy = busy
        self.busy_lock = busy_lock
        self.running: dict[str, str] = {}  # id -> action, being changed by this apply now

    def run_change(self, ch: Change, phase: str) -> Outcome:
        why = self.cancelled()
        if why:
            self.interrupted = True
            self.stopped_because = self.stopped_because or why
            return Outcome(ch.id, ch.action, "skipped", f"not started: {why}")
        with self.busy_lock:
            if ch.id in self.busy and ch.id not in self.running:
                self.interrupted = True
                return Outcome(ch.id, ch.action, "skipped", "not started: an earlier reconcile is still "
                               "changing it (retried)")
            self.busy.add(ch.id)
            self.running[ch.id] = ch.action
        try:
            return super().run_change(ch, phase)
        finally:
            with self.busy_lock:
                self.busy.discard(ch.id)
                self.running.pop(ch.id, None)


def relative(message: str, root: Path) -> str:
    """A diagnostic names its file relative to the tree (`bad.yaml:3:18: ...`), not the daemon's work dir."""
    prefix = str(root).rstrip("/") + "/"
    return message.replace(prefix, "")


def enterprise_summary(specs: Specs, name: str) -> tuple[str, dict[str, int]]:
    """The digest of an enterprise's desired graph and Enterprise document, and its objects per kind."""
    graph = desired(specs.catalog, [name])
    ent = next(e for e in specs.catalog.enterprises() if e.name == name)
    h = hashlib.sha256(graph.digest().encode())
    h.update(ent.spec.model_dump_json().encode())
    return h.hexdigest(), dict(sorted(Counter(n.kind for n in graph.nodes.values()).items()))


class Daemon:
    def __init__(self, opts: Options, metrics: Metrics | None = None, notifier: Notifier | None = None):
        self.opts = opts
        self.metrics = metrics or Metrics()
        self.notifier = notifier or Notifier([], self.metrics)
        self.log = get_logger()
        self.queue: WorkQueue[str] = WorkQueue(opts.backoff_base, opts.backoff_max)
        self.stopping = threading.Event()
        self.tree: Tree | None = None
        self.states: dict[str, EnterpriseState] = {}
        self.lost: set[str] = set()
        self.runs: dict[str, Run] = {}  # enterprise -> its reconcile in flight
        self.busy: dict[str, set[str]] = {}  # enterprise -> objects being changed (by any apply of it)
        self.rejected: Rejected | None = None  # the newest commit, when it did not load or validate
        self.events: deque[Record] = deque(maxlen=EVENTS_KEPT)  # the daemon's own: trees loaded, rejected
        self.next_resync: float | None = None  # wall-clock time of the next resync
        self.source = ""  # what the trees come from, for the dashboard
        self._lock = threading.Lock()
        self._busy_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._abandoned: list[threading.Thread] = []  # applies left behind by a timeout or a newer commit
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
            summaries = {e.name: enterprise_summary(specs, e.name) for e in specs.catalog.enterprises()}
        except SpecError as e:
            self._rejected(log, commit, [relative(d.render(), path) for d in e.diagnostics])
            return False
        except ControllerError as e:
            self._rejected(log, commit, [relative(str(e), path)])
            return False
        digests = {n: d for n, (d, _) in summaries.items()}
        with self._lock:
            old = self.tree
            self.tree = Tree(commit, specs, digests, counts={n: c for n, (_, c) in summaries.items()})
            self.rejected = None
            before = old.digests if old else {}
            changed = sorted(n for n, d in digests.items() if before.get(n) != d)
            removed = sorted(set(before) - set(digests))
            for n in removed:
                self.states.pop(n, None)
            for n in changed:  # a reconcile of an older commit stops starting objects, at once
                run = self.runs.get(n)
                if run is not None and run.commit != commit:
                    run.supersede(commit)
        self.metrics.trees.inc()
        self.metrics.set_tree_commit(commit)
        log.info("tree_loaded", enterprises=len(digests), changed=changed, removed=removed)
        self.events.appendleft(Record(time.time(), "loaded", f"commit {short(commit)} loaded: "
                                      f"{len(changed)} of {len(digests)} enterprise(s) changed", commit))
        for n in removed:
            self.queue.discard(n)
        if self.leases:
            self.leases.set_wanted(set(digests))
        for n in changed:
            self.queue.reset(n)  # a newer commit replaces a failing one: no backoff left over
        return True

    def _rejected(self, log: Any, commit: str, errors: list[str]) -> None:
        in_force = self.tree.commit if self.tree else None
        self.metrics.invalid_trees.inc()
        log.error("tree_invalid", errors=len(errors), diagnostics=errors, in_force=in_force)
        self.rejected = Rejected(commit, errors, time.time(), in_force)
        self.events.appendleft(Record(time.time(), "rejected", f"commit {short(commit)} rejected: {len(errors)} "
                                      f"error(s); {short(in_force)} stays in force", commit))
        first = errors[:10]
        text = (f":no_entry: commit {short(commit)} rejected ({len(errors)} error(s)); "
                f"{'commit ' + short(in_force) if in_force else 'nothing'} stays in force:\n"
                + "\n".join(f"• {slack_escape(x)}" for x in first)
                + (f"\n… and {len(errors) - len(first)} more" if len(errors) > len(first) else ""))
        self.notifier.emit("commit_rejected", text, commit=commit, in_force=in_force, error_count=len(errors),
                           errors=errors[:50])

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
        self.notifier.start()
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
        lease_loop = [t for t in self._threads if t.name == "leases"]
        for t in [*self._threads, *self._abandoned]:  # abandoned applies finish the objects they started
            if t not in lease_loop:
                t.join(None if deadline is None else max(0.1, deadline - time.monotonic()))
        if self.leases:
            # a tick in flight (renewing hundreds of leases on a slow table) is not waited for past one
            # interval: the releases below are conditional on the fence, so a late renewal cannot undo them
            for t in lease_loop:
                t.join(self.leases.interval)
            self.leases.release_all(within=self.leases.interval)
        self.notifier.stop()

    def _resync_loop(self) -> None:
        while True:
            wait = self.opts.resync * random.uniform(0.9, 1.1)
            self.next_resync = time.time() + wait
            if self.stopping.wait(wait):
                return
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
        p = tree.enterprises[name].spec.policies
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
            st = self.states.setdefault(name, EnterpriseState())
            st.last_started = time.time()
            run = Run(name, tree.commit, self.opts.reconcile_timeout)
            with self._lock:
                self.runs[name] = run
            log.info("reconcile_started", t=time.time())
            try:
                result = self._reconcile(name, tree, log, run)
            except Exception as e:
                delay = self.queue.add_rate_limited(name)
                label = getattr(e, "result", "error")
                msg = str(e) if isinstance(e, ControllerError) else f"{type(e).__name__}: {e}"
                st.last_result, st.last_error = label, msg
                st.reconciles += 1
                self.metrics.reconciles.labels(name, label).inc()
                self.metrics.errors.labels(name, "reconcile").inc()
                log.error("reconcile_failed", error=msg, result=label, retry_in=round(delay, 1), t=time.time())
                self._failed(name, st, tree.commit, label, msg, delay)
                return
            finally:
                with self._lock:
                    self.runs.pop(name, None)
                st.last_finished = time.time()
                st.last_seconds = time.monotonic() - started
                self.metrics.duration.labels(name).observe(time.monotonic() - started)
            if result not in ("interrupted", "superseded"):
                self.queue.forget(name)
            elif result == "interrupted" and not self.stopping.is_set():
                self.queue.add_after(name, 1.0)  # the lease wavered, or an object was busy: try again soon
            st.last_result, st.last_error = result, ""
            st.reconciles += 1
            self.metrics.reconciles.labels(name, result).inc()
            log.info("reconcile_finished", result=result, seconds=round(time.monotonic() - started, 3),
                     t=time.time())
            if result == "superseded":
                self._record(st, "superseded", "stopped: a newer commit superseded it", tree.commit)

    def _session(self, st: EnterpriseState, tree: Tree, name: str) -> Session:
        ent = tree.enterprises[name]
        key = ent.spec.model_dump_json()
        if st.session is None or st.session_key != key:
            st.session = Session.open(tree.specs.catalog, [name], parallelism=self.opts.parallelism)
            st.session_key = key
        return st.session

    def _stop_reason(self, name: str, run: Run) -> Callable[[], str | None]:
        """Why to start no new object now: stopping, the lease lost or about to lapse, a newer commit,
        the deadline (None: go on)."""
        leases = self.leases

        def why() -> str | None:
            if self.stopping.is_set():
                return "the daemon is stopping"
            if name in self.lost or (leases is not None and leases.holds(name) is None):
                return "the lease is no longer held"
            return run.abandon_reason()

        return why

    def _wait(self, run: Run, done: threading.Event, grace: float) -> str | None:
        """Wait for `done` (no polling: the run's condition is notified when it is set and when the run is
        superseded); give up `grace` seconds after the run was superseded or timed out, and say why."""
        reason = None
        with run.cond:
            while not done.is_set():
                reason = run.abandon_reason()
                if reason is not None:
                    break
                run.cond.wait(max(0.0, run.deadline - time.monotonic()) + 0.01)
        if done.is_set() or done.wait(grace):
            return None
        return reason

    def _reconcile(self, name: str, tree: Tree, log: Any, run: Run) -> str:
        st = self.states.setdefault(name, EnterpriseState())
        pol = self.policies(tree, name)
        self._suspension(name, st, pol.suspend, tree.commit)

        def make() -> Any:
            try:
                session = self._session(st, tree, name)
            except Exception:
                st.session = None
                raise
            session.counter.reset()  # the session lives across reconciles: count this plan's calls only
            return make_plan(tree.specs, name, self.opts.parallelism, session)

        # observing only reads: a stuck or superseded one is left behind (its answer is dropped)
        done, box = run.in_thread(make, f"plan-{name}")
        abandoned = self._wait(run, done, 0.0)
        if abandoned:
            if run.superseded_by:
                return "superseded"
            raise ReconcileTimedOut(f"timed out after {run.timeout:g} s while observing AWS (--reconcile-timeout); "
                                    "nothing was changed")
        if "error" in box:
            raise box["error"]
        planned = box["value"]
        digest = tree.digests[name]
        new_commit = st.applied_digest != digest
        changes = planned.plan.changes
        st.plan, st.plan_at, st.plan_commit = planned.plan, time.time(), tree.commit
        st.withheld = []
        if planned.plan.has_changes:
            st.drift, st.drift_at, st.drift_commit = planned.plan, st.plan_at, tree.commit
        if not pol.prune:
            pruned = [c for c in changes if c.cause == Cause.NOT_IN_SPECS]
            for c in pruned:
                self.metrics.withheld.labels(name, "delete", "prune").inc()
                log.warning("prune_withheld", address=c.id, action="delete", aws_id=c.aws_id,
                            reason=f"{c.reason}; prune is off, so it is kept")
                st.withheld.append((c, "prune"))
            changes = [c for c in changes if c.cause != Cause.NOT_IN_SPECS]
        actionable = [c for c in changes if c.action != Action.NOOP]
        if actionable and not new_commit:
            self.metrics.drift.labels(name).inc(len(actionable))
            for c in actionable:
                log.warning("drift_found", address=c.id, action=c.action, reason=c.reason)
            self._drift(name, st, actionable, tree.commit)
        else:
            st.notified.pop("drift_found", None)
        if pol.suspend:
            for c in actionable:
                self.metrics.withheld.labels(name, c.action, "suspend").inc()
                log.info("change_withheld", address=c.id, action=c.action, reason=c.reason, policy="suspend")
                st.withheld.append((c, "suspend"))
            return "suspended"
        if actionable and not new_commit and not pol.self_heal:
            for c in actionable:
                self.metrics.withheld.labels(name, c.action, "selfHeal").inc()
                st.withheld.append((c, "selfHeal"))
            log.warning("drift_reported", changes=len(actionable), policy="selfHeal off: not reverted")
            return "drift_reported"
        plan = dataclasses.replace(planned.plan, changes=changes)
        try:
            check_plan(plan, self.opts.max_deletes, allow_deletes=False)
        except DeleteLimitError as e:  # the daemon's own knob, named for the operator
            raise ControllerError(f"{e} (the daemon's --max-deletes is {e.limit})") from None
        if actionable:
            if self._stop_reason(name, run)():
                if run.superseded_by:
                    return "superseded"
                if run.overdue() and not self.stopping.is_set():
                    raise ReconcileTimedOut(f"timed out after {run.timeout:g} s before applying "
                                            "(--reconcile-timeout); nothing was changed")
                return "interrupted"
            run.applying = True
            result = self._apply(name, st, tree, planned, changes, actionable, run, log)
            if result is not None:
                return result
        st.applied_digest = digest
        st.commit = tree.commit
        st.last_success = time.time()
        st.notified.pop("apply_failed", None)
        self.metrics.set_commit(name, tree.commit)
        self.metrics.last_success.labels(name).set(st.last_success)
        if not actionable and st.last_result not in ("success", ""):
            self._record(st, "reconciled", "in sync", tree.commit)
        return "success"

    def _apply(self, name: str, st: EnterpriseState, tree: Tree, planned: Any, changes: list[Change],
               actionable: list[Change], run: Run, log: Any) -> str | None:
        """Apply; None when every change was made, else the result (or raise the failure)."""
        finished: list[Outcome] = []
        with self._busy_lock:
            busy = self.busy.setdefault(name, set())
        applier = DaemonApplier(planned.session, planned.graph, planned.observed, self.opts.parallelism,
                                on_event=finished.append, cancelled=self._stop_reason(name, run),
                                commit=tree.commit, busy=busy, busy_lock=self._busy_lock)
        done, box = run.in_thread(lambda: applier.apply(changes), f"apply-{name}")
        abandoned = self._wait(run, done, ABANDON_GRACE)
        if abandoned:  # report what is known now; the objects still running finish on their own
            self._abandoned = [t for t in self._abandoned if t.is_alive()] + [box["thread"]]
            with self._busy_lock:
                running = dict(applier.running)
            seen = {o.id for o in finished}
            outcomes = [o for o in finished if o.action] + [
                Outcome(i, a, "running", "still being changed when the reconcile stopped; its result shows "
                        "on the next reconcile") for i, a in sorted(running.items())]
            outcomes += [Outcome(c.id, c.action, "skipped", f"not started: {abandoned}") for c in actionable
                         if c.id not in seen and c.id not in running]
            report = Report(outcomes=outcomes, seconds=time.monotonic() - run.started)
        elif "error" in box:
            raise box["error"]
        else:
            report = box["value"]
        self._outcomes(st, report, tree.commit)
        for o in report.outcomes:
            if o.status == "done":
                self.metrics.actions.labels(name, o.action).inc()
            elif o.status == "failed":
                self.metrics.errors.labels(name, "object").inc()
        stopped = abandoned or applier.stopped_because
        if stopped and run.superseded_by:
            log.warning("reconcile_superseded", by=run.superseded_by, **self._tally(report))
            return "superseded"
        if stopped and run.overdue():
            tally = self._tally(report)
            log.warning("reconcile_timed_out", timeout=run.timeout, **tally)
            st.apply_note = f"timed out after {run.timeout:g} s"
            raise ReconcileTimedOut(
                f"timed out after {run.timeout:g} s (--reconcile-timeout): {len(tally['done'])} done, "
                f"{len(tally['failed'])} failed, {len(tally['running'])} still running, "
                f"{len(tally['not_started'])} not started")
        if report.failed:
            first = report.failed[0]
            raise ReconcileFailed(f"{len(report.failed)} object(s) failed, {len(report.skipped)} skipped; "
                                  f"first: {first.detail}")
        if applier.interrupted:
            log.warning("reconcile_interrupted", done=sum(o.status == "done" for o in report.outcomes),
                        skipped=len(report.skipped))
            return "interrupted"
        log.info("applied", **report.counts())
        self._applied(name, st, report, tree.commit)
        return None

    @staticmethod
    def _tally(report: Report) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"done": [], "failed": [], "running": [], "not_started": []}
        for o in report.outcomes:
            key = {"done": "done", "failed": "failed", "running": "running"}.get(o.status, "not_started")
            out[key].append(o.id)
        return out

    # -- what the dashboard and the notifications say

    def _record(self, st: EnterpriseState, kind: str, text: str, commit: str | None) -> None:
        st.events.appendleft(Record(time.time(), kind, text, commit))

    def _once(self, st: EnterpriseState, event: str, fingerprint: str) -> bool:
        """True if this event differs from the last one of its type sent for the enterprise."""
        if st.notified.get(event) == fingerprint:
            return False
        st.notified[event] = fingerprint
        return True

    def _outcomes(self, st: EnterpriseState, report: Report, commit: str) -> None:
        st.outcomes = [o for o in report.outcomes if o.action]
        st.apply_at, st.apply_commit, st.apply_note = time.time(), commit, ""

    def _suspension(self, name: str, st: EnterpriseState, suspend: bool, commit: str) -> None:
        before, st.suspended = st.suspended, suspend
        if suspend and before is not True:
            self._record(st, "suspended", "suspended: observed and reported, never changed", commit)
            self.notifier.emit("enterprise_suspended", f":pause_button: {name}: suspended (observed and reported, "
                               "never changed)", enterprise=name, commit=commit)
        elif not suspend and before is True:
            self._record(st, "resumed", "resumed: changes are made again", commit)
            self.notifier.emit("enterprise_resumed", f":arrow_forward: {name}: resumed", enterprise=name,
                               commit=commit)

    def _drift(self, name: str, st: EnterpriseState, actionable: list[Change], commit: str) -> None:
        addresses = [f"{c.address} ({c.action})" for c in actionable]
        st.drift_found_at, st.drift_found = time.time(), len(actionable)
        self._record(st, "drift", f"drift found in {len(actionable)} object(s): " + ", ".join(addresses[:5])
                     + (f" and {len(addresses) - 5} more" if len(addresses) > 5 else ""), commit)
        if not self._once(st, "drift_found", "|".join(sorted(addresses))):
            return
        lines = [f"• {slack_escape(c.address)} ({c.action}): {slack_escape(c.reason)}" for c in actionable[:20]]
        more = f"\n… and {len(actionable) - 20} more" if len(actionable) > 20 else ""
        self.notifier.emit("drift_found", f":warning: {name}: drift found in {len(actionable)} object(s) at commit "
                           f"{short(commit)}:\n" + "\n".join(lines) + more, enterprise=name, commit=commit,
                           changes=[change_json(c) for c in actionable])

    def _applied(self, name: str, st: EnterpriseState, report: Report, commit: str) -> None:
        counts = report.counts()
        done = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing"
        self._record(st, "applied", f"applied commit {short(commit)}: {done}", commit)
        self.notifier.emit("apply_done", f":white_check_mark: {name}: applied commit {short(commit)}: {done}",
                           enterprise=name, commit=commit, counts=counts,
                           changes=[{"address": o.id, "action": o.action, "aws_id": o.aws_id}
                                    for o in report.outcomes if o.status == "done" and o.action])

    def _failed(self, name: str, st: EnterpriseState, commit: str, label: str, msg: str, delay: float) -> None:
        self._record(st, "timed_out" if label == "timed_out" else "failed", f"{msg} (retry in {delay:.0f} s)",
                     commit)
        fresh = st.apply_at is not None and st.last_started is not None and st.apply_at >= st.last_started
        outcomes = st.outcomes if fresh else []  # this reconcile's apply, if it got that far
        failures = [{"address": o.id, "action": o.action, "error": o.detail} for o in outcomes
                    if o.status == "failed"]
        not_done = [{"address": o.id, "action": o.action, "status": o.status, "detail": o.detail}
                    for o in outcomes if o.status in ("skipped", "running")]
        if not self._once(st, "apply_failed", msg):
            return
        lines = [f"• {slack_escape(f['address'])}: {slack_escape(f['error'])}" for f in failures[:10]]
        self.notifier.emit("apply_failed", f":x: {name}: reconcile of commit {short(commit)} failed: "
                           f"{slack_escape(msg)}" + ("\n" + "\n".join(lines) if lines else "")
                           + f"\nretrying in {delay:.0f} s", enterprise=name, commit=commit, error=msg,
                           timed_out=label == "timed_out", failures=failures, not_done=not_done,
                           retry_in=round(delay, 1))

    # -- status

    def sync_status(self, name: str, tree: Tree, st: EnterpriseState | None) -> tuple[str, str]:
        """(status, why) of one enterprise; see docs/daemon.md for what each status means."""
        pol = self.policies(tree, name)
        if pol.suspend:
            n = len(st.withheld) if st else 0
            return "Suspended", f"{n} change(s) withheld" if n else "observed and reported only"
        run = self.runs.get(name)
        if run is not None and run.applying:
            return "Progressing", "applying changes now"
        if st is None or not st.last_result:
            return "Progressing", "first reconcile under way" if run else "waiting for its first reconcile"
        if st.applied_digest != tree.digests.get(name) and st.last_result not in ("error", "timed_out"):
            return "Progressing", ("reconciling commit " + short(tree.commit) if run
                                   else "a new desired state is waiting for a worker")
        if st.last_result in ("error", "timed_out"):
            return "Failed", st.last_error
        if st.withheld:
            policies = sorted({p for _, p in st.withheld})
            return "OutOfSync", f"{len(st.withheld)} change(s) not made ({', '.join(policies)})"
        if st.last_result == "interrupted":
            return "Progressing", "interrupted; retried"
        return "Synced", ""

    def status(self) -> dict[str, Any]:
        tree = self.tree
        held = set(self.leases.owned()) if self.leases else None
        delayed = self.queue.delayed()
        ents: dict[str, Any] = {}
        for n in sorted(tree.digests if tree else []):
            assert tree is not None
            st = self.states.get(n)
            cur = st or EnterpriseState()
            sync, why = self.sync_status(n, tree, st)
            ents[n] = {"sync_status": sync, "sync_detail": why or None,
                       "commit": cur.commit, "last_result": cur.last_result or None,
                       "last_error": cur.last_error or None, "last_success": cur.last_success,
                       "last_reconcile": cur.last_finished, "reconciles": cur.reconciles,
                       "backoff_failures": self.queue.failures(n),
                       "retry_in": round(delayed[n], 1) if n in delayed else None,
                       "objects": tree.counts.get(n, {}),
                       "lease_held": (n in held) if held is not None else None}
        rej = self.rejected
        return {"ready": self.ready, "commit": tree.commit if tree else None,
                "rejected": {"commit": rej.commit, "errors": rej.errors[:20], "error_count": len(rej.errors)}
                if rej else None,
                "next_resync": self.next_resync,
                "owner": self.leases.table.owner if self.leases else None,
                "replicas": self.leases.replicas if self.leases else None,
                "queue": len(self.queue), "enterprises": ents}


def change_json(c: Change) -> dict[str, Any]:
    """A change as notifications carry it: its address, action, typed cause, the reason for people, and
    the paths of the fields that differ."""
    return {"address": c.address, "action": str(c.action), "cause": str(c.cause), "reason": c.reason,
            "fields": [f.path for f in c.fields]}
