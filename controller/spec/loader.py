"""Load YAML spec files with the position of every node, within fixed limits.

Only safe YAML: documents are built from the parser's events by an iterative builder (no recursion,
so no nesting depth can overflow the stack), and every non-string scalar is constructed with PyYAML's
SafeConstructor, so an unknown tag such as ``!!python/object`` is an error, never executed. Duplicate
keys are rejected (PyYAML silently keeps the last one). Each document keeps a map from field path to
(line, column), 1-based, so errors can point at the exact place.

Bad input costs bounded time and memory (docs/limits.md): only regular files are read, at most
MAX_FILE_BYTES each and MAX_TREE_BYTES in all; a file must be UTF-8 text with no control character;
nesting stops at MAX_DEPTH; aliases are shared, not copied, and every node they stand for counts
towards MAX_NODES per file (a "billion laughs" file stops at the cap). Symlinks are followed only
inside the spec tree; a folder or file that cannot be read is an error naming it, never skipped.
"""
from __future__ import annotations

import codecs
import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import ScalarNode

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


MAX_FILE_BYTES = 4 * 1024 * 1024  # one spec file
MAX_TREE_BYTES = 256 * 1024 * 1024  # every spec file of a tree together
MAX_FILES = 20_000  # spec files in a tree
MAX_DEPTH = 64  # nesting of mappings and lists in one document
MAX_NODES = 100_000  # nodes in one file, every alias counted as the nodes it stands for
SLOW_PARSE_BYTES = 512 * 1024  # a syntax error in a smaller file is parsed again for a clearer message


class _Loader(yaml.SafeLoader):
    """SafeLoader whose parser gives the events and whose constructor we only call on scalars."""


# libyaml's parser when PyYAML has it: about ten times faster. Its error messages are terser, so a
# file it rejects is parsed again by the pure-Python parser, whose messages are the ones reported.
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):  # type: ignore[name-defined, misc]
        """CSafeLoader whose constructor we only call on scalars."""

    _FastLoader = _CLoader


def _mark(node: Any) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_INVALID = object()
_BUILDING = object()  # an anchor whose node is not finished: an alias to it is a cycle
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


class _Limit(Exception):
    """A limit of docs/limits.md was reached: the file is reported and not read further."""

    def __init__(self, mark: Any, message: str, fix: str | None = None):
        self.mark, self.message, self.fix = mark, message, fix


class _Skip(Exception):
    """The document is broken (a diagnostic was recorded): skip the rest of it."""


class _Frame:
    __slots__ = ("is_map", "path", "value", "key", "key_mark", "key_tag", "merges", "anchor", "size")

    def __init__(self, is_map: bool, path: PathKey, anchor: str | None):
        self.is_map = is_map
        self.path = path
        self.value: Any = {} if is_map else []
        self.key: Any = _INVALID  # a mapping waiting for its next key's value holds the key here
        self.key_mark: Any = None
        self.key_tag: str | None = None
        self.merges: list[tuple[Any, Any]] = []  # (value, mark) of each `<<` of the mapping
        self.anchor = anchor
        self.size = 1


