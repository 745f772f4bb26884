"""Per-enterprise AWS credentials from credential references, shared clients, and a call counter.

Credentials are references (env var names, a profile, a role to assume), never values; a value that
cannot be a credential (a newline, a space) is refused naming its variable, and every value read is
remembered so that no message shows it (errors.scrub). Clients are shared by every enterprise of the
process (one per service and region, see ClientPool) and sign each call with the credentials of the
enterprise making it. They retry in botocore's standard mode with bounded attempts: each call backs
off on its own, so one account being throttled does not slow the others (adaptive mode's client-side
rate limiter would be shared by every enterprise of a client). Explicit connect/read timeouts;
AWS_ENDPOINT_URL is honoured (checked to be a URL first). The first call to an endpoint (STS: who am
I, or AssumeRole) uses short timeouts and one retry, so an endpoint that refuses, never answers or is
not AWS fails in seconds, in one line naming it (docs/limits.md). Every HTTP request a client sends,
retries included, is counted per service and operation, for the enterprise that made it.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session

from controller.aws.errors import (
    connect_timeout,
    endpoint_shown,
    explain,
    not_aws,
    read_timeout,
    remember_secret,
)
from controller.errors import ConfigError
from controller.spec.models import Credentials, Resource

MAX_ATTEMPTS = 5  # every call: the first try and four retries (throttling, 5xx, timeouts)
PROBE_ATTEMPTS = 2


def _max_attempts() -> int:
    raw = os.environ.get("AWS_MAX_ATTEMPTS", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 20 else MAX_ATTEMPTS


def retry_config(max_pool: int = 20) -> Config:
    return Config(
        # total_max_attempts counts the first try ("max_attempts" would count retries only)
        retries={"mode": "standard", "total_max_attempts": _max_attempts()},  # type: ignore[typeddict-item]
        max_pool_connections=max_pool,
        connect_timeout=connect_timeout(),
        read_timeout=read_timeout(),
        user_agent_extra="controller/0.1",
    )


def probe_config() -> Config:
    """The first call to an endpoint: short timeouts, one retry (docs/limits.md)."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": PROBE_ATTEMPTS},  # type: ignore[typeddict-item]
        connect_timeout=connect_timeout(),
        read_timeout=read_timeout(probe=True),
        user_agent_extra="controller/0.1",
    )


_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def check_environment() -> None:
    """AWS_ENDPOINT_URL* are URLs, and the ambient credential variables can be credentials; raises
    ConfigError naming the variable (never a credential's value)."""
    for var, value in sorted(os.environ.items()):
        if var == "AWS_ENDPOINT_URL" or var.startswith("AWS_ENDPOINT_URL_"):
            _check_url(var, value)
    for var in _CREDENTIAL_VARS:
        held = os.environ.get(var)
        if held:
            _check_credential(var, held)


