"""`controller validate` end to end: the repo's own specs, a broken copy, --json, ordering, all errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the repo's specs/ in tmp_path/specs."""
    shutil.copytree(SPECS, tmp_path / "specs")
    return tmp_path / "specs"


def break_file(path: Path, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in ``path``; return the 1-based line where ``new`` starts."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    at = text.index(old)
    path.write_text(text.replace(old, new, 1))
    return text[:at].count("\n") + 1


def test_repo_specs_are_valid(cli) -> None:
    run = cli("validate", "--specs", str(SPECS), cwd=ROOT)
    assert run.code == 0, run.err
    assert "Traceback" not in run.out + run.err
    lines = run.out.strip().splitlines()
    assert len(lines) == 1
    m = re.fullmatch(r"valid: (\d+) documents in (\d+) files \((.*)\)", lines[0])
    assert m, lines[0]
    docs = sum(len([d for d in p.read_text().split("\n---") if "kind:" in d]) for p in SPECS.rglob("*.yaml"))
    assert int(m.group(1)) == docs
    assert int(m.group(2)) == len(list(SPECS.rglob("*.yaml")))
    counts = dict(reversed(part.split(" ", 1)) for part in m.group(3).split(", "))
    assert sum(int(n) for n in counts.values()) == docs
    for kind in ("Enterprise", "VirtualDatacenter", "PrivateNetwork", "Firewall", "VirtualMachine", "Volume"):
        assert int(counts[kind]) >= 1, counts
    # the networks that VDC types imply (public, default) are not counted as documents
    assert counts["PrivateNetwork"] == str(sum(p.read_text().count("kind: PrivateNetwork")
                                               for p in SPECS.rglob("*.yaml")))


def test_repo_specs_default_dir_and_json(cli) -> None:
    run = cli("validate", cwd=ROOT)  # --specs defaults to specs/
    assert run.code == 0, run.err
    run = cli("validate", "--json", cwd=ROOT)
    assert run.code == 0, run.err
    assert json.loads(run.out) == []


def test_one_broken_file(tree: Path, cli) -> None:
    line = break_file(tree / "acme" / "web" / "vms.yaml", "hardwareProfile: t3.medium", "hardwareProfile: t3.mega")
    run = cli("validate", "--specs", "specs")
    assert run.code == 1
    assert "Traceback" not in run.out + run.err
    assert f"specs/acme/web/vms.yaml:{line}:20: error: unknown hardware profile 't3.mega'" in run.err
    assert "    fix: did you mean" in run.err
    assert run.err.strip().splitlines()[-1] == "1 error(s) in 1 file(s)"
    assert run.out == ""


def test_json_output(tree: Path, cli) -> None:
    line = break_file(tree / "acme" / "lab" / "lab.yaml", "cidr: 10.31.5.0/24", "cidr: 10.99.5.0/24")
    run = cli("validate", "--specs", "specs", "--json")
    assert run.code == 1
    diags = json.loads(run.out)
    assert isinstance(diags, list) and len(diags) == 1
    d = diags[0]
    assert {"file", "line", "col", "message", "path"} <= set(d)
    assert d["file"] == "specs/acme/lab/lab.yaml"
    assert (d["line"], d["col"]) == (line, 9)
    assert d["path"] == "spec.cidr"
    assert "10.99.5.0/24 is not inside any address range of VDC 'lab'" in d["message"]
    assert d["severity"] == "error"


def test_every_error_of_a_run_sorted_by_file_and_line(tree: Path, cli) -> None:
    """Several files broken at once: every error is reported, in file then line order."""
    broken = [
        ("globex/shop.yaml", "remoteAddress: 198.51.100.7", "remoteAddress: 192.168.1.1", "not a public address"),
        ("enterprises.yaml", "reseller: acme", "reseller: acme-corp", "Enterprise 'acme-corp' not found"),
        ("acme/web/firewalls.yaml", 'ports: "80"', 'ports: "80-70"', "must be within 0-65535 and ascending"),
        ("acme/web/firewalls.yaml", "fromFirewall: base", "fromFirewall: bsae", "Firewall 'bsae' not found"),
        ("acme/web/vms.yaml", "ip: 10.10.0.10", "ip: 10.10.0.2", "10.10.0.2 is reserved by AWS"),
    ]
    expected = []
    for name, old, new, msg in broken:
        line = break_file(tree / name, old, new)
        expected.append((f"specs/{name}", line, msg))
    (tree / "acme" / "broken.yaml").write_text("apiVersion: controller/v1\nkind: User\nmetadata:\n\tname: x\n")
    expected.append(("specs/acme/broken.yaml", 4, "a tab character"))

    run = cli("validate", "--specs", "specs", "--json")
    assert run.code == 1
    diags = json.loads(run.out)
    got = [(d["file"], d["line"], d["col"]) for d in diags]
    assert got == sorted(got), "errors are sorted by file, line and column"
    # a file that cannot be read at all means references are not checked (they may point into it),
    # so that error comes alone with the per-document ones; fix it and the rest appear.
    for file, line, msg in expected:
        if "not found" in msg:
            continue
        assert any(d["file"] == file and d["line"] == line and msg in d["message"] for d in diags), (file, msg, diags)

    (tree / "acme" / "broken.yaml").unlink()
    run = cli("validate", "--specs", "specs", "--json")
    diags = json.loads(run.out)
    expected = [e for e in expected if e[0] != "specs/acme/broken.yaml"]
    assert len(diags) == len(expected), diags
    for (file, line, msg), d in zip(sorted(expected), diags, strict=True):
        assert (d["file"], d["line"]) == (file, line) and msg in d["message"], (file, line, msg, d)

    text = cli("validate", "--specs", "specs")
    assert text.code == 1
    rendered = [ln for ln in text.err.splitlines() if ": error: " in ln]
    assert len(rendered) == len(expected)
    assert text.err.strip().splitlines()[-1] == f"{len(expected)} error(s) in 4 file(s)"
    assert "Traceback" not in text.out + text.err


def test_missing_specs_dir(tmp_path: Path, cli) -> None:
    run = cli("validate", "--specs", "nowhere")
    assert run.code == 1
    assert "nowhere" in run.err and "spec directory does not exist" in run.err
    assert "Traceback" not in run.err


def test_empty_and_non_yaml_files(tmp_path: Path, cli) -> None:
    d = tmp_path / "specs"
    d.mkdir()
    (d / "empty.yaml").write_text("")
    (d / "comments.yml").write_text("# nothing yet\n---\n")
    (d / "README.md").write_text("not a spec")
    (d / ".hidden").mkdir()
    (d / ".hidden" / "x.yaml").write_text("{{{")
    run = cli("validate", "--specs", "specs")
    assert run.code == 1 and "holds no document (only empty files)" in run.err, run.err
    run = cli("validate", "--specs", "specs", "--allow-empty")
    assert run.code == 0, run.err
    assert run.out.startswith("valid: 0 documents")


def test_binary_file_is_an_error_not_a_crash(tmp_path: Path, cli) -> None:
    d = tmp_path / "specs"
    d.mkdir()
    (d / "blob.yaml").write_bytes(b"\xff\xfe\x00garbage")
    run = cli("validate", "--specs", "specs")
    assert run.code == 1
    assert "specs/blob.yaml:1:1: error: UTF-16 text: spec files are UTF-8" in run.err  # \xff\xfe: a UTF-16 BOM
    assert "Traceback" not in run.err
