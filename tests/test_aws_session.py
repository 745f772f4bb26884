"""Clients are shared by every enterprise of a process; each call still acts as, and counts for, the
enterprise that makes it — concurrently, paginated or not."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from controller.aws.session import CLIENTS, AwsContext, context_for
from controller.spec.validate import load_specs
from tests.helpers import enterprise_doc, write_specs

N = 6


@pytest.fixture
def contexts(aws, tmp_path: Path) -> dict[str, AwsContext]:
    specs = write_specs(tmp_path / "specs", {f"e{i}.yaml": enterprise_doc(f"e{i}", f"{310000000000 + i:012d}")
                                             for i in range(N)})
    ents = {e.name: e for e in load_specs(specs).catalog.enterprises()}
    return {n: context_for(e) for n, e in ents.items()}


def test_each_enterprise_acts_in_its_own_account_through_shared_clients(contexts: dict[str, AwsContext]):
    assert {c.account for c in contexts.values()} == {f"{310000000000 + i:012d}" for i in range(N)}
    errors: list[BaseException] = []

    def work(name: str, ctx: AwsContext) -> None:
        try:
            ec2 = ctx.client("ec2", "us-east-1")
            for k in range(3):
                ec2.create_vpc(CidrBlock=f"10.{k}.0.0/16",
                               TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "owner", "Value": name}]}])
            pages = list(ec2.get_paginator("describe_vpcs").paginate(
                Filters=[{"Name": "tag-key", "Values": ["owner"]}], PaginationConfig={"PageSize": 5}))
            owners = {t["Value"] for p in pages for v in p["Vpcs"] for t in v.get("Tags", []) if t["Key"] == "owner"}
            assert owners == {name}, owners  # another enterprise's VPCs would mean another's credentials
        except BaseException as e:  # noqa: B036 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=item) for item in contexts.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    for ctx in contexts.values():
        calls = ctx.counter.snapshot()
        assert calls["ec2.CreateVpc"] == 3 and calls["sts.AssumeRole"] == 1
        assert calls["ec2.DescribeVpcs"] >= 1


def ec2_clients() -> set[int]:
    gc.collect()
    return {id(o) for o in gc.get_objects() if type(o).__name__ == "EC2"}  # botocore's generated client class


def test_an_enterprise_costs_no_client_of_its_own(contexts: dict[str, AwsContext]):
    before = ec2_clients()  # other tests of this worker may have left clients of their own alive
    shared = set()
    for ctx in contexts.values():
        c = ctx.client("ec2", "us-east-1")
        c.describe_vpcs()
        shared.add(id(c._client))
    made = ec2_clients() - before
    assert len(shared) == 1, f"{len(shared)} EC2 clients behind {N} enterprises"
    assert len(made) <= 2, f"{len(made)} EC2 clients made for {N} enterprises"
    assert len(CLIENTS) <= CLIENTS.size
