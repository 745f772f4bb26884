"""An index over validated resources, with what the VDC network types imply.

Validation, the desired graph and onboarding all ask the same questions ("which networks does
this VDC have?", "which firewall is this name?"); they ask them here.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from functools import cache
from pathlib import Path

from controller.spec.models import PrivateNetworkSpec, Resource, VirtualDatacenterSpec, address_of

PUBLIC_NETWORK = "public"
DEFAULT_NETWORK = "default"


def vdc_zone(spec: VirtualDatacenterSpec) -> str:
    """The VDC's availability zone: as given, or the region's first."""
    return spec.availability_zone or f"{spec.region}a"


def implied_networks(vdc: Resource) -> list[Resource]:
    """The networks a VDC's `network.type` creates, as PrivateNetwork resources.

    default: `public` (first /24 of the range, internet gateway) and `default` (second /24, NAT'd).
    custom: `default`, as described in `network`. none: nothing.
    """
    spec: VirtualDatacenterSpec = vdc.spec
    net = spec.network
    zone = net.availability_zone or vdc_zone(spec)
    meta = {"enterprise": vdc.metadata.enterprise, "vdc": vdc.metadata.name, "protect": vdc.metadata.protect,
            "tags": vdc.metadata.tags, "ignore": [p for p in vdc.metadata.ignore if p.startswith("tags.")]}
    out: list[Resource] = []
    if net.type == "default":
        rng = ipaddress.IPv4Network(spec.address_range)
        if rng.prefixlen > 23:
            return []  # validation reports this
        subnets = rng.subnets(new_prefix=24)
        public, private = next(subnets), next(subnets)
        out.append(_net(vdc, PUBLIC_NETWORK, meta, PrivateNetworkSpec(cidr=str(public), availability_zone=zone,
                                                                     internet_gateway=True)))
        out.append(_net(vdc, DEFAULT_NETWORK, meta, PrivateNetworkSpec(cidr=str(private), availability_zone=zone,
                                                                      nat_gateway=True)))
    elif net.type == "custom":
        rng = ipaddress.IPv4Network(spec.address_range)
        # no cidr given: the first /24 of the range (or the whole range when it is smaller)
        cidr = net.cidr or (str(next(rng.subnets(new_prefix=24))) if rng.prefixlen <= 24 else str(rng))
        out.append(_net(vdc, DEFAULT_NETWORK, meta, PrivateNetworkSpec(
            cidr=cidr, availability_zone=zone, internet_gateway=net.internet_gateway, nat_gateway=net.nat_gateway)))
    return out


def _net(vdc: Resource, name: str, meta: dict, spec: PrivateNetworkSpec) -> Resource:
    onboarded = vdc.spec.onboard.parts.get(f"PrivateNetwork/{name}") if vdc.spec.onboard else None
    return Resource(kind="PrivateNetwork", metadata={"name": name, **meta, "aws_id": onboarded}, spec=spec,
                    file=vdc.file, line=vdc.line)


@cache
def instance_types() -> dict[str, list[int]]:
    """[maxNetworkInterfaces, ipv4PerInterface, vcpus, memoryMiB] per instance type (a dated, offline table)."""
    data = json.loads((Path(__file__).parent / "data" / "instance_types.json").read_text())
    return data["types"]


class Catalog:
    """Every resource of a spec tree, indexed by address and by (enterprise, vdc, kind)."""

    def __init__(self, resources: list[Resource]):
        self.resources: list[Resource] = []
        self.by_address: dict[str, Resource] = {}
        self._scoped: dict[tuple[str | None, str | None, str], dict[str, Resource]] = defaultdict(dict)
        self._by_kind: dict[str, list[Resource]] = defaultdict(list)
        self._by_enterprise: dict[str, list[Resource]] = defaultdict(list)
        self.implied: set[str] = set()  # addresses of the networks that VDC network types create
        # regions whose hardware catalogue is in the spec tree: validation checked their zone offerings
        # (spec/hardware.py); the others are checked at plan
        self.zones_checked: frozenset[str] = frozenset()
        for r in resources:
            self.add(r)
            if r.kind == "VirtualDatacenter":
                for n in implied_networks(r):
                    self.implied.add(n.address)
                    self.add(n)

    def add(self, r: Resource) -> None:
        self.resources.append(r)
        self.by_address.setdefault(r.address, r)
        self._scoped[(r.metadata.enterprise, r.metadata.vdc, r.kind)].setdefault(r.name, r)
        self._by_kind[r.kind].append(r)
        self._by_enterprise[r.enterprise].append(r)

    def get(self, kind: str, name: str, enterprise: str | None, vdc: str | None = None) -> Resource | None:
        return self.by_address.get(address_of(kind, name, enterprise, vdc))

    def of_kind(self, kind: str) -> list[Resource]:
        return list(self._by_kind.get(kind, ()))

    def in_vdc(self, enterprise: str | None, vdc: str | None, kind: str) -> dict[str, Resource]:
        return self._scoped.get((enterprise, vdc, kind), {})

    def vdc_of(self, r: Resource) -> Resource | None:
        if not r.metadata.vdc:
            return None
        return self.get("VirtualDatacenter", r.metadata.vdc, r.metadata.enterprise)

    def vdc_required(self, r: Resource) -> Resource:
        """The VDC of a kind that lives in one (validation has refused the specs otherwise)."""
        vdc = self.vdc_of(r)
        assert vdc is not None, f"{r.address}: no VirtualDatacenter {r.metadata.vdc!r} after validation"
        return vdc

    def enterprises(self) -> list[Resource]:
        return self.of_kind("Enterprise")

    def for_enterprise(self, enterprise: str) -> list[Resource]:
        return list(self._by_enterprise.get(enterprise, ()))

    def volume(self, enterprise: str | None, vdc: str | None, name: str) -> Resource | None:
        """A volume named by a VM: in the VM's VDC first, else at the region (cloud location) level."""
        return self.get("Volume", name, enterprise, vdc) or self.get("Volume", name, enterprise, None)

    def public_ip(self, enterprise: str | None, vdc: str | None, name: str) -> Resource | None:
        return self.get("PublicIp", name, enterprise, vdc) or self.get("PublicIp", name, enterprise, None)

    def tags_of(self, r: Resource) -> dict[str, str]:
        """Your tags on the AWS objects of a document: the enterprise's defaultTags, then its own (they win)."""
        ent = self.get("Enterprise", r.enterprise, None)
        defaults = ent.spec.default_tags if ent is not None and r.kind != "Enterprise" else {}
        return {**defaults, **r.metadata.tags}

    def ignore_of(self, r: Resource) -> list[str]:
        """The ignore paths of a document: its own, then the enterprise's for its kind."""
        ent = self.get("Enterprise", r.enterprise, None)
        rules = ent.spec.ignore if ent is not None and r.kind != "Enterprise" else []
        return [*r.metadata.ignore, *(p for rule in rules if rule.kind == r.kind for p in rule.paths)]

    def template_ami(self, vm: Resource) -> str | None:
        t = vm.spec.template
        if t.startswith("ami-"):
            return t
        tpl = self.get("Template", t, vm.metadata.enterprise)
        return tpl.spec.ami if tpl else None
