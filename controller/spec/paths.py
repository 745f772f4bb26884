"""Ignore paths (`metadata.ignore`, the Enterprise's `spec.ignore`): their grammar, whether one
names a field of a kind, and masking a value with them.

    spec.state                   a field of the document's spec (YAML names, camelCase)
    spec.nics[0].secondaryIps    list items by index, or every item with [*]
    spec.*                       `*` globs inside a name
    tags.Owner, tags.team-*      one of your tags, by key glob (the rest of the path is the key)
"""

from __future__ import annotations

import fnmatch
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from pydantic import BaseModel

_TOKEN = re.compile(r"\[(\d+|\*)\]|\.?([^.\[\]]+)")

Token = tuple[str, str]  # ("field", glob) or ("index", "3" | "*")


def parse(path: str) -> list[Token] | None:
    """Tokens of a path, or None when it is not well formed. `tags.` keeps the rest as one key glob."""
    if path.startswith("tags."):
        key = path[len("tags."):]
        return [("field", "tags"), ("field", key)] if key else None
    out: list[Token] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or (m.group(2) is not None and pos > 0 and path[pos] != "."):
            return None
        out.append(("index", m.group(1)) if m.group(1) is not None else ("field", m.group(2)))
        pos = m.end()
    return out or None


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """YAML name -> annotation."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def matches_model(tokens: list[Token], tp: Any) -> bool:
    """Whether the tokens name at least one field under type `tp`."""
    if not tokens:
        return True
    tp = _unwrap(tp)
    kind, value = tokens[0]
    origin = typing.get_origin(tp)
    if kind == "index":
        if origin in (list, tuple):
            return matches_model(tokens[1:], typing.get_args(tp)[0])
        return False
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = _fields(tp)
        return any(matches_model(tokens[1:], ann) for name, ann in fields.items() if fnmatch.fnmatchcase(name, value))
    if origin is dict:  # a map from free keys (a nic's secondaryPublicIps)
        return matches_model(tokens[1:], typing.get_args(tp)[1])
    return False


def problem(path: str, spec_model: type[BaseModel]) -> str | None:
    """Why a path names no field of a kind with this spec model, or None when it does."""
    tokens = parse(path)
    if tokens is None:
        return f"ignore path {path!r} is not well formed: write spec.FIELD, spec.LIST[0].FIELD or tags.KEY"
    head = tokens[0]
    if head == ("field", "tags"):
        return None
    if head != ("field", "spec") or len(tokens) < 2:
        return f"ignore path {path!r} must start with spec. or tags."
    if not matches_model(tokens[1:], spec_model):
        names = ", ".join(sorted(_fields(spec_model)))
        return f"ignore path {path!r} matches no field of this kind (spec fields: {names})"
    return None


# -- masking --------------------------------------------------------------------------------------


def mask(want: Any, live: Any, tokens: list[Token], same: Callable[[Any, Any], bool]) -> tuple[Any, int]:
    """`want` with the parts the tokens name replaced by the live value, and how many of them differed."""
    if not tokens:
        return live, 0 if same(want, live) else 1
    kind, value = tokens[0]
    if kind == "field" and isinstance(want, dict):
        out, n = dict(want), 0
        have = live if isinstance(live, dict) else {}
        for k in want:
            if fnmatch.fnmatchcase(k, value) and (len(tokens) > 1 or k in have or want[k] is not None):
                out[k], c = mask(want[k], have.get(k), tokens[1:], same)
                n += c
        return out, n
    if kind == "index" and isinstance(want, list):
        have_list = live if isinstance(live, list) else []
        picked = range(len(want)) if value == "*" else [int(value)]
        items, n = list(want), 0
        for i in picked:
            if i < len(want) and i < len(have_list):
                items[i], c = mask(want[i], have_list[i], tokens[1:], same)
                n += c
        return items, n
    return want, 0