def _check_url(var: str, value: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and value == value.strip()
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        ok = False
    if not ok or any(not ch.isprintable() or ch.isspace() for ch in value):
        shown = "".join(ch if ch.isprintable() else "?" for ch in value)[:100]
        raise ConfigError(f"{var}={shown!r} is not an endpoint URL: write http(s)://HOST[:PORT], e.g. "
                          "http://127.0.0.1:4566")


def _check_credential(var: str, value: str) -> str:
    remember_secret(value)
    if not value.isascii() or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigError(f"environment variable {var} holds a character no AWS credential has (a newline, a "
                          "space, a control or non-ASCII character): check how it is set")
    return value


class CallCounter:
    """Counts the HTTP requests clients send (a botocore before-send hook), retries included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def hook(self, event_name: str = "", **kwargs: Any) -> None:
        # event_name: before-send.<service>.<Operation>
        _, _, operation = event_name.partition(".")
        with self._lock:
            self.calls[operation] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.calls.items()))

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def _shared(session: boto3.Session) -> boto3.Session:
    """One botocore data loader for every session: service models are parsed once per process,
    not once per enterprise (the EC2 model alone costs ~0.2 s to load)."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = session._session.get_component("data_loader")
        else:
            session._session.register_component("data_loader", _LOADER)
    return session


def _env(var: str, enterprise: str, field_path: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise ConfigError(
            f"enterprise {enterprise!r}: environment variable {var} is not set (credentials.{field_path})"
        )
    try:
        return _check_credential(var, value)
    except ConfigError as e:
        raise ConfigError(f"enterprise {enterprise!r}: {e} (credentials.{field_path})") from None


def base_session(profile: str | None = None) -> boto3.Session:
    check_environment()
    try:
        return _shared(boto3.Session(profile_name=profile) if profile else boto3.Session())
    except botocore.exceptions.ProfileNotFound as e:
        raise ConfigError(f"AWS profile not found: {e}") from None


# -- clients shared by every enterprise ----------------------------------------------------------------
#
# A botocore client costs about 1.5 MiB (EC2: a class with a method per operation, their docstrings, the
# service model, a copy of the event handlers) and 0.1-0.2 s of CPU to create. One client per enterprise
# and region, kept for the life of a daemon, was most of its ~3 MiB per enterprise. So clients are made
# once per (service, region) per process and shared: each call is signed with the credentials of the
# enterprise that makes it (the AwsContext bound to the calling thread for the call) and counted as its.

_CURRENT: ContextVar[AwsContext | None] = ContextVar("controller_aws_context", default=None)


@contextmanager
def bound(ctx: AwsContext) -> Iterator[None]:
    """Calls made by this thread inside the block act as `ctx`'s enterprise."""
    token = _CURRENT.set(ctx)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _current() -> AwsContext:
    ctx = _CURRENT.get()
    if ctx is None:
        raise RuntimeError("a shared AWS client was called outside of an enterprise's context")
    return ctx


class _BoundCredentials:
    """botocore credentials standing for those of the enterprise whose call is being signed."""

    method = "controller-enterprise"

    def get_frozen_credentials(self) -> Any:
        return _current().credentials.get_frozen_credentials()

    def get_deferred_property(self, name: str) -> Callable[[], Any]:
        def get() -> Any:
            ctx = _CURRENT.get()
            return getattr(ctx.credentials, name, None) if ctx is not None else None

        return get

    def __getattr__(self, name: str) -> Any:  # access_key, token, ...: the current enterprise's
        return getattr(_current().credentials, name)


def _count(event_name: str = "", **kwargs: Any) -> None:
    ctx = _CURRENT.get()
    if ctx is not None:
        ctx.counter.hook(event_name=event_name, **kwargs)


class ClientPool:
    """Clients made once per (service, region, whose credentials, environment), least recently used
    dropped past `size`. The environment (AWS_ENDPOINT_URL, AWS_PROFILE, ...) is part of the key: a
    client reads it when it is made."""

    def __init__(self, size: int = 64):
        self.size = size
        self._clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._sessions: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str, max_pool: int, ambient: bool = False, probe: bool = False) -> Any:
        """ambient: with the process's own credentials (to assume roles with); probe: the first call to an
        endpoint (short timeouts, one retry)."""
        env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
        key = (service, region, ambient, probe, env)
        with self._lock:
            c = self._clients.get(key)
            if c is not None and c.meta.config.max_pool_connections >= max_pool:
                self._clients.move_to_end(key)
                return c
            bs = self._session(ambient, env)
            c = bs.create_client(service, region_name=region,
                                 config=probe_config() if probe else retry_config(max_pool))
            c.meta.events.register("before-send", _count)
            self._clients[key] = c
            while len(self._clients) > self.size:
                self._clients.popitem(last=False)
            return c

    def _session(self, ambient: bool, env: tuple[tuple[str, str], ...]) -> Any:
        """One botocore session per (whose credentials, environment), kept while its clients are: the
        endpoint resolver and the service models are loaded once, not once per client (five clients, each
        with a session of its own, were 0.65 s of a 20-VM no-change plan). Called under the lock."""
        key = (ambient, env)
        bs = self._sessions.get(key)
        if bs is None:
            bs = get_session()
            if _LOADER is not None:
                bs.register_component("data_loader", _LOADER)
            if not ambient:
                bs._credentials = _BoundCredentials()
            live = {(k[2], k[4]) for k in self._clients}
            for old in [k for k in self._sessions if k not in live]:  # bounded like the clients
                del self._sessions[old]
            self._sessions[key] = bs
        return bs

    def __len__(self) -> int:
        return len(self._clients)


CLIENTS = ClientPool()


class BoundClient:
    """A shared client as one enterprise sees it: its calls (paginated ones too) act as that enterprise."""

    def __init__(self, client: Any, ctx: AwsContext):
        self._client = client
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name in ("get_paginator", "get_waiter"):
            return lambda *a, **kw: _BoundHelper(attr(*a, **kw), self._ctx)
        if callable(attr) and name in self._client.meta.method_to_api_mapping:
            return _bind_call(attr, self._ctx)
        return attr


def _bind_call(fn: Callable[..., Any], ctx: AwsContext) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        with bound(ctx):
            return fn(*args, **kwargs)

    return call


class _BoundHelper:
    """A paginator or waiter of a shared client, acting as one enterprise."""

    def __init__(self, helper: Any, ctx: AwsContext):
        self._helper = helper
        self._ctx = ctx

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        pages = iter(self._helper.paginate(**kwargs))
        while True:
            with bound(self._ctx):
                page = next(pages, None)
            if page is None:
                return
            yield page

    def wait(self, **kwargs: Any) -> None:
        with bound(self._ctx):
            self._helper.wait(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._helper, name)


def credentials_from(creds: Credentials, enterprise: str, default_region: str,
                     identity: dict[str, str] | None = None) -> Any:
    """botocore credentials for one enterprise's credential reference (never written anywhere).

    With assumeRole, `identity["account"]` is filled from the AssumeRole answer: STS has just
    checked the credentials and named the account, so no GetCallerIdentity is needed for them.
    The AssumeRole calls go through a shared client with the ambient credentials; call it inside
    `bound(ctx)` to count them as the enterprise's.
    """
    check_environment()
    if creds.env is not None:
        e = creds.env
        return BotoCredentials(
            _env(e.access_key_id, enterprise, "env.accessKeyId"),
            _env(e.secret_access_key, enterprise, "env.secretAccessKey"),
            _env(e.session_token, enterprise, "env.sessionToken") if e.session_token else None,
        )
    if creds.profile is not None:
        found = base_session(creds.profile)._session.get_credentials()
        if found is None:
            raise ConfigError(f"enterprise {enterprise!r}: AWS profile {creds.profile!r} has no credentials")
        return found
    assert creds.assume_role is not None
    role = creds.assume_role
    external_id = _env(role.external_id, enterprise, "assumeRole.externalId") if role.external_id else None
    sts = CLIENTS.get("sts", default_region, 10, ambient=True, probe=True)

    def refresh() -> dict[str, str]:
        kwargs: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": f"{role.session_name}-{enterprise}"}
        if external_id:
            kwargs["ExternalId"] = external_id
        try:
            answer = sts.assume_role(**kwargs)
            c = answer["Credentials"]
            if identity is not None:  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
                identity["account"] = answer["AssumedRoleUser"]["Arn"].split(":")[4]
            for secret in (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]):
                remember_secret(secret)
        except (KeyError, TypeError, IndexError, AttributeError):  # a 200 that is not an AWS answer
            raise ConfigError(f"enterprise {enterprise!r}: cannot assume role {role.role_arn}: "
                              f"{not_aws(sts.meta.endpoint_url)}") from None
        except botocore.exceptions.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "Error")
            raise ConfigError(f"enterprise {enterprise!r}: cannot assume role {role.role_arn}: {code}") from None
        except botocore.exceptions.NoCredentialsError:
            raise ConfigError(
                f"enterprise {enterprise!r}: no AWS credentials to assume {role.role_arn} with "
                "(set AWS_PROFILE or the standard AWS environment variables)"
            ) from None
        except (botocore.exceptions.BotoCoreError, ValueError) as err:
            why = explain(err, sts.meta.endpoint_url, probe=True) or type(err).__name__
            raise ConfigError(f"enterprise {enterprise!r}: cannot reach STS to assume {role.role_arn}: {why}") from None
        return {
            "access_key": c["AccessKeyId"],
            "secret_key": c["SecretAccessKey"],
            "token": c["SessionToken"],
            "expiry_time": c["Expiration"].isoformat(),
        }

    return RefreshableCredentials.create_from_metadata(metadata=refresh(), refresh_using=refresh,
                                                       method="assume-role")


