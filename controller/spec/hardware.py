"""Hardware profiles (EC2 instance types) as validation knows them, region by region.

Two sources, no AWS call: the built-in offline table (`data/instance_types.json`, dated), or a
region's *hardware catalogue*, a file that `controller catalog hardware --write` stores in the spec
tree (`<specs>/catalog/hardware-<region>.json`, reviewed in git like the YAML). A catalogue also
knows which availability zones offer each profile, so with it the zone rule is checked at
validate; without it, at plan (docs/catalog.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from controller.spec.catalog import instance_types
from controller.spec.diagnostics import Diagnostic
from controller.spec.loader import read_text

FORMAT = "controller/hardware-catalogue/v1"
FOLDER = "catalog"  # below the spec directory
COLUMNS = ("vcpus", "memoryMiB", "maxNics", "ipv4PerNic", "currentGeneration", "zones")
BUILT_IN = "the built-in table (moto 5.2.5, 2026-11)"


def catalogue_path(specs_dir: Path, region: str) -> Path:
    return specs_dir / FOLDER / f"hardware-{region}.json"


@dataclass(frozen=True, slots=True)
class Profile:
    """One hardware profile: what validation needs of an instance type."""

    name: str
    vcpus: int
    memory_mib: int
    max_nics: int
    ipv4_per_nic: int
    current: bool | None  # None: not known
    zones: frozenset[str] | None = None  # the zones that offer it; None: not known (built-in table)

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def row(self) -> list[Any]:
        return [self.vcpus, self.memory_mib, self.max_nics, self.ipv4_per_nic, self.current,
                sorted(self.zones or ())]


@dataclass
class Profiles:
    """The hardware profiles of one region, and where they come from."""

    profiles: dict[str, Profile]
    source: str  # a catalogue file, or BUILT_IN
    fetched_at: str | None = None
    _idx: dict[int, list[Profile]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def knows_zones(self) -> bool:
        return self.source != BUILT_IN

    def get(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def current_like(self, p: Profile) -> Profile | None:
        """A current-generation profile of the same size: the same vCPUs, the closest memory at or above,
        of the same family letter if there is one (m1.small -> m3.medium-like, not r5)."""
        best: tuple[Any, ...] | None = None
        found: Profile | None = None
        for q in self._by_vcpus().get(p.vcpus, ()):
            if not q.current or q.memory_mib < p.memory_mib or q.name.endswith(".metal"):
                continue
            key = (q.memory_mib - p.memory_mib, q.family[0] != p.family[0], len(q.family), q.name)
            if best is None or key < best:
                best, found = key, q
        return found

    def offered_in(self, zone: str, like: Profile) -> Profile | None:
        """A profile offered in `zone` with at least `like`'s vCPUs and memory (the smallest such)."""
        cands = [q for q in self.profiles.values() if q.zones is not None and zone in q.zones and q.current
                 and q.vcpus >= like.vcpus and q.memory_mib >= like.memory_mib and not q.name.endswith(".metal")]
        return min(cands, key=lambda q: (q.vcpus, q.memory_mib, q.family[0] != like.family[0], q.name), default=None)

    def _by_vcpus(self) -> dict[int, list[Profile]]:
        if self._idx is None:
            self._idx = {}
            for q in self.profiles.values():
                self._idx.setdefault(q.vcpus, []).append(q)
        return self._idx


@cache
def built_in() -> Profiles:
    rows = instance_types()
    return Profiles({n: Profile(n, r[2], r[3], r[0], r[1], bool(r[4]) if len(r) > 4 else None)
                     for n, r in rows.items()}, BUILT_IN)


class HardwareTable:
    """Per region: the catalogue in the spec tree if there is one, else the built-in table."""

    def __init__(self, regions: dict[str, Profiles] | None = None):
        self.regions = regions or {}

    def for_region(self, region: str) -> Profiles:
        return self.regions.get(region) or built_in()

    def zones_checked(self) -> frozenset[str]:
        """Regions whose zone offerings validation checks (a catalogue is in the tree)."""
        return frozenset(r for r, p in self.regions.items() if p.knows_zones)

    def describe(self, used: set[str]) -> str:
        """Which table validation used, for the regions the specs use."""
        files = [f"{r} from {self.regions[r].source}" for r in sorted(used) if r in self.regions]
        rest = sorted(r for r in used if r not in self.regions)
        parts = files + ([f"{', '.join(rest)} from {BUILT_IN}"] if rest else [])
        return "hardware profiles: " + ("; ".join(parts) if parts else BUILT_IN)

    @classmethod
    def load(cls, specs_dir: Path, display: Any = str) -> tuple[HardwareTable, list[Diagnostic]]:
        """The catalogue files of a spec tree; a broken one is an error naming it (never a silent fallback)."""
        folder = specs_dir / FOLDER
        regions: dict[str, Profiles] = {}
        diags: list[Diagnostic] = []
        try:
            if not folder.is_dir():
                return cls(regions), diags
        except OSError:  # an unreadable spec tree: the loader reports it
            return cls(regions), diags
        for path in sorted(folder.glob("hardware-*.json")):
            shown = display(path)
            region = path.name.removeprefix("hardware-").removesuffix(".json")
            _, problem = read_text(path, shown)  # a regular file within the loader's limits (docs/limits.md)
            if problem is not None:
                diags.append(problem)
                continue
            try:
                regions[region] = read_catalogue(path, region, shown)
            except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
                diags.append(Diagnostic(shown, 1, 1, f"not a hardware catalogue: {e}",
                                        fix=f"write it again with `controller catalog hardware --region {region} "
                                        "--write`, or delete it to use the built-in table"))
        return cls(regions), diags


def read_catalogue(path: Path, region: str, shown: str) -> Profiles:
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"its format is {data.get('format') if isinstance(data, dict) else None!r}, "
                         f"expected {FORMAT!r}")
    if data.get("region") != region:
        raise ValueError(f"it describes region {data.get('region')!r}, its name says {region!r}")
    if list(data.get("columns", ())) != list(COLUMNS):
        raise ValueError(f"its columns are {data.get('columns')!r}, expected {list(COLUMNS)!r}")
    profiles = {}
    for name, r in data["types"].items():
        profiles[name] = Profile(name, int(r[0]), int(r[1]), int(r[2]), int(r[3]),
                                 None if r[4] is None else bool(r[4]), frozenset(r[5]))
    return Profiles(profiles, shown, data.get("fetchedAt"))


def render_catalogue(region: str, partition: str, fetched_at: str, profiles: list[Profile]) -> str:
    """The catalogue file: a header that says what it is, then one profile per line (small git diffs)."""
    head = {
        "format": FORMAT,
        "about": "Hardware profiles of one region, written by `controller catalog hardware --write` from EC2 "
                 "DescribeInstanceTypes and DescribeInstanceTypeOfferings. `controller validate` uses it instead "
                 "of its built-in table for VMs in this region: unknown profiles, interfaces and addresses per "
                 "interface, the zones that offer a profile, and current generation. Write it again to refresh "
                 "it; delete it to go back to the built-in table. See docs/catalog.md.",
        "region": region,
        "partition": partition,
        "fetchedAt": fetched_at,
        "columns": list(COLUMNS),
    }
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + ['  "types": {']
    rows = sorted(profiles, key=lambda p: p.name)
    lines += [f"    {json.dumps(p.name)}: {json.dumps(p.row())}{',' if i < len(rows) - 1 else ''}"
              for i, p in enumerate(rows)]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"
