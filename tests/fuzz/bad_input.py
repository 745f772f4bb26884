"""Fuzz campaign: mutated spec trees and tampered saved plans, run through the real CLI.

`python -m tests.fuzz bad_input [--cases=N] [--plans=M] [--seed=S]` (`make fuzz` runs it with the
defaults). Against a local moto endpoint, with canary credentials in the environment, every case
must end with:

- an exit code the docs list for the command (validate 0/1, plan 0/1/2, apply 0/1, 64 usage);
- no `internal error` and no traceback;
- a file or folder name in every spec error (`FILE:LINE:COL: error: ...`, FILE not empty);
- under 5 s of wall time and 300 MB of peak memory (the child's own rusage);
- no canary credential (nor its first 12 characters) anywhere in stdout or stderr;
- and, for the plan cases, the protected and the unprotected volume of the applied estate still
  exist afterwards: a tampered `apply FILE` deletes nothing.

As root, the CLI runs as `nobody` (setpriv) so that unreadable files and folders really are
unreadable. The figures (cases, failures, slowest, largest) are printed at the end; the exit status
is 1 if any case failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from controller.engine.plan import changes_digest  # noqa: E402
from tests.awsserver import AwsServer, start_server  # noqa: E402
from tests.helpers import by_address, client, enterprise_doc  # noqa: E402

TIME_LIMIT = 5.0  # CPU seconds of the CLI process: wall time on a shared 2-core machine measures its load
WALL_LIMIT = 30.0  # wall seconds: a hang (a FIFO read, an endpoint that never answers) shows here
MEMORY_LIMIT_KB = 300 * 1024
CANARY_KEY = "AKIAFUZZCANARY7Q2XW9"
CANARY_SECRET = "fuzzCanarySecret/K7MDENG/bPxRfiCYzz9q8w"
CANARY_ENV_KEY = "AKIAFUZZENVKEY3M5N7P"
CANARY_ENV_SECRET = "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"
CANARIES = (CANARY_KEY, CANARY_SECRET, CANARY_ENV_KEY, CANARY_ENV_SECRET)
EXIT_CODES = {"validate": {0, 1}, "plan": {0, 1, 2}, "apply": {0, 1}}
DIAG = re.compile(r"^(?P<file>.*?):(?P<line>-?\d+):(?P<col>-?\d+): error: ")

VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.10.0.0/16, network: {type: none}}
"""
NETWORK = """\
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: apps, enterprise: acme, vdc: web}
spec: {cidr: 10.10.5.0/24, availabilityZone: us-east-1a}
"""
FIREWALL = """\
apiVersion: controller/v1
kind: Firewall
metadata: {name: fw, enterprise: acme, vdc: web}
spec:
  description: web
  ingress:
    - {protocol: tcp, ports: "22", from: [10.0.0.0/8]}
    - {protocol: tcp, ports: "8000-8090", from: [0.0.0.0/0]}
"""
GLOBEX = """\
apiVersion: controller/v1
kind: Enterprise
metadata: {name: globex}
spec:
  credentials:
    env: {accessKeyId: FUZZ_KEY_ID, secretAccessKey: FUZZ_SECRET}
  regions: [us-east-1]
"""


def volume(name: str, protect: bool, size: int = 1) -> str:
    return (f"apiVersion: controller/v1\nkind: Volume\n"
            f"metadata: {{name: {name}, enterprise: acme, vdc: web, protect: {str(protect).lower()}}}\n"
            f"spec: {{sizeGiB: {size}}}\n")


BASE_TREE = {
    "enterprises.yaml": enterprise_doc() + "---\n" + GLOBEX,
    "acme/web/vdc.yaml": VDC + "---\n" + NETWORK,
    "acme/web/firewall.yaml": FIREWALL,
    "acme/web/volumes.yaml": volume("keep", True) + "---\n" + volume("data", False),
}


