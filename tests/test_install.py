"""The project installed as a user installs it: a built wheel in a fresh virtualenv, without the `local` extra.

The editable install the Makefile makes reads data files from the source tree, so it cannot show that the
wheel ships them. Here the wheel is built from a copy of the sources, installed with pip into a new
virtualenv, and the commands run from there. The virtualenv sees exactly the distributions that the
wheel's plain requirements pull (resolved from their metadata, linked from this environment, which is
faster than downloading them again): moto is not among them, so `local-aws` must say how to get it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.awsserver import AwsServer
from tests.conftest import ROOT

LOCAL_ONLY = {"moto", "flask", "flask-cors", "cfn-lint", "docker", "sympy", "networkx"}


def build_wheel(out: Path) -> Path:
    """`pip wheel` of a copy of the sources (a stale build/ in the work tree must not leak into it)."""
    src = out / "src"
    shutil.copytree(ROOT / "controller", src / "controller", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, capture_output=True)
    (wheel,) = out.glob("controller-*.whl")
    return wheel


def plain_closure(requires: list[str]) -> list[metadata.Distribution]:
    """The installed distributions that these requirements pull, transitively, without any extra of ours."""
    seen: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    todo = [r for r in map(Requirement, requires) if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        dist = seen.setdefault(key[0], metadata.distribution(req.name))
        for r in map(Requirement, dist.requires or []):
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(r)
    return list(seen.values())


def link_site(dists: list[metadata.Distribution], into: Path) -> None:
    """A directory holding these distributions only: links to their top-level files and directories."""
    into.mkdir()
    for dist in dists:
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            target = Path(str(dist.locate_file(top)))
            if target.exists() and not (into / top).exists():
                (into / top).symlink_to(target)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the fresh virtualenv's bin/) with the wheel installed by pip, its plain requirements only."""
    tmp = tmp_path_factory.mktemp("install")
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [v.strip() for k, v in (line.split(":", 1) for line in z.read(meta).decode().splitlines()
                                             if ":" in line) if k == "Requires-Dist"]
    deps = tmp / "deps"
    link_site(plain_closure(requires), deps)
    (purelib / "plain-deps.pth").write_text(f"{deps}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    return wheel, venv / "bin"


def run(bin_: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(bin_ / "controller"), *args], capture_output=True, text=True, timeout=120,
                          env={**clean, **(env or {})}, cwd=cwd)


def test_the_wheel_ships_every_file_the_code_reads(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    tracked = subprocess.run(["git", "ls-files", "controller"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    data = {f for f in tracked if not f.endswith(".py")}
    assert {"controller/spec/data/instance_types.json", "controller/pricing/prices.json"} <= data
    names = set(zipfile.ZipFile(wheel).namelist())
    assert data - names == set(), "non-Python files under controller/ missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "specs/")) or "__pycache__" in n]


def test_the_plain_install_has_no_local_endpoint(installed: tuple[Path, Path]) -> None:
    wheel, bin_ = installed
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    moto = [line for line in meta.splitlines() if line.startswith("Requires-Dist: moto")]
    assert moto and all('extra == "local"' in line for line in moto), moto
    listed = subprocess.run([str(bin_ / "python"), "-c", "import controller, importlib.metadata as m;"
                             "print(controller.__file__);"
                             "print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))"],
                            capture_output=True, text=True, check=True, cwd=bin_).stdout.split()
    assert listed[0].startswith(str(bin_.parent)), f"controller imported from {listed[0]}, not the virtualenv"
    assert "controller" in listed and "boto3" in listed
    assert LOCAL_ONLY & set(listed) == set()


def test_help_validate_and_plan_from_the_installed_wheel(installed: tuple[Path, Path], aws: AwsServer,
                                                         tmp_path: Path) -> None:
    _, bin_ = installed
    p = run(bin_, "--help", cwd=tmp_path)
    assert p.returncode == 0 and "plan" in p.stdout and "apply" in p.stdout, p.stderr
    p = run(bin_, "validate", "--specs", str(ROOT / "specs"), cwd=tmp_path)  # reads instance_types.json
    assert p.returncode == 0, p.stderr
    p = run(bin_, "plan", "--specs", str(ROOT / "specs"), env=aws.env(), cwd=tmp_path)  # reads prices.json
    assert p.returncode == 2, p.stderr
    assert "to create" in p.stdout and "Cost hints" in p.stdout and "Traceback" not in p.stderr


def test_local_aws_without_the_extra_says_how_to_get_it(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_ = installed
    p = run(bin_, "local-aws", "--port", "0", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "pip install 'controller[local]'" in p.stderr and "internal error" not in p.stderr
