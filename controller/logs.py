"""structlog set-up: readable key=value lines on stderr for the CLI, JSON for the daemon.

structlog is imported on first use: a `plan` that logs nothing does not pay for it.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import structlog

_configured = False


def configure(verbose: bool = False, json: bool = False) -> None:
    global _configured
    import structlog

    level = logging.DEBUG if verbose else logging.WARNING
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _configured = True


def get_logger(**bound: Any) -> structlog.typing.FilteringBoundLogger:
    """A bound logger; the CLI's defaults (warnings and up, on stderr) if nothing configured it yet."""
    import structlog

    if not _configured:
        configure()
    return structlog.get_logger().bind(**bound)  # type: ignore[no-any-return]
