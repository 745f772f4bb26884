"""The HTML report renders in a real browser (headless Chromium) into a page that is not blank.

Chromium is optional: without /usr/bin/chromium (or CHROMIUM=path) the browser test is skipped, so
CI needs no install. The rest checks the file itself.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from controller.billing.html import to_html
from controller.billing.report import Estate, build
from controller.billing.sample import Line, csv_bytes, gz, put_report
from controller.spec.models import EnterpriseSpec, Resource
from tests.helpers import client

MONTH = date(2024, 5, 1)


def chromium() -> str | None:
    for c in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
              shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if c and os.path.exists(c):
            return c
    return None


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): (width, height, rows of pixel bytes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def sample_report():
    ent = Resource(kind="Enterprise", metadata={"name": "acme"}, spec=EnterpriseSpec.model_validate({
        "account": "111111111111", "credentials": {"profile": "x"}, "regions": ["us-east-1"],
        "billing": {"discount": 5, "bucket": "b", "reportName": "r"},
        "budgets": [{"name": "monthly", "monthlyLimit": 900, "alertAt": [50, 80, 100]}]}))
    from controller.billing.cur import Cells

    cells = Cells(lines=3)
    for day in range(1, 13):
        for svc, vdc, v in (("AmazonEC2", "web", "18.5"), ("AmazonVPC", "web", "3.2"), ("AmazonS3", "", "1.1"),
                            ("AmazonEC2", "db", "9.75")):
            addr = f"acme/{vdc}/VirtualMachine/{vdc}-1" if vdc else ""
            cells.cells[(f"2024-05-{day:02d}", svc, "111111111111", "", addr, "", "")] = Decimal(v) * (1 + day % 3)
    estate = Estate([ent])
    return build(estate, ["acme"], ["acme"], MONTH, "service", {estate.own_source["acme"].key:
                                                                    (estate.own_source["acme"], cells)})


def test_html_draws_its_charts_from_the_data():
    page = to_html(sample_report())
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 4
    assert "<script" not in page
    assert "AmazonEC2" in page and "web" in page and "db" in page
    assert "monthly 100%" in page  # the budget line
    assert page.count("<rect") >= 12 + 3  # a bar per day with data, a bar per service/VDC


@pytest.mark.skipif(chromium() is None, reason="no Chromium (/usr/bin/chromium or CHROMIUM=path): browser "
                    "rendering not checked")
def test_html_renders_in_headless_chromium(aws, cli, tmp_path: Path):
    s3 = client("s3", "111111111111")
    rows = [Line(day=MONTH.replace(day=d), account="111111111111", product=p, cost=Decimal(c) * d,
                 resource=f"i-{vdc}", enterprise_tag="acme", address_tag=f"acme/{vdc}/VirtualMachine/{vdc}-1")
            for d in range(1, 15) for p, vdc, c in (("AmazonEC2", "web", "3.1"), ("AmazonRDS", "db", "2.4"))]
    put_report(s3, "acme-billing", "cur", "acme", MONTH, [gz(csv_bytes(rows))])
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "e.yaml").write_text("""
apiVersion: controller/v1
kind: Enterprise
metadata: {name: acme}
spec:
  account: "111111111111"
  credentials: {assumeRole: {roleArn: "arn:aws:iam::111111111111:role/x"}}
  regions: [us-east-1]
  billing: {discount: 5, bucket: acme-billing, bucketPrefix: cur, reportName: acme}
  budgets: [{name: monthly, monthlyLimit: 1200, alertAt: [50, 80, 100]}]
""")
    page = tmp_path / "billing.html"
    r = cli("billing", "--specs", str(specs), "--month", "2024-05", "--format", "html", "--out", str(page))
    assert r.code == 0, r.err
    shot = Path(os.environ.get("BILLING_SCREENSHOT") or tmp_path / "billing.png")
    p = subprocess.run([chromium() or "", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--disable-dev-shm-usage", "--no-first-run", "--window-size=1280,1100",
                        f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), p.stderr[-2000:]
    width, height, rows_px = png_pixels(shot)
    assert (width, height) == (1280, 1100)
    colors: set[bytes] = set()
    non_white = 0
    for row in rows_px[::4]:
        step = len(row) // width
        for x in range(0, len(row), step * 4):
            px = row[x:x + 3]
            colors.add(px)
            non_white += px != b"\xff\xff\xff"
    assert len(colors) > 20, "the screenshot is (nearly) one colour: the page did not render"
    assert non_white > 2000
