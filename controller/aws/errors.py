"""Turn botocore errors into ResourceError naming the address and the operation.

No bare ClientError escapes the aws/ and kinds/ layers. NotFound on a delete is success (the
kinds decide with ``is_not_found``). A failure to reach an endpoint (refused, no answer, not an AWS
answer) is one line naming the endpoint and what to check (``explain``), and no message carries any
part of a credential (``scrub``: the values the controller read, and anything shaped like a key,
a signature or a signed header).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import botocore.exceptions
import botocore.parsers

from controller.errors import ResourceError

# Throttling: AWS refused the request without doing anything, so any call may be sent again
# (ResourceError.retryable). botocore's adaptive mode retries these first; the query layer
# (controller/aws/query.py) retries what is left with jittered backoff.
THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
              "RequestThrottled", "RequestThrottledException", "SlowDown", "EC2ThrottledException",
              "PriorRequestNotComplete"}
# Transient server-side or connection failures: a read is retried; a write may have happened, so it is
# not (its kind names the "not yet" codes it retries, and ClientToken covers the creates that take one).
TRANSIENT = THROTTLING | {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
                          "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                          "ConnectionClosedError"}

def error_code(e: BaseException) -> str:
    if isinstance(e, botocore.exceptions.ClientError):
        return str(e.response.get("Error", {}).get("Code", "Error"))
    if isinstance(e, ResourceError):
        return e.code
    return type(e).__name__


def is_not_found(e: BaseException) -> bool:
    code = error_code(e)
    return code.endswith(".NotFound") or code.endswith("NotFound") or code in {
        "InvalidAllocationID.NotFound", "InvalidAssociationID.NotFound", "LoadBalancerNotFound",
        "NoSuchEntity", "InvalidAttachment.NotFound"}


@contextmanager
def aws_call(address: str, operation: str) -> Iterator[None]:
    """Wrap AWS calls made for one resource: any failure becomes a ResourceError."""
    try:
        yield
    except ResourceError:
        raise
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        code = str(err.get("Code", "Error"))
        raise ResourceError(address, operation, code, scrub(str(err.get("Message", "")).strip()),
                            retryable=code in THROTTLING) from e
    except botocore.exceptions.WaiterError as e:
        raise ResourceError(address, operation, "WaiterTimeout", scrub(str(e))) from e
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError, ConnectionError) as e:
        raise ResourceError(address, operation, type(e).__name__, explain(e) or scrub(str(e))) from e


# ------------------------------------------------------------------------------------------------
# Endpoints


def endpoint_shown(url: str | None) -> str:
    """An endpoint URL fit to print: no user:password part."""
    if not url:
        return "the AWS endpoint"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")) or url
    except ValueError:
        return scrub(url)


def _endpoint_of(e: BaseException, fallback: str | None) -> str:
    kwargs = getattr(e, "kwargs", None) or {}
    return endpoint_shown(kwargs.get("endpoint_url") or fallback or os.environ.get("AWS_ENDPOINT_URL"))


def explain(e: BaseException, endpoint: str | None = None, probe: bool = False) -> str | None:
    """One line saying why an endpoint could not be used and what to check, or None if ``e`` is not such
    an error. ``endpoint`` is the URL the client was using, when the exception does not say; ``probe``:
    the call was a first contact, made with the short read timeout."""
    import botocore.exceptions as bx

    where = _endpoint_of(e, endpoint)
    check = "check AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>), the network and any proxy"
    if isinstance(e, bx.ConnectTimeoutError):
        return f"no connection to {where} within {connect_timeout():g} s: {check}"
    if isinstance(e, bx.ReadTimeoutError):
        return (f"{where} accepted the connection but sent no answer within {read_timeout(probe):g} s: is it an AWS "
                f"endpoint? {check}")
    if isinstance(e, bx.SSLError):
        return f"TLS to {where} failed (certificate or protocol): {check}, and AWS_CA_BUNDLE"
    if isinstance(e, bx.ProxyConnectionError):
        return f"cannot connect to the proxy for {where}: check HTTPS_PROXY / HTTP_PROXY"
    if isinstance(e, bx.EndpointConnectionError | bx.ConnectionClosedError):
        return f"cannot connect to {where} (refused, unreachable or closed): {check}"
    if isinstance(e, bx.HTTPClientError):
        return (f"the request to {where} could not be sent: a credential or setting holds a character that "
                "cannot go in an HTTP header (a newline?); check the credential variables")
    if isinstance(e, botocore.parsers.ResponseParserError):
        return not_aws(where)
    if isinstance(e, bx.NoRegionError):
        return "no AWS region: set AWS_REGION (or the enterprise's regions)"
    if isinstance(e, ValueError) and "endpoint" in str(e).lower():
        return f"{where} is not a usable endpoint URL: write http(s)://HOST[:PORT] in AWS_ENDPOINT_URL"
    if isinstance(e, bx.BotoCoreError):  # a setting botocore refuses (AWS_STS_REGIONAL_ENDPOINTS=...): its words
        return scrub(str(e))
    return None


def not_aws(endpoint: str | None) -> str:
    """An endpoint answered, but its answer is not an AWS API's (a web page, a proxy, garbage)."""
    return (f"{endpoint_shown(endpoint)} answered, but not as an AWS API does: check AWS_ENDPOINT_URL "
            "(and AWS_ENDPOINT_URL_<SERVICE>), the network and any proxy")


def connect_timeout() -> float:
    return _seconds("CONTROLLER_AWS_CONNECT_TIMEOUT", 5.0)


PROBE_READ_TIMEOUT = 10.0  # the first call to an endpoint (STS) waits at most this long for an answer


def read_timeout(probe: bool = False) -> float:
    value = _seconds("CONTROLLER_AWS_READ_TIMEOUT", 60.0)
    return min(value, PROBE_READ_TIMEOUT) if probe else value


def _seconds(var: str, default: float) -> float:
    try:
        value = float(os.environ.get(var, default))
    except ValueError:
        return default
    return value if 0 < value < 3600 else default


# ------------------------------------------------------------------------------------------------
# Secrets

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
# An access key id, a SigV4 header or its parts, a security token: (pattern, keeps its first group).
_SHAPES = [
    (re.compile(r"AWS4-HMAC-SHA256[^'\"\n]*"), False),
    (re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|ANPA|AGPA)[A-Z0-9]{12,}"), False),
    (re.compile(r"(Credential=)[^\s,'\"]*"), True),
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), True),
    (re.compile(r"(?i)(x-amz-security-token[=:]\s*)[^\s,'\"]+"), True),
    (re.compile(r"(?i)(authorization[=:]\s*)[^\n'\"]+"), True),
]


def remember_secret(value: str | None) -> None:
    """A credential value the controller read: it is cut out of every message."""
    if value and len(value) >= 8:
        with _SECRETS_LOCK:
            _SECRETS.add(value)
            _SECRETS.update(part for part in re.split(r"\s+", value) if len(part) >= 8)


def _ambient_secrets() -> list[str]:
    return [v for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
            if (v := os.environ.get(k)) and len(v) >= 8]


def scrub(text: str) -> str:
    """``text`` without any part of a credential, and on one line."""
    with _SECRETS_LOCK:
        known = sorted(_SECRETS, key=len, reverse=True)
    for value in [*known, *_ambient_secrets()]:
        text = text.replace(value, "(redacted)")
    for shape, keep in _SHAPES:
        text = shape.sub(r"\1(redacted)" if keep else "(redacted)", text)
    return " ".join(text.split("\n")).replace("\r", " ")
