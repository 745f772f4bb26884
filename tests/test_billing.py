"""`controller billing` end to end against the local AWS endpoint (moto server): CUR files in S3.

The estate: acme is a reseller (partner account) whose GZ report also holds the lines of its
customer globex; initech, another customer of acme, has its own ZIP report; umbrella is an
organization's management account whose report holds the lines of its member umbrella-dev.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from controller.billing import UNTAGGED
from controller.billing.money import cents, discounted
from controller.billing.sample import Line, csv_bytes, gz, put_report, zipped

MONTH = date(2024, 5, 1)
ACME, GLOBEX, INITECH, UMBRELLA, UMB_DEV = ("111111111111", "222222222222", "333333333333", "444444444444",
                                            "555555555555")
OUTSIDER = "999999999999"  # an account no enterprise declares: its lines stay with the report's owner

ENTERPRISES = f"""
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: acme}}
spec:
  account: "{ACME}"
  credentials: {{assumeRole: {{roleArn: "arn:aws:iam::{ACME}:role/x"}}}}
  regions: [us-east-1]
  billing: {{discount: 5, bucket: acme-billing, bucketRegion: us-east-1, bucketPrefix: cur,
             reportName: acme-hourly, compressFormat: GZ}}
  budgets:
    - {{name: monthly, monthlyLimit: {{acme_limit}}, alertAt: [50, 80, 100]}}
---
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: globex}}
spec:
  account: "{GLOBEX}"
  reseller: acme
  credentials: {{assumeRole: {{roleArn: "arn:aws:iam::{GLOBEX}:role/x"}}}}
  regions: [us-east-1]
  billing: {{discount: "12.5"}}
  budgets:
    - {{name: cap, monthlyLimit: 100000, alertAt: [50, 100, 120]}}
---
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: initech}}
spec:
  account: "{INITECH}"
  reseller: acme
  credentials: {{assumeRole: {{roleArn: "arn:aws:iam::{INITECH}:role/x"}}}}
  regions: [eu-west-1]
  billing:
    amazon_discount: "10"
    amazon_bucket: initech-cur
    amazon_bucket_region: eu-west-1
    amazon_bucket_prefix: ""
    amazon_report_name: initech
    amazon_billing_compress_format: ZIP
---
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: umbrella}}
spec:
  account: "{UMBRELLA}"
  organization: management
  credentials: {{env: {{accessKeyId: UMB_KEY, secretAccessKey: UMB_SECRET}}}}
  billingCredentials: {{assumeRole: {{roleArn: "arn:aws:iam::{UMBRELLA}:role/billing"}}}}
  regions: [us-east-1]
  billing: {{bucket: umbrella-cur, bucketRegion: us-east-1, bucketPrefix: reports/org, reportName: org}}
---
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: umbrella-dev}}
spec:
  account: "{UMB_DEV}"
  organization: member
  reseller: umbrella
  credentials: {{env: {{accessKeyId: UMB_KEY, secretAccessKey: UMB_SECRET}}}}
  regions: [us-east-1]