class _Builder:
    """Builds the documents of one file from parser events, iteratively."""

    def __init__(self, loader: Any, name: str, diags: list[Diagnostic]):
        self.loader = loader
        self.name = name
        self.diags = diags
        self.nodes = 0  # of the file, aliases expanded
        self.docs: list[Document] = []
        self.scalars: dict[tuple[str, str | None, Any], tuple[str, Any]] = {}  # (value, tag, implicit) -> built

    def documents(self) -> list[Document]:
        docs = self.docs
        loader = self.loader
        index = 0
        while loader.check_event():
            event = loader.get_event()
            if not isinstance(event, yaml.DocumentStartEvent):
                continue
            line, col = _mark(event)
            doc = Document(self.name, index, None, line, col)
            index += 1
            try:
                doc.data = self.document(doc)
            except _Skip:
                doc.data = None
                self.skip_document()
            if doc.data is not None:
                doc.line, doc.col = doc.values.get((), (line, col))
                docs.append(doc)
        return docs

    def skip_document(self) -> None:
        while self.loader.check_event():
            if isinstance(self.loader.get_event(), yaml.DocumentEndEvent):
                return

    def document(self, doc: Document) -> Any:
        loader = self.loader
        resolvers = loader.yaml_implicit_resolvers  # first character -> the implicit types it may start
        anchors: dict[str, tuple[Any, int]] = {}
        scalars = self.scalars
        stack: list[_Frame] = []
        root: Any = None
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                return root
            if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                frame = stack.pop()
                value = self.finish(doc, frame) if frame.is_map else frame.value
                if frame.anchor is not None:
                    anchors[frame.anchor] = (value, frame.size)
                done, size, mark = value, frame.size, None
            else:
                parent = stack[-1] if stack else None
                key_slot = parent is not None and parent.is_map and parent.key is _INVALID
                path = self.child_path(parent)
                if isinstance(event, yaml.AliasEvent):
                    held = anchors.get(event.anchor or "")
                    if held is None:
                        self.fail(event, f"alias *{event.anchor} refers to no anchor &{event.anchor} before it")
                    if held[0] is _BUILDING:
                        self.fail(event, f"alias *{event.anchor} is used inside the node it names (a cycle)",
                                  fix="an alias may only refer to a node that is complete")
                    done, size = held
                    self.count(event, size)
                    if not key_slot:
                        doc.values[path] = _mark(event)
                elif isinstance(event, yaml.ScalarEvent):
                    self.nodes += 1
                    if self.nodes > MAX_NODES:
                        self.count(event, 0)
                    value = event.value
                    known = scalars.get((value, event.tag, event.implicit))  # immutable: reuse within a file
                    if known is not None:
                        tag, done = known
                    else:
                        tag = event.tag or ""
                        if tag in ("", "!"):
                            if not tag and (not event.implicit[0] or value[:1] not in resolvers):
                                tag = _STR  # quoted, or no implicit type starts with this character
                            else:
                                tag = loader.resolve(ScalarNode, value, event.implicit)
                        if tag == _STR or tag == _MERGE:
                            done = value
                        else:
                            done = self.construct(ScalarNode(tag, value, event.start_mark,  # type: ignore[arg-type]
                                                             event.end_mark, event.style))  # type: ignore[arg-type]
                        scalars[(value, event.tag, event.implicit)] = (tag, done)
                    if tag == _MERGE and not key_slot:
                        done = self.construct(ScalarNode(tag, value, event.start_mark,  # type: ignore[arg-type]
                                                         event.end_mark, event.style))  # type: ignore[arg-type]
                    if key_slot:
                        assert parent is not None
                        parent.key_tag = tag
                    if not key_slot:
                        doc.values[path] = _mark(event)
                    if event.anchor is not None:
                        anchors[event.anchor] = (done, 1)
                    size = 1
                elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    is_map = isinstance(event, yaml.MappingStartEvent)
                    ctag = event.tag
                    if ctag not in (None, "!") and ctag not in _PLAIN_TAGS:
                        self.diags.append(_tag_diag(self.name, event, ctag or ""))
                        raise _Skip
                    if key_slot:
                        line, col = _mark(event)
                        assert parent is not None
                        self.diags.append(Diagnostic(self.name, line, col, "a mapping key must be a plain value",
                                                     _dotted(parent.path)))
                        raise _Skip
                    if len(stack) >= MAX_DEPTH:
                        raise _Limit(event.start_mark, f"nested deeper than {MAX_DEPTH} levels",
                                     fix="spec documents are a few levels deep: look for a runaway indent or [")
                    self.count(event, 1)
                    doc.values[path] = _mark(event)
                    frame = _Frame(is_map, path, event.anchor)
                    if event.anchor is not None:
                        anchors[event.anchor] = (_BUILDING, 0)
                    stack.append(frame)
                    continue
                else:
                    continue
                mark = event
            if not stack:
                root = done
                continue
            parent = stack[-1]
            parent.size += size
            if not parent.is_map:
                parent.value.append(done)
            elif parent.key is _INVALID:
                if not isinstance(done, str):
                    if isinstance(done, dict | list):  # an alias to a collection used as a key
                        line, col = _mark(mark) if mark is not None else doc.position(parent.path)
                        self.diags.append(Diagnostic(self.name, line, col, "a mapping key must be a plain value",
                                                     _dotted(parent.path)))
                        raise _Skip
                    done = str(done)
                parent.key = done
                parent.key_mark = mark
                if parent.key_tag != _MERGE or done != "<<":
                    parent.key_tag = None
            else:
                self.put(doc, parent, done, mark)

    def child_path(self, parent: _Frame | None) -> PathKey:
        if parent is None:
            return ()
        if parent.is_map:
            return (*parent.path, parent.key) if parent.key is not _INVALID else parent.path
        return (*parent.path, len(parent.value))

    def put(self, doc: Document, frame: _Frame, value: Any, mark: Any) -> None:
        key, key_mark = frame.key, frame.key_mark
        frame.key = _INVALID
        if frame.key_tag == _MERGE:
            frame.key_tag = None
            frame.merges.append((value, mark or key_mark))
            return
        out = frame.value
        if key in out:
            line, col = _mark(key_mark)
            first = doc.keys.get((*frame.path, key), (0, 0))[0]
            self.diags.append(Diagnostic(self.name, line, col, f"duplicate key {key!r} (first defined on line {first})",
                                         _dotted((*frame.path, key)),
                                         fix="remove one of the two; YAML keeps only the last, silently"))
            return
        doc.keys[(*frame.path, key)] = _mark(key_mark)
        out[key] = value

    def finish(self, doc: Document, frame: _Frame) -> dict[Any, Any]:
        """A mapping's value, with its `<<` merge keys applied (its own keys win, then earlier merges)."""
        if not frame.merges:
            return frame.value  # type: ignore[no-any-return]
        merged: dict[Any, Any] = {}
        for value, mark in reversed(frame.merges):
            sources = value if isinstance(value, list) else [value]
            for src in reversed(sources):
                if not isinstance(src, dict):
                    line, col = _mark(mark) if mark is not None else doc.position(frame.path)
                    self.diags.append(Diagnostic(self.name, line, col,
                                                 "a merge key (<<) takes a mapping or a list of mappings",
                                                 _dotted(frame.path)))
                    raise _Skip
                merged.update(src)
        merged.update(frame.value)
        return merged

    def construct(self, node: ScalarNode) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as e:
            self.diags.append(_yaml_diag(self.name, e))
            raise _Skip from None
        self.loader.constructed_objects.pop(node, None)
        return value

    def count(self, event: Any, n: int) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise _Limit(event.start_mark, f"the file stands for more than {MAX_NODES:,} YAML nodes "
                                           "(aliases count as everything they repeat)",
                         fix="an alias bomb? split the file, or repeat less through aliases")

    def fail(self, event: Any, message: str, fix: str | None = None) -> NoReturn:
        line, col = _mark(event)
        self.diags.append(Diagnostic(self.name, line, col, message, fix=fix))
        raise _Skip


