"""The kind contract: AWS facts as data over one query layer (controller/aws/query.py).

Every kind declares its object types as data; the query layer lists, filters by ownership,
adopts by id, reads and writes tags in each tag style, and retries only what may be retried; a
global kind is observed once per enterprise, not once per region.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.exceptions
import pytest

from controller.aws import query
from controller.aws import tags as tag_style
from controller.aws.query import AwsFacts, Observation
from controller.aws.session import AwsContext, CallCounter
from controller.aws.tags import TAG_ADDRESS, TAG_ENTERPRISE, TagStyle, tags_of
from controller.engine import observe as engine_observe
from controller.errors import ResourceError
from controller.graph import Graph, Node
from controller.kinds import REGISTRY
from controller.kinds.base import Kind, Live, ownership_tags
from controller.kinds.database import DB_INSTANCES
from controller.kinds.vdc import VPCS

ROOT = Path(__file__).resolve().parent.parent

HOSTED_ZONES = AwsFacts("route53", "list_hosted_zones", "HostedZones", "Id", tag_style.ROUTE53,
                        resource_type="hostedzone", scope="global")


def node(nid: str, kind: str = "VirtualDatacenter", region: str = "us-east-1", adopt: str | None = None) -> Node:
    return Node(id=nid, kind=kind, address=nid, enterprise="acme", region=region, props={},
                compared=frozenset(), adopt=adopt)


def context(counter: CallCounter | None = None) -> AwsContext:
    return AwsContext(enterprise="acme", provider="aws", credentials=boto3.Session().get_credentials(),
                      counter=counter or CallCounter())


def _call(address: str = "acme/x") -> Any:
    return lambda operation, fn, *a, **kw: query.call(address, operation, fn, *a, **kw)


# -- the facts are data, and the engine has none of its own ----------------------------------------


def test_every_kind_declares_its_aws_facts_as_data():
    for name, kind in REGISTRY.items():
        assert kind.facts, f"{name} declares no AWS object type"
        for f in kind.facts:
            assert f.service and f.describe and f.key and f.id_field, (name, f)
            assert isinstance(f.tags, TagStyle), (name, f)
            assert f.scope in ("regional", "global")
            if f.adopt_filter:  # adoption by id needs to know which awsIds are this type's
                assert f.id_prefix, (name, f)
    assert {n for n, k in REGISTRY.items() if k.scope == "global"} == {"DnsZone", "DnsRecord"}  # Route 53


def test_the_engine_holds_no_aws_operation_and_no_tag_fallback():
    for path in sorted((ROOT / "controller" / "engine").glob("*.py")):
        text = path.read_text()
        for word in ("create_tags", "describe_", "ec2", "ADOPTABLE", "RARE_TYPES"):
            assert word not in text, f"{path.name} names {word!r}: AWS facts belong to the kinds"


def test_kinds_are_discovered_not_listed():
    import controller.kinds as pkg

    modules = {p.stem for p in Path(pkg.__file__).parent.glob("*.py")} - {"__init__", "base"}
    found = {type(k).__module__.rsplit(".", 1)[-1] for k in REGISTRY.values()}
    assert found == modules
    assert not hasattr(pkg, "MODULES")


# -- retries: throttling and declared codes, transient errors on reads only ------------------------


def failing(code: str, times: int) -> tuple[list[int], Any]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "injected"}}, "Op")
        return "ok"

    return calls, fn


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(query.time, "sleep", slept.append)
    return slept


def test_throttling_is_retried_with_jittered_backoff(no_sleep: list[float]):
    calls, fn = failing("RequestLimitExceeded", 3)
    assert query.call("acme/x", "create thing", fn) == "ok"
    assert len(calls) == 4 and len(no_sleep) == 3
    for attempt, slept in enumerate(no_sleep):
        full = min(5.0, 0.2 * 2 ** attempt)
        assert full / 2 <= slept <= full
    samples = {query.backoff(4) for _ in range(20)}
    assert len(samples) > 1, "backoff without jitter"


def test_a_write_is_not_retried_on_a_transient_error_a_read_is(no_sleep: list[float]):
    calls, fn = failing("InternalError", 1)
    with pytest.raises(ResourceError) as e:
        query.call("acme/x", "create thing", fn)
    assert len(calls) == 1 and not e.value.retryable
    assert "cannot create thing acme/x: InternalError" in str(e.value)
    calls, fn = failing("InternalError", 1)
    assert query.call("acme/x", "observe", fn, read=True) == "ok" and len(calls) == 2


def test_only_named_codes_are_retried_besides_throttling(no_sleep: list[float]):
    calls, fn = failing("DependencyViolation", 2)
    with pytest.raises(ResourceError) as e:
        query.call("acme/x", "delete thing", fn)
    assert len(calls) == 1 and e.value.code == "DependencyViolation"
    calls, fn = failing("DependencyViolation", 2)
    assert query.call("acme/x", "delete thing", fn, retry_codes=["DependencyViolation"]) == "ok"
    assert len(calls) == 3
    calls, fn = failing("InvalidVpcID.NotFound", 5)
    assert query.call("acme/x", "delete thing", fn, ok_not_found=True) is None and len(calls) == 1


# -- ownership, adoption and tags in each style, against the local endpoint --------------------------


def test_ec2_owned_and_adopted_by_id(aws):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    mine = ec2.create_vpc(CidrBlock="10.1.0.0/16", **tag_style.EC2.at_create(VPCS, {
        TAG_ADDRESS: "acme/VirtualDatacenter/a", TAG_ENTERPRISE: "acme"}))["Vpc"]["VpcId"]
    theirs = ec2.create_vpc(CidrBlock="10.2.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": TAG_ENTERPRISE, "Value": "globex"}, {"Key": TAG_ADDRESS, "Value": "globex/VirtualDatacenter/a"}]}])
    untagged = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    counter = CallCounter()
    obs = Observation(context(counter), "us-east-1")
    obs.desired = {"acme/VirtualDatacenter/b": node("acme/VirtualDatacenter/b", adopt=untagged)}
    got = {v["VpcId"]: tags_of(v) for v in obs.owned(VPCS)}
    assert set(got) == {mine, untagged}, theirs
    assert got[untagged][TAG_ADDRESS] == "acme/VirtualDatacenter/b"  # lent for this pass
    assert obs.adopted == {untagged: [TAG_ADDRESS, TAG_ENTERPRISE]}
    assert obs.owned(VPCS) is obs.owned(VPCS)  # memoized: one listing, one adoption call
    assert counter.snapshot() == {"ec2.DescribeVpcs": 2}
    # retag in the EC2 style: create_tags / delete_tags
    query.retag(_call(), ec2, VPCS, mine, {"Name": "a", TAG_ENTERPRISE: None})
    tags = tags_of(ec2.describe_vpcs(VpcIds=[mine])["Vpcs"][0])
    assert tags["Name"] == "a" and TAG_ENTERPRISE not in tags


def test_rds_tags_are_read_from_taglist_and_written_on_the_arn(aws):
    rds = boto3.client("rds", region_name="us-east-1")
    own = ownership_tags(node("acme/Database/db1", kind="Database"))
    rds.create_db_instance(DBInstanceIdentifier="db1", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="admin", MasterUserPassword="secret-password", AllocatedStorage=20,
                           **tag_style.RDS.at_create(DB_INSTANCES, own))
    rds.create_db_instance(DBInstanceIdentifier="db2", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="admin", MasterUserPassword="secret-password", AllocatedStorage=20)
    # a rare type: the tagging API tells whether any is ours before the listing is made
    assert Observation(context(), "us-east-1", rare_types=["rds:db"]).needs("Database", DB_INSTANCES)
    other = AwsContext(enterprise="globex", provider="aws", credentials=boto3.Session().get_credentials())
    assert not Observation(other, "us-east-1", rare_types=["rds:db"]).needs("Database", DB_INSTANCES)
    obs = Observation(context(), "us-east-1")
    found = obs.owned(DB_INSTANCES)
    assert [d["DBInstanceIdentifier"] for d in found] == ["db1"]
    assert tags_of(found[0])[TAG_ADDRESS] == "acme/Database/db1"
    query.retag(_call(), rds, DB_INSTANCES, found[0]["DBInstanceArn"], {"Name": "renamed", "controller:protect": None})
    tags = tags_of({"TagList": rds.list_tags_for_resource(ResourceName=found[0]["DBInstanceArn"])["TagList"]})
    assert tags["Name"] == "renamed" and tags[TAG_ADDRESS] == "acme/Database/db1"


def test_route53_tags_are_written_after_create_and_read_in_batches(aws):
    r53 = boto3.client("route53", region_name="us-east-1")
    zones = [r53.create_hosted_zone(Name=f"z{i}.example.com", CallerReference=f"z{i}")["HostedZone"]["Id"]
             for i in range(12)]
    for i, zid in enumerate(zones[:11]):  # 11 ours (two list_tags_for_resources calls of 10), one not
        tag_style.ROUTE53.after_create(_call(), r53, HOSTED_ZONES, zid,
                                       ownership_tags(node(f"acme/DnsZone/z{i}", kind="DnsZone")))
    counter = CallCounter()
    obs = Observation(context(counter), "us-east-1", scope="global")
    found = obs.owned(HOSTED_ZONES)
    assert sorted(z["Id"] for z in found) == sorted(zones[:11])
    assert {tags_of(z)[TAG_ADDRESS] for z in found} == {f"acme/DnsZone/z{i}" for i in range(11)}
    assert counter.snapshot() == {"route-53.ListHostedZones": 1, "route-53.ListTagsForResources": 2}
    query.retag(_call(), r53, HOSTED_ZONES, zones[0], {"Name": "renamed", TAG_ENTERPRISE: None})
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zones[0].rsplit("/", 1)[-1])
    have = {t["Key"]: t["Value"] for t in tags["ResourceTagSet"]["Tags"]}
    assert have["Name"] == "renamed" and TAG_ENTERPRISE not in have


# -- a global kind is observed once per enterprise -------------------------------------------------


class _Zone(Kind):
    name = "TestZone"
    facts = (HOSTED_ZONES,)

    def observe(self, obs: Observation) -> list[Live]:
        return [lv for z in obs.owned(HOSTED_ZONES) if (lv := self.live_from(self.name, z, z["Id"], {}))]


def test_a_global_kind_is_observed_once_per_enterprise_not_per_region(aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(REGISTRY, _Zone.name, _Zone())
    assert REGISTRY[_Zone.name].scope == "global"
    r53 = boto3.client("route53", region_name="us-east-1")
    zid = r53.create_hosted_zone(Name="web.example.com", CallerReference="web")["HostedZone"]["Id"]
    tag_style.ROUTE53.after_create(_call(), r53, HOSTED_ZONES, zid, ownership_tags(node("acme/TestZone/web")))
    counter = CallCounter()
    regions = ["us-east-1", "eu-west-1", "us-west-2"]
    session = engine_observe.Session(contexts={"acme": context(counter)},
                                     enterprises={"acme": SimpleNamespace(spec=SimpleNamespace(regions=regions))},
                                     counter=counter)  # type: ignore[arg-type]
    graph = Graph()
    graph.add(node("acme/TestZone/web", kind=_Zone.name, region="us-east-1"))
    jobs = [(obs, k) for obs, k in engine_observe.passes(session, graph) if k == _Zone.name]
    assert len(jobs) == 1 and jobs[0][0].scope == "global"
    assert set(jobs[0][0].desired) == {"acme/TestZone/web"}
    regional = {obs.region for obs, k in engine_observe.passes(session, graph) if k == "VirtualDatacenter"}
    assert regional == set(regions)
    observed = engine_observe.observe(session, graph)
    assert observed.live["acme/TestZone/web"].aws_id == zid and not observed.duplicates
    calls = counter.snapshot()
    assert calls["route-53.ListHostedZones"] == 1 and calls["ec2.DescribeVpcs"] == len(regions)


# -- validation rules are registered with their kind; no private names across packages -------------


def test_every_spec_kind_registers_its_rules_or_says_it_has_none():
    from controller.spec import validate
    from controller.spec.models import KINDS

    assert validate.unregistered_kinds() == []
    assert set(validate.RULES) | set(validate.NO_RULES) == set(KINDS)
    with pytest.raises(ValueError, match="not a spec kind"):
        validate.rules_for("NoSuchKind")(lambda v, r: None)
    with pytest.raises(ValueError, match="registered twice"):
        validate.no_rules("Vpn", "a second registration")


def test_no_module_imports_a_private_name_of_another_package():
    import ast

    found = []
    for path in sorted((ROOT / "controller").rglob("*.py")):
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("controller"):
                source = n.module if (path.parent / "__init__.py").exists() and n.module == package else \
                    n.module.rsplit(".", 1)[0]
                private = [a.name for a in n.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and source != package:
                    found.append(f"{path.relative_to(ROOT)}: from {n.module} import {', '.join(private)}")
    assert found == []
