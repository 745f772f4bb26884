"""A fault-injecting HTTP proxy in front of the local AWS endpoint.

moto is instant and never throttles; AWS does both. Tests point the CLI at this proxy and add
rules: answer an action (EC2 `Action=`, or a JSON `X-Amz-Target`) with an AWS error some number of
times, add latency, or edit the body of the real answer; or hold the Nth request of an action until
the test lets it go (a crash test kills the client while its request is in flight). Everything else is
forwarded unchanged.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Rule:
    action: str
    code: str = "RequestLimitExceeded"
    status: int = 503
    times: int = 1  # how many matching requests fail (-1: all)
    match: str = ""  # only requests whose body contains this
    latency_ms: int = 0
    hits: int = 0
    # code "": no error; the real answer is forwarded, through this edit of its body (a field moto lacks)
    rewrite: Callable[[bytes], bytes] | None = None


@dataclass
class Hold:
    """The `nth` request of `action` waits in the proxy: `reached` is set when it arrives, and it goes
    on to AWS once `release` is set (so AWS makes the object although its client may be gone)."""

    action: str
    nth: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    forwarded: threading.Event = field(default_factory=threading.Event)  # AWS has answered it


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = urlparse(upstream)
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        self.seen: list[str] = []
        self.holds: list[Hold] = []
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.action_of(self.path, self.headers, body)
                rule = proxy.take(action, body)
                held = proxy.held()
                for h in held:
                    h.reached.set()
                    h.release.wait(120)
                if rule and rule.latency_ms:
                    time.sleep(rule.latency_ms / 1000)
                if rule and rule.code:
                    payload = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{rule.code}'
                               f"</Code><Message>injected by the test</Message></Error></Errors>"
                               f"<RequestID>fault</RequestID></Response>").encode()
                    self.send_response(rule.status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                for h in held:
                    h.forwarded.set()
                if rule and rule.rewrite:
                    data = rule.rewrite(data)
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def action_of(path: str, headers: object, body: bytes) -> str:
        target = getattr(headers, "get", lambda *_: None)("X-Amz-Target")
        if target:
            return str(target).rsplit(".", 1)[-1]
        form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(urlparse(path).query)
        return form.get("Action", [""])[0]

    def take(self, action: str, body: bytes) -> Rule | None:
        with self.lock:
            self.seen.append(action)
            n = self.seen.count(action)
            self._local.held = [h for h in self.holds if h.action == action and h.nth == n]
            for r in self.rules:
                if r.action in (action, "*") and (not r.match or r.match.encode() in body) and (r.times < 0 or r.hits < r.times):
                    r.hits += 1
                    return r
        return None

    def hold(self, action: str, nth: int = 1) -> Hold:
        h = Hold(action, nth)
        with self.lock:
            self.holds.append(h)
        return h

    def count(self, action: str) -> int:
        with self.lock:
            return self.seen.count(action)

    def held(self) -> list[Hold]:
        """The holds that this thread's request (the last one `take` saw here) is the Nth request of."""
        return getattr(self._local, "held", [])

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.seen.clear()

    def stop(self) -> None:
        for h in self.holds:
            h.release.set()
        self.server.shutdown()
