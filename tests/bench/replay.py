"""The bare boto3 baseline of an apply: its write calls, recorded, then replayed at the same parallelism.

`RECORDER` wraps the CLI: every AWS call whose operation is not a read (Describe/List/Get/AssumeRole) is
recorded with its parameters and answer (the reads are counted by operation, beside it). `replay` sends the same calls with plain boto3 clients (one per
account, as the controller acts in one account per enterprise) against a fresh server: each call waits
only for the calls whose answers produced the AWS ids it names (ids are mapped from the recorded answers
to the new ones), nothing else — no reads, no waits, no retries beyond botocore's.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

import boto3

READS = ("Describe", "List", "Get", "AssumeRole")
ID = re.compile(r"\b(?:vpc|subnet|igw|rtb|rtbassoc|nat|eipalloc|eipassoc|sg|sgr|i|vol|eni|acl|key)-[0-9a-f]{8,17}\b")

RECORDER = f"""
import atexit, json, os, runpy, sys
import botocore.client as bc
calls, reads = [], {{}}
orig = bc.BaseClient._make_api_call
def rec(self, op, params):
    r = orig(self, op, params)
    if op.startswith({READS!r}):
        reads[op] = reads.get(op, 0) + 1
    else:
        calls.append({{"service": self.meta.service_model.service_name, "region": self.meta.region_name,
                      "op": op, "params": params,
                      "answer": {{k: v for k, v in r.items() if k != "ResponseMetadata"}}}})
    return r
bc.BaseClient._make_api_call = rec
atexit.register(lambda: open(os.environ["RECORD_TO"], "w").write(json.dumps(calls, default=str)))
atexit.register(lambda: open(os.environ["RECORD_TO"] + ".reads", "w").write(json.dumps(reads)))
sys.argv = ["controller"] + sys.argv[1:]
runpy.run_module("controller", run_name="__main__")
"""


def _ids(value: Any) -> list[str]:
    return ID.findall(json.dumps(value, default=str))


def _pairs(old: Any, new: Any, out: dict[str, str]) -> None:
    """Map the AWS ids of a recorded answer to those at the same place in the replayed one."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in old:
            if k in new:
                _pairs(old[k], new[k], out)
    elif isinstance(old, list) and isinstance(new, list):
        for a, b in zip(old, new, strict=False):
            _pairs(a, b, out)
    elif isinstance(old, str) and isinstance(new, str) and ID.fullmatch(old) and old != new:
        out[old] = new


def _subst(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _subst(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_subst(v, ids) for v in value]
    if isinstance(value, str):
        return ID.sub(lambda m: ids.get(m.group(0), m.group(0)), value)
    return value


def replay(calls: list[dict[str, Any]], url: str, parallelism: int, account: str) -> tuple[float, Counter[str], int]:
    """(seconds, calls by operation, failures) of replaying `calls` in `account`."""
    producer: dict[str, int] = {}
    deps: list[set[int]] = []
    for n, c in enumerate(calls):
        deps.append({producer[i] for i in _ids(c["params"]) if i in producer})
        for i in _ids(c["answer"]):
            producer.setdefault(i, n)
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def client(c: dict[str, Any]) -> Any:
        acct = account
        key = (acct, c["service"], c["region"])
        with lock:
            if key not in clients:
                cr = sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/bench", RoleSessionName="bench")["Credentials"]
                clients[key] = boto3.client(c["service"], endpoint_url=url, region_name=c["region"],
                                            aws_access_key_id=cr["AccessKeyId"], aws_secret_access_key=cr["SecretAccessKey"],
                                            aws_session_token=cr["SessionToken"])
            return clients[key]

    for c in calls:  # clients first: the bare script's set-up is not timed
        client(c)
    ids: dict[str, str] = {}
    ops: Counter[str] = Counter()
    failed = 0

    def run(n: int) -> None:
        nonlocal failed
        c = calls[n]
        cl = client(c)
        fn = getattr(cl, next(py for py, api in cl.meta.method_to_api_mapping.items() if api == c["op"]))
        with lock:
            params = _subst(c["params"], ids)
        try:
            answer = fn(**params)
        except Exception as e:
            with lock:
                failed += 1
                ops[f"failed {c['op']}: {type(e).__name__}"] += 1
            return
        with lock:
            _pairs(c["answer"], answer, ids)
            ops[c["op"]] += 1

    t = time.monotonic()
    done: set[int] = set()
    pending = set(range(len(calls)))
    running: dict[Any, int] = {}
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        while pending or running:
            for n in sorted(pending):
                if len(running) >= parallelism * 2:
                    break
                if deps[n] <= done:
                    running[pool.submit(run, n)] = n
                    pending.discard(n)
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for f in finished:
                done.add(running.pop(f))
    return time.monotonic() - t, ops, failed + len(pending)
