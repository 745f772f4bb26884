"""Batched waits: parallel waits for objects of one type share one describe call per poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from controller.aws.session import context_for
from controller.aws.waiters import wait_for
from controller.errors import ResourceError
from controller.kinds.volume import VOLUMES
from controller.spec.validate import load_specs
from tests.helpers import enterprise_doc, write_specs

N = 8


def attached(v: dict) -> bool:
    return any(a.get("State") == "attached" for a in v.get("Attachments") or [])


def test_parallel_waits_share_polls_and_each_gets_its_own_answer(aws, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"e.yaml": enterprise_doc()})
    ctx = context_for(next(iter(load_specs(specs).catalog.enterprises())))
    ec2 = ctx.client("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    iid = ec2.run_instances(ImageId="ami-03c3da4cfa8e8943a", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                            SubnetId=subnet)["Instances"][0]["InstanceId"]
    vols = [ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"] for _ in range(N)]
    before = ctx.counter.snapshot().get("ec2.DescribeVolumes", 0)
    got: dict[str, dict] = {}
    errors: list[BaseException] = []

    def wait(vid: str) -> None:
        try:
            got[vid] = wait_for(ctx, "us-east-1", VOLUMES, vid, f"acme/Volume/{vid}", "volume attached", attached,
                                timeout=60)
        except BaseException as e:  # noqa: B036 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=wait, args=(v,)) for v in vols]
    for t in threads:
        t.start()
    time.sleep(1.5)  # every wait polled at least once and found its volume not attached yet
    assert not got
    for k, vid in enumerate(vols):
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device=f"/dev/sd{chr(ord('f') + k)}")
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert {v: got[v]["VolumeId"] for v in vols} == {v: v for v in vols}  # each its own object
    polls = ctx.counter.snapshot()["ec2.DescribeVolumes"] - before
    # one by one, each wait would have polled at least twice (not yet, then attached): 2 x N
    assert polls < N, f"{polls} DescribeVolumes for {N} parallel waits"


def test_a_wait_that_never_succeeds_fails_alone_naming_its_address(aws, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"e.yaml": enterprise_doc()})
    ctx = context_for(next(iter(load_specs(specs).catalog.enterprises())))
    ec2 = ctx.client("ec2", "us-east-1")
    vid = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    ok: list[dict] = []
    t = threading.Thread(target=lambda: ok.append(wait_for(ctx, "us-east-1", VOLUMES, vid, "acme/Volume/a",
                                                            "volume available", lambda v: v["State"] == "available")))
    t.start()
    with pytest.raises(ResourceError) as e:  # an id AWS never shows: not visible yet, until the timeout
        wait_for(ctx, "us-east-1", VOLUMES, "vol-0123456789abcdef0", "acme/Volume/b", "volume available",
                 lambda v: True, timeout=1.5)
    t.join(30)
    assert "acme/Volume/b" in str(e.value) and e.value.code == "Timeout"
    assert ok and ok[0]["VolumeId"] == vid


def test_a_delete_wait_takes_an_object_gone_from_the_answer_as_done(aws, tmp_path: Path):
    """absent_ok (waits for a delete): AWS forgets deleted objects, so one missing from the answer is gone,
    not "not visible yet"; an object still there and not ready keeps the wait going until it is."""
    specs = write_specs(tmp_path / "specs", {"e.yaml": enterprise_doc()})
    ctx = context_for(next(iter(load_specs(specs).catalog.enterprises())))
    ec2 = ctx.client("ec2", "us-east-1")
    vid = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    ec2.delete_volume(VolumeId=vid)
    started = time.monotonic()
    assert wait_for(ctx, "us-east-1", VOLUMES, vid, "acme/Volume/a", "volume deleted", lambda v: False,
                    timeout=5, absent_ok=True) == {}
    assert time.monotonic() - started < 2
    kept = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    with pytest.raises(ResourceError) as e:  # still listed, never "deleted": the wait times out
        wait_for(ctx, "us-east-1", VOLUMES, kept, "acme/Volume/b", "volume deleted", lambda v: v["State"] == "deleted",
                 timeout=1.5, absent_ok=True)
    assert e.value.code == "Timeout"
