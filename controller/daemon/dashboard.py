"""The dashboard: `GET /` (every enterprise) and `GET /enterprises/E` (one), as self-contained HTML.

One page each, nothing loaded from anywhere (inline CSS, no script, no font, no image): it works
offline and behind a strict Content-Security-Policy, and reads the same without JavaScript. It
refreshes itself (`<meta http-equiv="refresh">`, `?refresh=S`, 0 = off). Sorting and filtering are
links and a GET form (`?status=Failed&sort=last&desc=1&q=acme`), answered by the server.

Every value is HTML-escaped, and the finished page goes through `redact` (access key ids, secret
assignments and private keys are masked), though nothing secret should reach it in the first place:
plans show sensitive fields as digests and no credential is ever rendered.
"""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from controller.daemon.loop import SYNC_STATUSES, Daemon, EnterpriseState, Record, Tree, short
from controller.engine.plan import Plan
from controller.spec.models import ACCESS_KEY_RE, PRIVATE_KEY_RE, SECRET_ASSIGNMENT_RE

DEFAULT_REFRESH = 5
SEVERITY = {"Failed": 0, "OutOfSync": 1, "Progressing": 2, "Suspended": 3, "Synced": 4}
SORTS = ("name", "status", "last", "next")
ERROR_SHOWN = 240  # characters of an error in the table (the enterprise page has all of it)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px}header h1{font-size:18px;margin:0 0 4px}
header a{color:#fff}header p{margin:0;color:#d0d7de}main{padding:12px 20px}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#fff;border:1px solid #d0d7de;padding:10px;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#eaeef2}th a{color:inherit}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;color:#fff}
.Synced{background:#1a7f37}.OutOfSync{background:#bf8700}.Progressing{background:#0969da}
.Failed{background:#cf222e}.Suspended{background:#6e7781}
.rejected{background:#ffebe9;border:1px solid #cf222e;padding:8px 12px;margin:0 0 12px}
.rejected h2{margin:0 0 4px;font-size:15px;color:#a40e26}
nav{margin:0 0 10px}nav a{margin-right:12px}nav a.on{font-weight:700;text-decoration:none;color:#1b1f24}
.muted{color:#57606a}.small{font-size:12px}.err{color:#a40e26}form{display:inline;margin-left:12px}
section{margin:0 0 18px}h2{font-size:16px;margin:14px 0 6px}ul.events{padding-left:18px;margin:4px 0}
table.facts,#objects{width:auto}.done{color:#1a7f37}.failed{color:#cf222e}.skipped,.running{color:#9a6700}
"""


def redact(text: str) -> str:
    """Mask anything that looks like a credential (the last line of defence; nothing should need it)."""
    text = ACCESS_KEY_RE.sub("[redacted access key id]", text)
    text = SECRET_ASSIGNMENT_RE.sub("[redacted secret access key]", text)
    return PRIVATE_KEY_RE.sub("[redacted private key]", text)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(t: float | None, now: float) -> str:
    """`22:09:25 UTC (5 s ago)` or `(in 2 min)`; the date too when it is not today; a dash for never."""
    if t is None:
        return "-"
    fmt = "%H:%M:%S UTC" if time.gmtime(t)[:3] == time.gmtime(now)[:3] else "%Y-%m-%d %H:%M:%S UTC"
    stamp = time.strftime(fmt, time.gmtime(t))
    d = now - t
    return f"{stamp} ({ago(d)} ago)" if d >= 0 else f"{stamp} (in {ago(-d)})"


def ago(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d"


def _one(query: Mapping[str, list[str]], key: str, default: str = "") -> str:
    vals = query.get(key)
    return vals[-1] if vals else default


def _refresh(query: Mapping[str, list[str]]) -> int:
    raw = _one(query, "refresh", str(DEFAULT_REFRESH))
    return max(0, min(3600, int(raw))) if raw.isdigit() else DEFAULT_REFRESH


def page(title: str, body: str, refresh: int) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return redact(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{meta}<title>{esc(title)}</title><style>{CSS}</style></head>
<body>{body}</body></html>
""")


# ------------------------------------------------------------------------------------------------
# one row per enterprise


class Row:
    __slots__ = ("name", "status", "why", "st", "next_at", "next_text")

    def __init__(self, name: str, status: str, why: str, st: EnterpriseState | None, next_at: float | None,
                 next_text: str):
        self.name, self.status, self.why, self.st = name, status, why, st
        self.next_at, self.next_text = next_at, next_text


def rows(daemon: Daemon, tree: Tree, now: float) -> list[Row]:
    delayed = daemon.queue.delayed()
    resync = daemon.next_resync
    out = []
    for name in tree.digests:
        st = daemon.states.get(name)
        status, why = daemon.sync_status(name, tree, st)
        next_at: float | None
        if name in delayed:
            next_at, text = now + delayed[name], "retry"
        else:
            next_at, text = resync, "resync"
        out.append(Row(name, status, why, st, next_at, text))
    return out


def sort_rows(rs: list[Row], key: str, desc: bool) -> list[Row]:
    if key == "status":
        rs.sort(key=lambda r: (SEVERITY[r.status], r.name))
    elif key == "last":
        rs.sort(key=lambda r: (-(r.st.last_finished or 0) if r.st else 0, r.name))
    elif key == "next":
        rs.sort(key=lambda r: (r.next_at or float("inf"), r.name))
    else:
        rs.sort(key=lambda r: r.name)
    if desc:
        rs.reverse()
    return rs


def index_page(daemon: Daemon, query: Mapping[str, list[str]]) -> str:
    now = time.time()
    refresh = _refresh(query)
    tree = daemon.tree
    head = _header(daemon, now, refresh)
    if tree is None:
        body = head + "<main>" + _rejected(daemon) + "<p>No valid tree loaded yet.</p></main>"
        return page("controller: no tree yet", body, refresh)
    every = rows(daemon, tree, now)
    counts = {s: 0 for s in SYNC_STATUSES}
    for r in every:
        counts[r.status] += 1
    wanted = [s for s in query.get("status", []) if s in SEVERITY]
    q = _one(query, "q").strip()
    key = _one(query, "sort", "name")
    key = key if key in SORTS else "name"
    desc = _one(query, "desc") == "1"
    shown = [r for r in every if (not wanted or r.status in wanted) and (not q or q.lower() in r.name.lower())]
    sort_rows(shown, key, desc)
    state = {"status": wanted, "q": q, "sort": key, "desc": "1" if desc else "", "refresh": _one(query, "refresh")}
    parts = [head, "<main>", _rejected(daemon), _filters(state, counts, len(every))]
    parts.append(f'<p class="muted small">{len(shown)} of {len(every)} enterprise(s) shown.</p>')
    parts.append(_table(shown, state, tree, daemon, now))
    parts.append(_daemon_events(daemon.events, now))
    parts.append("</main>")
    bad = counts["Failed"]
    title = f"controller: {len(every)} enterprise(s)" + (f", {bad} Failed" if bad else "")
    return page(title, "".join(parts), refresh)


def _link(state: Mapping[str, Any], **change: Any) -> str:
    merged = {**state, **change}
    pairs: list[tuple[str, str]] = []
    for k, v in merged.items():
        for item in v if isinstance(v, list) else [v]:
            if item not in ("", None):
                pairs.append((k, str(item)))
    return "?" + urlencode(pairs) if pairs else "?"


def _header(daemon: Daemon, now: float, refresh: int) -> str:
    tree = daemon.tree
    bits = []
    if daemon.source:
        bits.append(f"source: {esc(daemon.source)}")
    if tree is not None:
        bits.append(f"commit in force: <code>{esc(short(tree.commit))}</code> (loaded {esc(when(tree.loaded_at, now))})")
    if daemon.next_resync:
        bits.append(f"next resync {esc(when(daemon.next_resync, now))}")
    bits.append(f"page made {esc(time.strftime('%H:%M:%S UTC', time.gmtime(now)))}"
                + (f", refreshed every {refresh} s" if refresh else ", not refreshing"))
    return (f'<header><h1><a href="/">controller daemon</a></h1><p>{" · ".join(bits)}</p></header>')


def _rejected(daemon: Daemon) -> str:
    rej = daemon.rejected
    if rej is None:
        return ""
    first = rej.errors[:5]
    items = "".join(f"<li><code>{esc(e)}</code></li>" for e in first)
    more = f"<p class=small>… and {len(rej.errors) - len(first)} more error(s).</p>" if len(rej.errors) > 5 else ""
    kept = (f"commit <code>{esc(short(rej.in_force))}</code> stays in force"
            if rej.in_force else "no earlier commit is in force")
    return (f'<section class="rejected" id="rejected"><h2>Commit {esc(short(rej.commit))} rejected</h2>'
            f"<p>It does not load or validate ({len(rej.errors)} error(s)); nothing of it is applied, {kept}. "
            f"First errors:</p><ul>{items}</ul>{more}</section>")


def _filters(state: Mapping[str, Any], counts: Mapping[str, int], total: int) -> str:
    wanted = state["status"]
    links = [f'<a href="{esc(_link(state, status=[]))}"' + ("" if wanted else ' class="on"') + f">All ({total})</a>"]
    for s in SYNC_STATUSES:
        on = ' class="on"' if wanted == [s] else ""
        links.append(f'<a href="{esc(_link(state, status=[s]))}"{on}><span class="badge {s}">{s}</span> '
                     f"({counts[s]})</a>")
    hidden = "".join(f'<input type="hidden" name="{k}" value="{esc(v)}">' for k, v in
                     (("sort", state["sort"]), ("desc", state["desc"]), ("refresh", state["refresh"])) if v)
    hidden += "".join(f'<input type="hidden" name="status" value="{esc(s)}">' for s in wanted)
    form = (f'<form method="get" action="/">{hidden}<input name="q" value="{esc(state["q"])}" '
            f'placeholder="name contains" aria-label="filter by name"> <button>Filter</button></form>')
    return f"<nav>{' '.join(links)}{form}</nav>"


def _th(label: str, key: str, state: Mapping[str, Any]) -> str:
    desc = "1" if state["sort"] == key and not state["desc"] else ""
    arrow = (" ▼" if state["desc"] else " ▲") if state["sort"] == key else ""
    return f'<th><a href="{esc(_link(state, sort=key, desc=desc))}">{label}{arrow}</a></th>'


def _table(rs: list[Row], state: Mapping[str, Any], tree: Tree, daemon: Daemon, now: float) -> str:
    out = ['<table id="enterprises"><thead><tr>', _th("Enterprise", "name", state), _th("Status", "status", state),
           "<th>Commit</th>", _th("Last reconcile", "last", state), "<th>Outcome</th>", _th("Next", "next", state),
           "<th>Objects</th></tr></thead><tbody>"]
    rejected = daemon.rejected
    for r in rs:
        st = r.st
        href = "/enterprises/" + quote(r.name, safe="")
        commit = f"<code>{esc(short(st.commit))}</code>" if st and st.commit else '<span class="muted">none yet</span>'
        if st is None or st.commit != tree.commit:
            commit += f'<br><span class="small muted">tree: <code>{esc(short(tree.commit))}</code></span>'
        if rejected is not None:
            commit += f'<br><span class="small err">rejected: <code>{esc(short(rejected.commit))}</code></span>'
        if st and st.last_finished:
            last = f"{esc(when(st.last_finished, now))}<br><span class='small muted'>took {st.last_seconds:.1f} s</span>"
        else:
            last = '<span class="muted">never</span>'
        outcome = esc(st.last_result) if st and st.last_result else ""
        if st and st.last_error:
            err = st.last_error.splitlines()[0]
            cut = err[:ERROR_SHOWN] + ("…" if len(err) > ERROR_SHOWN else "")
            outcome += f'<br><span class="small err">{esc(cut)}</span>'
        if st and st.drift_found_at:
            outcome += (f'<br><span class="small">drift found {esc(when(st.drift_found_at, now))}: '
                        f"{st.drift_found} object(s)</span>")
        nxt = f"{r.next_text} {esc(when(r.next_at, now))}" if r.next_at else "-"
        kinds = tree.counts.get(r.name, {})
        objects = ", ".join(f"{esc(k)} {n}" for k, n in kinds.items()) or '<span class="muted">none</span>'
        why = f'<br><span class="small muted">{esc(r.why)}</span>' if r.why and r.status != "Failed" else ""
        out.append(f'<tr class="row-{r.status}" data-enterprise="{esc(r.name)}"><td><a href="{esc(href)}">'
                   f'{esc(r.name)}</a></td><td><span class="badge {r.status}">{r.status}</span>{why}</td>'
                   f"<td>{commit}</td><td>{last}</td><td>{outcome}</td><td>{nxt}</td>"
                   f'<td class="small">{objects}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _events(records: Iterable[Record], now: float, limit: int = 50) -> str:
    items = []
    for i, e in enumerate(records):
        if i >= limit:
            break
        commit = f" <code>{esc(short(e.commit))}</code>" if e.commit else ""
        items.append(f'<li class="ev-{esc(e.kind)}"><span class="muted small">{esc(when(e.t, now))}</span>{commit} '
                     f"<b>{esc(e.kind)}</b>: {esc(e.text)}</li>")
    return f'<ul class="events">{"".join(items)}</ul>' if items else '<p class="muted">None yet.</p>'


def _daemon_events(records: Iterable[Record], now: float) -> str:
    return f"<section><h2>Commits</h2>{_events(records, now, 20)}</section>"


# ------------------------------------------------------------------------------------------------
# one enterprise


def plan_html(plan: Plan) -> str:
    """The plan exactly as `controller plan` prints it, colours included (rich's own HTML export)."""
    from rich.console import Console

    from controller.render.human import render_plan

    con = Console(record=True, file=io.StringIO(), width=160, highlight=False, soft_wrap=True,
                  color_system="truecolor")
    render_plan(plan, con)
    return con.export_html(inline_styles=True, code_format='<pre class="plan">{code}</pre>')


def enterprise_page(daemon: Daemon, name: str, query: Mapping[str, list[str]]) -> str | None:
    tree = daemon.tree
    if tree is None or name not in tree.digests:
        return None
    now = time.time()
    refresh = _refresh(query)
    st = daemon.states.get(name)
    status, why = daemon.sync_status(name, tree, st)
    pol = daemon.policies(tree, name)
    delayed = daemon.queue.delayed()
    parts = [_header(daemon, now, refresh), "<main>", _rejected(daemon)]
    parts.append(f'<h2 id="title">{esc(name)} <span class="badge {status}" id="status">{status}</span></h2>')
    facts = [("Status", esc(why) or "-"),
             ("Commit in force", f"<code>{esc(short(st.commit if st else None))}</code>"),
             ("Tree in force", f"<code>{esc(short(tree.commit))}</code>"),
             ("Policies", f"selfHeal {str(pol.self_heal).lower()}, prune {str(pol.prune).lower()}, "
                          f"suspend {str(pol.suspend).lower()}"),
             ("Last reconcile", esc(when(st.last_finished, now)) + (f", {esc(st.last_result)} in "
                                                                    f"{st.last_seconds:.1f} s" if st and st.last_result else "")
              if st else "never"),
             ("Next", esc(f"retry {when(now + delayed[name], now)}") if name in delayed
              else esc(f"resync {when(daemon.next_resync, now)}") if daemon.next_resync else "-")]
    if st and st.last_error:
        facts.append(("Error", f'<span class="err">{esc(st.last_error)}</span>'))
    parts.append('<table class="facts">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
                 + "</table>")
    kinds = tree.counts.get(name, {})
    parts.append('<section><h2>Objects</h2><table id="objects"><tr><th>Kind</th><th>Objects</th></tr>'
                 + "".join(f"<tr><td>{esc(k)}</td><td>{n}</td></tr>" for k, n in kinds.items()) + "</table></section>")
    parts.append(_drift_section(st, now))
    parts.append(_apply_section(st, now))
    parts.append(f'<section id="events"><h2>Recent events</h2>{_events(st.events if st else [], now)}</section>')
    parts.append('<p><a href="/">← all enterprises</a></p></main>')
    return page(f"controller: {name} {status}", "".join(parts), refresh)


def _drift_section(st: EnterpriseState | None, now: float) -> str:
    out = ['<section id="drift"><h2>Drift (last plan)</h2>']
    if st is None or st.plan is None:
        out.append('<p class="muted">No plan made yet.</p></section>')
        return "".join(out)
    out.append(f'<p class="muted small">Planned {esc(when(st.plan_at, now))} at commit '
               f"<code>{esc(short(st.plan_commit))}</code>.</p>")
    out.append(plan_html(st.plan))
    if st.withheld:
        out.append("<p>Found and not made (by policy):</p><ul>" + "".join(
            f"<li><code>{esc(c.address)}</code> {esc(c.action)}: {esc(c.reason)} (<b>{esc(p)}</b> policy)</li>"
            for c, p in st.withheld) + "</ul>")
    if not st.plan.has_changes and st.drift is not None:
        out.append(f"<h2>Last plan with changes</h2><p class='muted small'>Planned {esc(when(st.drift_at, now))} "
                   f"at commit <code>{esc(short(st.drift_commit))}</code>; the last apply below says what became "
                   "of it.</p>")
        out.append(plan_html(st.drift))
    out.append("</section>")
    return "".join(out)


def _apply_section(st: EnterpriseState | None, now: float) -> str:
    out = ['<section id="apply"><h2>Last apply</h2>']
    if st is None or st.apply_at is None:
        out.append('<p class="muted">Nothing applied since the daemon started.</p></section>')
        return "".join(out)
    tally: dict[str, int] = {}
    for o in st.outcomes:
        tally[o.status] = tally.get(o.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(tally.items())) or "nothing to do"
    note = f" — {esc(st.apply_note)}" if st.apply_note else ""
    out.append(f'<p class="small">{esc(when(st.apply_at, now))}, commit <code>{esc(short(st.apply_commit))}</code>: '
               f"{esc(summary)}{note}</p>")
    out.append("<table><tr><th>Outcome</th><th>Object</th><th>Action</th><th>Detail</th><th>Seconds</th></tr>")
    for o in st.outcomes:
        aws = f" <span class='muted small'>({esc(o.aws_id)})</span>" if o.aws_id else ""
        out.append(f'<tr><td class="{esc(o.status)}">{esc(o.status)}</td><td><code>{esc(o.id)}</code>{aws}</td>'
                   f"<td>{esc(o.action)}</td><td>{esc(o.detail)}</td><td>{o.seconds:.1f}</td></tr>")
    out.append("</table></section>")
    return "".join(out)


_INLINE = re.compile(r"</?(?:span|b|code|a)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")


def visible_text(page_html: str) -> str:
    """The page's text without its tags, the style sheet or the title (tests read it): inline tags
    vanish, others become a space."""
    body = page_html.split("<body>", 1)[-1]
    return html.unescape(_TAG.sub(" ", _INLINE.sub("", body)))
