"""The plan: what will change and why, as one object that the human and JSON views both render.

A saved plan (JSON, format_version 1) records the digest of the desired graph it was made from, a
fingerprint of everything it observed and a digest over its own changes. `apply FILE` never acts on
what the file says: it plans afresh from the specs and live AWS, refuses (touching nothing) unless
the fresh changes are exactly the saved ones, and then carries out the fresh plan, whose guards
(protection, errors, the delete limit) come from the specs and AWS. See docs/plan-format.md.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import os
import stat
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from controller import __version__
from controller.engine.diff import Action, Change, FieldChange, canon, diff, is_tag
from controller.engine.observe import Observed, Session, desired, observe, select_enterprises
from controller.errors import ConfigError, StaleStateError
from controller.graph import Graph
from controller.kinds import REGISTRY
from controller.spec.validate import Specs

FORMAT_VERSION = "1"
MAX_PLAN_BYTES = 64 * 1024 * 1024  # a saved plan larger than this is refused unread (docs/limits.md)
SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-", Action.ADOPT: "<=",
           Action.NOOP: " "}


def changes_digest(changes: Any) -> str:
    """sha256 over the changes as saved (canonical JSON, whatever fields a change has)."""
    text = json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(observed: Observed) -> str:
    """A digest of every live object the plan saw: ids, AWS ids, compared props and tags."""
    h = hashlib.sha256()
    for lid in sorted(observed.live):
        lv = observed.live[lid]
        h.update(json.dumps([lid, lv.aws_id, canon(lv.props, {}), lv.tags], sort_keys=True, default=str).encode())
    for d in sorted(observed.duplicates, key=lambda x: (x.id, x.aws_id)):
        h.update(f"dup:{d.id}:{d.aws_id}".encode())
    return h.hexdigest()


@dataclass
class Plan:
    changes: list[Change]
    enterprises: list[str]
    desired_digest: str
    fingerprint: str
    api_calls: dict[str, int] = field(default_factory=dict)
    observe_seconds: float = 0.0
    cost_hints: list[dict[str, Any]] = field(default_factory=list)  # controller/pricing/hints.py
    # what the plan says without refusing anything (validation warnings, deprecated AMIs): never an exit code
    warnings: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    format_version: str = FORMAT_VERSION
    controller_version: str = __version__
    saved_changes: list[Any] | None = None  # a loaded plan: its changes exactly as the file has them
    targets: list[str] = field(default_factory=list)  # a partial plan: --target globs ...
    excludes: list[str] = field(default_factory=list)  # ... and --exclude globs
    left_out: int = 0  # changes a full plan would have that this partial one does not carry

    @property
    def partial(self) -> bool:
        return bool(self.targets or self.excludes)

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action != Action.NOOP]

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    @property
    def tags_only(self) -> bool:
        """Every change adopts an onboarded object by adding its ownership tags, and nothing else: such a
        plan changes nothing the user described, so `plan` exits 0 (docs/onboarding.md)."""
        return self.has_changes and all(c.action == Action.ADOPT and all(is_tag(f) for f in c.fields)
                                        for c in self.actionable)

    def summary(self) -> dict[str, int]:
        counts = Counter(c.action for c in self.changes)
        return {a.value: counts.get(a, 0) for a in Action}

    @property
    def ignored(self) -> int:
        """Live differences on ignored paths (metadata.ignore, the Enterprise's spec.ignore)."""
        return sum(c.ignored for c in self.changes)

    @property
    def deletes(self) -> int:
        return sum(c.action in (Action.DELETE, Action.REPLACE) for c in self.changes)

    def blocked(self) -> list[Change]:
        """Changes apply refuses: protected objects to delete or replace, and plan-time errors."""
        return [c for c in self.changes if (c.protected and c.action in (Action.DELETE, Action.REPLACE)) or c.error]

    def changes_json(self) -> list[Any]:
        """The changes as a saved plan holds them (JSON types only)."""
        return json.loads(json.dumps([_change_json(c) for c in self.changes], default=str))

    def to_json(self) -> dict[str, Any]:
        changes = self.changes_json()
        return {
            "format_version": self.format_version,
            "controller_version": self.controller_version,
            "created_at": self.created_at,
            "enterprises": self.enterprises,
            "desired_digest": self.desired_digest,
            "fingerprint": self.fingerprint,
            "summary": self.summary(),
            "api_calls": {"total": sum(self.api_calls.values()), "by_operation": self.api_calls},
            "observe_seconds": round(self.observe_seconds, 3),
            "changes": changes,
            "changes_digest": changes_digest(changes),
            "tags_only": self.tags_only,
            "ignored": self.ignored,
            "cost_hints": self.cost_hints,
            "warnings": self.warnings,
            "partial": self.partial,
            "targets": self.targets,
            "excludes": self.excludes,
            "left_out": self.left_out,
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """A saved plan, checked for shape and for its changes digest; raises ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"not a saved plan (a JSON object) but {_json_type(data)}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"format version {_short(data.get('format_version'))}; this controller "
                              f"reads version {FORMAT_VERSION}: make a new plan")
        for key, want in (("enterprises", list), ("desired_digest", str), ("fingerprint", str),
                          ("changes", list), ("changes_digest", str), ("created_at", str)):
            if not isinstance(data.get(key), want):
                got = "missing" if key not in data else _json_type(data[key])
                raise ConfigError(f"field {key!r} is {got}, expected {_json_type(want())}: the file is not a plan "
                                  "saved by `controller plan --out`")
        if not all(isinstance(e, str) for e in data["enterprises"]):
            raise ConfigError("field 'enterprises' holds something other than names")
        if changes_digest(data["changes"]) != data["changes_digest"]:
            raise StaleStateError("its changes do not match its changes_digest: the file was edited after "
                                  "`plan --out` wrote it; nothing was changed. Make a new plan")
        changes = []
        for i, raw in enumerate(data["changes"]):
            try:
                c = dict(raw)
                fields = [FieldChange(**f) for f in c.pop("fields", [])]
                c.pop("address", None)
                changes.append(Change(**c, fields=fields))
            except (TypeError, ValueError, AttributeError) as e:
                raise ConfigError(f"change {i} is not a change: {_short(e)}") from None
        api_calls = data.get("api_calls")
        by_op = api_calls.get("by_operation") if isinstance(api_calls, dict) else None
        return cls(changes=changes, enterprises=data["enterprises"], desired_digest=data["desired_digest"],
                   fingerprint=data["fingerprint"], api_calls=by_op if isinstance(by_op, dict) else {},
                   created_at=data["created_at"], format_version=data["format_version"],
                   controller_version=str(data.get("controller_version", "?")), saved_changes=data["changes"],
                   warnings=data["warnings"] if isinstance(data.get("warnings"), list) else [],
                   targets=_globs(data, "targets"), excludes=_globs(data, "excludes"),
                   left_out=data["left_out"] if isinstance(data.get("left_out"), int) else 0)

    def save(self, path: Path) -> None:
        """Write the plan to ``path`` atomically (a temporary file renamed over it); raises ConfigError."""
        check_out_path(path)
        text = json.dumps(self.to_json(), indent=2, default=str) + "\n"
        fd, tmp = -1, ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "w") as f:
                fd = -1
                f.write(text)
            os.replace(tmp, path)
        except OSError as e:
            if fd >= 0:
                os.close(fd)
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            raise ConfigError(f"cannot write the plan to {path}: {e.strerror or e}") from None

    @classmethod
    def load(cls, path: Path) -> Plan:
        """Read a saved plan: a regular file of UTF-8 JSON, at most MAX_PLAN_BYTES; every failure is
        one line naming the file (ConfigError, or StaleStateError when its digest does not match)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise ConfigError(f"cannot read saved plan {path}: {e.strerror or e}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise ConfigError(f"cannot read saved plan {path}: {what}")
            with os.fdopen(fd, "rb", closefd=False) as f:
                raw = f.read(MAX_PLAN_BYTES + 1)
        except OSError as e:
            raise ConfigError(f"cannot read saved plan {path}: {e.strerror or e}") from None
        finally:
            os.close(fd)
        if len(raw) > MAX_PLAN_BYTES:
            raise ConfigError(f"saved plan {path} is larger than {MAX_PLAN_BYTES // 2**20} MiB: not a plan")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ConfigError(f"saved plan {path} is not UTF-8 text (byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"saved plan {path} is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        except RecursionError:
            raise ConfigError(f"saved plan {path} is nested too deeply to be a plan") from None
        except ValueError as e:
            raise ConfigError(f"saved plan {path} is not a plan: {_short(e)}") from None
        try:
            return cls.from_json(data)
        except StaleStateError as e:
            raise StaleStateError(f"saved plan {path}: {e}") from None
        except ConfigError as e:
            raise ConfigError(f"saved plan {path}: {e}") from None
        except RecursionError:
            raise ConfigError(f"saved plan {path} is nested too deeply to be a plan") from None


def check_out_path(path: Path) -> None:
    """`plan --out FILE` can write FILE: its folder exists, and FILE is not a folder (raises ConfigError)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"cannot write the plan to {path}: it is a folder (give a file name, e.g. {path}/plan.json)")
    if path.exists() and not path.is_file():  # a device or a FIFO: never replaced by the atomic rename
        raise ConfigError(f"cannot write the plan to {path}: it is not a regular file")
    if not parent.exists():
        raise ConfigError(f"cannot write the plan to {path}: folder {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise ConfigError(f"cannot write the plan to {path}: {parent} is not a folder")


def verify_saved(saved: Plan, fresh: Planned) -> None:
    """Refuse (StaleStateError, nothing changed) unless the fresh plan's changes are exactly the saved ones."""
    if saved.desired_digest != fresh.graph.digest():
        raise StaleStateError("the specs changed since this plan was made; nothing was changed. Make a new plan")
    if saved.fingerprint != fingerprint(fresh.observed):
        raise StaleStateError("live AWS state changed since this plan was made; nothing was changed. "
                              "Make a new plan")
    now = fresh.plan.changes_json()
    then = saved.saved_changes if saved.saved_changes is not None else saved.changes_json()
    if now != then:
        theirs = {_key(c) for c in then if isinstance(c, dict)}
        differ = [c.get("address") or c.get("id") for c in now if _key(c) not in theirs]
        where = f" (first difference: {differ[0]})" if differ else ""
        raise StaleStateError("the saved changes are not the ones the specs and live AWS give now: the file was "
                              f"edited, or made by another controller version{where}; nothing was changed. "
                              "Make a new plan")


def _key(c: Any) -> str:
    return json.dumps(c, sort_keys=True, default=str)


def _json_type(v: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(v), type(v).__name__)


def _short(v: Any, limit: int = 80) -> str:
    text = repr(v) if not isinstance(v, BaseException) else str(v)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _globs(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise ConfigError(f"field {key!r} is {_json_type(value)}, expected a list of address globs")
    return list(value)


def _change_json(c: Change) -> dict[str, Any]:
    d = asdict(c)
    d["address"] = c.address
    return d


@dataclass
class Planned:
    """A plan and what it was made from: what apply needs to carry it out."""

    plan: Plan
    graph: Graph
    observed: Observed
    session: Session


def make_plan(specs: Specs, only: str | None = None, parallelism: int = 10, session: Session | None = None,
              targets: Sequence[str] = (), excludes: Sequence[str] = ()) -> Planned:
    """The plan for the enterprises (one, or all); with targets or excludes, a partial one (select())."""
    names = select_enterprises(specs.catalog, only)
    graph = desired(specs.catalog, names)
    session = session or Session.open(specs.catalog, names, parallelism=parallelism)
    observed = observe(session, graph)
    changes = diff(graph, observed)
    left_out = 0
    if targets or excludes:
        full = sum(c.action != "no-op" for c in changes)
        changes = select(changes, graph, list(targets), list(excludes))
        left_out = full - sum(c.action != "no-op" for c in changes)
    calls = session.counter.snapshot()
    plan = Plan(changes=changes, enterprises=names, desired_digest=graph.digest(),
                fingerprint=fingerprint(observed), api_calls=calls, observe_seconds=observed.seconds,
                targets=list(targets), excludes=list(excludes), left_out=left_out)
    from controller.pricing.hints import cost_hints

    plan.cost_hints = cost_hints(graph, changes)
    plan.warnings = plan_warnings(specs, graph, observed, names)
    return Planned(plan, graph, observed, session)


def _addresses(c: Change, graph: Graph) -> list[str]:
    """What a --target glob is matched against: the change's id, its address without `@region`, and the
    address of the document it comes from (a VDC's gateways are the VDC's)."""
    out = [c.id, c.id.split("@")[0]]
    node = graph.nodes.get(c.id)
    if node is not None:
        out.append(node.address)
    return out


def select(changes: list[Change], graph: Graph, targets: list[str], excludes: list[str]) -> list[Change]:
    """A partial plan: the changes whose address matches a target (all, with none) and no exclude, plus the
    creates and replacements of what they depend on (a VM's new network), marked `needed_by`. A target that
    matches nothing is an error (a typo never reads as "nothing to do"). An excluded object that a selected
    change needs takes that change out too: it could not be applied without it."""
    def hit(c: Change, globs: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(a, g) for a in _addresses(c, graph) for g in globs)

    for g in targets:
        if not any(fnmatch.fnmatchcase(a, g) for c in changes for a in _addresses(c, graph)):
            raise ConfigError(f"--target {g} matches no object of the plan (addresses look like "
                              f"enterprise/vdc/Kind/name; `plan --all` lists them)")
    by_id = {c.id: c for c in changes if "#" not in c.id}
    chosen = [c for c in changes if (not targets or hit(c, targets)) and not hit(c, excludes)]
    chosen_ids = {id(c) for c in chosen}
    keep: dict[int, Change] = {}
    for c in chosen:
        needs = _needs(c, graph, by_id)
        if any(hit(d, excludes) for d in needs):
            continue
        keep[id(c)] = c
        for d in needs:
            if id(d) not in keep and id(d) not in chosen_ids:
                d.needed_by = d.needed_by or c.id
                keep[id(d)] = d
    return [c for c in changes if id(c) in keep]


def _needs(c: Change, graph: Graph, by_id: dict[str, Change]) -> list[Change]:
    """The creates and replacements a create, update or replacement needs first, transitively; for a
    replacement also the replacements it forces on the objects in it (the VMs of a replaced network)."""
    if c.action not in ("create", "update", "replace", "adopt") or c.id not in graph.nodes:
        return []
    out: list[Change] = []
    if c.action == "replace":
        out += [d for d in by_id.values() if d.action == "replace" and d.id != c.id and d.id in graph.nodes
                and any(f.forces_replacement and f.after == f"→{c.id}" for f in d.fields)]
    todo, seen = list(graph.nodes[c.id].deps), {c.id}
    while todo:
        dep = todo.pop()
        if dep in seen:
            continue
        seen.add(dep)
        d = by_id.get(dep)
        if d is not None and d.action in ("create", "replace") and dep in graph.nodes:
            out.append(d)
            todo.extend(graph.nodes[dep].deps)
    return out


def plan_warnings(specs: Specs, graph: Graph, observed: Observed, names: list[str]) -> list[dict[str, Any]]:
    """Validation's warnings for the planned enterprises' documents, then each kind's word on its nodes."""
    files = {r.file for r in specs.catalog.resources if r.enterprise in names}
    out: list[dict[str, Any]] = [{"address": None, **d.to_json()} for d in specs.warnings if d.file in files]
    for nid in graph.order():
        node = graph.nodes[nid]
        text = REGISTRY[node.kind].warning(node, observed.live.get(nid))
        if text:
            file, _, line = node.source.rpartition(":")
            out.append({"address": nid, "file": file, "line": int(line) if line.isdigit() else 0, "col": 0,
                        "message": text, "path": "", "fix": None, "severity": "warning"})
    return out
