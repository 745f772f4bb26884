"""Units of the XaaS kinds that moto cannot show: RDS is instantly `available` there, so a database
still being created or modified is built here from RDS's own answer shape; and the owner records
of DNS ownership, generated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.engine.diff import diff
from controller.engine.observe import Observed
from controller.graph import Graph, Node
from controller.kinds.base import TAG_ADDRESS, TAG_ENTERPRISE, TAG_MANAGED_BY, TAG_PROTECT, ownership_tags
from controller.kinds.database import Database, db_identifier, final_snapshot_id
from controller.kinds.dns import owner_name, owner_value, parse_owner, quote, unquote

ADDRESS = "acme/web/Database/orders"


def rds_answer(status: str, klass: str = "db.t3.micro", pending: dict | None = None) -> dict:
    node = Node(id=ADDRESS, kind="Database", address=ADDRESS, enterprise="acme", region="us-east-1", props={})
    return {
        "DBInstanceIdentifier": "web-orders", "DBInstanceArn": "arn:aws:rds:us-east-1:111111111111:db:web-orders",
        "DBInstanceStatus": status, "Engine": "postgres", "EngineVersion": "16.3", "DBInstanceClass": klass,
        "AllocatedStorage": 20, "StorageType": "gp3", "MultiAZ": False, "BackupRetentionPeriod": 7,
        "MasterUsername": "orders", "DeletionProtection": False, "PendingModifiedValues": pending or {},
        "DBSubnetGroup": {"DBSubnetGroupName": "web-orders", "VpcId": "vpc-1",
                          "Subnets": [{"SubnetIdentifier": "subnet-a"}, {"SubnetIdentifier": "subnet-b"}]},
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1", "Status": "active"}],
        "TagList": [{"Key": k, "Value": v} for k, v in ownership_tags(node).items()],
    }


def desired(klass: str = "db.t3.micro") -> Node:
    props = {"identifier": "web-orders", "engine": "postgres", "instanceClass": klass, "storageGiB": 20,
             "storageType": "gp3", "multiAz": False, "backupRetentionDays": 7, "masterUsername": "orders",
             "deletionProtection": False, "skipFinalSnapshot": False}
    return Node(id=ADDRESS, kind="Database", address=ADDRESS, enterprise="acme", region="us-east-1",
                props=props, compared=frozenset(props))


def plan_of(answer: dict, node: Node):
    kind = Database()
    live = kind._live(answer, {t["Key"]: t["Value"] for t in answer["TagList"]})
    observed = Observed()
    observed.add(live)
    graph = Graph()
    graph.add(node)
    (change,) = diff(graph, observed)
    return live, change


def test_a_database_being_created_is_progress_not_drift():
    live, change = plan_of(rds_answer("creating"), desired())
    assert live.busy == "creating"
    assert (change.action, change.reason) == ("no-op", "in progress: creating")


def test_a_modification_in_flight_counts_as_done():
    """The class change was accepted (PendingModifiedValues) but RDS is still modifying: no drift."""
    live, change = plan_of(rds_answer("modifying", "db.t3.micro", {"DBInstanceClass": "db.m5.large"}),
                           desired("db.m5.large"))
    assert live.props["instanceClass"] == "db.m5.large"
    assert (change.action, change.reason) == ("no-op", "in progress: modifying")


def test_an_available_database_with_another_class_is_drift():
    _, change = plan_of(rds_answer("available", "db.m5.large"), desired())
    assert change.action == "update"
    assert [(f.path, f.before, f.after) for f in change.fields] == [("instanceClass", "db.m5.large", "db.t3.micro")]


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True),
       st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True))
def test_db_identifiers_follow_the_rds_rules(vdc, name):
    ident = db_identifier(vdc, name)
    assert 1 <= len(ident) <= 63 and ident[0].isalpha() and "--" not in ident and not ident.endswith("-")
    snap = final_snapshot_id(ident, 0)
    assert snap.startswith(ident) and len(snap) <= 255 and "--" not in snap


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.lists(LABEL, min_size=1, max_size=4), st.sampled_from(["A", "AAAA", "CNAME", "TXT", "MX"]),
       st.booleans(), st.booleans())
def test_owner_records_round_trip(labels, rtype, wildcard, protect):
    name = ("*." if wildcard else "") + ".".join(labels) + ".example.com"
    owner = owner_name(name, rtype)
    assert "*" not in owner and owner.startswith("_ctl-")
    tags = {TAG_ADDRESS: f"acme/DnsRecord/{labels[0]}", TAG_ENTERPRISE: "acme", TAG_MANAGED_BY: "controller",
            "Name": labels[0], **({TAG_PROTECT: "true"} if protect else {})}
    got = parse_owner([owner_value(tags)])
    assert got == {k: v for k, v in tags.items() if k != "Name"}


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=60))
def test_txt_values_quote_and_unquote(text):
    assert unquote(quote(text)) == text or (text.startswith('"') and text.endswith('"') and len(text) >= 2)


@given(st.text(max_size=80))
def test_a_foreign_txt_is_never_taken_for_an_owner_record(text):
    """Only a value that starts with our heritage marker and names an address is ours."""
    got = parse_owner([text])
    assert got is None or (unquote(text).startswith("heritage=controller,") and got.get(TAG_ADDRESS))
