"""The embedded local AWS endpoint: moto's server on 127.0.0.1, made stricter where the product relies on it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

DEFAULT_PORT = 4566


def atomic_dynamodb(app: Callable) -> Callable:
    """moto applies a DynamoDB conditional write in two steps (check, then write) without a lock, so two
    concurrent writes to one item can both pass their conditions (47 of 150 races in tests/test_daemon_lease.py
    without this wrapper). DynamoDB makes each conditional write atomic, and the daemon's leases
    rely on it, so the local endpoint runs DynamoDB requests one at a time, as AWS would order them."""
    lock = threading.Lock()

    def app_(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the whole answer, inside the lock

    return app_


MISSING = ("controller local-aws needs the local extra (moto's server), which a plain install leaves out: "
           "pip install 'controller[local]'")


class LocalExtraMissing(ImportError):
    """moto (or its server's Flask/werkzeug) is not installed: the `local` extra is missing."""


def distinct_retained_backups() -> None:
    """AWS keeps a deleted DB instance's automated backups as retained backups, apart from a new instance of
    the same name; moto keeps them as snapshots named `rds:ID-YYYY-MM-DD-HH-MM`, so a database replaced within
    the minute its namesake was made fails to create with DBSnapshotAlreadyExists (the controller deletes with
    DeleteAutomatedBackups=False, to keep the user's backups). Here the retained one stands in for the new
    instance's first automated snapshot of that minute, and the create succeeds as on AWS."""
    from moto.rds import exceptions, models

    original = models.DBInstance.save_automated_backup

    def save_automated_backup(self: Any) -> None:
        try:
            original(self)
        except exceptions.DBSnapshotAlreadyExistsError:
            pass

    models.DBInstance.save_automated_backup = save_automated_backup  # type: ignore[method-assign]


def make_server(host: str, port: int) -> BaseWSGIServer:
    """moto's own server (as ThreadedMotoServer builds it), with atomic DynamoDB writes."""
    try:
        from moto.moto_server import werkzeug_app
        from werkzeug.serving import make_server as werkzeug_server
    except ImportError as e:
        raise LocalExtraMissing(MISSING) from e
    distinct_retained_backups()
    app = atomic_dynamodb(werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app))
    # Newer moto (5.2.5) serves with a request handler of its own, as its ThreadedMotoServer does; 5.2.1 has none.
    handler = getattr(werkzeug_app, "MotoRequestHandler", None)
    if handler is None:
        return werkzeug_server(host, port, app, threaded=True)
    return werkzeug_server(host, port, app, threaded=True, request_handler=handler)
