"""Read a month of a Cost and Usage Report (CUR) out of S3, streaming.

Layout (CUR "legacy" exports)::

    s3://BUCKET/PREFIX/REPORT/20240501-20240601/REPORT-Manifest.json   {"reportKeys": [...], ...}
    s3://BUCKET/PREFIX/REPORT/20240501-20240601/<assembly>/REPORT-1.csv.gz   (or .csv.zip)

Nothing is ever held whole in memory: ``csv.reader`` reads an ``io.TextIOWrapper`` over a gzip or
zip stream over the S3 body. A zip member is reached through a seekable view of the object made of
HTTP range reads, since a zip's directory sits at its end. A guard counts decompressed bytes and
refuses a file that inflates beyond ``MAX_RATIO`` times its compressed size (and beyond
``MAX_BYTES`` in any case): a decompression bomb is an error, never an out-of-memory.

The hot loop aggregates lines into cells keyed by (day, service, account, enterprise tag, address
tag, resource id); a month of millions of lines becomes tens of thousands of cells.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

import botocore.exceptions

from controller.billing import (
    COL_ACCOUNT,
    COL_COST,
    COL_CURRENCY,
    COL_PRODUCT,
    COL_RESOURCE,
    COL_TAG_ADDRESS,
    COL_TAG_ENTERPRISE,
    COL_USAGE_START,
    REQUIRED_COLUMNS,
)
from controller.errors import ControllerError

MAX_RATIO = int(os.environ.get("CONTROLLER_BILLING_MAX_RATIO", "200"))
MAX_BYTES = int(os.environ.get("CONTROLLER_BILLING_MAX_BYTES", str(64 * 1024**3)))
RATIO_FLOOR = 16 * 1024**2  # below this much output, no ratio is suspicious
CHUNK = 1 << 20

GZ_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


class BillingError(ControllerError):
    """A report cannot be read: one line naming the enterprise, the S3 object and the fix."""


@dataclass(frozen=True)
class Source:
    """One CUR export, as an enterprise's billing settings describe it."""

    enterprise: str  # whose settings (and billing credentials) reach it
    bucket: str
    region: str
    prefix: str
    report_name: str
    compress_format: str  # ZIP | GZ

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.bucket, self.prefix.strip("/"), self.report_name)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.report_prefix()}"

    def report_prefix(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{self.report_name}" if prefix else self.report_name

    def period_folder(self, month: date) -> str:
        nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        return f"{self.report_prefix()}/{month:%Y%m01}-{nxt:%Y%m%d}"

    def manifest_key(self, month: date) -> str:
        return f"{self.period_folder(month)}/{self.report_name}-Manifest.json"


@dataclass
class Cells:
    """What a month of lines reduces to."""

    # (day, service, account, enterprise tag, address tag, resource id, value of the --by tag:KEY column)
    cells: dict[tuple[str, str, str, str, str, str, str], Decimal] = field(default_factory=dict)
    tag_column: str | None = None  # --by tag:KEY: its resourceTags/user:KEY column is read too
    # resource id -> address tag, learnt from the tagged lines of that resource
    resource_address: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    currency: str = ""
    files: list[str] = field(default_factory=list)
    compressed_bytes: int = 0
    decompressed_bytes: int = 0


# ------------------------------------------------------------------------------------------------
# S3


def _code(e: botocore.exceptions.ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", "Error"))


def _s3_error(src: Source, key: str, e: Exception, what: str) -> BillingError:
    where = f"s3://{src.bucket}/{key}"
    who = f"billing of enterprise {src.enterprise!r}"
    if isinstance(e, botocore.exceptions.ClientError):
        code = _code(e)
        if code in ("NoSuchBucket", "NoSuchBucketPolicy"):
            return BillingError(f"{who}: bucket {src.bucket!r} does not exist (NoSuchBucket, region "
                                f"{src.region}): fix billing.bucket (amazon_bucket) or create the CUR export")
        if code in ("NoSuchKey", "404", "NotFound"):
            return BillingError(f"{who}: no {what} at {where} (NoSuchKey): check billing.bucketPrefix and "
                                "billing.reportName (amazon_bucket_prefix, amazon_report_name), or the month has "
                                "no report yet")
        if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return BillingError(f"{who}: access to {where} denied ({code}): give the billing credentials "
                                "(billingCredentials, else credentials) s3:GetObject and s3:ListBucket on the bucket")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
            return BillingError(f"{who}: bucket {src.bucket!r} is not in region {src.region} ({code}): fix "
                                "billing.bucketRegion (amazon_bucket_region)")
        msg = str(e.response.get("Error", {}).get("Message", "")).strip()
        return BillingError(f"{who}: cannot read {where}: {code}: {msg}")
    return BillingError(f"{who}: cannot read {where}: {type(e).__name__}: {e}")


def _get(client: Any, src: Source, key: str, what: str, **kw: Any) -> dict[str, Any]:
    try:
        return client.get_object(Bucket=src.bucket, Key=key, **kw)  # type: ignore[no-any-return]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise _s3_error(src, key, e, what) from None


def read_manifest(client: Any, src: Source, month: date) -> list[str]:
    """The report files of the month (the manifest's reportKeys: the latest assembly)."""
    key = src.manifest_key(month)
    body = _get(client, src, key, "CUR manifest")["Body"].read()
    try:
        manifest = json.loads(body)
        keys = manifest["reportKeys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise TypeError("reportKeys is not a list of keys")
    except (ValueError, KeyError, TypeError) as e:
        raise BillingError(f"billing of enterprise {src.enterprise!r}: s3://{src.bucket}/{key} is not a CUR "
                           f"manifest ({type(e).__name__}: {e}): regenerate the report or fix "
                           "billing.reportName") from None
    return keys


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable view of an S3 object; reads stream from one GET until a seek moves away."""

    def __init__(self, client: Any, src: Source, key: str, size: int):
        super().__init__()
        self._client, self._src, self._key, self._size = client, src, key, size
        self._pos = 0
        self._body: Any = None
        self._body_pos = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        if self._pos >= self._size:
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._close_body()
            resp = _get(self._client, self._src, self._key, "CUR report file", Range=f"bytes={self._pos}-")
            self._body, self._body_pos = resp["Body"], self._pos
        data = self._body.read(len(b))
        n = len(data)
        b[:n] = data
        self._pos += n
        self._body_pos += n
        return n

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._close_body()
        super().close()


class BodyReader(io.RawIOBase):
    """A stream (a botocore StreamingBody, a decompressor) as a raw stream, counting the bytes it hands out."""

    def __init__(self, body: Any):
        super().__init__()
        self._body = body
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._body.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        self._body.close()
        super().close()


class Guard(BodyReader):
    """Counts decompressed bytes; past the limit, raises instead of inflating further."""

    def __init__(self, inner: Any, limit: int, src: Source, key: str, compressed: int):
        super().__init__(inner)
        self.limit, self._src, self._key, self._compressed = limit, src, key, compressed

    def readinto(self, b: Any) -> int:
        n = super().readinto(b)
        if self.count > self.limit:
            raise BillingError(
                f"billing of enterprise {self._src.enterprise!r}: s3://{self._src.bucket}/{self._key} inflates to "
                f"more than {self.limit:,} bytes from {self._compressed:,} compressed (limits: {MAX_RATIO}x, "
                f"{MAX_BYTES:,} bytes): refused as a possible decompression bomb; if the report is genuine, raise "
                "CONTROLLER_BILLING_MAX_RATIO / CONTROLLER_BILLING_MAX_BYTES")
        return n


def inflate_limit(compressed: int) -> int:
    return min(MAX_BYTES, max(RATIO_FLOOR, MAX_RATIO * compressed))


def _format_of(magic: bytes) -> str | None:
    if magic.startswith(GZ_MAGIC):
        return "GZ"
    if magic.startswith(ZIP_MAGICS):
        return "ZIP"
    return None


def read_report_file(client: Any, src: Source, key: str, out: Cells) -> None:
    """Stream one report file into ``out``."""
    head = _get(client, src, key, "CUR report file", Range="bytes=0-3")
    magic = head["Body"].read()
    size = _object_size(head, len(magic))
    found = _format_of(magic)
    where = f"s3://{src.bucket}/{key}"
    who = f"billing of enterprise {src.enterprise!r}"
    if found is None:
        raise BillingError(f"{who}: {where} is neither ZIP nor GZ compressed: export the CUR with compression "
                           f"{src.compress_format} (billing.compressFormat)")
    if found != src.compress_format:
        raise BillingError(f"{who}: {where} is {found}-compressed but billing.compressFormat is "
                           f"{src.compress_format}: set compressFormat: {found} (amazon_billing_compress_format)")
    out.files.append(where)
    try:
        if found == "GZ":
            body = BodyReader(_get(client, src, key, "CUR report file")["Body"])
            with body, gzip.GzipFile(fileobj=io.BufferedReader(body, CHUNK), mode="rb") as gz:
                guard = Guard(gz, inflate_limit(size), src, key, size)
                _parse(guard, src, key, out)
                out.compressed_bytes += body.count
                out.decompressed_bytes += guard.count
        else:
            raw = S3RangeFile(client, src, key, size)
            with raw, zipfile.ZipFile(io.BufferedReader(raw, CHUNK)) as zf:
                members = [i for i in zf.infolist() if not i.is_dir()]
                csvs = [i for i in members if i.filename.lower().endswith(".csv")] or members
                if not csvs:
                    raise BillingError(f"{who}: {where} is an empty ZIP: regenerate the report")
                for info in csvs:
                    with zf.open(info) as member:
                        guard = Guard(member, inflate_limit(info.compress_size), src, f"{key}!{info.filename}",
                                      info.compress_size)
                        _parse(guard, src, f"{key}!{info.filename}", out)
                        out.compressed_bytes += info.compress_size
                        out.decompressed_bytes += guard.count
    except BillingError:
        raise
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        raise BillingError(f"{who}: {where} is a damaged {found} file ({type(e).__name__}: {e}): "
                           "regenerate the report") from None


def _object_size(resp: dict[str, Any], got: int) -> int:
    rng = str(resp.get("ContentRange") or "")
    if "/" in rng and rng.rsplit("/", 1)[1].isdigit():
        return int(rng.rsplit("/", 1)[1])
    return int(resp.get("ContentLength") or got)


# ------------------------------------------------------------------------------------------------
# The hot loop


def _record(first: str, text: io.TextIOWrapper) -> list[str]:
    """A line with quotes: completed with the following lines while a quoted field is open, then csv."""
    while first.count('"') % 2:
        more = text.readline()
        if not more:
            break
        first += more
    return next(csv.reader([first]), [])


def _parse(stream: io.RawIOBase, src: Source, key: str, out: Cells) -> None:
    """The hot loop. A line without a quote is split on commas (several times faster than csv);
    a line with quotes goes through the csv module, with the lines a quoted newline spans."""
    text = io.TextIOWrapper(io.BufferedReader(stream, CHUNK), encoding="utf-8", newline="")
    where = f"s3://{src.bucket}/{key}"
    who = f"billing of enterprise {src.enterprise!r}"
    try:
        first = text.readline()
        header = _record(first, text) if first else []
    except (csv.Error, UnicodeDecodeError) as e:
        raise BillingError(f"{who}: {where} has a malformed CSV header ({e}): regenerate the report") from None
    if not header:
        return  # an empty file: nothing billed
    header = [h.strip().lstrip("\ufeff") for h in header]
    index = {name: i for i, name in enumerate(header)}
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise BillingError(f"{who}: {where} is not a Cost and Usage Report: missing column(s) "
                           f"{', '.join(missing)}: export a CUR with resource IDs (legacy CSV format) and "
                           "point billing.reportName at it")
    # Optional columns missing: read them from an empty column appended to each row.
    pad = len(header)
    optional = [index.get(c, pad) for c in (COL_TAG_ENTERPRISE, COL_TAG_ADDRESS, COL_RESOURCE)]
    optional.append(index.get(out.tag_column, pad) if out.tag_column else pad)  # a missing one: all untagged
    padded = pad in optional
    i_currency = index.get(COL_CURRENCY)
    get = itemgetter(index[COL_USAGE_START], index[COL_PRODUCT], index[COL_ACCOUNT], *optional, index[COL_COST])

    cells = out.cells
    cell = cells.get
    rmap = out.resource_address
    zero = Decimal(0)
    dec = Decimal
    n = 0
    row: list[str] = []
    last: list[str] = []
    try:
        for line in text:
            row = _record(line, text) if '"' in line else line.rstrip("\r\n").split(",")
            if padded:
                row.append("")
            try:
                start, product, account, ent, addr, rid, tag, cost = get(row)
            except IndexError:
                if not line.strip():
                    continue  # a blank line
                raise
            if addr:
                k = (start[:10], product, account, ent, addr, "", tag)
                if rid and rid not in rmap:
                    rmap[rid] = addr
            else:
                k = (start[:10], product, account, ent, "", rid, tag)
            cells[k] = cell(k, zero) + dec(cost)
            n += 1
            last = row
        if not out.currency and i_currency is not None and n and len(last) > i_currency:
            out.currency = last[i_currency]
    except IndexError:
        raise BillingError(f"{who}: {where} line {n + 2} has {len(row) - padded} field(s), the header "
                           f"{len(header)}: the file is truncated or not a CUR; regenerate the report") from None
    except InvalidOperation:
        raise BillingError(f"{who}: {where} line {n + 2}: {COL_COST} is not a number "
                           f"({row[index[COL_COST]]!r}): regenerate the report") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise BillingError(f"{who}: {where} line {n + 2} is malformed CSV ({e}): regenerate the "
                           "report") from None
    finally:
        text.detach()
    out.lines += n
