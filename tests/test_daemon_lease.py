"""Leases in DynamoDB (controller/daemon/lease.py) and `controller apply --lease-table`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from controller.daemon.lease import Lease, LeaseKeeper, LeaseTable
from tests.helpers import enterprise_doc, write_specs
from tests.test_daemon import vdc_doc, vpcs


def test_acquire_renew_release_and_takeover_after_expiry(aws):
    a = LeaseTable("leases", owner="a")
    b = LeaseTable("leases", owner="b")
    a.ensure()
    b.ensure()  # the table exists: no error
    la = a.acquire("acme", 2)
    assert isinstance(la, Lease) and la.fence == 1
    held = b.acquire("acme", 2)
    assert not isinstance(held, Lease) and held["owner"] == "a", "a foreign acquire fails and names the holder"
    assert a.renew(la, 2)
    again = a.acquire("acme", 2)  # the owner may re-acquire
    assert isinstance(again, Lease) and again.fence == 2
    assert not a.renew(la, 2), "a renew with an old fence fails"
    # expiry: b takes it over with a higher fence; a's renew then fails
    a.ddb.update_item(TableName="leases", Key={"enterprise": {"S": "acme"}},
                      UpdateExpression="SET expires_at = :past", ExpressionAttributeValues={":past": {"N": "1"}})
    lb = b.acquire("acme", 2)
    assert isinstance(lb, Lease) and lb.fence == 3
    assert not a.renew(again, 2)
    assert not a.release(again), "only the holder releases"
    assert b.release(lb)
    la2 = a.acquire("acme", 2)
    assert isinstance(la2, Lease) and la2.fence == 4


def test_keeper_takes_a_fair_share_and_takes_over_a_dead_replica(aws):
    names = {f"e{i}" for i in range(6)}
    tables = [LeaseTable("leases", owner=o) for o in ("r1", "r2")]
    tables[0].ensure()
    events: list[tuple[str, str]] = []
    keepers = [LeaseKeeper(t, 3, lambda n, o=t.owner: events.append((o, n)), lambda n: None) for t in tables]
    for k in keepers:
        k.set_wanted(names)
        k.tick()  # registers; takes nothing on its first tick
    assert events == []
    for _ in range(2):
        for k in keepers:
            k.tick()
    held = [set(k.owned()) for k in keepers]
    assert held[0] | held[1] == names and not held[0] & held[1]
    assert len(held[0]) == len(held[1]) == 3
    # r2 dies (stops renewing): after the lease period r1 takes its enterprises whatever its share
    deadline = time.monotonic() + 10
    while set(keepers[0].owned()) != names and time.monotonic() < deadline:
        time.sleep(0.5)
        keepers[0].tick()
    assert set(keepers[0].owned()) == names


def test_apply_refuses_while_another_process_holds_the_lease(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc()})
    daemon = LeaseTable("leases", owner="daemon-on-host-x")
    daemon.ensure()
    lease = daemon.acquire("acme", 60)
    assert isinstance(lease, Lease)
    r = cli("apply", "--specs", str(specs), "--auto-approve", "--lease-table", "leases")
    assert r.code == 1
    assert "daemon-on-host-x" in r.err and "acme" in r.err and "nothing was changed" in r.err, r.err
    assert vpcs("acme/VirtualDatacenter/web") == []
    daemon.release(lease)
    r = cli("apply", "--specs", str(specs), "--auto-approve", env={"CONTROLLER_LEASE_TABLE": "leases"})
    assert r.code == 0, r.err
    assert vpcs("acme/VirtualDatacenter/web")
    item = daemon.scan()[0]
    assert item["owner"].startswith("apply:") and item["state"] == "released" and item["fence"] == 2


def test_the_local_endpoint_makes_conditional_writes_atomic_as_dynamodb_does(monkeypatch):
    """A renew by the holder and a takeover of the same expired lease, sent at once: on DynamoDB exactly one
    wins. moto alone lets both pass now and then (it checks, then writes, without a lock); the local
    endpoint (`controller local-aws`) orders them. Served in this process, so the thread switch interval
    can be lowered to make the interleaving likely."""
    import sys
    import threading

    from controller.localaws import make_server

    server = make_server("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        a, b = LeaseTable("race", owner="a"), LeaseTable("race", owner="b")
        a.ensure()
        both = 0
        for i in range(150):
            lease = a.acquire(f"e{i}", -1.0)  # held by a, already expired
            assert isinstance(lease, Lease)
            renewed, taken = _at_once(lambda lease=lease: a.renew(lease, 30),
                                      lambda name=f"e{i}": isinstance(b.acquire(name, 30), Lease))
            assert renewed or taken
            both += renewed and taken
    finally:
        sys.setswitchinterval(old)
        server.shutdown()
    assert both == 0, f"both writes passed their conditions in {both} of 150 races"


def _at_once(*calls: Callable[[], bool]) -> list[bool]:
    """Run the calls in threads released together; their answers in order."""
    import threading

    gate = threading.Barrier(len(calls))
    out = [False] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_shutdown_releases_in_parallel_and_leaves_the_rest_to_expire():
    """release_all at shutdown: all at once, and bounded: on a slow table the leases not released within
    the bound are left to expire (the daemon stops), the others are released."""
    import threading
    from types import SimpleNamespace

    released: list[str] = []
    lock = threading.Lock()

    def slow_release(lease: Lease) -> bool:
        time.sleep(0.2)
        with lock:
            released.append(lease.enterprise)
        return True

    table = SimpleNamespace(owner="r1", name="leases", release=slow_release, leave=lambda: None)
    keeper = LeaseKeeper(table, 30.0, on_acquired=lambda n: None, on_lost=lambda n: None)  # type: ignore[arg-type]
    keeper.held = {f"e{i:03d}": Lease(f"e{i:03d}", "r1", time.time() + 30, 1) for i in range(100)}
    started = time.monotonic()
    keeper.release_all(within=1.0)
    took = time.monotonic() - started
    assert took < 2.5, f"{took:.1f} s: not bounded"  # one at a time, 100 releases would be 20 s
    assert 8 <= len(released) < 100, len(released)  # 8 at a time for about a second, then the rest expire
    assert set(keeper.held) == {f"e{i:03d}" for i in range(100)} - set(released)


def test_a_tick_stops_taking_new_leases_halfway_through_its_interval():
    """On a slow table a tick takes new leases for half its interval only: those it took first must not
    expire before the next tick renews them. The rest are taken by later ticks."""
    from types import SimpleNamespace

    def acquire(name: str, seconds: float) -> Lease:
        time.sleep(0.05)
        return Lease(name, "r1", time.time() + seconds, 1)

    names = {f"e{i:03d}" for i in range(100)}
    table = SimpleNamespace(owner="r1", name="leases", scan=lambda: [], heartbeat_member=lambda s: None,
                            acquire=acquire, renew=lambda lease, s: True)
    keeper = LeaseKeeper(table, 0.6, on_acquired=lambda n: None, on_lost=lambda n: None)  # type: ignore[arg-type]
    keeper.set_wanted(names)
    keeper.tick()  # the first tick only registers
    started = time.monotonic()
    keeper.tick()
    took = time.monotonic() - started
    held = len(keeper.owned())
    assert 0 < held < 50 and took < 0.5, (held, took)  # 8 at a time for 0.1 s, not all 100 (0.6 s)
    for _ in range(20):
        keeper.tick()
    assert set(keeper.owned()) == names
