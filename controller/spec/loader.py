"""Load YAML spec files with the position of every node.

Only safe YAML: the composer builds nodes, and every scalar is constructed with PyYAML's
SafeConstructor, so an unknown tag such as ``!!python/object`` is an error, never executed.
Duplicate keys are rejected (PyYAML silently keeps the last one). Each document keeps a map from
field path to (line, column), 1-based, so errors can point at the exact place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.spec.diagnostics import Diagnostic

PathKey = tuple[str | int, ...]


@dataclass
class Document:
    file: str
    index: int  # 0-based position among the documents of the file
    data: Any
    line: int
    col: int
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: PathKey, key: bool = False) -> tuple[int, int]:
        """Where the value (or with key=True, the key) at ``path`` stands; the nearest parent if absent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if key and p in self.values:
                return self.values[p]
            p = p[:-1]
        return (self.line, self.col)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose constructor we only call on scalars."""


# libyaml's parser when PyYAML has it: about ten times faster. Its error messages are terser, so a
# file it rejects is parsed again by the pure-Python parser, whose messages are the ones reported.
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):  # type: ignore[name-defined, misc]
        """CSafeLoader whose constructor we only call on scalars."""

    _FastLoader = _CLoader


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, loader: Any, doc: Document, diags: list[Diagnostic]):
        self.loader = loader
        self.doc = doc
        self.diags = diags

    def build(self, node: Node, path: PathKey) -> Any:
        self.doc.values[path] = _mark(node)
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark)
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)  # YAML merge keys (<<)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build_scalar_key(key_node, path)
                if key is _INVALID:
                    continue
                if key in out:
                    line, col = _mark(key_node)
                    first = self.doc.keys.get((*path, key), (0, 0))[0]
                    self.diags.append(
                        Diagnostic(
                            self.doc.file, line, col,
                            f"duplicate key {key!r} (first defined on line {first})",
                            _dotted((*path, key)),
                            fix="remove one of the two; YAML keeps only the last, silently",
                        )
                    )
                    continue
                self.doc.keys[(*path, key)] = _mark(key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        if node.tag == _STR:  # the common case, as SafeConstructor would build it
            return node.value
        return self.loader.construct_object(node, deep=True)

    def build_scalar_key(self, node: Node, path: PathKey) -> Any:
        if not isinstance(node, ScalarNode):
            line, col = _mark(node)
            self.diags.append(Diagnostic(self.doc.file, line, col, "a mapping key must be a plain value", _dotted(path)))
            return _INVALID
        key = node.value if node.tag == _STR else self.loader.construct_object(node, deep=True)
        return str(key) if not isinstance(key, str) else key


_INVALID = object()
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


def _dotted(path: PathKey) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


dotted = _dotted


def load_file(path: Path, display: str | None = None) -> tuple[list[Document], list[Diagnostic]]:
    """Every document of one YAML file, or diagnostics saying why it cannot be read."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [], [Diagnostic(name, 1, 1, f"cannot read file: {e}")]
    if _FastLoader is not None:
        docs, diags = _parse(text, name, _FastLoader)
        if not diags:
            return docs, diags
    return _parse(text, name, _Loader)


def _parse(text: str, name: str, loader_cls: type) -> tuple[list[Document], list[Diagnostic]]:
    diags: list[Diagnostic] = []
    docs: list[Document] = []
    loader = loader_cls(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # an empty document
                continue
            line, col = _mark(node)
            doc = Document(name, index, None, line, col)
            try:
                doc.data = _Builder(loader, doc, diags).build(node, ())
            except yaml.constructor.ConstructorError as e:
                diags.append(_yaml_diag(name, e))
                doc.data = None
            index += 1
            if doc.data is not None:
                docs.append(doc)
    except yaml.YAMLError as e:
        diags.append(_yaml_diag(name, e))
    finally:
        loader.dispose()
    return docs, diags


def _yaml_diag(name: str, e: yaml.YAMLError) -> Diagnostic:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    fix = None
    if problem and "found character '\\t'" in problem:
        problem = "a tab character where YAML needs spaces for indentation"
        fix = "indent with spaces, never tabs"
    elif problem and "could not determine a constructor for the tag" in problem:
        tag = problem.split("tag", 1)[1].strip().strip("'\"")
        tag = tag.replace("tag:yaml.org,2002:", "!!", 1) if tag.startswith("tag:yaml.org,2002:") else tag
        problem = f"tag {tag} is not allowed: only plain YAML (safe) is accepted, nothing is ever executed"
        fix = "remove the tag"
        return Diagnostic(name, line, col, f"unsafe YAML: {problem}", fix=fix)
    elif context:
        problem = f"{context}: {problem}" if problem not in context else problem
    return Diagnostic(name, line, col, f"YAML syntax error: {problem}", fix=fix)


def discover(specs_dir: Path) -> list[Path]:
    """Every *.yaml / *.yml file below ``specs_dir`` at any depth, in a stable order; hidden dirs skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(specs_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")) and not f.startswith("."):
                found.append(Path(root) / f)
    return found


def load_tree(specs_dir: Path) -> tuple[list[Document], list[Diagnostic]]:
    if not specs_dir.exists():
        return [], [Diagnostic(str(specs_dir), 0, 0, "spec directory does not exist", fix="pass --specs DIR")]
    docs: list[Document] = []
    diags: list[Diagnostic] = []
    for p in discover(specs_dir):
        d, e = load_file(p, display=display_path(p))
        docs.extend(d)
        diags.extend(e)
    return docs, diags


def display_path(p: Path) -> str:
    """A path as diagnostics show it: relative to the working directory when below it."""
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)