"""

DISCOUNT = {"acme": Decimal(5), "globex": Decimal("12.5"), "initech": Decimal(10), "umbrella": Decimal(0),
            "umbrella-dev": Decimal(0)}
OWNER = {ACME: "acme", GLOBEX: "globex", INITECH: "initech", UMBRELLA: "umbrella", UMB_DEV: "umbrella-dev",
         OUTSIDER: "acme"}


def s3_for(account: str, region: str = "us-east-1"):
    """An S3 client inside one account of the local endpoint (moto keys assumed roles by account)."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")["Credentials"]
    return boto3.client("s3", region_name=region, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def make_lines(rnd: random.Random, account: str, ent: str, n: int, days: int = 10) -> list[Line]:
    """Tagged VMs and volumes in two VDCs, untagged lines, a tax line and a credit."""
    out = []
    for i in range(n):
        vdc = ("web", "db")[i % 2]
        cost = Decimal(rnd.randrange(1, 10**11)) / Decimal(10**10)  # up to 10 decimals, like AWS
        kind, product, rid = [("VirtualMachine", "AmazonEC2", f"i-{ent}-{i % 3}"),
                              ("Volume", "AmazonEC2", f"vol-{ent}-{i % 2}"),
                              ("", "AmazonS3", ""),
                              ("", "AWSDataTransfer", f"i-{ent}-0")][i % 4]  # untagged, known resource
        addr = f"{ent}/{vdc}/{kind}/{vdc}-{i % 3}" if kind else ""
        out.append(Line(day=MONTH.replace(day=1 + i % days), hour=i % 24, account=account, product=product,
                        cost=cost, resource=rid, enterprise_tag=ent if addr else "", address_tag=addr))
    # an RDS instance (its ARN is the resource id; RDS copies the ownership tags into the CUR), and
    # its storage line without the tag: it takes the address of the instance's other line
    arn = f"arn:aws:rds:us-east-1:{account}:db:db-orders"
    out.append(Line(day=MONTH.replace(day=3), hour=5, account=account, product="AmazonRDS",
                    cost=Decimal("3.1415926535"), resource=arn, enterprise_tag=ent,
                    address_tag=f"{ent}/db/Database/orders"))
    out.append(Line(day=MONTH.replace(day=3), hour=6, account=account, product="AmazonRDS",
                    cost=Decimal("0.2718281828"), resource=arn))
    out.append(Line(day=MONTH, account=account, product="AmazonEC2", cost=Decimal("1.2345678901"),
                    line_type="Tax"))
    out.append(Line(day=MONTH.replace(day=2), account=account, product="AmazonEC2", cost=Decimal("-0.5000000001"),
                    line_type="Credit"))
    return out


@pytest.fixture
def estate(aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Upload the reports; return (specs dir, {account: [lines]}) and the env the CLI needs."""
    monkeypatch.setenv("UMB_KEY", "testing")
    monkeypatch.setenv("UMB_SECRET", "testing")
    rnd = random.Random(42)
    lines = {a: make_lines(rnd, a, OWNER[a], 40) for a in (ACME, GLOBEX, INITECH, UMBRELLA, UMB_DEV)}
    lines[OUTSIDER] = [Line(day=MONTH.replace(day=3), account=OUTSIDER, product="AmazonRoute53",
                            cost=Decimal("0.5049999999"))]
    # acme's report: acme, globex, an unknown account, and a few initech lines (initech is billed from
    # its own report: these must not count twice). Two report files.
    acme_rows = lines[ACME] + lines[GLOBEX] + lines[OUTSIDER]
    dup = lines[INITECH][:5]
    put_report(s3_for(ACME), "acme-billing", "cur", "acme-hourly", MONTH,
               [gz(csv_bytes(acme_rows[:50], payer=ACME)), gz(csv_bytes(acme_rows[50:] + dup, payer=ACME))])
    put_report(s3_for(INITECH, "eu-west-1"), "initech-cur", "", "initech", MONTH,
               [zipped(csv_bytes(lines[INITECH]))], compression="ZIP", region="eu-west-1")
    put_report(s3_for(UMBRELLA), "umbrella-cur", "reports/org", "org", MONTH,
               [gz(csv_bytes(lines[UMBRELLA] + lines[UMB_DEV], payer=UMBRELLA))])
    specs = tmp_path / "specs"
    specs.mkdir()
    write_specs(specs)
    return specs, lines


def write_specs(specs: Path, acme_limit: str = "100000") -> None:
    (specs / "enterprises.yaml").write_text(ENTERPRISES.replace("{acme_limit}", acme_limit))


def exact(lines: list[Line]) -> Decimal:
    return sum((ln.cost for ln in lines), Decimal(0))


def expected_charges(lines: dict[str, list[Line]]) -> dict[str, Decimal]:
    own: dict[str, Decimal] = defaultdict(Decimal)
    for acct, ls in lines.items():
        own[OWNER[acct]] += exact(ls)
    return {ent: cents(discounted(v, DISCOUNT[ent])) for ent, v in own.items()}


def run_json(cli, specs: Path, *extra: str) -> dict:
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--format", "json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)


# ------------------------------------------------------------------------------------------------


def test_totals_per_customer_and_reseller_to_the_cent(estate, cli):
    specs, lines = estate
    doc = run_json(cli, specs)
    bills = {b["name"]: b for b in doc["enterprises"]}
    want = expected_charges(lines)
    for ent in ("acme", "globex", "initech", "umbrella", "umbrella-dev"):
        assert Decimal(bills[ent]["charge"]) == want[ent], ent
    # a customer gets one bill; a reseller's total is its own bill plus its customers'
    assert Decimal(bills["globex"]["total"]) == want["globex"]
    assert Decimal(bills["acme"]["total"]) == want["acme"] + want["globex"] + want["initech"]
    assert bills["acme"]["customers"] == ["globex", "initech"]
    assert Decimal(bills["umbrella"]["total"]) == want["umbrella"] + want["umbrella-dev"]
    # undiscounted cost of the acme hierarchy: every line once (initech's duplicated lines skipped)
    assert Decimal(bills["acme"]["totalCost"]) == cents(exact(lines[ACME] + lines[GLOBEX] + lines[OUTSIDER]
                                                              + lines[INITECH]))
    assert doc["roots"] == ["acme", "umbrella"]
    assert any("initech" in n and "own report" in n for n in doc["notes"])
    assert doc["daysSeen"] == 10 and doc["daysInMonth"] == 31
    assert doc["lines"] == sum(len(v) for v in lines.values()) + 5


@pytest.mark.parametrize("by", ["service", "vdc", "vm", "account"])
def test_groupings_add_up_and_match_the_lines(estate, cli, by):
    specs, lines = estate
    doc = run_json(cli, specs, "--by", by)
    bills = {b["name"]: b for b in doc["enterprises"]}
    resource_addr = {ln.resource: ln.address_tag for ls in lines.values() for ln in ls if ln.address_tag}
    for acct, ent in ((ACME, "acme"), (GLOBEX, "globex"), (INITECH, "initech"), (UMB_DEV, "umbrella-dev")):
        groups: dict[str, Decimal] = defaultdict(Decimal)
        ls = lines[acct] + (lines[OUTSIDER] if ent == "acme" else [])
        for ln in ls:
            addr = ln.address_tag or resource_addr.get(ln.resource, "")
            key = {"service": ln.product, "account": ln.account,
                   "vdc": addr.split("/")[1] if addr else UNTAGGED,
                   "vm": (addr if "/VirtualMachine/" in addr else "(other resources)") if addr else UNTAGGED}[by]
            groups[key] += ln.cost
        rows = {r["key"]: r for r in bills[ent]["rows"]}
        assert set(rows) == set(groups), ent
        for key, v in groups.items():
            assert abs(Decimal(rows[key]["cost"]) - cents(v)) <= Decimal("0.01"), (ent, key)
            assert abs(Decimal(rows[key]["charge"]) - cents(discounted(v, DISCOUNT[ent]))) <= Decimal("0.01")
        # rows add up to the bill, cent for cent
        assert sum(Decimal(r["charge"]) for r in rows.values()) == Decimal(bills[ent]["charge"])
        assert sum(Decimal(r["cost"]) for r in rows.values()) == Decimal(bills[ent]["cost"])


def test_untagged_line_takes_the_address_of_its_resource(estate, cli):
    specs, lines = estate
    doc = run_json(cli, specs, "--by", "vm", "--enterprise", "globex")
    rows = {r["key"] for r in doc["enterprises"][0]["rows"]}
    # the data-transfer lines of i-globex-0 carry the tag only through the resource id's other lines
    assert "globex/web/VirtualMachine/web-0" in rows
    assert UNTAGGED in rows  # the tax line, the credit and the S3 lines have no tag and no resource


def test_rds_lines_go_to_their_vdc(estate, cli):
    """A database's lines (tagged, and untagged through its ARN) count in the VDC of its address."""
    specs, lines = estate
    doc = run_json(cli, specs, "--by", "vdc", "--enterprise", "globex")
    rows = {r["key"]: Decimal(r["cost"]) for r in doc["enterprises"][0]["rows"]}
    rds = [ln for ln in lines[GLOBEX] if ln.product == "AmazonRDS"]
    assert len(rds) == 2 and not rds[1].address_tag
    resource_addr = {ln.resource: ln.address_tag for ln in lines[GLOBEX] if ln.address_tag}
    in_db = [ln for ln in lines[GLOBEX] if (ln.address_tag or resource_addr.get(ln.resource, "")).split("/")[1:2]
             == ["db"]]
    assert set(map(id, rds)) <= set(map(id, in_db))
    assert abs(rows["db"] - cents(exact(in_db))) <= Decimal("0.01")


def test_one_enterprise_reads_its_resellers_report(estate, cli):
    specs, lines = estate
    doc = run_json(cli, specs, "--enterprise", "globex")
    assert [b["name"] for b in doc["enterprises"]] == ["globex"]
    assert Decimal(doc["enterprises"][0]["total"]) == expected_charges(lines)["globex"]
    assert doc["enterprises"][0]["source"] == "s3://acme-billing/cur/acme-hourly"


def test_csv_output(estate, cli, tmp_path):
    specs, lines = estate
    out = tmp_path / "bill.csv"
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--format", "csv", "--by", "account",
            "--out", str(out))
    assert r.code == 0, r.err
    import csv

    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["month", "enterprise", "reseller", "by", "key", "cost", "charge"]
    want = expected_charges(lines)
    bill = {(r["enterprise"], r["key"]): Decimal(r["charge"]) for r in rows}
    assert bill[("acme", "(bill)")] == want["acme"]
    assert bill[("acme", "(customer globex)")] == want["globex"]
    assert bill[("acme", "(total)")] == want["acme"] + want["globex"] + want["initech"]
    assert bill[("acme", OUTSIDER)] == cents(discounted(exact(lines[OUTSIDER]), DISCOUNT["acme"]))
    assert ("globex", "(total)") not in bill


def test_table_output(estate, cli):
    specs, lines = estate
    r = cli("billing", "--specs", str(specs), "--month", "2024-05")
    assert r.code == 0, r.err
    want = expected_charges(lines)
    assert r.out.startswith("Billing 2024-05 · USD · by service · data to 2024-05-10 (10 of 31 days)")
    assert f"{want['globex']:,.2f}" in r.out
    assert "customer globex" in r.out and "AmazonEC2" in r.out
    assert "budget monthly: spend" in r.out


@pytest.mark.parametrize("ratio,code,crossed", [
    ("3", 0, []),             # forecast (x3.1) crosses 100 %, actual spend does not: not a failure
    ("1.1", 0, [50, 80]),     # 91 %: warnings only
    ("1", 1, [50, 80, 100]),  # exactly at the limit counts as crossed
    ("0.5", 1, [50, 80, 100]),
], ids=["forecast-only", "warn", "at-limit", "over"])
def test_budget_check_exit_codes(estate, cli, ratio, code, crossed):
    specs, lines = estate
    want = expected_charges(lines)
    total = want["acme"] + want["globex"] + want["initech"]
    limit = cents(total * Decimal(ratio))
    write_specs(specs, acme_limit=str(limit))
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--check", "--format", "json")
    assert r.code == code, r.err
    doc = json.loads(r.out)
    acme = next(b for b in doc["enterprises"] if b["name"] == "acme")
    bud = acme["budgets"][0]
    assert Decimal(bud["spend"]) == total
    assert Decimal(bud["forecast"]) == cents(total * 31 / 10)  # linear on the 10 days seen
    assert bud["crossed"] == crossed
    assert bud["forecastCrossed"] == [50, 80, 100]
    if code:
        assert "over budget: enterprise 'acme' budget 'monthly'" in r.err and "crossed 100%" in r.err
    else:
        assert "no threshold of 100% or more crossed" in r.err


def test_html_is_self_contained(estate, cli, tmp_path):
    specs, _ = estate
    out = tmp_path / "bill.html"
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--format", "html", "--out", str(out))
    assert r.code == 0, r.err
    page = out.read_text()
    assert page.count("<svg") == 4 + 4 + 3 + 3 + 3  # four charts with budgets (acme, globex), else three
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "@import" not in page and "url(" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_env_credentials_and_zip_at_the_bucket_root(aws, cli, tmp_path, monkeypatch):
    """Keys named by env variables (the ambient account here); a ZIP report with no bucket prefix."""
    monkeypatch.setenv("SOLO_KEY", "testing")
    monkeypatch.setenv("SOLO_SECRET", "testing")
    rows = [Line(day=MONTH.replace(day=d), account="123456789012", product="AmazonEC2",
                 cost=Decimal("0.3333333333")) for d in range(1, 4)]
    put_report(boto3.client("s3", region_name="us-east-1"), "solo-cur", "", "solo", MONTH,
               [zipped(csv_bytes(rows[:2])), zipped(csv_bytes(rows[2:]))], compression="ZIP")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "e.yaml").write_text("""
apiVersion: controller/v1
kind: Enterprise
metadata: {name: solo}
spec:
  credentials: {env: {accessKeyId: SOLO_KEY, secretAccessKey: SOLO_SECRET}}
  regions: [us-east-1]
  billing: {amazon_bucket: solo-cur, amazon_report_name: solo, amazon_billing_compress_format: ZIP,
            amazon_discount: "33.3"}
""")
    doc = run_json(cli, specs)
    (bill,) = doc["enterprises"]
    assert bill["cost"] == "1.00"  # 0.9999999999 rounds half up
    assert Decimal(bill["charge"]) == cents(discounted(Decimal("0.9999999999"), Decimal("33.3")))
    assert doc["daysSeen"] == 3


