"""A plan as a pull-request comment (`controller plan --format markdown`).

Summary first (the totals, then a table of the enterprises that change), then one folded
`<details>` section per enterprise with its changes field by field in a ```diff block (what
GitHub and GitLab colour: `+` create, `-` delete, `-/+` replace, `!` update, as Atlantis does with
Terraform's `~`). GitHub refuses comments over 65,536 characters: sections are added while the
comment stays under `limit` (65,000), and what does not fit is cut with a count and the command
that shows the rest.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable

from controller.engine.diff import Change
from controller.engine.plan import Plan
from controller.render.human import field_rows

LIMIT = 65_000
ACTIONS = ("create", "update", "replace", "delete", "adopt")
LEAD = {"create": "+", "update": "!", "replace": "-/+", "delete": "-", "adopt": " <=", "no-op": " "}
PAST = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
        "adopt": "to adopt"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def md(text: str) -> str:
    """Text outside code: Markdown's special characters escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: str) -> str:
    """Inline code that survives any backticks in the text."""
    text = " ".join(str(text).split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def counts_line(counts: Counter[str]) -> str:
    parts = [f"{counts[a]} {PAST[a]}" for a in ACTIONS if counts[a]]
    return ", ".join(parts) or "no changes"


def change_lines(ch: Change) -> list[str]:
    """One change as diff lines: its symbol and address, then its fields."""
    aws = f" ({ch.aws_id})" if ch.aws_id and ch.action != "create" else ""
    lines = [f"{LEAD[str(ch.action)]} {ch.address}{aws}  # {ch.reason}"]
    lead = {"set": "+     ", "changed": "!     ", "list": "!     ", "added": "+       ", "removed": "-       "}
    for what, text, force in field_rows(ch):
        lines.append(lead[what] + text + ("  # forces replacement" if force else ""))
    if ch.protected and ch.action in ("delete", "replace"):
        lines.append(f"!     protected (metadata.protect: true): apply refuses to {ch.action} it")
    if ch.error:
        lines.append(f"!     error: {ch.error}")
    return [" ".join(x.splitlines()) for x in lines]


def fence(lines: list[str]) -> tuple[str, str]:
    """A code fence longer than any backtick run in the lines (so a value cannot close it)."""
    longest = max((len(m) for x in lines for m in re.findall(r"`{3,}", x)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}diff", ticks


def section(name: str, changes: list[Change], limit: int | None = None, total: int = LIMIT) -> str:
    """One enterprise's folded section; with `limit`, its changes are cut (with a count) to fit in it
    (`total`: the comment's limit, for the note)."""
    counts = Counter(str(c.action) for c in changes)
    errors = [c for c in changes if c.error]
    head = (f"<details><summary><b>{html.escape(name)}</b>: {html.escape(counts_line(counts))}"
            + (f" — {len(errors)} error(s)" if errors else "") + "</summary>\n\n")
    body: list[str] = []
    for c in changes:
        body.extend(change_lines(c))
    start, end = fence(body)
    tail = f"\n{end}\n\n</details>\n"
    text = head + start + "\n" + "\n".join(body) + tail
    if limit is None or len(text) <= limit:
        return text
    kept: list[str] = []
    size = len(head) + len(start) + 1 + len(tail) + 200  # room for the cut note
    shown = 0
    for c in changes:
        block = change_lines(c)
        need = sum(len(x) + 1 for x in block)
        if size + need > limit:
            break
        kept.extend(block)
        size += need
        shown += 1
    note = (f"\n\n… {len(changes) - shown} more change(s) of {html.escape(name)} not shown (the comment is "
            f"limited to {total:,} characters): run `controller plan --enterprise {name}`.")
    return head + start + "\n" + "\n".join(kept) + f"\n{end}{note}\n\n</details>\n"


def render_markdown(plan: Plan, limit: int = LIMIT) -> str:
    by_ent: dict[str, list[Change]] = {e: [] for e in plan.enterprises}
    for c in plan.changes:
        if c.action != "no-op" or c.error:  # an up-to-date object can still carry a plan-time error
            by_ent.setdefault(c.enterprise, []).append(c)
    unchanged = Counter(c.enterprise for c in plan.changes if c.action == "no-op")
    totals = Counter(str(c.action) for c in plan.actionable)
    errors = [c for c in plan.changes if c.error]
    changed = [e for e, cs in by_ent.items() if cs]
    quiet = [e for e, cs in by_ent.items() if not cs]

    out: list[str] = []
    if not plan.has_changes:
        title = "No changes"
    elif plan.tags_only:
        title = f"No changes ({totals['adopt']} onboarded object(s) to adopt: tags only)"
    else:
        title = "Plan: " + ", ".join(f"{totals[a]} {PAST[a]}" for a in ("create", "update", "replace", "delete"))
        if totals["adopt"]:
            title += f", {totals['adopt']} to adopt"
    out.append(f"### controller plan — {title}\n")
    if plan.partial:
        sel = " ".join([*(f"--target {t}" for t in plan.targets), *(f"--exclude {e}" for e in plan.excludes)])
        out.append(f"\n:warning: **This plan is partial** ({code(sel)}): {plan.left_out} other change(s) a full "
                   "plan would make are left out.\n")
    if plan.ignored:
        out.append(f"\n{plan.ignored} live difference(s) on ignored fields (metadata.ignore, spec.ignore): not "
                   "shown, never corrected.\n")
    if errors:
        out.append(f"\n:warning: **{len(errors)} change(s) cannot be applied** (errors below); apply refuses "
                   "the whole plan.\n")
    if changed:
        out.append(table(changed, by_ent, unchanged, limit // 4))
    if quiet:
        names = ", ".join(code(e) for e in quiet[:50]) + (f" and {len(quiet) - 50} more" if len(quiet) > 50 else "")
        out.append(f"\n{len(quiet)} enterprise(s) without changes: {names}.\n")
    if plan.cost_hints:
        total = sum(h["usd_month"] for h in plan.cost_hints)
        out.append(f"\nCost hints: about {total:.2f} USD/month for {len(plan.cost_hints)} resource(s) that cost while "
                   "idle (estimates; `controller plan` lists them).\n")
    footer = (f"\n<sub>controller {md(plan.controller_version)} · plan made {md(plan.created_at)} · "
              f"{len(plan.enterprises)} enterprise(s), {len(plan.changes)} object(s) compared</sub>\n")
    text = "".join(out) + "\n"
    room = limit - len(footer)
    for i, e in enumerate(changed):
        cut_note = 300
        sec = section(e, by_ent[e])
        if len(text) + len(sec) + cut_note > room:
            if i == 0:  # the first section alone is too big: cut inside it
                sec = section(e, by_ent[e], room - len(text) - cut_note, limit)
                text += sec + "\n"
                i += 1
            left = changed[i:]
            if left:
                text += (f"\n:scissors: {len(left)} more enterprise(s) with changes not shown "
                         f"({', '.join(code(x) for x in left[:10])}{' …' if len(left) > 10 else ''}): the comment "
                         f"is limited to {limit:,} characters. Run `controller plan` for the whole plan.\n")
            break
        text += sec + "\n"
    return text + footer


def table(names: Iterable[str], by_ent: dict[str, list[Change]], unchanged: Counter[str], limit: int) -> str:
    rows = ["| Enterprise | Create | Update | Replace | Delete | Adopt | Unchanged | Errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = list(names)
    size = sum(len(r) + 1 for r in rows)
    for i, e in enumerate(names):
        c = Counter(str(x.action) for x in by_ent[e])
        errs = sum(1 for x in by_ent[e] if x.error)
        row = (f"| {code(e)} | " + " | ".join(str(c[a]) for a in ACTIONS) + f" | {unchanged[e]} | "
               + (f":warning: {errs}" if errs else "0") + " |")
        if size + len(row) + 1 > limit:
            rows.append(f"| … {len(names) - i} more | | | | | | | |")
            break
        rows.append(row)
        size += len(row) + 1
    return "\n" + "\n".join(rows) + "\n"
