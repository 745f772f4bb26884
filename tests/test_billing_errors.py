"""Every unreadable report is ONE line naming the enterprise, the bucket/key and the fix; exit 1."""

from __future__ import annotations

import gzip
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from controller.billing.sample import COLUMNS, Line, csv_bytes, gz, put_report, zipped
from tests.helpers import client

MONTH = date(2024, 5, 1)
ACCOUNT = "111111111111"


def spec(fmt: str = "GZ") -> str:
    return f"""
apiVersion: controller/v1
kind: Enterprise
metadata: {{name: acme}}
spec:
  account: "{ACCOUNT}"
  credentials: {{assumeRole: {{roleArn: "arn:aws:iam::{ACCOUNT}:role/x"}}}}
  regions: [us-east-1]
  billing: {{bucket: acme-billing, bucketPrefix: cur, reportName: acme, compressFormat: {fmt}}}
"""


def lines(n: int = 5) -> list[Line]:
    return [Line(day=MONTH.replace(day=1 + i % 28), account=ACCOUNT, product="AmazonEC2", cost=Decimal("1.25"))
            for i in range(n)]


def bomb_csv() -> bytes:
    """A valid header and ~48 MB of one repeated valid row: deflate shrinks it about 1000 times."""
    body = csv_bytes(lines(1))
    header, row = body.split(b"\n", 1)
    return header + b"\n" + row * (48 * 1024**2 // len(row))


CASES = {
    # id: (configured format, files to upload or None for no bucket, manifest?, expected fragments)
    "no-bucket": ("GZ", None, True, ["bucket 'acme-billing' does not exist", "NoSuchBucket", "billing.bucket"]),
    "no-manifest": ("GZ", [gz(csv_bytes(lines()))], False,
                    ["no CUR manifest at s3://acme-billing/cur/acme/20240501-20240601/acme-Manifest.json",
                     "billing.bucketPrefix", "billing.reportName"]),
    "zip-configured-gz-found": ("ZIP", [gz(csv_bytes(lines()))], True,
                                ["s3://acme-billing/cur/acme/20240501-20240601/", "is GZ-compressed but "
                                 "billing.compressFormat is ZIP", "set compressFormat: GZ"]),
    "gz-configured-zip-found": ("GZ", [zipped(csv_bytes(lines()))], True,
                                ["is ZIP-compressed but billing.compressFormat is GZ", "set compressFormat: ZIP"]),
    "not-compressed": ("GZ", [csv_bytes(lines())], True, ["is neither ZIP nor GZ compressed"]),
    "header-missing-columns": ("GZ", [gz(b"identity/LineItemId,lineItem/UsageStartDate,foo\n1,2,3\n")], True,
                               ["is not a Cost and Usage Report: missing column(s) lineItem/UsageAccountId, "
                                "lineItem/ProductCode, lineItem/UnblendedCost", "billing.reportName"]),
    "not-a-csv": ("ZIP", [zipped(b"\x00\x01 this is not text \xff\xfe\n")], True, ["acme-1.csv.zip!report-1.csv"]),
    "short-row": ("GZ", [gz(csv_bytes(lines()) + b"x,y,z\n")], True,
                  ["line 7 has 3 field(s), the header " + str(len(COLUMNS)), "regenerate the report"]),
    "cost-not-a-number": ("GZ", [gz(csv_bytes(lines()).replace(b",USD,1.25,1.25,", b",USD,1.25,1.2x5,", 1))], True,
                          ["line 2: lineItem/UnblendedCost is not a number ('1.2x5')"]),
    "truncated-gzip": ("GZ", [gz(csv_bytes(lines(200)))[:-300]], True, ["is a damaged GZ file"]),
    "gz-bomb": ("GZ", "bomb-gz", True, ["refused as a possible decompression bomb",
                                        "CONTROLLER_BILLING_MAX_RATIO"]),
    "zip-bomb": ("ZIP", "bomb-zip", True, ["acme-1.csv.zip!report-1.csv inflates to more than",
                                           "refused as a possible decompression bomb"]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_unreadable_report_is_one_clear_line(aws, cli, tmp_path: Path, case: str):
    fmt, files, manifest, expected = CASES[case]
    if files == "bomb-gz":
        files = [gzip.compress(bomb_csv(), compresslevel=9)]
    elif files == "bomb-zip":
        files = [zipped(bomb_csv())]
    if files is not None:
        put_report(client("s3", ACCOUNT), "acme-billing", "cur", "acme", MONTH, files, compression=fmt,
                   manifest=manifest)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "e.yaml").write_text(spec(fmt))
    r = cli("billing", "--specs", str(specs), "--month", "2024-05")
    assert r.code == 1
    assert r.out == ""
    err = r.err.strip().splitlines()
    assert len(err) == 1, r.err
    assert "Traceback" not in r.err
    assert err[0].startswith("error: billing of enterprise 'acme': ")
    assert "acme-billing" in err[0]
    for fragment in expected:
        assert fragment in err[0]


def test_bad_manifest(aws, cli, tmp_path: Path):
    s3 = client("s3", ACCOUNT)
    s3.create_bucket(Bucket="acme-billing")
    s3.put_object(Bucket="acme-billing", Key="cur/acme/20240501-20240601/acme-Manifest.json", Body=b"{not json")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "e.yaml").write_text(spec())
    r = cli("billing", "--specs", str(specs), "--month", "2024-05")
    assert r.code == 1
    assert r.err.strip() == r.err.strip().splitlines()[0]
    assert "s3://acme-billing/cur/acme/20240501-20240601/acme-Manifest.json is not a CUR manifest" in r.err


@pytest.mark.parametrize("args,fragment", [
    (["--month", "2024-13"], "is not a month: write YYYY-MM"),
    (["--enterprise", "nobody"], "no enterprise 'nobody' in the specs (known: acme)"),
], ids=["bad-month", "unknown-enterprise"])
def test_bad_arguments(cli, tmp_path: Path, args: list[str], fragment: str):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "e.yaml").write_text(spec())
    r = cli("billing", "--specs", str(specs), *args)
    assert r.code != 0
    assert fragment in r.err
    assert "Traceback" not in r.err
