"""The command line's commands: parse arguments, call the engine, render, return the exit code.

This layer is the top: it imports the engine, render, daemon, onboard and billing packages; none of
them imports it. Each module registers its sub-commands with `command` when imported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from controller.spec.diagnostics import Diagnostic

if TYPE_CHECKING:
    from controller.spec.validate import Specs

Command = Callable[[argparse.Namespace], int]
EXIT_USAGE = 64  # a command line that cannot be parsed (sysexits EX_USAGE); 2 is `plan`'s "changes"


def count(text: str) -> int:
    """An integer option: ASCII digits only (int() takes '２２'), not negative."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number (0, 1, 2, ...), got {text!r}")
    return int(text)


def positive(text: str) -> int:
    """An integer option that must be at least 1 (parallelism, workers)."""
    n = count(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return n


def seconds(text: str) -> float:
    """A duration option: a finite number of seconds, not negative."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (text.isascii() and math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds (e.g. 30 or 0.5), got {text!r}")
    return value


def period(text: str) -> float:
    """A period option (resync, poll, lease): a finite number of seconds, more than 0 (0 would spin)."""
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text!r}")
    return value


COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}
MODULES = ("validate", "plan", "onboard", "catalog", "billing", "daemon", "local_aws")


def command(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Callable[[Command], Command]]:
    """Register a sub-command: ``@command(name, help)(add_arguments)(run)``."""

    def with_args(add: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
        def register(fn: Command) -> Command:
            COMMANDS[name] = (fn, add, help)
            return fn

        return register

    return with_args


def load_all() -> dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]]:
    for mod in MODULES:
        importlib.import_module(f"controller.commands.{mod}")
    return COMMANDS


def print_diagnostics(diags: Sequence[Diagnostic], as_json: bool = False) -> None:
    """Every diagnostic, with anything shaped like a credential cut out (a key pasted into a field is
    echoed by the error about that field)."""
    from controller.aws.errors import scrub

    if as_json:
        print(scrub(json.dumps([d.to_json() for d in diags])))
        return
    for d in diags:
        print("\n".join(scrub(line) for line in d.render().split("\n")), file=sys.stderr)
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    files = len({d.file for d in diags if d.severity == "error"})
    if errors:
        print(f"{errors} error(s) in {files} file(s)" + (f", {warnings} warning(s)" if warnings else ""),
              file=sys.stderr)
    elif warnings:
        print(f"{warnings} warning(s)", file=sys.stderr)


NOTHING_PLANNED = "nothing was planned: every spec file must load and validate first"


def load_or_report(specs_dir: str | Path, allow_empty: bool = False, then: str | None = NOTHING_PLANNED
                   ) -> Specs | None:
    """The specs, loaded and validated; or None after printing why, and `then` (what was not done)."""
    from controller.spec.diagnostics import SpecError
    from controller.spec.validate import load_specs

    try:
        return load_specs(Path(specs_dir), allow_empty)
    except SpecError as e:
        print_diagnostics(e.diagnostics)
        if then:
            print(then, file=sys.stderr)
        return None
