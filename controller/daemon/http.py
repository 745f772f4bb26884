"""The daemon's HTTP endpoints: the dashboard (/ and /enterprises/E), /healthz, /readyz, /metrics,
/status and POST /hooks/git.

With a webhook secret, POST /hooks/git must carry GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the
body) or GitLab's `X-Gitlab-Token`, both compared in constant time; otherwise 401 and no fetch.
Hook bodies are capped at MAX_HOOK_BODY (413 past it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controller.daemon.dashboard import enterprise_page, index_page
from controller.daemon.loop import Daemon

MAX_HOOK_BODY = 1 << 20  # 1 MiB: a push event with its commit list is a few kB


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_signature(secret: bytes, body: bytes, headers: Mapping[str, str]) -> str | None:
    """None when the call is signed with the secret, else why it is refused (`unsigned`, `bad_signature`).

    GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; GitLab: `X-Gitlab-Token: <the
    secret>`. Both compared with hmac.compare_digest."""
    sig = headers.get("X-Hub-Signature-256")
    if sig is not None:
        algo, _, given = sig.strip().partition("=")
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        ok = hmac.compare_digest(given.strip().lower().encode("utf-8", "replace"), expected)
        return None if ok and algo == "sha256" else "bad_signature"
    token = headers.get("X-Gitlab-Token")
    if token is not None:
        return None if hmac.compare_digest(token.encode("utf-8", "replace"), secret) else "bad_signature"
    return "unsigned"


def serve(daemon: Daemon, listen: str, on_hook: Callable[[], None] | None,
          webhook_secret: bytes | None = None) -> ThreadingHTTPServer:
    host, port = parse_listen(listen)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
                  headers: Mapping[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, data: Any) -> None:
            self._send(code, json.dumps(data, indent=2, default=str).encode() + b"\n", "application/json")

        def _html(self, code: int, page: str) -> None:
            # the page carries everything it needs; nothing from anywhere else may load
            self._send(code, page.encode(), "text/html; charset=utf-8", {
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                           "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            url = urlsplit(self.path)
            path = url.path
            if path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                ok = daemon.ready
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            elif path == "/metrics":
                daemon.metrics.queue_depth.set(len(daemon.queue))
                self._send(200, generate_latest(daemon.metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/status":
                self._json(200, daemon.status())
            elif path == "/":
                self._html(200, index_page(daemon, parse_qs(url.query)))
            elif path.startswith("/enterprises/"):
                page = enterprise_page(daemon, unquote(path.removeprefix("/enterprises/")), parse_qs(url.query))
                if page is None:
                    self._send(404, b"no such enterprise in the tree in force\n")
                else:
                    self._html(200, page)
            else:
                self._send(404, b"not found\n")

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            if path != "/hooks/git":
                self._drain()
                self._send(404, b"not found\n")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._refuse(411, "no_length", b"Content-Length required\n")
                return
            if int(length) > MAX_HOOK_BODY:
                self.close_connection = True  # the body is not read
                self._refuse(413, "too_large", f"body over {MAX_HOOK_BODY} bytes\n".encode())
                return
            body = self.rfile.read(int(length))
            if webhook_secret is not None:
                signed = {k: v for k in ("X-Hub-Signature-256", "X-Gitlab-Token")
                          if (v := self.headers.get(k)) is not None}
                refused = check_signature(webhook_secret, body, signed)
                if refused is not None:
                    self._refuse(401, refused, b"webhook signature missing or invalid\n")
                    return
            if on_hook is None:
                daemon.metrics.webhooks.labels("no_source").inc()
                self._send(404, b"no git source\n")
                return
            daemon.metrics.webhooks.labels("accepted").inc()
            on_hook()
            daemon.log.info("webhook", path=path, signed=webhook_secret is not None)
            self._json(202, {"fetch": "triggered"})

        def _drain(self) -> None:
            length = self.headers.get("Content-Length")
            if length and length.isdigit() and int(length) <= MAX_HOOK_BODY:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

        def _refuse(self, code: int, why: str, body: bytes) -> None:
            daemon.metrics.webhooks.labels(why).inc()
            daemon.log.warning("webhook_refused", reason=why, status=code, client=self.client_address[0])
            self._send(code, body)

        def log_message(self, format: str, *args: Any) -> None:  # access logs off
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
