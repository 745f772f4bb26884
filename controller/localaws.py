"""The embedded local AWS endpoint: moto's server on 127.0.0.1, made stricter where the product relies on it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
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


def tagged_network_interfaces() -> None:
    """AWS tags the network interfaces RunInstances makes from its `network-interface` TagSpecifications;
    moto tags only the instance and its volumes, so every VM would need a CreateTags call of its own on the
    local endpoint that AWS never sees (20 of the 20-VM apply's requests). Here moto tags them as AWS does."""
    from moto.ec2.models.instances import InstanceBackend

    if getattr(InstanceBackend.run_instances, "tags_nics", False):
        return
    original = InstanceBackend.run_instances

    def run_instances(self: Any, *args: Any, **kwargs: Any) -> Any:
        nic_tags = dict((kwargs.get("tags") or {}).get("network-interface") or {})
        reservation = original(self, *args, **kwargs)
        for instance in reservation.instances if nic_tags else ():
            for nic in instance.nics.values():
                nic.add_tags(nic_tags)
        return reservation

    run_instances.tags_nics = True  # type: ignore[attr-defined]
    InstanceBackend.run_instances = run_instances  # type: ignore[method-assign]


def tagged_hosted_zones() -> None:
    """AWS's Resource Groups Tagging API reports Route 53 hosted zones (`route53:hostedzone`, in us-east-1);
    moto's leaves Route 53 out, so a plan could not learn from it that an enterprise has zones of its own
    (the plan lists Route 53 only then, or when a zone is desired). Here moto reports them as AWS does."""
    from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
    from moto.route53 import models

    if issubclass(models.route53_backends.backend, TaggableResourcesMixin):
        return

    class Route53Backend(models.Route53Backend, TaggableResourcesMixin):
        SERVICE_NAMESPACE = "route53"
        __module__ = models.__name__  # moto finds a backend's URL table from its module's name

        def iter_tagged_resources(self) -> Iterator[TaggedResource]:
            for zone_id in list(self.zones):
                yield TaggedResource(arn=f"arn:aws:route53:::hostedzone/{zone_id}",
                                     tags=dict(self.resource_tags.get(zone_id) or {}),
                                     resource_type="route53:hostedzone")

    models.route53_backends.backend = Route53Backend


def make_server(host: str, port: int) -> BaseWSGIServer:
    """moto's own server (as ThreadedMotoServer builds it), with atomic DynamoDB writes."""
    try:
        from moto.moto_server import werkzeug_app
        from werkzeug.serving import make_server as werkzeug_server
    except ImportError as e:
        raise LocalExtraMissing(MISSING) from e
    distinct_retained_backups()
    tagged_network_interfaces()
    tagged_hosted_zones()
    app = atomic_dynamodb(werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app))
    # Newer moto (5.2.5) serves with a request handler of its own, as its ThreadedMotoServer does; 5.2.1 has none.
    handler = getattr(werkzeug_app, "MotoRequestHandler", None)
    if handler is None:
        return werkzeug_server(host, port, app, threaded=True)
    return werkzeug_server(host, port, app, threaded=True, request_handler=handler)
