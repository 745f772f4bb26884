"""`controller daemon`: continuous reconcile of a spec directory or a git branch (docs/daemon.md)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from controller.commands import command, period, positive, seconds
from controller.daemon import DEFAULT_RECONCILE_TIMEOUT
from controller.engine.guard import DEFAULT_MAX_DELETES
from controller.errors import ConfigError
from controller.logs import configure, get_logger


def _from_env(var: str, flag: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise ConfigError(f"{flag} {var}: the environment variable {var} is not set or empty")
    return value


def notify_urls(values: list[str]) -> list[str]:
    """--notify URL or env:VAR (a Slack webhook URL is a secret: keep it out of the process list)."""
    urls = [_from_env(v[4:], "--notify env:") if v.startswith("env:") else v for v in values]
    for u in urls:
        if not u.startswith(("http://", "https://")):
            raise ConfigError("--notify wants an http:// or https:// URL (or env:VAR holding one)")
    return urls


def _args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source (default: watch --specs DIR)")
    src.add_argument("--git", metavar="URL", help="reconcile a git branch instead of --specs (fetched with git)")
    src.add_argument("--branch", default="main", help="git branch (default main)")
    src.add_argument("--poll", type=period, default=60.0, help="git fetch interval, seconds (default 60)")
    src.add_argument("--git-path", default=".", help="spec folder inside the repository (default: its root)")
    src.add_argument("--workdir", help="where the clone and the per-commit trees live (default: a temp dir)")
    src.add_argument("--debounce", type=seconds, default=1.0, help="--specs watch debounce, seconds (default 1)")
    loop = p.add_argument_group("loop")
    loop.add_argument("--resync", type=period, default=300.0,
                      help="re-plan every enterprise this often, seconds, ±10%% jitter (default 300)")
    loop.add_argument("--workers", type=positive, default=4, help="enterprises reconciled at once (default 4)")
    loop.add_argument("--parallelism", type=positive, default=10, help="objects changed at once per enterprise")
    loop.add_argument("--backoff-max", type=seconds, default=300.0, help="cap of the per-enterprise retry "
                      "backoff, seconds (1 s doubling; default 300)")
    loop.add_argument("--reconcile-timeout", type=seconds, default=DEFAULT_RECONCILE_TIMEOUT, metavar="S",
                      help="past S seconds a reconcile starts no new object, reports what it did and did not do, "
                           f"and is retried with backoff (default {DEFAULT_RECONCILE_TIMEOUT:g})")
    pol = p.add_argument_group("policies (override every Enterprise's spec.policies)")
    pol.add_argument("--self-heal", action=argparse.BooleanOptionalAction, default=None,
                     help="revert drift found on a resync (default: the Enterprise's selfHeal, true)")
    pol.add_argument("--prune", action=argparse.BooleanOptionalAction, default=None,
                     help="delete objects whose documents are gone (default: the Enterprise's prune, false)")
    pol.add_argument("--suspend", action=argparse.BooleanOptionalAction, default=None,
                     help="observe and report only (default: the Enterprise's suspend, false)")
    pol.add_argument("--max-deletes", type=int, default=DEFAULT_MAX_DELETES,
                     help=f"refuse a reconcile that deletes or replaces more objects (default {DEFAULT_MAX_DELETES})")
    srv = p.add_argument_group("serving and replicas")
    srv.add_argument("--listen", default="127.0.0.1:8080",
                     help="HOST:PORT of the dashboard, /healthz /readyz /metrics /status /hooks/git "
                          "(port 0: any free one)")
    srv.add_argument("--webhook-secret-env", metavar="VAR",
                     help="POST /hooks/git must be signed with the secret in this environment variable "
                          "(GitHub X-Hub-Signature-256 or GitLab X-Gitlab-Token), else 401")
    srv.add_argument("--notify", action="append", default=[], metavar="URL",
                     help="POST a JSON event (with a Slack-compatible text) to URL on drift, applies, failures, "
                          "rejected commits, suspend/resume; repeatable; env:VAR reads the URL from VAR")
    srv.add_argument("--lease-table", default=os.environ.get("CONTROLLER_LEASE_TABLE"),
                     help="DynamoDB table of per-enterprise leases (created if missing; env CONTROLLER_LEASE_TABLE)")
    srv.add_argument("--lease-region", help="region of the lease table (default AWS_DEFAULT_REGION)")
    srv.add_argument("--lease-seconds", type=period, default=30.0, help="lease period (default 30; "
                     "renewed every third of it)")


@command("daemon", "continuous reconcile: watch the specs or a git branch, re-plan on change and on a timer")(_args)
def cmd_daemon(args: argparse.Namespace) -> int:
    import structlog

    from controller.daemon.http import is_loopback, parse_listen, serve
    from controller.daemon.loop import Daemon, Options
    from controller.daemon.metrics import Metrics
    from controller.daemon.notify import Notifier
    from controller.daemon.source import DirSource, GitSource

    secret = _from_env(args.webhook_secret_env, "--webhook-secret-env").encode() if args.webhook_secret_env else None
    urls = notify_urls(args.notify)
    if args.reconcile_timeout <= 0:
        raise ConfigError("--reconcile-timeout wants a number of seconds above 0")
    try:
        listen_host, _ = parse_listen(args.listen)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    configure(verbose=args.verbose, json=True)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(
        logging.DEBUG if args.verbose else logging.INFO))
    log = get_logger()
    opts = Options(parallelism=args.parallelism, workers=args.workers, resync=args.resync,
                   self_heal=args.self_heal, prune=args.prune, suspend=args.suspend,
                   max_deletes=args.max_deletes, lease_table=args.lease_table, lease_region=args.lease_region,
                   lease_seconds=args.lease_seconds, backoff_max=args.backoff_max,
                   reconcile_timeout=args.reconcile_timeout)
    metrics = Metrics()
    daemon = Daemon(opts, metrics, Notifier(urls, metrics))
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    source: DirSource | GitSource
    if args.git:
        workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="controller-daemon-"))
        source = GitSource(args.git, args.branch, workdir, daemon.on_tree, stop, poll=args.poll,
                           subdir=args.git_path)
    else:
        source = DirSource(Path(args.specs), daemon.on_tree, stop, debounce=args.debounce)
    daemon.source = source.describe()
    if secret is None and not is_loopback(listen_host):
        print(f"warning: --listen {args.listen} is not a loopback address and no --webhook-secret-env is set: "
              "anyone who reaches it can make the daemon fetch with POST /hooks/git", file=sys.stderr, flush=True)
        log.warning("webhook_unsigned", listen=args.listen)
    server = serve(daemon, args.listen, source.trigger if args.git else None, webhook_secret=secret)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(f"listening on http://{host}:{port}", flush=True)
    from controller.daemon.notify import receiver_name

    log.info("daemon_started", listen=f"{host}:{port}", source=source.describe(), pid=os.getpid(),
             resync=opts.resync, lease_table=opts.lease_table, reconcile_timeout=opts.reconcile_timeout,
             webhook_signed=secret is not None, notify=[receiver_name(u) for u in urls],
             owner=daemon.leases.table.owner if daemon.leases else None)
    daemon.start()
    threading.Thread(target=source.run, name="source", daemon=True).start()
    while not stop.wait(1.0):
        pass
    started = time.monotonic()
    log.info("daemon_stopping")
    if isinstance(source, GitSource):
        source.stop_now()
    daemon.stop()
    server.shutdown()
    log.info("daemon_stopped", seconds=round(time.monotonic() - started, 3))
    sys.stderr.flush()
    return 0
