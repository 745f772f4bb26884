"""Notifications against local receivers: a live one, one that fails first, a dead one, a hanging one.
No AWS: the Notifier is what the daemon calls; the end-to-end path is in test_daemon_dashboard.py."""

from __future__ import annotations

import time

from controller.daemon.metrics import Metrics
from controller.daemon.notify import Notifier, receiver_name, slack_escape
from tests.receiver import Hanging, Receiver, dead_url
from tests.test_daemon import wait_for


def value(m: Metrics, name: str, **labels: str) -> float:
    got = m.registry.get_sample_value(name, labels)
    return got or 0.0


def test_every_event_reaches_a_live_receiver_in_order_while_a_dead_one_only_counts_drops():
    live, dead, hanging = Receiver(), dead_url(), Hanging()
    m = Metrics()
    n = Notifier([live.url, dead, hanging.url], m, attempts=2, backoff=0.05, timeout=1.0)
    n.start()
    try:
        started = time.monotonic()
        for i in range(20):
            n.emit("drift_found", f"drift {i}", enterprise="acme", commit="c1", changes=[{"address": f"a/{i}"}])
        emitting = time.monotonic() - started
        live.wait(lambda: len(live.events) == 20, 10, "20 events at the live receiver")
        assert [e["text"] for e in live.events] == [f"drift {i}" for i in range(20)]
        e = live.events[0]
        assert e["event"] == "drift_found" and e["enterprise"] == "acme" and e["commit"] == "c1"
        assert e["changes"] == [{"address": "a/0"}] and e["time"].endswith("Z")
        dead_name = receiver_name(dead)
        wait_for(lambda: value(m, "controller_notifications_dropped_total", receiver=dead_name,
                               reason="undeliverable") == 20, 20, "the dead receiver's 20 events dropped")
        assert value(m, "controller_notification_retries_total", receiver=dead_name) == 20  # one retry each
        assert value(m, "controller_notifications_total", receiver=receiver_name(live.url), outcome="sent") == 20
        # emitting never waited for any receiver (the hanging one holds its thread for seconds per event)
        assert emitting < 0.5, emitting
    finally:
        n.stop(timeout=0.5)
        live.stop()
        hanging.stop()


def test_a_full_queue_drops_new_events_and_counts_them_without_blocking():
    hanging = Hanging()
    m = Metrics()
    n = Notifier([hanging.url], m, queue_size=3, attempts=1, timeout=5.0)
    n.start()
    try:
        started = time.monotonic()
        for i in range(50):
            n.emit("apply_failed", f"failure {i}", enterprise="acme")
        assert time.monotonic() - started < 0.5
        dropped = value(m, "controller_notifications_dropped_total", receiver=receiver_name(hanging.url),
                        reason="queue_full")
        assert 46 <= dropped <= 47  # 3 queued, at most one taken by the sender thread
    finally:
        n.stop(timeout=0.2)
        hanging.stop()


def test_a_receiver_failing_at_first_gets_the_event_once_after_retries():
    flaky = Receiver(fail_first=2)
    m = Metrics()
    n = Notifier([flaky.url], m, attempts=4, backoff=0.05)
    n.start()
    try:
        n.emit("commit_rejected", "bad commit", commit="c2", errors=["x.yaml:1:1: error: boom"])
        flaky.wait(lambda: flaky.events, 10, "the event after two 503s")
        assert flaky.requests == 3 and len(flaky.events) == 1
        assert value(m, "controller_notification_retries_total", receiver=receiver_name(flaky.url)) == 2
    finally:
        n.stop()
        flaky.stop()


def test_receivers_are_named_without_their_secret_parts_and_text_is_slack_safe():
    assert receiver_name("https://user:pw@hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com"
    assert receiver_name("http://127.0.0.1:9000/a?token=1") == "http://127.0.0.1:9000"
    assert slack_escape("a <b> & c") == "a &lt;b&gt; &amp; c"