@dataclass
class Result:
    case: str
    command: str
    code: int
    out: str
    err: str
    seconds: float
    cpu_seconds: float
    max_rss_kb: int


@dataclass
class Campaign:
    rng: random.Random
    env: dict[str, str]
    work: Path
    prefix: list[str]
    results: list[Result] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    # -- running the CLI

    def run(self, case: str, *args: str, cwd: Path | None = None) -> Result:
        out_f = tempfile.TemporaryFile(dir=self.work)
        err_f = tempfile.TemporaryFile(dir=self.work)
        t0 = time.monotonic()
        proc = subprocess.Popen([*self.prefix, sys.executable, "-m", "controller", *args], stdout=out_f,
                                stderr=err_f, env=self.env, cwd=cwd or self.work, start_new_session=True)
        killer = threading.Timer(60, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - t0
        out_f.seek(0)
        err_f.seek(0)
        r = Result(case, args[0], proc.returncode, out_f.read().decode("utf-8", "replace"),
                   err_f.read().decode("utf-8", "replace"), seconds, usage.ru_utime + usage.ru_stime,
                   usage.ru_maxrss)
        out_f.close()
        err_f.close()
        if not case.startswith("setup"):
            self.results.append(r)
            self.check(r)
        return r

    def fail(self, r: Result, why: str) -> None:
        tail = (r.err.strip().splitlines() or [""])[-1][:200]
        self.failures.append(f"{r.case} [{r.command} -> {r.code}, {r.seconds:.1f} s, {r.max_rss_kb // 1024} MB]: "
                             f"{why}: {tail}")

    def check(self, r: Result) -> None:
        text = r.out + r.err
        allowed = EXIT_CODES.get(r.command, {0, 1}) | {64}
        if r.code not in allowed:
            self.fail(r, f"exit code {r.code} is not one of {sorted(allowed)}")
        if "internal error" in text or "Traceback" in text:
            self.fail(r, "internal error or traceback")
        for canary in CANARIES:
            if canary in text or canary[:12] in text:
                self.fail(r, "a canary credential appears in the output")
        if r.cpu_seconds > TIME_LIMIT or r.seconds > WALL_LIMIT:
            self.fail(r, f"took {r.cpu_seconds:.1f} s of CPU, {r.seconds:.1f} s of wall time (limits {TIME_LIMIT:g}, "
                         f"{WALL_LIMIT:g})")
        if r.max_rss_kb > MEMORY_LIMIT_KB:
            self.fail(r, f"peak memory {r.max_rss_kb // 1024} MB (limit {MEMORY_LIMIT_KB // 1024})")
        for line in r.err.splitlines():
            if ": error: " in line and not line.startswith(("error:", "controller")):
                m = DIAG.match(line)
                if not m or not m.group("file").strip() or "<unicode string>" in line:
                    self.fail(r, f"a spec error without a file name: {line[:120]}")
        if r.code == 1 and not r.err.strip():
            self.fail(r, "exit 1 with nothing on stderr")


# ------------------------------------------------------------------------------------------------
# Tree mutations: each takes (rng, tree root, list of spec files) and breaks something


def _pick(rng: random.Random, files: list[Path]) -> Path:
    return rng.choice(files)


def _edit_text(fn: Callable[[random.Random, str], str]) -> Callable[[random.Random, Path, list[Path]], str]:
    def mutate(rng: random.Random, root: Path, files: list[Path]) -> str:
        p = _pick(rng, files)
        p.write_text(fn(rng, p.read_text()))
        return p.name
    return mutate


def _edit_bytes(fn: Callable[[random.Random, bytes], bytes]) -> Callable[[random.Random, Path, list[Path]], str]:
    def mutate(rng: random.Random, root: Path, files: list[Path]) -> str:
        p = _pick(rng, files)
        p.write_bytes(fn(rng, p.read_bytes()))
        return p.name
    return mutate


def _at(rng: random.Random, text: str) -> int:
    return rng.randrange(len(text) + 1)


SCALARS = ["true", "false", "null", "~", "'２２'", "２２", "-1", "1e999", "0x10", "99999999999999999999", "''",
           "[]", "{}", "'yes'", "1.5", "!!binary aGVsbG8=", "2026-12-01", "'\\u0000'", CANARY_KEY, "&x 1",
           "*nowhere", "!!python/object:os.system {}", "<<", "? [a]", "'" + "x" * 300 + "'", "\"\\x07\""]


def _replace_scalar(rng: random.Random, text: str) -> str:
    spots = [m for m in re.finditer(r"(?<=: )[^\s{}\[\],][^,}\]\n]*", text)]
    if not spots:
        return text + "\nx: 1\n"
    m = rng.choice(spots)
    return text[:m.start()] + rng.choice(SCALARS) + text[m.end():]


def _insert_chars(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw) + 1)
    junk = rng.choice([b"\x00", b"\x01", b"\x1b[31m", b"\x7f", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\t",
                       b"\r", b"\xef\xbb\xbf", b"\xe2\x80\xae", bytes([rng.randrange(256)])])
    return raw[:at] + junk + raw[at:]