@dataclass
class AwsContext:
    """One enterprise's way into AWS: its credentials, a call counter, and the shared clients."""

    enterprise: str
    provider: str
    credentials: Any = None
    counter: CallCounter = field(default_factory=CallCounter)
    account: str | None = None
    max_pool: int = 20

    def client(self, service: str, region: str) -> Any:
        return BoundClient(CLIENTS.get(service, region, self.max_pool), self)

    def caller_account(self, region: str) -> str:
        if self.account:  # known from the AssumeRole answer
            return self.account
        sts = None
        try:  # the first call to this endpoint: short timeouts, one retry
            sts = BoundClient(CLIENTS.get("sts", region, 10, probe=True), self)
            ident = sts.get_caller_identity()
            self.account = str(ident["Account"])
        except botocore.exceptions.NoCredentialsError:
            raise ConfigError(f"enterprise {self.enterprise!r}: no AWS credentials found") from None
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "Error")
            raise ConfigError(f"enterprise {self.enterprise!r}: the credentials do not work: {code}") from None
        except (KeyError, TypeError) as e:  # a 200 that is not an AWS answer
            url = sts.meta.endpoint_url if sts is not None else None
            raise ConfigError(f"enterprise {self.enterprise!r}: cannot reach STS: {not_aws(url)}") from e
        except (botocore.exceptions.BotoCoreError, ValueError) as e:
            url = sts.meta.endpoint_url if sts is not None else None
            why = explain(e, url, probe=True) or f"{type(e).__name__} from {endpoint_shown(url)}"
            raise ConfigError(f"enterprise {self.enterprise!r}: cannot reach STS: {why}") from None
        return self.account


