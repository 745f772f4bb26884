"""Produce a Report: which reports to read for the enterprises asked for, read them, attribute."""

from __future__ import annotations

from datetime import date

from controller.billing import tag_column
from controller.billing.cur import BillingError, Cells, Source, read_manifest, read_report_file
from controller.billing.report import Estate, Report, build
from controller.errors import ConfigError
from controller.logs import get_logger
from controller.spec.models import Resource


def select(estate: Estate, enterprise: str | None) -> tuple[list[str], list[str]]:
    """(selected enterprises, roots shown): one enterprise and its customers, or everything."""
    if enterprise is None:
        return sorted(estate.ents), estate.roots()
    if enterprise not in estate.ents:
        known = ", ".join(sorted(estate.ents)) or "none"
        raise ConfigError(f"no enterprise {enterprise!r} in the specs (known: {known})")
    return estate.subtree(enterprise), [enterprise]


def read_source(ent: Resource, src: Source, month: date, by: str = "service") -> Cells:
    """Every report file of the month of one CUR export, through the enterprise's billing credentials."""
    from controller.aws.session import context_for

    log = get_logger(enterprise=src.enterprise, bucket=src.bucket)
    client = context_for(ent, billing=True).client("s3", src.region)
    cells = Cells(tag_column=tag_column(by))
    keys = read_manifest(client, src, month)
    log.debug("billing_manifest_read", files=len(keys), month=f"{month:%Y-%m}")
    for key in keys:
        read_report_file(client, src, key, cells)
    log.debug("billing_report_read", lines=cells.lines, cells=len(cells.cells))
    return cells


def make_report(enterprises: list[Resource], month: date, by: str = "service",
                enterprise: str | None = None) -> Report:
    estate = Estate(enterprises)
    selected, roots = select(estate, enterprise)
    sources: dict[tuple[str, str, str], Source] = {}
    for name in selected:
        src = estate.source_of(name)
        if src is not None:
            sources.setdefault(src.key, src)
    read: dict[tuple[str, str, str], tuple[Source, Cells]] = {}
    for key, src in sorted(sources.items()):
        read[key] = (src, read_source(estate.ents[src.enterprise], src, month, by))
    report = build(estate, selected, roots, month, by, read)
    if not sources:
        report.notes.append("no enterprise shown has billing settings (billing.bucket and billing.reportName)")
    return report


__all__ = ["BillingError", "make_report", "select"]
