"""Realistic Cost and Usage Report files, for tests, benchmarks and trying `controller billing` locally.

`put_report` uploads report files and their manifest the way AWS lays out a legacy CUR export;
`write_gz` streams any number of generated lines into a gzip file without holding them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, BinaryIO

from controller.billing import (
    COL_ACCOUNT,
    COL_COST,
    COL_CURRENCY,
    COL_LINE_ITEM_ID,
    COL_PRODUCT,
    COL_RESOURCE,
    COL_TAG_ADDRESS,
    COL_TAG_ENTERPRISE,
    COL_TYPE,
    COL_USAGE_START,
)

COLUMNS = [
    COL_LINE_ITEM_ID, "identity/TimeInterval", "bill/InvoiceId", "bill/BillingEntity", "bill/BillType",
    "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", COL_ACCOUNT, COL_TYPE,
    COL_USAGE_START, "lineItem/UsageEndDate", COL_PRODUCT, "lineItem/UsageType", "lineItem/Operation",
    "lineItem/AvailabilityZone", COL_RESOURCE, "lineItem/UsageAmount", COL_CURRENCY, "lineItem/UnblendedRate",
    COL_COST, "lineItem/BlendedCost", "lineItem/LineItemDescription", "product/ProductName", "product/region",
    "pricing/unit", COL_TAG_ENTERPRISE, COL_TAG_ADDRESS, "resourceTags/user:Name",
]

SERVICES = [
    # product code, usage type, operation, unit, name, resource id prefix
    ("AmazonEC2", "BoxUsage:m5.large", "RunInstances", "Hrs", "Amazon Elastic Compute Cloud", "i-"),
    ("AmazonEC2", "EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "GB-Mo", "Amazon Elastic Compute Cloud", "vol-"),
    ("AmazonVPC", "NatGateway-Hours", "NatGateway", "Hrs", "Amazon Virtual Private Cloud", "nat-"),
    ("AmazonS3", "TimedStorage-ByteHrs", "StandardStorage", "GB-Mo", "Amazon Simple Storage Service", ""),
    ("AWSDataTransfer", "DataTransfer-Out-Bytes", "", "GB", "AWS Data Transfer", "i-"),
    ("ElasticLoadBalancing", "LoadBalancerUsage", "LoadBalancing:Application", "Hrs", "Elastic Load Balancing",
     "arn:aws:elasticloadbalancing:us-east-1:"),
]


@dataclass(frozen=True)
class Line:
    """The fields of one line that matter for attribution; the rest is generated around them."""

    day: date
    account: str
    product: str
    cost: Decimal
    resource: str = ""
    enterprise_tag: str = ""
    address_tag: str = ""
    hour: int = 0
    line_type: str = "Usage"
    user_tags: tuple[tuple[str, str], ...] = ()  # your tags: resourceTags/user:KEY columns (csv_bytes tag_keys)

    def row(self, payer: str = "", tag_keys: Iterable[str] = ()) -> list[str]:
        start = f"{self.day:%Y-%m-%d}T{self.hour:02d}:00:00Z"
        end = f"{self.day:%Y-%m-%d}T{self.hour:02d}:59:59Z"
        first = self.day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        svc = next((s for s in SERVICES if s[0] == self.product), (self.product, "Usage", "", "Units",
                                                                   self.product, ""))
        amount = "1.0000000000"
        rate = f"{self.cost:f}"
        name = self.address_tag.rsplit("/", 1)[-1] if self.address_tag else ""
        return [
            uuid.uuid4().hex[:52], f"{start}/{end}", "", "AWS", "Anniversary", payer or self.account,
            f"{first:%Y-%m-%d}T00:00:00Z", f"{nxt:%Y-%m-%d}T00:00:00Z", self.account, self.line_type, start, end,
            self.product, f"USE1-{svc[1]}", svc[2], "us-east-1a", self.resource, amount, "USD", rate,
            f"{self.cost:f}", f"{self.cost:f}", _description(svc), svc[4],
            "us-east-1", svc[3], self.enterprise_tag, self.address_tag, name,
            *(dict(self.user_tags).get(k, "") for k in tag_keys),
        ]


def _description(svc: tuple[str, ...]) -> str:
    if svc[0] == "ElasticLoadBalancing":  # some AWS descriptions hold commas: those lines are quoted
        return f"$0.0225 per Application LoadBalancer-hour (or partial hour), {svc[1]}"
    return f"{svc[4]} {svc[1]} usage in US East (N. Virginia)"


def csv_bytes(lines: Iterable[Line], columns: list[str] | None = None, payer: str = "",
              tag_keys: Iterable[str] = ()) -> bytes:
    """A CUR CSV; tag_keys adds a resourceTags/user:KEY column per key (a tag activated for cost allocation)."""
    keys = list(tag_keys)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow((columns or COLUMNS) + [f"resourceTags/user:{k}" for k in keys])
    for ln in lines:
        w.writerow(ln.row(payer, keys))
    return buf.getvalue().encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6)


def zipped(data: bytes, name: str = "report-1.csv") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def period(month: date) -> str:
    nxt = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
    return f"{month:%Y%m01}-{nxt:%Y%m%d}"


def put_report(s3: Any, bucket: str, prefix: str, report: str, month: date, files: list[bytes],
               compression: str = "GZ", manifest: bool = True, create_bucket: bool = True,
               region: str = "us-east-1") -> list[str]:
    """Upload report files (already compressed) and their manifest; returns the report keys."""
    if create_bucket:
        kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **kw)
    base = f"{prefix.strip('/')}/{report}" if prefix.strip("/") else report
    folder = f"{base}/{period(month)}"
    assembly = str(uuid.uuid4())
    ext = "csv.gz" if compression == "GZ" else "csv.zip"
    keys = []
    for i, body in enumerate(files, 1):
        key = f"{folder}/{assembly}/{report}-{i}.{ext}"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        keys.append(key)
    if manifest:
        doc = {"assemblyId": assembly, "account": "", "columns": [{"category": c.split("/")[0],
                                                                   "name": c.split("/", 1)[1]} for c in COLUMNS],
               "charset": "UTF-8", "compression": "GZIP" if compression == "GZ" else "ZIP",
               "contentType": "text/csv", "reportId": uuid.uuid4().hex, "reportName": report,
               "billingPeriod": {"start": f"{month:%Y%m01}T000000.000Z"}, "bucket": bucket, "reportKeys": keys}
        s3.put_object(Bucket=bucket, Key=f"{folder}/{report}-Manifest.json", Body=json.dumps(doc).encode())
    return keys


# ------------------------------------------------------------------------------------------------
# Big months, streamed


def generated_lines(n: int, month: date, accounts: dict[str, str], resources: int = 3000,
                    seed: int = 7) -> Iterator[Line]:
    """n hourly lines spread over the month, resources and accounts ({account: enterprise})."""
    rnd = random.Random(seed)
    days = ((month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
    accts = list(accounts.items())
    pool = []
    for r in range(resources):
        acct, ent = accts[r % len(accts)]
        svc = SERVICES[r % len(SERVICES)]
        rid = f"{svc[5]}{r:017x}" if svc[5] else ""
        tagged = r % 10 != 0
        vdc = f"vdc-{r % 7}"
        kind = "VirtualMachine" if svc[5] == "i-" else ("Volume" if svc[5] == "vol-" else "VirtualDatacenter")
        addr = (f"{ent}/{vdc}/{kind}/res-{r}" if kind != "VirtualDatacenter" else f"{ent}/VirtualDatacenter/{vdc}")
        pool.append((acct, svc[0], rid, ent if tagged else "", addr if tagged else ""))
    for i in range(n):
        acct, product, rid, ent, addr = pool[i % resources]
        hour_index = (i // resources) % (days * 24)
        cost = Decimal(rnd.randrange(0, 10**8)) / Decimal(10**10)
        yield Line(day=month.replace(day=1 + hour_index // 24), hour=hour_index % 24, account=acct,
                   product=product, cost=cost, resource=rid, enterprise_tag=ent, address_tag=addr)


def write_gz(out: BinaryIO, lines: Iterable[Line], compresslevel: int = 6) -> tuple[int, Decimal]:
    """Stream lines into a gzip CUR file; returns (uncompressed bytes, exact total cost)."""
    total = Decimal(0)
    size = 0
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compresslevel) as gzf:
        text = io.TextIOWrapper(gzf, encoding="utf-8", newline="")
        w = csv.writer(text, lineterminator="\n")
        w.writerow(COLUMNS)
        for ln in lines:
            w.writerow(ln.row())
            total += ln.cost
        text.flush()
        size = gzf.tell() if hasattr(gzf, "tell") else 0
        text.detach()
    return size, total
