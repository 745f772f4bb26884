"""Per-enterprise AWS sessions from credential references, and a client cache that counts calls.

Credentials are references (env var names, a profile, a role to assume), never values. Every
client uses botocore's adaptive retry mode and honours AWS_ENDPOINT_URL (the local AWS endpoint).
Every HTTP request a client sends, retries included, is counted per service and operation.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session

from controller.errors import ConfigError
from controller.spec.models import Credentials, Resource


def retry_config(max_pool: int = 20) -> Config:
    return Config(
        retries={"mode": "adaptive", "max_attempts": 8},  # type: ignore[typeddict-item]
        max_pool_connections=max_pool,
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="controller/0.1",
    )


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
    return value


def base_session(profile: str | None = None) -> boto3.Session:
    try:
        return _shared(boto3.Session(profile_name=profile) if profile else boto3.Session())
    except botocore.exceptions.ProfileNotFound as e:
        raise ConfigError(f"AWS profile not found: {e}") from None


def session_from_credentials(creds: Credentials, enterprise: str, default_region: str,
                             counter: CallCounter | None = None, identity: dict[str, str] | None = None
                             ) -> boto3.Session:
    """A boto3 session for one enterprise's credential reference.

    With assumeRole, `identity["account"]` is filled from the AssumeRole answer: STS has just
    checked the credentials and named the account, so no GetCallerIdentity is needed for them.
    """
    if creds.env is not None:
        e = creds.env
        return _shared(boto3.Session(
            aws_access_key_id=_env(e.access_key_id, enterprise, "env.accessKeyId"),
            aws_secret_access_key=_env(e.secret_access_key, enterprise, "env.secretAccessKey"),
            aws_session_token=_env(e.session_token, enterprise, "env.sessionToken") if e.session_token else None,
            region_name=default_region,
        ))
    if creds.profile is not None:
        s = base_session(creds.profile)
        return _shared(boto3.Session(botocore_session=s._session, region_name=default_region))
    assert creds.assume_role is not None
    role = creds.assume_role
    external_id = _env(role.external_id, enterprise, "assumeRole.externalId") if role.external_id else None
    source = base_session()
    sts = source.client("sts", region_name=default_region, config=retry_config())
    if counter is not None:  # AssumeRole is an API call like any other: count it
        sts.meta.events.register("before-send", counter.hook)

    def refresh() -> dict[str, str]:
        kwargs: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": f"{role.session_name}-{enterprise}"}
        if external_id:
            kwargs["ExternalId"] = external_id
        try:
            answer = sts.assume_role(**kwargs)
            c = answer["Credentials"]
            if identity is not None:  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
                identity["account"] = answer["AssumedRoleUser"]["Arn"].split(":")[4]
        except botocore.exceptions.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "Error")
            raise ConfigError(f"enterprise {enterprise!r}: cannot assume role {role.role_arn}: {code}") from None
        except botocore.exceptions.NoCredentialsError:
            raise ConfigError(
                f"enterprise {enterprise!r}: no AWS credentials to assume {role.role_arn} with "
                "(set AWS_PROFILE or the standard AWS environment variables)"
            ) from None
        except botocore.exceptions.BotoCoreError as err:
            raise ConfigError(f"enterprise {enterprise!r}: cannot reach STS to assume {role.role_arn}: {err}") from None
        return {
            "access_key": c["AccessKeyId"],
            "secret_key": c["SecretAccessKey"],
            "token": c["SessionToken"],
            "expiry_time": c["Expiration"].isoformat(),
        }

    creds_obj = RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="assume-role"
    )
    bs = get_session()
    if _LOADER is not None:
        bs.register_component("data_loader", _LOADER)
    bs._credentials = creds_obj
    bs.set_config_variable("region", default_region)
    return boto3.Session(botocore_session=bs, region_name=default_region)


@dataclass
class AwsContext:
    """One enterprise's way into AWS: its session, a client per (service, region), a call counter."""

    enterprise: str
    provider: str
    session: boto3.Session
    counter: CallCounter = field(default_factory=CallCounter)
    account: str | None = None
    max_pool: int = 20
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        c = self._clients.get(key)
        if c is not None:
            return c
        with self._lock:  # creating clients is not thread-safe on one session
            c = self._clients.get(key)
            if c is None:
                c = self.session.client(service, region_name=region, config=retry_config(self.max_pool))
                c.meta.events.register("before-send", self.counter.hook)
                self._clients[key] = c
        return c

    def caller_account(self, region: str) -> str:
        if self.account:  # known from the AssumeRole answer
            return self.account
        try:
            ident = self.client("sts", region).get_caller_identity()
        except botocore.exceptions.NoCredentialsError:
            raise ConfigError(f"enterprise {self.enterprise!r}: no AWS credentials found") from None
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "Error")
            raise ConfigError(f"enterprise {self.enterprise!r}: the credentials do not work: {code}") from None
        except botocore.exceptions.BotoCoreError as e:
            raise ConfigError(f"enterprise {self.enterprise!r}: cannot reach STS: {e}") from None
        self.account = str(ident["Account"])
        return self.account


def context_for(enterprise: Resource, counter: CallCounter | None = None, billing: bool = False,
                max_pool: int = 20) -> AwsContext:
    """The AwsContext of an Enterprise resource (billing=True: its billing credentials, if any)."""
    spec = enterprise.spec
    creds = spec.billing_credentials if (billing and spec.billing_credentials) else spec.credentials
    counter = counter or CallCounter()
    identity: dict[str, str] = {}
    session = session_from_credentials(creds, enterprise.name, spec.regions[0], counter, identity)
    return AwsContext(enterprise=enterprise.name, provider=spec.provider, session=session,
                      counter=counter, max_pool=max_pool, account=identity.get("account"))


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
