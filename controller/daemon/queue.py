"""A work queue of keys with client-go's semantics (util/workqueue), for level-triggered reconciles.

- A key is never handed to two workers at once: an add while the key is being processed marks it
  dirty, and it is queued again (once) when the worker calls done().
- Duplicate adds collapse: a key is in the queue at most once.
- add_after(key, delay): queue it later (the earliest pending time wins).
- add_rate_limited(key): queue it after its per-key exponential backoff (base * 2**failures, capped);
  forget(key) resets the backoff (call it on success, and when the key's desired state changes).
- shut_down(): get() returns None at once for every waiter; keys in flight finish normally.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, base_delay: float = 1.0, max_delay: float = 300.0, clock=time.monotonic):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()        # wanted: queued, or to be requeued when done
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}  # key -> when it becomes ready (earliest wins)
        self._heap: list[tuple[float, int, K]] = []
        self._seq = 0
        self._failures: dict[K, int] = {}
        self._shutting_down = False

    # -- adding

    def add(self, key: K) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._waiting.pop(key, None)  # ready now: a pending delayed add is superseded
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down or key in self._dirty:
                return
            at = self._clock() + delay
            if key in self._waiting and self._waiting[key] <= at:
                return
            self._waiting[key] = at
            self._seq += 1
            heapq.heappush(self._heap, (at, self._seq, key))
            self._cond.notify()

    def backoff(self, key: K) -> float:
        with self._cond:
            n = self._failures.get(key, 0)
        return min(self.max_delay, self.base_delay * (2 ** min(n, 32)))

    def add_rate_limited(self, key: K) -> float:
        """Requeue after the key's backoff; returns the delay used."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        delay = min(self.max_delay, self.base_delay * (2 ** min(n, 32)))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset the key's backoff."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def reset(self, key: K) -> None:
        """The key's desired state changed: drop its backoff and any delayed retry; queue it now."""
        with self._cond:
            self._failures.pop(key, None)
            self._waiting.pop(key, None)
            self._add_locked(key)

    def discard(self, key: K) -> None:
        """Stop tracking a key (it left the desired state): no queued or delayed run, no backoff."""
        with self._cond:
            self._failures.pop(key, None)
            self._waiting.pop(key, None)
            self._dirty.discard(key)
            try:
                self._queue.remove(key)
            except ValueError:
                pass

    # -- taking

    def _promote_due(self) -> float | None:
        """Move due delayed keys into the queue; return seconds until the next one (None: none)."""
        now = self._clock()
        while self._heap:
            at, _, key = self._heap[0]
            if self._waiting.get(key) != at:  # superseded or discarded
                heapq.heappop(self._heap)
                continue
            if at > now:
                return at - now
            heapq.heappop(self._heap)
            del self._waiting[key]
            self._add_locked(key)
        return None

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to process (mark it done() afterwards); None on shutdown or timeout."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                nxt = self._promote_due()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                wait = nxt
                if deadline is not None:
                    left = deadline - self._clock()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()

    # -- state

    def shut_down(self) -> None:
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self, key: K) -> bool:
        with self._cond:
            return key in self._processing

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def delayed(self) -> dict[K, float]:
        """Keys waiting for a delayed add, with seconds left."""
        with self._cond:
            now = self._clock()
            return {k: max(0.0, at - now) for k, at in self._waiting.items()}
