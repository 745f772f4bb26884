"""Turn botocore errors into ResourceError naming the address and the operation.

No bare ClientError escapes the aws/ and kinds/ layers. NotFound on a delete is success (the
kinds decide with ``is_not_found``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
        raise ResourceError(address, operation, code, str(err.get("Message", "")).strip(),
                            retryable=code in THROTTLING) from e
    except botocore.exceptions.WaiterError as e:
        raise ResourceError(address, operation, "WaiterTimeout", str(e)) from e
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError, ConnectionError) as e:
        raise ResourceError(address, operation, type(e).__name__, str(e)) from e
