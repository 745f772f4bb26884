"""`controller local-aws`: the embedded default, a local AWS endpoint (moto server) on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from controller.cli import command

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

DEFAULT_PORT = 4566


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")


def atomic_dynamodb(app: Callable) -> Callable:
    """moto applies a DynamoDB conditional write in two steps (check, then write) without a lock, so two
    concurrent writes to one item can both pass their conditions (47 of 150 races in tests/test_daemon_lease.py
    without this wrapper). DynamoDB makes each conditional write atomic, and the daemon's leases
    rely on it, so the local endpoint runs DynamoDB requests one at a time, as AWS would order them."""
    lock = threading.Lock()

    def app_(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the whole answer, inside the lock

    return app_


def make_server(host: str, port: int) -> BaseWSGIServer:
    """moto's own server (as ThreadedMotoServer builds it), with atomic DynamoDB writes."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server as werkzeug_server

    app = atomic_dynamodb(DomainDispatcherApplication(create_backend_app))
    return werkzeug_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


@command("local-aws", "serve a local AWS endpoint on 127.0.0.1 (moto) for trying everything without an account")(
    _args)
def cmd_local_aws(args: argparse.Namespace) -> int:
    # Validation that AWS does and moto skips by default: unknown AMIs, instance types and key pairs fail.
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
    os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
    os.environ.setdefault("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(args.host, args.port)
    threading.Thread(target=server.serve_forever, name="local-aws", daemon=True).start()
    url = f"http://{args.host}:{args.port}"
    print(f"local AWS endpoint listening on {url}", flush=True)
    print(f"use it with: export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=testing "
          "AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    print("local AWS endpoint stopped", file=sys.stderr)
    return 0
