"""The daemon's HTTP endpoints: /healthz, /readyz, /metrics, /status and POST /hooks/git."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controller.daemon.loop import Daemon


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(daemon: Daemon, listen: str, on_hook: Callable[[], None] | None) -> ThreadingHTTPServer:
    host, port = parse_listen(listen)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, data: Any) -> None:
            self._send(code, json.dumps(data, indent=2, default=str).encode() + b"\n", "application/json")

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = self.path.split("?")[0]
            if path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                ok = daemon.ready
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            elif path == "/metrics":
                self.metrics_depth()
                self._send(200, generate_latest(daemon.metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/status":
                self._json(200, daemon.status())
            else:
                self._send(404, b"not found\n")

        def metrics_depth(self) -> None:
            daemon.metrics.queue_depth.set(len(daemon.queue))

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 20))  # any body; not interpreted
            if path == "/hooks/git":
                if on_hook is None:
                    self._send(404, b"no git source\n")
                    return
                on_hook()
                daemon.log.info("webhook", path=path)
                self._json(202, {"fetch": "triggered"})
            else:
                self._send(404, b"not found\n")

        def log_message(self, format: str, *args: Any) -> None:  # access logs off
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
