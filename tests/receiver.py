"""Local notification receivers on 127.0.0.1: one that records what it gets, one that answers errors
first, one that accepts connections and never answers, and the URL of one that is dead (refused)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every JSON body POSTed to it; the first `fail_first` requests get a 503."""

    def __init__(self, fail_first: int = 0):
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with me.lock:
                    me.requests += 1
                    fail = me.requests <= me.fail_first
                    if not fail:
                        me.events.append(json.loads(body))
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/SECRET-PATH-TOKEN"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, event: str, **match: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e.get("event") == event
                    and all(e.get(k) == v for k, v in match.items())]

    def wait(self, pred: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            time.sleep(0.1)
        with self.lock:
            kinds = [e.get("event") for e in self.events]
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; received {kinds}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Hanging:
    """Accepts connections (the kernel's backlog) and never reads or answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def stop(self) -> None:
        self.sock.close()


def dead_url() -> str:
    """A local port nobody listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