def _tag_diag(name: str, event: Any, tag: str) -> Diagnostic:
    line, col = _mark(event)
    shown = tag.replace("tag:yaml.org,2002:", "!!", 1)
    return Diagnostic(name, line, col, f"unsafe YAML: tag {shown} is not allowed: only plain YAML (safe) is accepted, "
                                       "nothing is ever executed", fix="remove the tag")


def _dotted(path: PathKey) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


dotted = _dotted

# What YAML allows in a stream (YAML 1.1 "printable"): tab, newline, carriage return, the printable
# ASCII range, NEL, and the printable Unicode ranges. Anything else is reported before parsing.
_NOT_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32", codecs.BOM_UTF16_LE: "UTF-16",
         codecs.BOM_UTF16_BE: "UTF-16"}


def read_text(path: Path, name: str, budget: list[int] | None = None) -> tuple[str | None, Diagnostic | None]:
    """A spec file's text, or the one diagnostic saying why it is not read: not a regular file, too
    large, not UTF-8, a NUL or control character. ``budget`` (a one-item list) is what the tree may
    still read, in bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except OSError as e:
        return None, Diagnostic(name, 1, 1, f"cannot read file: {e.strerror or e}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, Diagnostic(name, 1, 1, f"not a regular file ({_file_type(st.st_mode)}): only regular files "
                                                "are read", fix="replace it with a plain file, or move it out of the tree")
        limit = MAX_FILE_BYTES if budget is None else min(MAX_FILE_BYTES, budget[0])
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(limit + 1)
    except OSError as e:
        return None, Diagnostic(name, 1, 1, f"cannot read file: {e.strerror or e}")
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        return None, Diagnostic(name, 1, 1, f"larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for one spec file",
                                fix="split it into several files")
    if budget is not None:
        if len(raw) > budget[0]:
            return None, Diagnostic(name, 1, 1, f"the spec tree is larger than {MAX_TREE_BYTES // 2**20} MiB "
                                                "in all; this file and the next ones are not read")
        budget[0] -= len(raw)
    for bom, encoding in _BOMS.items():
        if raw.startswith(bom):
            return None, Diagnostic(name, 1, 1, f"{encoding} text: spec files are UTF-8", fix="save it as UTF-8")
    nul = raw.find(b"\0")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        return None, Diagnostic(name, line, col, "a NUL byte: a binary file? spec files are UTF-8 text",
                                fix="remove the file from the tree, or save it as UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = _line_col(raw, e.start)
        return None, Diagnostic(name, line, col, f"not UTF-8 text (byte 0x{raw[e.start]:02x})",
                                fix="save it as UTF-8")
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        return None, Diagnostic(name, line, col, f"control character U+{ord(bad.group()):04X}: YAML allows only "
                                                 "printable characters, tabs and newlines", fix="remove it")
    return text, None


def _line_col(raw: bytes, at: int) -> tuple[int, int]:
    return raw.count(b"\n", 0, at) + 1, at - (raw.rfind(b"\n", 0, at) + 1) + 1


def _file_type(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a file"


def load_file(path: Path, display: str | None = None, budget: list[int] | None = None
              ) -> tuple[list[Document], list[Diagnostic]]:
    """Every document of one YAML file, or diagnostics saying why it cannot be read."""
    name = display or str(path)
    text, problem = read_text(path, name, budget)
    if problem is not None or text is None:
        return [], [problem] if problem else []
    if _FastLoader is not None:
        docs, diags, syntax = _parse(text, name, _FastLoader)
        if not syntax or len(text) > SLOW_PARSE_BYTES:  # a syntax error is worth a clearer message, if cheap
            return docs, diags
    docs, diags, _ = _parse(text, name, _Loader)
    return docs, diags


def _parse(text: str, name: str, loader_cls: type) -> tuple[list[Document], list[Diagnostic], bool]:
    """(documents, diagnostics, whether the parser found a syntax error)."""
    diags: list[Diagnostic] = []
    syntax = False
    docs: list[Document] = []
    loader = loader_cls(text)
    builder = _Builder(loader, name, diags)
    try:
        docs = builder.documents()
    except _Limit as e:
        line, col = e.mark.line + 1, e.mark.column + 1
        diags.append(Diagnostic(name, line, col, e.message, fix=e.fix))
    except yaml.YAMLError as e:
        diags.append(_yaml_diag(name, e))
        docs, syntax = builder.docs, True
    finally:
        loader.dispose()
    return docs, diags, syntax


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
    """Every *.yaml / *.yml file below ``specs_dir`` at any depth, in a stable order; hidden entries skipped."""
    return scan(specs_dir)[0]


def scan(specs_dir: Path) -> tuple[list[Path], list[Diagnostic]]:
    """The spec files of a tree, and a diagnostic for every entry that cannot be read.

    A folder that cannot be listed is an error, never skipped (skipped, its documents would read as
    deleted). Symlinks are followed only to a file or folder inside the tree: one that points out of
    it, dangles, or loops is an error. A file or folder reached twice (through a symlink) is read once.
    Hidden entries (.git, .swp files) are not read.
    """
    found: list[Path] = []
    diags: list[Diagnostic] = []
    root_real = specs_dir.resolve()
    seen: set[Path] = set()
    stack: list[tuple[Path, Path, tuple[Path, ...]]] = [(specs_dir, root_real, (root_real,))]
    while stack:
        folder, real, ancestors = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            diags.append(Diagnostic(_display(folder), 0, 0, f"cannot read folder: {e.strerror or e}",
                                    fix="make it readable, or move it out of the spec tree"))
            continue
        subdirs: list[tuple[Path, Path, tuple[Path, ...]]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            is_yaml = entry.name.endswith((".yaml", ".yml"))
            try:
                link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError as e:
                diags.append(Diagnostic(_display(path), 0, 0, f"cannot read: {e.strerror or e}"))
                continue
            target = real / entry.name
            if link:
                if not is_yaml and not _points_to_dir(path):
                    continue  # a link to something else than a folder, not named *.yaml: not ours to read
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError) as e:
                    loop = isinstance(e, RuntimeError) or getattr(e, "errno", None) == errno.ELOOP
                    diags.append(Diagnostic(_display(path), 0, 0, "symlink loop" if loop else
                                            "symlink to nothing (its target does not exist)",
                                            fix="remove the symlink or fix its target"))
                    continue
                if target != root_real and root_real not in target.parents:
                    diags.append(Diagnostic(_display(path), 0, 0, "symlink points out of the spec tree: only "
                                                                  "files inside it are read",
                                            fix="copy the file into the tree instead of linking to it"))
                    continue
                is_dir = target.is_dir()
                if is_dir and target in ancestors:
                    diags.append(Diagnostic(_display(path), 0, 0, "symlink loop: it points at a folder that "
                                                                  "contains it", fix="remove the symlink"))
                    continue
            if is_dir:
                if target not in seen:
                    seen.add(target)
                    subdirs.append((path, target, (*ancestors, target)))
            elif is_yaml and target not in seen:
                seen.add(target)
                found.append(path)
                if len(found) > MAX_FILES:
                    diags.append(Diagnostic(_display(specs_dir), 0, 0, f"more than {MAX_FILES:,} spec files: the tree "
                                            "is not read further", fix="check --specs"))
                    return found[:MAX_FILES], diags
        stack.extend(reversed(subdirs))
    return found, diags


def _points_to_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def load_tree(specs_dir: Path, allow_empty: bool = False) -> tuple[list[Document], list[Diagnostic]]:
    """Every document of a spec tree. Errors: the tree is missing or not a folder, any entry cannot be
    read (see scan and read_text), or, unless ``allow_empty``, it holds no document at all."""
    shown = _display(specs_dir)
    try:
        mode = specs_dir.stat().st_mode
    except FileNotFoundError:
        return [], [Diagnostic(shown, 0, 0, "spec directory does not exist", fix="pass --specs DIR")]
    except (OSError, RuntimeError) as e:
        return [], [Diagnostic(shown, 0, 0, f"cannot read the spec directory: {getattr(e, 'strerror', None) or e}")]
    if not stat.S_ISDIR(mode):
        return [], [Diagnostic(shown, 0, 0, "not a directory: --specs takes the directory that holds the spec files",
                               fix=f"pass --specs {_display(specs_dir.parent)}" if stat.S_ISREG(mode) else None)]
    docs: list[Document] = []
    files, diags = scan(specs_dir)
    budget = [MAX_TREE_BYTES]
    for p in files:
        found, problems = load_file(p, display=_display(p), budget=budget)
        docs.extend(found)
        diags.extend(problems)
        if budget[0] <= 0:
            break
    if not docs and not diags and not allow_empty:
        what = "no *.yaml or *.yml file" if not files else "no document (only empty files)"
        diags.append(Diagnostic(shown, 0, 0, f"the spec directory holds {what}: nothing to plan from",
                                fix="check --specs; pass --allow-empty if an empty tree is what you mean"))
    return docs, diags


def _display(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def display_path(p: Path) -> str:
    """A path as diagnostics show it (relative to the working directory when below it)."""
    return _display(p)
