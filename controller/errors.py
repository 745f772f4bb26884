"""One small exception tree. Users see two kinds of failure: bad input and AWS errors."""

from __future__ import annotations


class ControllerError(Exception):
    """Anything the controller reports to a user as one line, never as a traceback."""


class ConfigError(ControllerError):
    """Bad input outside the specs: flags, credentials, a saved plan."""


class UsageError(ConfigError):
    """A command line that parses but does not make sense (two options that disagree): exit 64, like argparse's."""


class ResourceError(ControllerError):
    """An AWS call failed for one resource: names the address, the operation and the AWS code."""

    def __init__(self, address: str, operation: str, code: str, message: str, retryable: bool = False):
        self.address = address
        self.operation = operation
        self.code = code
        self.retryable = retryable
        super().__init__(f"cannot {operation} {address}: {code}: {message}")


class StaleStateError(ControllerError):
    """A saved plan no longer matches live AWS."""
