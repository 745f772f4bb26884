"""Per-enterprise leases in a DynamoDB table, so replicas (and `controller apply`) never act on one
enterprise at once.

One item per enterprise: {enterprise, owner, expires_at, fence, state}. Every write is conditional:

- acquire: update_item (creating the item if missing) with
  ``attribute_not_exists(enterprise) OR expires_at < :now OR owner = :me``; it sets the owner and
  expiry and ADDs 1 to ``fence``, so every change of hands gets a higher fence number.
- renew (heartbeat, every third of the lease period): ``owner = :me AND fence = :fence``. A failed
  renew means the lease was taken over: the holder stops acting on that enterprise.
- release: ``owner = :me``; sets expires_at to 0 and state to ``released`` (the fence is kept).

Replicas also keep a membership item (``enterprise = "~replica/<owner>"``) so each knows how many
live replicas share the work and takes at most its fair share of released enterprises. Expired
leases (a replica died) are taken over by the next heartbeat of any replica, whatever its share.

Expiry uses wall-clock time (epoch seconds): replicas' clocks are assumed to agree to well within
the lease period (NTP).
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from controller.errors import ConfigError
from controller.logs import get_logger

REPLICA_PREFIX = "~replica/"


def new_owner(prefix: str = "") -> str:
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Lease:
    enterprise: str
    owner: str
    expires_at: float
    fence: int


class Held(ConfigError):
    """The lease is held by someone else."""

    def __init__(self, enterprise: str, holder: str, expires_at: float, table: str):
        self.enterprise, self.holder, self.expires_at = enterprise, holder, expires_at
        left = max(0.0, expires_at - time.time())
        super().__init__(f"enterprise {enterprise!r} is being reconciled by {holder} (lease in DynamoDB table "
                         f"{table}, expires in {left:.0f} s unless renewed); nothing was changed. Try again "
                         "later, or stop that process")


def _is_conditional(e: botocore.exceptions.ClientError) -> bool:
    return e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class LeaseTable:
    """The DynamoDB calls; no policy."""

    def __init__(self, table: str, region: str | None = None, owner: str | None = None):
        region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        self.name = table
        self.owner = owner or new_owner()
        cfg = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=10)
        self.ddb = boto3.session.Session().client("dynamodb", region_name=region, config=cfg)

    def ensure(self) -> None:
        try:
            self.ddb.describe_table(TableName=self.name)
            return
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise ConfigError(f"cannot read lease table {self.name}: {e}") from None
        try:
            self.ddb.create_table(TableName=self.name, BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=[{"AttributeName": "enterprise", "AttributeType": "S"}],
                                  KeySchema=[{"AttributeName": "enterprise", "KeyType": "HASH"}])
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ResourceInUseException":  # another replica won
                raise ConfigError(f"cannot create lease table {self.name}: {e}") from None
        self.ddb.get_waiter("table_exists").wait(TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    def acquire(self, enterprise: str, seconds: float, state: str = "held") -> Lease | dict[str, Any]:
        """The lease, or the current item (holder) when someone else holds it."""
        now = time.time()
        try:
            r = self.ddb.update_item(
                TableName=self.name, Key={"enterprise": {"S": enterprise}},
                UpdateExpression="SET #o = :me, expires_at = :exp, #s = :state, acquired_at = :now ADD fence :one",
                ConditionExpression="attribute_not_exists(enterprise) OR expires_at < :now OR #o = :me",
                ExpressionAttributeNames={"#o": "owner", "#s": "state"},
                ExpressionAttributeValues={":me": {"S": self.owner}, ":exp": {"N": _num(now + seconds)},
                                           ":now": {"N": _num(now)}, ":one": {"N": "1"},
                                           ":state": {"S": state}},
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except botocore.exceptions.ClientError as e:
            if _is_conditional(e):
                return _plain(e.response.get("Item") or {})
            raise
        item = _plain(r["Attributes"])
        return Lease(enterprise, self.owner, float(item["expires_at"]), int(item["fence"]))

    def renew(self, lease: Lease, seconds: float) -> bool:
        exp = time.time() + seconds
        try:
            self.ddb.update_item(
                TableName=self.name, Key={"enterprise": {"S": lease.enterprise}},
                UpdateExpression="SET expires_at = :exp",
                ConditionExpression="#o = :me AND fence = :fence",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}, ":exp": {"N": _num(exp)},
                                           ":fence": {"N": str(lease.fence)}})
        except botocore.exceptions.ClientError as e:
            if _is_conditional(e):
                return False
            raise
        lease.expires_at = exp
        return True

    def release(self, lease: Lease) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.name, Key={"enterprise": {"S": lease.enterprise}},
                UpdateExpression="SET expires_at = :zero, #s = :released",
                ConditionExpression="#o = :me AND fence = :fence",
                ExpressionAttributeNames={"#o": "owner", "#s": "state"},
                ExpressionAttributeValues={":me": {"S": self.owner}, ":zero": {"N": "0"},
                                           ":fence": {"N": str(lease.fence)}, ":released": {"S": "released"}})
        except botocore.exceptions.ClientError as e:
            if _is_conditional(e):
                return False
            raise
        return True

    def heartbeat_member(self, seconds: float) -> None:
        self.ddb.put_item(TableName=self.name, Item={
            "enterprise": {"S": REPLICA_PREFIX + self.owner}, "owner": {"S": self.owner},
            "expires_at": {"N": _num(time.time() + seconds)}, "state": {"S": "member"}})

    def leave(self) -> None:
        self.ddb.delete_item(TableName=self.name, Key={"enterprise": {"S": REPLICA_PREFIX + self.owner}})

    def scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.name, ConsistentRead=True):
            items.extend(_plain(i) for i in page.get("Items", []))
        return items


def _num(x: float) -> str:
    return f"{x:.3f}"


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if "S" in v:
            out[k] = v["S"]
        elif "N" in v:
            out[k] = Decimal(v["N"])
    return out


class LeaseKeeper:
    """A replica's side: which enterprises it holds. tick() runs every third of the lease period.

    The daemon calls set_wanted() with the enterprises of the current tree, holds(e) before it
    reconciles e, and busy_lock(e) around a reconcile so a lease is never released mid-reconcile.
    """

    def __init__(self, table: LeaseTable, seconds: float, on_acquired: Callable[[str], None],
                 on_lost: Callable[[str], None]):
        self.table = table
        self.seconds = seconds
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        self.held: dict[str, Lease] = {}
        self.wanted: set[str] = set()
        self.replicas = 1
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}
        self._ticks = 0
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lease")
        self.log = get_logger(owner=table.owner, lease_table=table.name)

    @property
    def interval(self) -> float:
        return self.seconds / 3

    def set_wanted(self, names: set[str]) -> None:
        with self._lock:
            self.wanted = set(names)

    def busy_lock(self, enterprise: str) -> threading.Lock:
        with self._lock:
            return self._busy.setdefault(enterprise, threading.Lock())

    def holds(self, enterprise: str) -> Lease | None:
        """The lease, if held with at least a third of the period left."""
        with self._lock:
            lease = self.held.get(enterprise)
        if lease is None or lease.expires_at - time.time() < self.seconds / 3:
            return None
        return lease

    def owned(self) -> list[str]:
        with self._lock:
            return sorted(self.held)

    def tick(self) -> None:
        self._ticks += 1
        # new leases are taken only in the first half of a tick's interval: on a slow table, a tick that
        # went on acquiring hundreds would outlast the leases it took first (they expire before the next
        # tick renews them); the rest are taken by the next ticks
        until = time.monotonic() + self.interval / 2
        # renew first, all at once: a held lease must never lapse because other calls were slow
        held = sorted(self.owned_leases().items())
        if held:
            renewed = list(self._pool.map(lambda kv: self.table.renew(kv[1], self.seconds), held))
            for (name, lease), ok in zip(held, renewed, strict=True):
                if not ok:
                    with self._lock:
                        self.held.pop(name, None)
                    self.log.warning("lease_lost", enterprise=name, fence=lease.fence, t=time.time(),
                                     expired_at=lease.expires_at)
                    self.on_lost(name)
        self.table.heartbeat_member(self.seconds)
        items = self.table.scan()
        now = time.time()
        self.replicas = max(1, sum(1 for i in items if i["enterprise"].startswith(REPLICA_PREFIX)
                                   and float(i.get("expires_at", 0)) > now))
        with self._lock:
            wanted = set(self.wanted)
        share = math.ceil(len(wanted) / self.replicas) if wanted else 0
        # enterprises that left the tree, then the excess over the fair share, are released
        for name in sorted(set(self.owned_leases()) - wanted):
            self._release(name, "not in the specs")
        excess = len(self.owned_leases()) - share
        if excess > 0:
            for name in sorted(self.owned_leases(), key=lambda n: hash((self.table.owner, n)))[:excess]:
                self._release(name, "rebalance")
        if self._ticks == 1:
            return  # let every replica started with us register before taking a share
        by_name = {i["enterprise"]: i for i in items}
        orphans, free = [], []
        for name in wanted - set(self.owned_leases()):
            item = by_name.get(name)
            if item is None or item.get("state") == "released":
                free.append(name)
            elif float(item.get("expires_at", 0)) < now:
                orphans.append(name)  # its holder died: take it over now, whatever the share
        # orphans (a takeover must be quick) whatever the share, then released ones up to the fair share
        self._acquire_all(orphans, takeover=True, until=until)
        random.shuffle(free)
        self._acquire_all(free[:max(0, share - len(self.owned_leases()))], takeover=False, until=until)

    def _acquire_all(self, names: list[str], takeover: bool, until: float) -> None:
        """All at once: one at a time, a slow endpoint made a tick outlast the leases it had just taken.
        A name lost to another replica's race is simply not held (a later tick looks again); so is one
        not tried before `until` (monotonic time)."""
        def take(n: str) -> Lease | dict[str, Any] | None:
            if time.monotonic() > until:
                return None
            return self.table.acquire(n, self.seconds)

        for name, got in zip(names, self._pool.map(take, names), strict=True):
            if isinstance(got, Lease):
                with self._lock:
                    self.held[name] = got
                self.log.info("lease_acquired", enterprise=name, fence=got.fence, t=time.time(), takeover=takeover)
                self.on_acquired(name)

    def owned_leases(self) -> dict[str, Lease]:
        with self._lock:
            return dict(self.held)

    def _release(self, name: str, why: str) -> None:
        lock = self.busy_lock(name)
        if not lock.acquire(blocking=False):
            return  # reconciling it right now: release on a later tick
        try:
            with self._lock:
                lease = self.held.pop(name, None)
            if lease is not None:
                self.log.info("lease_released", enterprise=name, fence=lease.fence, t=time.time(), why=why)
                self.table.release(lease)
        finally:
            lock.release()

    def release_all(self, within: float | None = None) -> None:
        """Release every held lease (at shutdown), all at once, so the other replicas take them over now
        rather than when they expire. Leases still unreleased after `within` seconds are left to expire:
        a shutdown must not wait on a slow table (hundreds of conditional writes, one at a time, were a
        minute and more)."""
        names = self.owned()
        deadline = None if within is None else time.monotonic() + within

        def release(name: str) -> bool:
            if deadline is not None and time.monotonic() > deadline:
                return False
            with self.busy_lock(name):
                with self._lock:
                    lease = self.held.pop(name, None)
                if lease is None:
                    return True
                self.log.info("lease_released", enterprise=name, fence=lease.fence, t=time.time(), why="shutdown")
                try:
                    self.table.release(lease)
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                    self.log.warning("lease_release_failed", enterprise=name, error=str(e))
                return True

        left = sum(1 for ok in self._pool.map(release, names) if not ok)
        if left:
            self.log.warning("leases_left_to_expire", count=left, seconds=self.seconds)
        try:
            self.table.leave()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            pass


@contextmanager
def cli_leases(table_name: str, names: list[str], seconds: float = 30.0, region: str | None = None
               ) -> Iterator[None]:
    """`controller apply --lease-table`: hold every enterprise's lease for the whole apply, or refuse."""
    table = LeaseTable(table_name, region, owner=new_owner("apply:"))
    table.ensure()
    got: list[Lease] = []
    stop = threading.Event()
    try:
        for name in names:
            r = table.acquire(name, seconds)
            if not isinstance(r, Lease):
                raise Held(name, str(r.get("owner", "?")), float(r.get("expires_at", 0)), table_name)
            got.append(r)

        def beat() -> None:
            while not stop.wait(seconds / 3):
                for lease in got:
                    table.renew(lease, seconds)

        t = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        t.start()
        yield
    finally:
        stop.set()
        for lease in got:
            try:
                table.release(lease)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                pass
