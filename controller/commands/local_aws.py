"""`controller local-aws`: the embedded default, a local AWS endpoint (moto server) on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from controller.commands import command
from controller.localaws import DEFAULT_PORT


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")


@command("local-aws", "a local AWS endpoint on 127.0.0.1 (moto) to try everything without an account; needs "
                      "pip install 'controller[local]'")(_args)
def cmd_local_aws(args: argparse.Namespace) -> int:
    # Validation that AWS does and moto skips by default: unknown AMIs, instance types and key pairs fail.
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
    os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
    os.environ.setdefault("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from controller.localaws import LocalExtraMissing, make_server

    try:
        server = make_server(args.host, args.port)
    except LocalExtraMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
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