def _alias_bomb(rng: random.Random, root: Path, files: list[Path]) -> str:
    levels, width = rng.randint(6, 12), rng.randint(6, 10)
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    (root / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return "bomb.yaml"


def _deep(rng: random.Random, root: Path, files: list[Path]) -> str:
    n = rng.choice([65, 200, 1000, 50_000])
    text = rng.choice(["a: " + "[" * n + "]" * n + "\n", "".join(" " * i + "k:\n" for i in range(min(n, 3000))),
                       "a: " + "{b: " * n + "1" + "}" * n + "\n", "[" * n])
    (root / "deep.yaml").write_text(text)
    return "deep.yaml"


def _self_alias(rng: random.Random, root: Path, files: list[Path]) -> str:
    (root / "self.yaml").write_text(rng.choice(["a: &a [*a]\n", "a: &a {b: *a}\n", "&a [1, *a]\n"]))
    return "self.yaml"


def _big(rng: random.Random, root: Path, files: list[Path]) -> str:
    (root / "big.yaml").write_text("a: '" + "x" * (4 * 1024 * 1024 + rng.randint(1, 1000)) + "'\n")
    return "big.yaml"


def _many_nodes(rng: random.Random, root: Path, files: list[Path]) -> str:
    (root / "many.yaml").write_text("a: [" + ",".join(["1"] * 110_000) + "]\n")
    return "many.yaml"


def _encode(rng: random.Random, root: Path, files: list[Path]) -> str:
    p = _pick(rng, files)
    p.write_bytes(p.read_text().encode(rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1", "utf-16-be"]),
                                       errors="replace"))
    return p.name


def _fifo(rng: random.Random, root: Path, files: list[Path]) -> str:
    os.mkfifo(root / "pipe.yaml")
    return "pipe.yaml"


def _symlink(rng: random.Random, root: Path, files: list[Path]) -> str:
    kind = rng.choice(["passwd", "zero", "dangling", "self", "dir-up", "dir-out", "urandom"])
    target = {"passwd": "/etc/passwd", "zero": "/dev/zero", "dangling": "nowhere.yaml", "self": "link.yaml",
              "dir-up": "..", "dir-out": "/etc", "urandom": "/dev/urandom"}[kind]
    name = "linkdir" if kind.startswith("dir") else "link.yaml"
    where = root / "acme" if kind == "dir-up" else root
    (where / name).symlink_to(target)
    return name


def _unreadable(rng: random.Random, root: Path, files: list[Path]) -> str:
    p = rng.choice([*files, root / "acme", root / "acme" / "web"])
    p.chmod(0)
    return p.name


def _drop_protected(rng: random.Random, root: Path, files: list[Path]) -> str:
    p = root / "acme" / "web" / "volumes.yaml"
    if p.exists():
        p.write_text(volume("data", False))
    return "volumes.yaml"


def _duplicate_key(rng: random.Random, text: str) -> str:
    return text.replace("metadata:", "kind: Volume\nmetadata:", 1)


def _tab(rng: random.Random, text: str) -> str:
    return text.replace("\n  ", "\n\t", 1)


def _truncate(rng: random.Random, text: str) -> str:
    return text[:_at(rng, text)]


def _garble(rng: random.Random, text: str) -> str:
    at = _at(rng, text)
    return text[:at] + rng.choice([":", "- ", "{", "}", "[", "]", "'", '"', "&", "*", "!", "%", "@", "`", "|",
                                   ">", "---\n", "...\n", "\n  - x\n"]) + text[at:]


def _merge(rng: random.Random, text: str) -> str:
    return text.replace("spec:", rng.choice(["spec:\n  <<: 3\n ", "spec:\n  <<: [1, 2]\n ", "spec:\n  <<: *nope\n "]),
                        1)


TREE_MUTATIONS: dict[str, Callable[[random.Random, Path, list[Path]], str]] = {
    "replace-scalar": _edit_text(_replace_scalar),
    "insert-bytes": _edit_bytes(_insert_chars),
    "truncate": _edit_text(_truncate),
    "garble": _edit_text(_garble),
    "duplicate-key": _edit_text(_duplicate_key),
    "tab": _edit_text(_tab),
    "merge": _edit_text(_merge),
    "alias-bomb": _alias_bomb,
    "deep": _deep,
    "self-alias": _self_alias,
    "big": _big,
    "many-nodes": _many_nodes,
    "encoding": _encode,
    "fifo": _fifo,
    "symlink": _symlink,
    "unreadable": _unreadable,
    "drop-protected": _drop_protected,
}


def write_tree(root: Path) -> list[Path]:
    files = []
    for rel, text in BASE_TREE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        files.append(p)
    return files


def tree_case(c: Campaign, n: int) -> None:
    case_dir = Path(tempfile.mkdtemp(prefix=f"tree{n}-", dir=c.work))
    case_dir.chmod(0o755)
    root = case_dir / "specs"
    files = write_tree(root)
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    names = []
    for _ in range(c.rng.choice([1, 1, 1, 2, 3])):
        name = c.rng.choice(list(TREE_MUTATIONS))
        try:
            names.append(f"{name}:{TREE_MUTATIONS[name](c.rng, root, [f for f in files if f.exists()])}")
        except (OSError, IndexError, ValueError) as e:
            names.append(f"{name}:skipped({type(e).__name__})")
    specs_arg = str(root)
    if c.rng.random() < 0.04:  # --specs itself is wrong
        specs_arg = c.rng.choice([str(files[0]), str(case_dir / "nowhere"), str(case_dir)])
        names.append(f"specs={Path(specs_arg).name}")
    case = f"tree#{n} " + ",".join(names)
    command = c.rng.choice(["validate", "plan", "plan", "apply"])
    args = [command, "--specs", specs_arg] + (["--auto-approve"] if command == "apply" else [])
    r = c.run(case, *args, cwd=case_dir)
    if command == "apply" and r.code == 0:
        check_estate(c, r, "after an apply of a mutated tree")
    shutil.rmtree(case_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# Plan-file mutations


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = data
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return data


def _del(data: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return data
    target = data
    for p in path[:-1]:
        target = target[p]
    del target[path[-1]]
    return data


PLAN_VALUES: list[Any] = [None, [], {}, "", 0, -1, True, False, 1e308, "x" * 10_000, "delete", "no-op", "create",
                          "replace", [[[]]], {"action": "delete"}, "acme/web/Volume/keep", CANARY_KEY, 2**70]


def mutate_plan(rng: random.Random, data: Any) -> tuple[Any, str]:
    kind = rng.choice(["set", "set", "del", "action", "protected", "dup", "drop", "swap-id", "reorder", "root"])
    changes = data["changes"]
    if kind == "action" and changes:
        c = rng.choice(changes)
        c["action"] = rng.choice(["delete", "replace", "create", "update", "adopt", "no-op", "DELETE", 1])
        if rng.random() < 0.5:
            c["protected"] = False
        return data, f"action={c['action']}@{c.get('address')}"
    if kind == "protected" and changes:
        c = rng.choice(changes)
        c["protected"] = not c.get("protected")
        return data, f"protected@{c.get('address')}"
    if kind == "dup" and changes:
        changes.append(dict(rng.choice(changes)))
        return data, "duplicate-change"
    if kind == "drop" and changes:
        changes.pop(rng.randrange(len(changes)))
        return data, "drop-change"
    if kind == "swap-id" and len(changes) > 1:
        a, b = rng.sample(range(len(changes)), 2)
        changes[a]["id"], changes[b]["id"] = changes[b]["id"], changes[a]["id"]
        return data, "swap-ids"
    if kind == "reorder" and len(changes) > 1:
        rng.shuffle(changes)
        return data, "reorder"
    if kind == "root":
        return rng.choice([[], None, "plan", 42, [data], {"plan": data}]), "root"
    path = rng.choice(_paths(data)[1:])
    if kind == "del":
        return _del(data, path), f"del {'/'.join(map(str, path))}"
    return _set(data, path, rng.choice(PLAN_VALUES)), f"set {'/'.join(map(str, path))}"


def mutate_plan_bytes(rng: random.Random, raw: bytes) -> tuple[bytes, str]:
    kind = rng.choice(["truncate", "flip", "insert", "utf16", "deep", "empty", "huge-number", "nan"])
    if kind == "truncate":
        return raw[:rng.randrange(len(raw))], kind
    if kind == "flip":
        at = rng.randrange(len(raw))
        return raw[:at] + bytes([raw[at] ^ (1 << rng.randrange(8))]) + raw[at + 1:], kind
    if kind == "insert":
        return _insert_chars(rng, raw), kind
    if kind == "utf16":
        return raw.decode().encode("utf-16"), kind
    if kind == "deep":
        return b"[" * 200_000 + b"]" * 200_000, kind
    if kind == "huge-number":
        return b"1" * 100_000, kind
    if kind == "nan":
        return raw.replace(b'"observe_seconds": ', b'"observe_seconds": NaN, "x": ', 1), kind
    return b"", kind


def check_estate(c: Campaign, r: Result, when: str) -> None:
    ec2 = client("ec2")
    vols = ec2.describe_volumes()["Volumes"]
    for name in ("keep", "data"):
        if len(by_address(vols, f"acme/web/Volume/{name}")) != 1:
            c.fail(r, f"volume acme/web/Volume/{name} is gone {when}")


def plan_case(c: Campaign, n: int, specs: Path, saved: bytes) -> None:
    plan_file = c.work / f"plan{n}.json"
    data = json.loads(saved)
    if c.rng.random() < 0.2:
        raw, what = mutate_plan_bytes(c.rng, saved)
        try:
            parsed = json.loads(raw)
            original = json.loads(saved)
            identical = isinstance(parsed, dict) and parsed.get("changes") == original["changes"] and \
                parsed.get("changes_digest") == original["changes_digest"]
        except (ValueError, RecursionError):
            identical = False
    else:
        what_list = []
        for _ in range(c.rng.choice([1, 1, 2, 3])):
            data, what = mutate_plan(c.rng, data)
            what_list.append(what)
            if not isinstance(data, dict) or not isinstance(data.get("changes"), list):
                break
        what = ",".join(what_list)
        if isinstance(data, dict) and isinstance(data.get("changes"), list) and c.rng.random() < 0.6:
            try:  # a careful forger recomputes the digest
                data["changes_digest"] = changes_digest(data["changes"])
                what += ",redigested"
            except (TypeError, ValueError):
                pass
        raw = json.dumps(data, default=str).encode()
        original = json.loads(saved)
        identical = isinstance(data, dict) and data.get("changes") == original["changes"] and \
            data.get("changes_digest") == original["changes_digest"]
    plan_file.write_bytes(raw)
    plan_file.chmod(0o644)
    r = c.run(f"plan#{n} {what}", "apply", "--specs", str(specs), str(plan_file), "--auto-approve")
    if r.code == 0 and not identical:
        c.fail(r, "a tampered plan was applied")
    check_estate(c, r, "after applying a tampered plan")
    plan_file.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------


def _prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else []


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="tests.fuzz bad_input")
    ap.add_argument("--cases", type=int, default=400, help="mutated trees (default 400)")
    ap.add_argument("--plans", type=int, default=150, help="tampered saved plans (default 150)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    opts = ap.parse_args(argv)
    rng = random.Random(opts.seed)
    work = Path(tempfile.mkdtemp(prefix="fuzz-bad-input-"))
    work.chmod(0o755)
    server: AwsServer = start_server()
    try:
        env = {**os.environ, **server.env(), "AWS_ACCESS_KEY_ID": CANARY_KEY, "AWS_SECRET_ACCESS_KEY": CANARY_SECRET,
               "FUZZ_KEY_ID": CANARY_ENV_KEY, "FUZZ_SECRET": CANARY_ENV_SECRET, "HOME": str(work),
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("AWS_PROFILE", None)
        os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                               "AWS_DEFAULT_REGION")})
        c = Campaign(rng, env, work, _prefix())
        specs = work / "estate" / "specs"
        specs.parent.mkdir()
        specs.parent.chmod(0o755)
        write_tree(specs)
        for p in [specs, *specs.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        r = c.run("setup: apply the estate", "apply", "--specs", str(specs), "--auto-approve")
        if r.code != 0:
            print(f"setup failed: {r.err}", file=sys.stderr)
            return 1
        outdir = work / "out"
        outdir.mkdir()
        outdir.chmod(0o777)  # the CLI may run as nobody
        saved_path = outdir / "saved.json"
        r = c.run("setup: save a no-change plan", "plan", "--specs", str(specs), "--out", str(saved_path))
        if r.code != 0 or not saved_path.exists():
            print(f"setup failed: {r.err}", file=sys.stderr)
            return 1
        saved = saved_path.read_bytes()
        t0 = time.monotonic()
        for n in range(opts.plans):
            plan_case(c, n, specs, saved)
        for n in range(opts.cases):
            tree_case(c, n)
        cases = [r for r in c.results if not r.case.startswith("setup")]
        by_code: dict[int, int] = {}
        for r in cases:
            by_code[r.code] = by_code.get(r.code, 0) + 1
        slowest = max(cases, key=lambda r: r.cpu_seconds)
        slowest_wall = max(cases, key=lambda r: r.seconds)
        largest = max(cases, key=lambda r: r.max_rss_kb)
        print(f"seed {opts.seed}: {len(cases)} cases ({opts.plans} tampered plans, {opts.cases} mutated trees) in "
              f"{time.monotonic() - t0:.0f} s; exit codes {dict(sorted(by_code.items()))}; most CPU "
              f"{slowest.cpu_seconds:.2f} s ({slowest.case[:50]}), longest wall {slowest_wall.seconds:.2f} s "
              f"({slowest_wall.case[:50]}), largest {largest.max_rss_kb // 1024} MB ({largest.case[:50]}); "
              f"load average {os.getloadavg()[0]:.1f}")
        for f in c.failures:
            print(f"FAIL {f}")
        print(f"{len(c.failures)} failure(s)")
        return 1 if c.failures else 0
    finally:
        server.stop()
        for p in work.rglob("*"):
            try:
                p.chmod(0o755 if p.is_dir() and not p.is_symlink() else 0o644) if not p.is_symlink() else None
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
