"""Billing pieces without AWS: money, the CSV hot loop, the hierarchy, the month argument."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from controller.billing import COL_TAG_ADDRESS, UNTAGGED
from controller.billing.cur import BillingError, Cells, Source, _parse, inflate_limit
from controller.billing.money import allocate, cents
from controller.billing.report import Estate, build
from controller.billing.sample import COLUMNS, Line, csv_bytes
from controller.commands.billing import month_arg
from controller.spec.models import EnterpriseSpec, Resource

SRC = Source("acme", "bucket", "us-east-1", "cur", "r", "GZ")
MONTH = date(2024, 5, 1)


def parse(data: bytes) -> Cells:
    out = Cells()
    _parse(io.BytesIO(data), SRC, "key", out)
    return out


@pytest.mark.parametrize("values,total,want", [
    ({"a": "0.005", "b": "0.005"}, "0.01", {"a": "0.01", "b": "0.00"}),
    ({"a": "1.333", "b": "1.333", "c": "1.334"}, "4.00", {"a": "1.33", "b": "1.33", "c": "1.34"}),
    ({"a": "10.006", "b": "-0.004"}, "10.00", {"a": "10.01", "b": "-0.01"}),
    ({"a": "2.5"}, "2.50", {"a": "2.50"}),
], ids=["tie", "thirds", "credit", "one"])
def test_allocate_adds_up_to_the_total(values, total, want):
    got = allocate({k: Decimal(v) for k, v in values.items()}, Decimal(total))
    assert got == {k: Decimal(v) for k, v in want.items()}
    assert sum(got.values()) == Decimal(total)


def test_cents_rounds_half_up():
    assert cents(Decimal("0.005")) == Decimal("0.01")
    assert cents(Decimal("-0.005")) == Decimal("-0.01")
    assert cents(Decimal("2.344999999")) == Decimal("2.34")


@pytest.mark.parametrize("value,ok", [("2024-05", True), ("2024-12", True), ("2024-13", False), ("24-05", False),
                                      ("2024-5", False)])
def test_month_argument(value, ok):
    if ok:
        assert month_arg(value) == date(int(value[:4]), int(value[5:]), 1)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            month_arg(value)


def test_fast_path_and_csv_agree_on_quoted_fields():
    """Lines with quotes (commas, doubled quotes, newlines inside a field) parse as the csv module does."""
    lines = [Line(day=MONTH.replace(day=d), account="111111111111", product=p, cost=Decimal(c),
                  resource="i-1", enterprise_tag="acme", address_tag=a)
             for d, p, c, a in [(1, "AmazonEC2", "1.10", "acme/web/VirtualMachine/web-1"),
                                (2, 'Odd "name", with comma', "2.20", "acme/web/VirtualMachine/web-1"),
                                (3, "multi\nline", "3.30", "acme/db/Volume/data"),
                                (4, "AmazonS3", "4.40", "")]]
    data = csv_bytes(lines).replace(b"\n", b"\r\n", 1) + b"\n"  # CRLF header, a blank last line
    out = parse(data)
    assert out.lines == 4
    reference = list(csv.DictReader(io.StringIO(csv_bytes(lines).decode())))
    got = {(k[1], v) for k, v in out.cells.items()}
    assert got == {(r["lineItem/ProductCode"], Decimal(r["lineItem/UnblendedCost"])) for r in reference}
    assert out.resource_address == {"i-1": "acme/web/VirtualMachine/web-1"}
    assert out.currency == "USD"


def test_optional_columns_may_be_missing():
    cols = [c for c in COLUMNS if not c.startswith("resourceTags/")]
    data = csv_bytes([Line(day=MONTH, account="111111111111", product="AmazonEC2", cost=Decimal("1.5"),
                           address_tag="ignored")], columns=COLUMNS)
    # drop the tag columns from header and rows alike
    rows = list(csv.reader(io.StringIO(data.decode())))
    keep = [i for i, c in enumerate(rows[0]) if c in cols]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    out = parse(buf.getvalue().encode())
    ((key, value),) = out.cells.items()
    assert value == Decimal("1.5") and key[3:5] == ("", "")


def test_header_with_bom_and_only_required_columns():
    data = ("\ufefflineItem/UsageStartDate,lineItem/UsageAccountId,lineItem/ProductCode,lineItem/UnblendedCost\n"
            "2024-05-01T00:00:00Z,111111111111,AmazonEC2,0.1000000001\n").encode()
    assert parse(data).cells == {("2024-05-01", "AmazonEC2", "111111111111", "", "", "", ""): Decimal("0.1000000001")}


def test_empty_file_bills_nothing():
    assert parse(b"").lines == 0


def test_inflate_limit():
    assert inflate_limit(1) == 16 * 1024**2  # the floor
    assert inflate_limit(10**9) == 200 * 10**9 if 200 * 10**9 < 64 * 1024**3 else 64 * 1024**3


def test_bad_cost_is_a_billing_error():
    data = csv_bytes([Line(day=MONTH, account="1", product="AmazonEC2", cost=Decimal("1"))]).replace(
        b",USD,1,1,", b",USD,1,,")
    with pytest.raises(BillingError, match="lineItem/UnblendedCost is not a number"):
        parse(data)


# ------------------------------------------------------------------------------------------------
# Hierarchy


def ent(name: str, account: str | None = None, reseller: str | None = None, billing: dict | None = None,
        **extra) -> Resource:
    spec = {"credentials": {"profile": "p"}, "regions": ["us-east-1"], **extra}
    if account:
        spec["account"] = account
    if reseller:
        spec["reseller"] = reseller
    if billing:
        spec["billing"] = billing
    return Resource(kind="Enterprise", metadata={"name": name}, spec=EnterpriseSpec.model_validate(spec))


def test_sources_follow_the_hierarchy():
    e = Estate([ent("top", billing={"bucket": "b", "reportName": "r"}),
                ent("mid", reseller="top"),
                ent("leaf", reseller="mid"),
                ent("own", reseller="top", billing={"bucket": "o", "reportName": "o", "discount": 3}),
                ent("alone")])
    assert e.source_of("leaf") is e.own_source["top"]
    assert e.source_of("own") is e.own_source["own"]
    assert e.source_of("alone") is None
    assert e.roots() == ["alone", "top"]
    assert e.subtree("top") == ["top", "mid", "own", "leaf"]


def test_tag_attribution_stays_inside_the_reports_family():
    """No account declared: the enterprise tag decides, but only for the report's own family."""
    e = Estate([ent("top", billing={"bucket": "b", "reportName": "r", "discount": 10}),
                ent("cust", reseller="top", billing={"discount": 50}),
                ent("stranger")])
    src = e.own_source["top"]
    cells = Cells(lines=4)
    cells.cells = {
        ("2024-05-01", "AmazonEC2", "1", "cust", "cust/web/VirtualMachine/a", "", ""): Decimal("10"),
        ("2024-05-01", "AmazonEC2", "1", "stranger", "stranger/x/VirtualMachine/b", "", ""): Decimal("20"),
        ("2024-05-02", "AmazonEC2", "1", "", "", "i-a", ""): Decimal("1"),
        ("2024-05-02", "AmazonS3", "1", "", "", "", ""): Decimal("2"),
    }
    cells.resource_address = {"i-a": "cust/web/VirtualMachine/a"}
    r = build(e, ["top", "cust", "stranger"], ["stranger", "top"], MONTH, "vm", {src.key: (src, cells)})
    assert r.bills["cust"].cost == Decimal(11) and r.bills["cust"].charge == Decimal("5.50")
    assert r.bills["top"].cost == Decimal(22) and r.bills["top"].charge == Decimal("19.80")
    assert r.bills["top"].total == Decimal("25.30")
    assert r.bills["stranger"].cost == 0
    assert dict(r.bills["top"].groups["vm"]) == {"stranger/x/VirtualMachine/b": Decimal(20), UNTAGGED: Decimal(2)}
    assert r.days_seen == 2


def test_tag_column_constant_matches_the_cur_naming():
    assert COL_TAG_ADDRESS == "resourceTags/user:controller:address"