def test_by_tag_from_the_cur_tag_columns(aws, cli, tmp_path):
    """--by tag:KEY groups a bill by one of your tags (resourceTags/user:KEY), lines without it under
    (untagged), exact to the cent; a report file without that column at all bills everything untagged."""
    rnd = random.Random(7)
    values = ["4711", "4712", "team a/b", ""]  # "" = the line does not carry the tag
    lines = []
    for i in range(60):
        cost = Decimal(rnd.randrange(1, 10**11)) / Decimal(10**10)
        tag = values[i % 4]
        lines.append(Line(day=MONTH.replace(day=1 + i % 9), hour=i % 24, account=ACME, product="AmazonEC2",
                          cost=cost, resource=f"i-{i % 5}", enterprise_tag="acme",
                          address_tag=f"acme/web/VirtualMachine/vm-{i % 5}",
                          user_tags=(("CostCenter", tag), ("Owner", "x")) if tag else (("Owner", "x"),)))
    old = [Line(day=MONTH.replace(day=12), account=ACME, product="AmazonS3", cost=Decimal("0.1234567891"))]
    put_report(s3_for(ACME), "acme-billing", "cur", "acme-hourly", MONTH,
               [gz(csv_bytes(lines[:30], payer=ACME, tag_keys=["Owner", "CostCenter"])),
                gz(csv_bytes(lines[30:], payer=ACME, tag_keys=["CostCenter"])),
                gz(csv_bytes(old, payer=ACME))])  # a file from before the tag was activated
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "e.yaml").write_text(ENTERPRISES.split("---")[0].replace("{acme_limit}", "100000"))
    doc = run_json(cli, specs, "--by", "tag:CostCenter")
    assert doc["by"] == "tag:CostCenter"
    bill = doc["enterprises"][0]
    rows = {r["key"]: r for r in bill["rows"]}
    want: dict[str, Decimal] = defaultdict(Decimal)
    for ln in lines + old:
        want[dict(ln.user_tags).get("CostCenter") or UNTAGGED] += ln.cost
    assert set(rows) == {"4711", "4712", "team a/b", UNTAGGED}
    for key, v in want.items():
        assert abs(Decimal(rows[key]["cost"]) - cents(v)) <= Decimal("0.01"), key
        assert abs(Decimal(rows[key]["charge"]) - cents(discounted(v, DISCOUNT["acme"]))) <= Decimal("0.01"), key
    assert sum(Decimal(r["charge"]) for r in rows.values()) == Decimal(bill["charge"])
    assert Decimal(bill["cost"]) == cents(exact(lines + old))
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--by", "tag:CostCenter")
    assert r.code == 0 and "TAG CostCenter" in r.out and "team a/b" in r.out, r.out + r.err
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--by", "tag:")
    assert r.code != 0 and "tag:KEY" in r.err
