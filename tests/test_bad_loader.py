"""Spec trees that attack or confuse the loader: each is an error naming the file, and nothing is planned.

In process through the CLI's `main` (no AWS endpoint is needed: a tree that does not load is refused
before any AWS call); the cases that could hang run as a subprocess with a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.cli import main
from controller.spec import loader
from tests.helpers import enterprise_doc

GOOD = "apiVersion: controller/v1\nkind: Volume\nmetadata: {name: v, enterprise: acme}\nspec: {sizeGiB: 1, region: us-east-1}\n"


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return make


def _link(name: str, target: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(target if not target.startswith("@") else root / target[1:])
    return make


# (what to add to a valid tree, the file the error must name, words it must say)
BAD_TREES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "alias-bomb": (_write("bomb.yaml", _bomb()), "bomb.yaml", "YAML nodes"),
    "alias-bomb-mapping": (_write("m.yaml", "a: &a {x: 1, y: 1, z: 1, w: 1}\n" + "".join(
        f"b{i}: &b{i} {{p: *{'a' if i == 0 else f'b{i - 1}'}, q: *{'a' if i == 0 else f'b{i - 1}'}, "
        f"r: *{'a' if i == 0 else f'b{i - 1}'}}}\n" for i in range(20))), "m.yaml", "YAML nodes"),
    "self-alias": (_write("self.yaml", "a: &a [1, *a]\n"), "self.yaml", "cycle"),
    "undefined-alias": (_write("u.yaml", "a: *nowhere\n"), "u.yaml", "alias"),
    "deep-flow": (_write("deep.yaml", "a: " + "[" * 1000 + "]" * 1000 + "\n"), "deep.yaml", "nested deeper"),
    "deep-block": (_write("deep.yaml", "".join(" " * i + "a:\n" for i in range(1000))), "deep.yaml", "nested deeper"),
    "deep-unclosed": (_write("deep.yaml", "[" * 200_000), "deep.yaml", "deep.yaml:1:"),
    "nul": (_write("nul.yaml", GOOD.replace("name: v", "name: v\x00")), "nul.yaml", "NUL"),
    "control-char": (_write("ctl.yaml", GOOD.replace("name: v", "name: v\x07")), "ctl.yaml", "U+0007"),
    "escape-char": (_write("esc.yaml", GOOD.replace("name: v", "name: \x1b[31mv")), "esc.yaml", "U+001B"),
    "utf16": (_write("u16.yaml", GOOD.encode("utf-16")), "u16.yaml", "UTF-16"),
    "utf16-no-bom": (_write("u16.yaml", GOOD.encode("utf-16-le")), "u16.yaml", "NUL"),
    "utf32": (_write("u32.yaml", GOOD.encode("utf-32")), "u32.yaml", "UTF-32"),
    "latin1": (_write("l1.yaml", GOOD.replace("name: v", "name: caf\u00e9").encode("latin-1")), "l1.yaml", "UTF-8"),
    "binary": (_write("bin.yaml", bytes(range(256)) * 8), "bin.yaml", "NUL"),
    "too-big": (_write("big.yaml", "a: " + "x" * (loader.MAX_FILE_BYTES + 10)), "big.yaml", "MiB"),
    "python-tag": (_write("tag.yaml", "a: !!python/object/apply:os.system [echo hi]\n"), "tag.yaml", "not allowed"),
    "python-tag-map": (_write("tag.yaml", "a: !!python/object:os.Foo {x: 1}\n"), "tag.yaml", "not allowed"),
    "collection-key": (_write("k.yaml", "? [a, b]\n: 1\n"), "k.yaml", "plain value"),
    "bad-merge": (_write("mg.yaml", "a: {<<: 3}\n"), "mg.yaml", "merge"),
    "symlink-out": (_link("passwd.yaml", "/etc/passwd"), "passwd.yaml", "out of the spec tree"),
    "symlink-dev-zero": (_link("zero.yaml", "/dev/zero"), "zero.yaml", "out of the spec tree"),
    "symlink-dir-out": (_link("etc", "/etc"), "etc", "out of the spec tree"),
    "symlink-dangling": (_link("gone.yaml", "nowhere.yaml"), "gone.yaml", "does not exist"),
    "symlink-self": (_link("me.yaml", "me.yaml"), "me.yaml", "loop"),
    "symlink-dir-loop": (_link("sub/up", "@"), "up", "loop"),
    "folder-named-yaml-fifo": (lambda root: os.mkfifo(root / "x.yaml"), "x.yaml", "FIFO"),
    "socket-like-dev": (_link("null.yaml", "/dev/null"), "null.yaml", "out of the spec tree"),
}


def tree(tmp_path: Path, make: Callable[[Path], None]) -> Path:
    root = tmp_path / "specs"
    root.mkdir()
    (root / "ent.yaml").write_text(enterprise_doc())
    make(root)
    return root


def spec_error_lines(err: str) -> list[str]:
    assert "internal error" not in err and "Traceback" not in err, err
    return [ln for ln in err.splitlines() if ": error: " in ln]


@pytest.mark.parametrize("case", list(BAD_TREES), ids=list(BAD_TREES))
def test_bad_tree_is_one_error_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    make, name, says = BAD_TREES[case]
    root = tree(tmp_path, make)
    code = main(["validate", "--specs", str(root)])
    errors = spec_error_lines(capsys.readouterr().err)
    assert code == 1 and errors, errors
    assert any(name in ln.split(": error: ")[0] and says in ln for ln in errors), errors
    # and plan refuses before any AWS call (no endpoint is configured here)
    code = main(["plan", "--specs", str(root)])
    err = capsys.readouterr().err
    assert code == 1 and "nothing was planned" in err and spec_error_lines(err), err


def test_fifo_and_dev_zero_do_not_hang(tmp_path: Path, cli) -> None:
    root = tree(tmp_path, _write("ok.yaml", GOOD))
    os.mkfifo(root / "pipe.yaml")
    (root / "sub").mkdir()
    (root / "sub" / "zero.yaml").symlink_to("/dev/zero")
    r = cli("validate", "--specs", str(root), timeout=60)
    assert r.code == 1, r.err
    assert "pipe.yaml:1:1: error: not a regular file (a FIFO)" in r.err, r.err
    assert "zero.yaml:0:0: error: symlink points out of the spec tree" in r.err, r.err


def test_symlinks_inside_the_tree_are_read_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree(tmp_path, _write("real/vol.yaml", GOOD))
    (root / "alias").symlink_to(root / "real")
    (root / "vol-link.yaml").symlink_to(root / "real" / "vol.yaml")
    assert main(["validate", "--specs", str(root)]) == 0, capsys.readouterr().err
    assert "valid: 2 documents in 2 files" in capsys.readouterr().out


def test_merge_keys_and_aliases_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = ("base: &base {sizeGiB: 1, region: us-east-1}\n---\n" + GOOD.replace("spec: {sizeGiB: 1, region: us-east-1}",
           "spec: {<<: {sizeGiB: 1, region: us-east-1}, encrypted: false}"))
    root = tree(tmp_path, _write("vol.yaml", doc.split("---\n", 1)[1]))
    assert main(["validate", "--specs", str(root)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "missing", "empty", "only-empty-files"])
def test_specs_must_be_a_folder_with_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    target = tmp_path / "specs"
    if where == "file":
        target.write_text(enterprise_doc())
    elif where == "empty":
        target.mkdir()
    elif where == "only-empty-files":
        target.mkdir()
        (target / "a.yaml").write_text("# nothing yet\n")
    for command in ("validate", "plan"):
        code = main([command, "--specs", str(target)])
        errors = spec_error_lines(capsys.readouterr().err)
        assert code == 1 and len(errors) == 1 and str(target) in errors[0], errors
    if where in ("empty", "only-empty-files"):
        assert main(["validate", "--specs", str(target), "--allow-empty"]) == 0


def _unprivileged() -> list[str] | None:
    """A command prefix that drops root (permissions do not stop root's reads), or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    # the unprivileged user must be able to run the code at all (a checkout in a 0700 folder, as
    # `mktemp -d` makes, is root's alone)
    ok = subprocess.run([*prefix, sys.executable, "-c", "import controller"], capture_output=True, cwd="/",
                        timeout=60).returncode == 0
    return prefix if ok else None


@pytest.mark.parametrize("what", ["folder", "file", "root"])
def test_unreadable_entry_is_an_error_not_a_deletion(what: str) -> None:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("root, and no setpriv to drop privileges, or the checkout is not readable by another user")
    with tempfile.TemporaryDirectory() as tmp:  # pytest's tmp_path is private to root: the user must reach it
        _unreadable(Path(tmp), prefix, what)


def _unreadable(tmp_path: Path, prefix: list[str], what: str) -> None:
    tmp_path.chmod(0o755)
    root = tree(tmp_path, _write("web/vol.yaml", GOOD))
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    {"folder": root / "web", "file": root / "web" / "vol.yaml", "root": root}[what].chmod(0)
    for command in ("validate", "plan"):
        p = subprocess.run([*prefix, sys.executable, "-m", "controller", command, "--specs", str(root)],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={**os.environ, "HOME": str(tmp_path)})
        errors = spec_error_lines(p.stderr)
        assert p.returncode == 1, p.stdout + p.stderr
        named = {"folder": "web", "file": "vol.yaml", "root": "specs"}[what]
        assert any(named in ln and ("cannot read" in ln) for ln in errors), p.stderr
