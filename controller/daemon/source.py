"""Where spec trees come from: a watched directory, or a git branch fetched with the git CLI.

A source calls ``on_tree(commit, path)`` with a complete tree; the callback loads and validates it
and returns whether it was good. A git commit is exported whole (``git archive``) into a directory
of its own before anything reads it, so a tree is always exactly one commit, never a mix.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import watchfiles

from controller.errors import ConfigError
from controller.logs import get_logger

OnTree = Callable[[str, Path], bool]
SPEC_SUFFIXES = (".yaml", ".yml")


def dir_revision(root: Path) -> str:
    """A digest of every spec file under root (paths and contents): the 'commit' of a plain directory."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in SPEC_SUFFIXES:
            h.update(str(p.relative_to(root)).encode() + b"\0")
            try:
                h.update(p.read_bytes())
            except OSError:
                continue
            h.update(b"\0")
    return "dir:" + h.hexdigest()[:12]


def without_credentials(url: str) -> str:
    """A git URL as logs and pages may show it: a user:token@ part is masked."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    return url


class DirSource:
    """--specs DIR, watched with watchfiles (changes debounced)."""

    def __init__(self, root: Path, on_tree: OnTree, stop: threading.Event, debounce: float = 1.0):
        self.root = root
        self.on_tree = on_tree
        self.stop = stop
        self.debounce_ms = int(debounce * 1000)
        self.last: str | None = None
        self.log = get_logger(source="dir", path=str(root))

    def describe(self) -> str:
        return f"directory {self.root}"

    def trigger(self) -> None:
        self.check()

    def check(self) -> None:
        rev = dir_revision(self.root)
        if rev != self.last:
            self.last = rev
            self.on_tree(rev, self.root)

    def run(self) -> None:
        self.check()
        try:
            for _changes in watchfiles.watch(self.root, debounce=self.debounce_ms, stop_event=self.stop,
                                             raise_interrupt=False, rust_timeout=1000, yield_on_timeout=False):
                if self.stop.is_set():
                    return
                self.check()
        except Exception as e:  # the watcher died (directory removed...): report, fall back to polling
            self.log.error("watch_failed", error=f"{type(e).__name__}: {e}")
            while not self.stop.wait(max(1.0, self.debounce_ms / 1000)):
                self.check()


class GitSource:
    """--git URL --branch B: a bare clone fetched every `poll` seconds and on trigger() (the webhook)."""

    def __init__(self, url: str, branch: str, workdir: Path, on_tree: OnTree, stop: threading.Event,
                 poll: float = 60.0, subdir: str = "."):
        self.url = url
        self.branch = branch
        self.workdir = workdir
        self.repo = workdir / "repo.git"
        self.trees = workdir / "trees"
        self.on_tree = on_tree
        self.stop = stop
        self.poll = poll
        self.subdir = subdir
        self.wake = threading.Event()
        self.last: str | None = None
        self.last_good: str | None = None
        self.log = get_logger(source="git", url=without_credentials(url), branch=branch)

    def describe(self) -> str:
        return f"git {without_credentials(self.url)} branch {self.branch}"

    def trigger(self) -> None:
        self.wake.set()

    def git(self, *args: str, capture_bytes: bool = False) -> bytes:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        p = subprocess.run(["git", *args], capture_output=True, env=env, timeout=300)
        if p.returncode != 0:
            raise ConfigError(f"git {args[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace').strip()}")
        return p.stdout

    def init(self) -> None:
        self.trees.mkdir(parents=True, exist_ok=True)
        if not (self.repo / "HEAD").exists():
            self.git("init", "--quiet", "--bare", str(self.repo))

    def fetch(self) -> str:
        """Fetch the branch; return its commit."""
        ref = f"refs/remotes/origin/{self.branch}"
        self.git("-C", str(self.repo), "fetch", "--quiet", "--no-tags", "--force", self.url,
                 f"+refs/heads/{self.branch}:{ref}")
        return self.git("-C", str(self.repo), "rev-parse", f"{ref}^{{commit}}").decode().strip()

    def export(self, commit: str) -> Path:
        """The whole commit in trees/<commit>/ (written aside, then renamed into place)."""
        dest = self.trees / commit
        if not dest.exists():
            tmp = self.trees / f".{commit}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            data = self.git("-C", str(self.repo), "archive", "--format=tar", commit)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter="data")
            tmp.rename(dest)
        return dest

    def check(self) -> None:
        commit = self.fetch()
        if commit == self.last:
            return
        self.last = commit
        root = self.export(commit)
        path = (root / self.subdir).resolve()
        if not path.is_dir() or root.resolve() not in (path, *path.parents):
            self.log.error("tree_invalid", commit=commit, error=f"{self.subdir} is not a directory of the commit")
            self.on_tree(commit, root / ".missing")
        elif self.on_tree(commit, path):
            self.last_good = commit
        self._prune_trees()

    def _prune_trees(self) -> None:
        keep = {self.last, self.last_good}
        for p in self.trees.iterdir():
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)

    def run(self) -> None:
        self.init()
        while not self.stop.is_set():
            try:
                self.check()
            except (ConfigError, OSError, subprocess.TimeoutExpired, tarfile.TarError) as e:
                self.log.error("git_fetch_failed", error=str(e))
            self.wake.wait(self.poll)
            self.wake.clear()

    def stop_now(self) -> None:
        self.wake.set()
