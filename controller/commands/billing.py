"""`controller billing`: the month's bill of each enterprise from its Cost and Usage Report.

Exit codes: 0 done (and, with --check, no budget over a 100 % threshold); 1 error, or with --check
a budget threshold of 100 % or more crossed by actual spend.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from controller.billing import DIMENSIONS, TAG_DIMENSION
from controller.commands import command, load_or_report
from controller.errors import ConfigError

FORMATS = ("table", "json", "csv", "html")


def month_arg(value: str) -> date:
    m = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"{value!r} is not a month: write YYYY-MM, e.g. 2024-05")
    return date(int(m.group(1)), int(m.group(2)), 1)


def by_arg(value: str) -> str:
    if value in DIMENSIONS or (value.startswith(TAG_DIMENSION) and len(value) > len(TAG_DIMENSION)):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a dimension: one of {', '.join(DIMENSIONS)}, or tag:KEY "
                                     "(e.g. tag:CostCenter)")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enterprise", help="one enterprise and its customers (default: every enterprise)")
    p.add_argument("--month", type=month_arg, help="YYYY-MM (default: the current month, UTC)")
    p.add_argument("--by", type=by_arg, default="service", metavar="|".join([*DIMENSIONS, "tag:KEY"]),
                   help="group each bill by (default: service); tag:KEY by one of your tags (the CUR's "
                        "resourceTags/user:KEY column, once activated as a cost allocation tag)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--out", help="write to FILE (html default: billing-YYYY-MM.html)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a budget threshold of 100%% or more is crossed by actual spend")


@command("billing", "the month's bill per enterprise, reseller and budget, from the AWS Cost and Usage Report")(
    _args)
def cmd_billing(args: argparse.Namespace) -> int:
    from controller.billing import html, render
    from controller.billing.run import make_report

    specs = load_or_report(args.specs, args.allow_empty, then=None)
    if specs is None:
        return 1
    today = datetime.now(UTC).date()
    month = args.month or today.replace(day=1)
    report = make_report(specs.catalog.enterprises(), month, by=args.by, enterprise=args.enterprise)

    if args.format == "html":
        text = html.to_html(report, generated=today)
    elif args.format == "json":
        text = render.to_json(report)
    elif args.format == "csv":
        text = render.to_csv(report)
    else:
        text = render.table(report)
    out = args.out or (f"billing-{month:%Y-%m}.html" if args.format == "html" else None)
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror}") from None
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)

    if args.check:
        over = render.budget_verdict(report)
        for line in over:
            print(line, file=sys.stderr)
        if over:
            return 1
        print("budgets: no threshold of 100% or more crossed", file=sys.stderr)
    return 0
