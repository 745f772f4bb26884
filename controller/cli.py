"""The `controller` entry point: build the parser from controller.commands, run one command.

Exit codes follow SPEC.md: validate 0/1; plan 0 (no changes) / 2 (changes) / 1 (error); apply 0/1;
64 for a command line that cannot be parsed, whatever the command (docs/limits.md). No command prints
a traceback for bad input: errors name file, line and field, or the resource address and the AWS
operation, in one line, with no part of a credential in it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

DESCRIPTION = """\
Keeps your AWS virtual datacenters the way your YAML says. Describe each tenant's VPCs, networks,
firewalls, VMs, public IPs, volumes, load balancers and VPNs in files kept in git; `plan` shows
what would change in AWS and why, `apply` makes it so, `daemon` keeps it so. No state file: live
AWS is the state, and the controller only ever touches what it created or you onboarded."""

EPILOG = """\
getting started:
  controller validate             check the files in specs/ (no AWS call)
  controller plan                 what would change in AWS, and why (exit 0 none, 2 changes)
  controller apply                show the plan, ask, then make it so
  controller COMMAND --help       the options of one command

Every command reads --specs DIR (default specs/) and the usual AWS environment (AWS_PROFILE,
AWS_REGION, AWS_ENDPOINT_URL, ...). Credentials stay references (env names, profiles, roles).

No AWS account at hand? pip install 'controller[local]', then:
  controller local-aws --port 4566 &
  export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  controller plan"""

# The order `--help` lists the commands in: the everyday loop first, then the occasional ones in the order
# they registered, then the tools.
FIRST = ("validate", "plan", "apply", "daemon")
LAST = ("schemas", "local-aws")


class Parser(argparse.ArgumentParser):
    """argparse with a usage error of its own exit code (64, not 2: for `plan` 2 means "changes"), in
    one line, and integer and float options that take only ASCII, non-negative numbers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from controller.commands import count, seconds

        super().__init__(*args, **kwargs)
        self.register("type", int, count)  # `type=int` anywhere (groups share the registry) means count
        self.register("type", float, seconds)

    def error(self, message: str) -> NoReturn:
        from controller.commands import EXIT_USAGE

        self.exit(EXIT_USAGE, f"{self.prog}: error: {_printable(message)} (see `{self.prog} --help`)\n")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def build_parser() -> argparse.ArgumentParser:
    from controller.commands import load_all

    parser = Parser(prog="controller", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    common = Parser(add_help=False)
    common.add_argument("--specs", default="specs", help="spec directory (default: specs/)")
    common.add_argument("--allow-empty", action="store_true",
                        help="a spec directory with no document is not an error (it plans nothing)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    commands = load_all()
    order = [n for n in FIRST if n in commands] + [n for n in commands if n not in FIRST + LAST] \
        + [n for n in LAST if n in commands]
    for name in order:
        fn, add, help = commands[name]
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        add(p)
        p.set_defaults(func=fn)
    return parser


def _version() -> str:
    from controller import __version__

    return f"controller {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):  # otherwise logging sets itself up when first used
        from controller.logs import configure

        configure(verbose=True)
    import gc

    if getattr(args, "command", None) != "daemon":
        # a one-shot command makes hundreds of thousands of long-lived objects (service models, specs, the
        # plan) and few cycles: collecting the young generation every 700 allocations was ~0.1-0.2 s of a
        # 20-VM no-change plan; the daemon keeps the default
        gc.set_threshold(20_000, 20, 20)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `controller plan | head`: the reader left; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1
    except Exception as e:  # the last guard: an unexpected error is one line, not a traceback
        return _last_guard(e, getattr(args, "verbose", False))
    finally:
        # The process ends next: what it made stays out of the collector's final passes (the
        # interpreter's exit spent ~0.4 s of a 20-VM no-change plan collecting service models and specs).
        gc.freeze()


def _last_guard(e: Exception, verbose: bool) -> int:
    """Print ``e`` as one line with no part of a credential in it; exit 1. An endpoint that cannot be
    used (refused, silent, not AWS, not a URL) is the user's to fix, not an internal error."""
    from controller.aws.errors import explain, scrub
    from controller.commands import EXIT_USAGE
    from controller.errors import ControllerError, UsageError

    if isinstance(e, ControllerError):
        print(_printable(scrub(f"error: {e}")), file=sys.stderr)
        return EXIT_USAGE if isinstance(e, UsageError) else 1
    from_aws = type(e).__module__.startswith(("botocore", "urllib3"))
    why = explain(e) if from_aws or (isinstance(e, ValueError) and "endpoint" in str(e).lower()) else None
    if why is not None:
        print(_printable(scrub(f"error: {why}")), file=sys.stderr)
        return 1
    if verbose:
        raise e
    print(_printable(scrub(f"internal error: {type(e).__name__}: {e} (run with -v for the traceback)")),
          file=sys.stderr)
    return 1
