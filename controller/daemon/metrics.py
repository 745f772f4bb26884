"""Prometheus metrics of the daemon (served at /metrics). One registry per daemon, not the global one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.reconciles = Counter("controller_reconciles_total", "Reconciles of an enterprise, by result "
                                  "(success, error, timed_out, superseded, interrupted, drift_reported, suspended, skipped_no_lease)",
                                  ["enterprise", "result"], registry=r)
        self.duration = Histogram("controller_reconcile_duration_seconds", "Time to observe, plan and apply "
                                  "one enterprise", ["enterprise"], registry=r,
                                  buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
        self.drift = Counter("controller_drift_found_total", "Changes found on a resync with an unchanged "
                             "commit (drift made in AWS)", ["enterprise"], registry=r)
        self.actions = Counter("controller_actions_applied_total", "Objects changed in AWS, by action",
                               ["enterprise", "action"], registry=r)
        self.withheld = Counter("controller_actions_withheld_total", "Changes found but not made, by policy "
                                "(prune off, selfHeal off, suspend)", ["enterprise", "action", "policy"],
                                registry=r)
        self.errors = Counter("controller_errors_total", "Failed reconciles and failed objects", ["enterprise",
                              "stage"], registry=r)
        self.last_success = Gauge("controller_last_success_timestamp_seconds", "When the enterprise was last "
                                  "reconciled successfully (unix time)", ["enterprise"], registry=r)
        self.invalid_trees = Counter("controller_invalid_trees_total", "Spec trees (commits) that did not load "
                                     "or validate; the last good tree stayed in force", registry=r)
        self.trees = Counter("controller_trees_loaded_total", "Valid spec trees loaded", registry=r)
        self.commit = Gauge("controller_enterprise_commit_info", "1 for the commit the enterprise was last "
                            "reconciled at", ["enterprise", "commit"], registry=r)
        self.tree_commit = Gauge("controller_tree_commit_info", "1 for the commit of the tree in force",
                                 ["commit"], registry=r)
        self.leases = Gauge("controller_leases_held", "Enterprise leases this replica holds", registry=r)
        self.queue_depth = Gauge("controller_queue_depth", "Keys waiting in the work queue", registry=r)
        self.notifications = Counter("controller_notifications_total", "Notification events delivered, by "
                                     "receiver (scheme://host only)", ["receiver", "outcome"], registry=r)
        self.notifications_dropped = Counter("controller_notifications_dropped_total", "Notification events "
                                             "given up: queue_full (the receiver's queue was full) or "
                                             "undeliverable (every retry failed)", ["receiver", "reason"],
                                             registry=r)
        self.notification_retries = Counter("controller_notification_retries_total", "Notification deliveries "
                                            "retried", ["receiver"], registry=r)
        self.webhooks = Counter("controller_webhooks_total", "POST /hooks/git calls, by result (accepted, "
                                "unsigned, bad_signature, too_large, no_source)", ["result"], registry=r)
        self._commits: dict[str, str] = {}
        self._tree_commit: str | None = None

    def set_commit(self, enterprise: str, commit: str) -> None:
        old = self._commits.get(enterprise)
        if old == commit:
            return
        if old is not None:
            self.commit.remove(enterprise, old)
        self.commit.labels(enterprise, commit).set(1)
        self._commits[enterprise] = commit

    def set_tree_commit(self, commit: str) -> None:
        if self._tree_commit is not None and self._tree_commit != commit:
            self.tree_commit.remove(self._tree_commit)
        self.tree_commit.labels(commit).set(1)
        self._tree_commit = commit
