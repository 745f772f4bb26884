"""The daemon's work queue: client-go workqueue semantics (no AWS)."""

from __future__ import annotations

import threading
import time

import pytest

from controller.daemon.queue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_duplicate_adds_collapse():
    q: WorkQueue[str] = WorkQueue()
    for k in ("a", "b", "a", "a", "b"):
        q.add(k)
    assert len(q) == 2
    assert [q.get(0), q.get(0), q.get(0)] == ["a", "b", None]


def test_add_while_processing_marks_dirty_and_requeues_once_after_done():
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")
    q.add("a")
    assert q.get(0) is None, "a key is never handed out twice at once"
    q.done("a")
    assert q.get(0) == "a"
    q.done("a")
    assert q.get(0) is None


def test_never_two_workers_on_one_key():
    q: WorkQueue[int] = WorkQueue()
    running: set[int] = set()
    overlaps = []
    lock = threading.Lock()

    def worker() -> None:
        while (k := q.get(0.5)) is not None:
            with lock:
                if k in running:
                    overlaps.append(k)
                running.add(k)
            time.sleep(0.001)
            with lock:
                running.discard(k)
            q.done(k)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for _ in range(200):
        for k in range(5):
            q.add(k)
    for t in threads:
        t.join()
    assert overlaps == []


@pytest.mark.parametrize("failures,expected", [(0, 1.0), (1, 2.0), (3, 8.0), (8, 256.0), (9, 300.0), (40, 300.0)],
                         ids=["first", "second", "fourth", "ninth", "capped", "far"])
def test_backoff_doubles_and_is_capped(failures, expected):
    q: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=300.0)
    for _ in range(failures):
        q.add_rate_limited("a")
    assert q.backoff("a") == expected


def test_rate_limited_add_waits_and_forget_resets():
    clock = Clock()
    q: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=10.0, clock=clock)
    assert q.add_rate_limited("a") == 1.0
    assert q.get(0) is None
    clock.now = 1.0
    assert q.get(0) == "a"
    q.done("a")
    assert q.add_rate_limited("a") == 2.0
    clock.now = 2.5
    assert q.get(0) is None
    clock.now = 3.0
    assert q.get(0) == "a"
    q.done("a")
    q.forget("a")
    assert q.failures("a") == 0 and q.backoff("a") == 1.0


def test_reset_replaces_a_failing_key_at_once():
    """A newer commit replaces a failing one: its backoff and delayed retry are dropped."""
    clock = Clock()
    q: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=300.0, clock=clock)
    for _ in range(6):
        q.add_rate_limited("a")
    assert q.delayed()["a"] > 0 and q.get(0) is None
    q.reset("a")
    assert q.get(0) == "a" and q.failures("a") == 0
    q.done("a")
    assert q.delayed() == {}
    clock.now = 1000
    assert q.get(0) is None, "the dropped delayed retry does not run"


def test_delayed_add_keeps_the_earliest_time_and_add_supersedes_it():
    clock = Clock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 5)
    q.add_after("a", 2)
    q.add_after("a", 9)
    clock.now = 2
    assert q.get(0) == "a"
    q.done("a")
    clock.now = 100
    assert q.get(0) is None
    q.add_after("b", 5)
    q.add("b")
    assert q.get(0) == "b"
    q.done("b")
    clock.now = 200
    assert q.get(0) is None


def test_shutdown_wakes_waiters_and_lets_in_flight_finish():
    q: WorkQueue[str] = WorkQueue()
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    time.sleep(0.05)
    q.add("a")
    t.join(2)
    assert got == ["a"]
    waiter = threading.Thread(target=lambda: got.append(q.get()))
    waiter.start()
    q.shut_down()
    waiter.join(2)
    assert got == ["a", None]
    q.add("b")
    q.done("a")
    assert q.get(0) is None


def test_discard_forgets_a_key():
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add_rate_limited("b")
    q.discard("a")
    q.discard("b")
    assert q.get(0) is None and q.delayed() == {} and q.failures("b") == 0
