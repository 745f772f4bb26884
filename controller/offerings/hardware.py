"""Hardware profiles of a region from EC2: DescribeInstanceTypes and DescribeInstanceTypeOfferings
(availability-zone), both paginated, two listings in all whatever the number of types."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.aws.errors import aws_call
from controller.spec.hardware import Profile


def _pages(ec2: Any, where: str, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with aws_call(where, operation):
        for page in ec2.get_paginator(operation).paginate(**kwargs):
            out.extend(page.get(key, []))
    return out


def fetch_profiles(ec2: Any, region: str) -> list[Profile]:
    """Every instance type of the region, with the zones that offer it."""
    where = f"hardware profiles of {region}"
    types = _pages(ec2, where, "describe_instance_types", "InstanceTypes")
    offers = _pages(ec2, where, "describe_instance_type_offerings", "InstanceTypeOfferings",
                    LocationType="availability-zone")
    zones: dict[str, set[str]] = {}
    for o in offers:
        zones.setdefault(o["InstanceType"], set()).add(o["Location"])
    out = []
    for t in types:
        name = t["InstanceType"]
        net = t.get("NetworkInfo", {})
        current = t.get("CurrentGeneration")
        out.append(Profile(name, int(t.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
                           int(t.get("MemoryInfo", {}).get("SizeInMiB", 0)), int(net.get("MaximumNetworkInterfaces", 0)),
                           int(net.get("Ipv4AddressesPerInterface", 0)), None if current is None else bool(current),
                           frozenset(zones.get(name, ()))))
    return sorted(out, key=sort_key)


def sort_key(p: Profile) -> tuple[Any, ...]:
    """t3.micro before t3.small before t3.large: by family, then size."""
    return (p.family, p.vcpus, p.memory_mib, p.name)


@dataclass(frozen=True)
class Filter:
    """What `catalog hardware` shows: a family (t3, or a glob m*), minimum vCPUs and memory, current only."""

    family: str | None = None
    min_vcpus: int = 0
    min_memory_gib: float = 0
    current_only: bool = False
    zone: str | None = None

    def __call__(self, profiles: Iterable[Profile]) -> list[Profile]:
        return [p for p in profiles if self.keeps(p)]

    def keeps(self, p: Profile) -> bool:
        if self.family and not (fnmatch.fnmatchcase(p.family, self.family) or fnmatch.fnmatchcase(p.name, self.family)):
            return False
        if p.vcpus < self.min_vcpus or p.memory_mib < self.min_memory_gib * 1024:
            return False
        if self.current_only and not p.current:
            return False
        return not (self.zone and p.zones is not None and self.zone not in p.zones)


def profile_json(p: Profile) -> dict[str, Any]:
    return {"name": p.name, "family": p.family, "vcpus": p.vcpus, "memoryMiB": p.memory_mib,
            "maxNetworkInterfaces": p.max_nics, "ipv4PerInterface": p.ipv4_per_nic,
            "currentGeneration": p.current, "zones": sorted(p.zones or ())}
