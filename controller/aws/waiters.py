"""Batched waits: many objects of one type waited on with one describe call per poll.

Per-object waiters are what hits AWS's rate limits first: 500 volumes waited on one by one at a
one-second poll are 500 Describe calls a second. Here every wait for objects of one type, in one
enterprise and region, joins one poller: whichever waiting thread finds a poll due makes it, for all
the ids due at once (an id filter, up to 200 ids a call), and every waiter reads its own object in
the answer. A poll starts as soon as none is in flight, so a lone wait costs what it did; waits that
overlap (parallel creates) share polls. An object not ready yet is polled again with backoff (0.5 s,
x1.5, at most 10 s); an id the answer lacks is "not visible yet" (eventual consistency), not an error.

Nothing here knows a kind: a kind passes its AwsFacts (service, describe call, result key, id field,
and the filter that selects by AWS id) and its ready / failed tests. Polls are read calls of the query
layer (`pages`: retried on throttling and transient errors).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.aws.query import AwsFacts, pages
from controller.aws.session import AwsContext
from controller.errors import ResourceError

MAX_IDS = 200  # EC2 filter values per call
FIRST_DELAY, FACTOR, MAX_DELAY = 0.5, 1.5, 10.0
BATCH_SLACK = 0.25  # a poll also takes the waits due within this many seconds


@dataclass
class _Wait:
    aws_id: str
    address: str
    what: str
    ready: Callable[[dict[str, Any]], bool]
    failed: Callable[[dict[str, Any]], str | None]
    timeout: float
    deadline: float
    absent_ok: bool = False  # a delete's wait: an id the answer lacks is gone (AWS forgets deleted objects)
    due: float = 0.0
    delay: float = FIRST_DELAY
    done: bool = False
    result: dict[str, Any] | None = None
    error: ResourceError | None = None


@dataclass
class _Poller:
    ctx: AwsContext
    region: str
    facts: AwsFacts
    cond: threading.Condition = field(default_factory=threading.Condition)
    waits: list[_Wait] = field(default_factory=list)
    polling: bool = False
    polls: int = 0

    def fetch(self, ids: list[str], address: str) -> dict[str, dict[str, Any]]:
        f = self.facts
        assert f.adopt_filter, f"{f.describe}: waits need the describe filter that selects by AWS id"
        client = self.ctx.client(f.service, self.region)
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), MAX_IDS):
            items = pages(client, f.describe, f.key, address, f"wait ({f.describe})",
                          Filters=[{"Name": f.adopt_filter, "Values": ids[i:i + MAX_IDS]},
                                   *({"Name": name, "Values": list(values)} for name, values in f.wait_filters)])
            found.update((f.aws_id(item), item) for item in items)
        return found

    def run(self, w: _Wait) -> dict[str, Any]:
        with self.cond:
            self.waits.append(w)
            try:
                while not w.done:
                    now = time.monotonic()
                    pending = [x for x in self.waits if not x.done]
                    due = min(x.due for x in pending)
                    if self.polling or due > now:
                        self.cond.wait(timeout=None if self.polling else due - now)
                        continue
                    self.polling = True
                    # the waits that are due (or nearly): one that was just polled and is backing off is
                    # not asked for again each time another is due (ids per call stay near the waits due)
                    batch = [x for x in pending if x.due <= now + BATCH_SLACK]
                    self.cond.release()
                    try:
                        found: dict[str, dict[str, Any]] | None = self.fetch(sorted({x.aws_id for x in batch}),
                                                                             w.address)
                        error = None
                    except ResourceError as e:
                        found, error = None, e
                    finally:
                        self.cond.acquire()
                        self.polling = False
                        self.polls += 1
                    self._settle(batch, found, error)
                    self.cond.notify_all()
            finally:
                self.waits.remove(w)
        if w.error is not None:
            raise w.error
        assert w.result is not None
        return w.result

    @staticmethod
    def _settle(pending: list[_Wait], found: dict[str, dict[str, Any]] | None, error: ResourceError | None) -> None:
        now = time.monotonic()
        for x in pending:
            if error is not None:
                x.error, x.done = error, True
                continue
            item = (found or {}).get(x.aws_id)
            if item is not None:
                if x.ready(item):
                    x.result, x.done = item, True
                    continue
                reason = x.failed(item)
                if reason:
                    x.error, x.done = ResourceError(x.address, f"wait for {x.what}", "Failed", reason), True
                    continue
            elif x.absent_ok:
                x.result, x.done = {}, True
                continue
            if now > x.deadline:
                x.error = ResourceError(x.address, f"wait for {x.what}", "Timeout",
                                        f"not {x.what} after {x.timeout:.0f} s")
                x.done = True
                continue
            x.due = now + x.delay
            x.delay = min(x.delay * FACTOR, MAX_DELAY)


_POLLERS: dict[tuple[int, str, AwsFacts], _Poller] = {}
_LOCK = threading.Lock()


def wait_for(ctx: AwsContext, region: str, facts: AwsFacts, aws_id: str, address: str, what: str,
             ready: Callable[[dict[str, Any]], bool],
             failed: Callable[[dict[str, Any]], str | None] = lambda _: None, timeout: float = 600,
             absent_ok: bool = False) -> dict[str, Any]:
    """Block until the object `aws_id` is ready (its describe item), sharing polls with every other wait
    for objects of the same type, enterprise and region. Raises ResourceError naming `address` when the
    object fails, or is not ready after `timeout` seconds. absent_ok (waits for a delete): an id the
    answer lacks is gone, and the result is {}."""
    key = (id(ctx), region, facts)
    with _LOCK:
        poller = _POLLERS.get(key)
        if poller is None or poller.ctx is not ctx:
            poller = _POLLERS[key] = _Poller(ctx, region, facts)
    now = time.monotonic()
    w = _Wait(aws_id, address, what, ready, failed, timeout=timeout, deadline=now + timeout, absent_ok=absent_ok,
              due=now)
    try:
        return poller.run(w)
    finally:
        with _LOCK, poller.cond:  # no poller outlives its last wait: the table stays as small as the work
            if not poller.waits and _POLLERS.get(key) is poller:
                del _POLLERS[key]