def context_for(enterprise: Resource, counter: CallCounter | None = None, billing: bool = False,
                max_pool: int = 20) -> AwsContext:
    """The AwsContext of an Enterprise resource (billing=True: its billing credentials, if any)."""
    spec = enterprise.spec
    creds = spec.billing_credentials if (billing and spec.billing_credentials) else spec.credentials
    ctx = AwsContext(enterprise=enterprise.name, provider=spec.provider, counter=counter or CallCounter(),
                     max_pool=max_pool)
    identity: dict[str, str] = {}
    with bound(ctx):  # an AssumeRole is an API call like any other: counted as the enterprise's
        ctx.credentials = credentials_from(creds, enterprise.name, spec.regions[0], identity)
    ctx.account = identity.get("account")
    return ctx


def verify_accounts(contexts: list[tuple[Resource, AwsContext]]) -> None:
    """Each enterprise's account (STS GetCallerIdentity, or the AssumeRole answer): the declared
    account matches, and no two enterprises share one."""
    owners: dict[str, str] = {}
    for ent, ctx in contexts:
        acct = ctx.caller_account(ent.spec.regions[0])
        if ent.spec.account and ent.spec.account != acct:
            raise ConfigError(
                f"enterprise {ent.name!r} declares account {ent.spec.account}, but its credentials are for "
                f"account {acct}"
            )
        if acct in owners and owners[acct] != ent.name:
            raise ConfigError(
                f"enterprises {owners[acct]!r} and {ent.name!r} both resolve to AWS account {acct}: "
                "one AWS account belongs to one enterprise"
            )
        owners[acct] = ent.name
