"""Validation: each document against its kind's model, then the rules across documents.

Every error of a run is collected (never only the first) and pinned to file, line, column and
field path. Nothing here calls AWS.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from controller.spec.catalog import Catalog, implied_networks, vdc_zone
from controller.spec.diagnostics import Diagnostic, SpecError
from controller.spec.hardware import HardwareTable, Profile, Profiles
from controller.spec.loader import Document, PathKey, display_path, dotted, load_tree
from controller.spec.models import (
    ACCESS_KEY_RE,
    API_VERSION,
    KINDS,
    PRIVATE_KEY_RE,
    SECRET_ASSIGNMENT_RE,
    Envelope,
    Resource,
    address_of,
)


@dataclass
class Specs:
    """A loaded, validated spec tree."""

    catalog: Catalog
    documents: int = 0
    files: int = 0
    warnings: list[Diagnostic] = field(default_factory=list)
    hardware: HardwareTable = field(default_factory=HardwareTable)

    def hardware_note(self) -> str:
        """Which hardware table validation used (a catalogue in the tree, or the built-in one)."""
        return self.hardware.describe({v.spec.region for v in self.catalog.of_kind("VirtualDatacenter")})

    def summary(self) -> str:
        counts = Counter(r.kind for r in self.catalog.resources if r.address not in self.catalog.implied)
        parts = [f"{counts[k]} {k}" for k in KINDS if counts[k]]
        return f"valid: {self.documents} documents in {self.files} files ({', '.join(parts) or 'nothing'})"


def load_specs(specs_dir: Path, allow_empty: bool = False) -> Specs:
    """Load and validate a spec tree; raise SpecError with every diagnostic if anything is wrong
    (a tree with no document is wrong unless ``allow_empty``)."""
    docs, diags = load_tree(specs_dir, allow_empty)
    resources, parse_diags = parse_documents(docs)
    # Documents that did not load or parse: references to them are not reported as dangling (the
    # error that matters is the document's own). When one cannot even be named, no reference is.
    broken = None if diags else _broken_addresses(docs, resources)
    diags += parse_diags
    hardware, hw_diags = HardwareTable.load(specs_dir, display_path)
    diags += hw_diags
    v = Validator(resources, docs, broken, hardware=hardware)
    v.run()
    diags += v.diags
    if any(d.severity == "error" for d in diags):
        raise SpecError(diags)
    specs = Specs(catalog=v.catalog, documents=len(docs), files=len({d.file for d in docs}),
                  warnings=sorted(diags), hardware=hardware)
    return specs


# ------------------------------------------------------------------------------------------------
# One document


_FIELD_NAMES: set[str] | None = None


def _all_field_names() -> set[str]:
    global _FIELD_NAMES
    if _FIELD_NAMES is None:
        names: set[str] = {"apiVersion", "kind", "metadata", "spec"}
        seen: set[type] = set()

        def walk(model: type[BaseModel]) -> None:
            if model in seen:
                return
            seen.add(model)
            for fname, f in model.model_fields.items():
                names.add(f.alias or fname)
                for t in _model_types(f.annotation):
                    walk(t)

        for k in KINDS.values():
            walk(k.spec)
        from controller.spec.models import Metadata

        walk(Metadata)
        _FIELD_NAMES = names
    return _FIELD_NAMES


def _model_types(annotation: Any) -> Iterable[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _model_types(arg)


def _suggest(word: str) -> str | None:
    m = difflib.get_close_matches(word, sorted(_all_field_names()), n=1, cutoff=0.6)
    return f"did you mean {m[0]!r}?" if m else None


_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "decimal_parsing": "a number", "decimal_type": "a number",
    "bool_parsing": "true or false", "bool_type": "true or false", "string_type": "a string",
}


def _field_named(doc: Document, loc: PathKey, msg: str) -> tuple[int, int]:
    """A rule across a model's fields ("kmsKeyId needs encrypted: true", "... not to/toFirewall") points
    at the field it names: one after "not", else its first word; otherwise at the model itself."""
    words = re.findall(r"[A-Za-z_]+", msg)
    tail = re.findall(r"[A-Za-z_]+", msg.split(" not ", 1)[1]) if " not " in msg else []
    for w in [*tail, *words[:1]]:
        if (*loc, w) in doc.keys:
            return doc.keys[(*loc, w)]
    return doc.position(loc)


def _pydantic_diags(doc: Document, err: ValidationError, prefix: PathKey) -> list[Diagnostic]:
    out = []
    for e in err.errors(include_url=False):
        loc = (*prefix, *e["loc"])
        etype = e["type"]
        msg = e["msg"].removeprefix("Value error, ")
        fix = None
        if etype == "extra_forbidden":
            key = str(e["loc"][-1])
            line, col = doc.position(loc, key=True)
            msg = f"unknown field {key!r}"
            fix = _suggest(key) or "remove it; the JSON Schemas in schemas/ list every field"
        elif etype == "missing":
            line, col = doc.position(loc[:-1])
            msg = f"missing required field {loc[-1]!r}"
        else:
            line, col = _field_named(doc, loc, msg) if etype == "value_error" else doc.position(loc)
            if etype in _EXPECTED and not isinstance(e["input"], dict | list):
                msg = f"expected {_EXPECTED[etype]}, got {e['input']!r}"
            elif etype == "string_pattern_mismatch" and loc[-1] in ("name", "enterprise", "vdc", "reseller"):
                msg = f"{e['input']!r} is not a valid name: use lowercase letters, digits and '-', 1 to 63 characters"
            elif etype == "literal_error":
                msg = f"{e['input']!r} is not allowed: {msg[0].lower()}{msg[1:]}"
            elif etype in ("model_type", "dict_type"):
                msg = f"expected a mapping, got {type(e['input']).__name__}"
            elif etype == "list_type":
                msg = f"expected a list, got {type(e['input']).__name__}"
        out.append(Diagnostic(doc.file, line, col, msg, dotted(loc), fix=fix))
    return out


def _broken_addresses(docs: list[Document], resources: list[Resource]) -> set[str] | None:
    """Addresses of the documents that did not parse, or None when one of them cannot be named."""
    parsed = {(r.file, r.line) for r in resources}
    out: set[str] = set()
    for doc in docs:
        if (doc.file, doc.line) in parsed:
            continue
        data = doc.data if isinstance(doc.data, dict) else {}
        md = data.get("metadata")
        kind = data.get("kind")
        if not (isinstance(md, dict) and isinstance(kind, str) and isinstance(md.get("name"), str)):
            return None
        ent, vdc = md.get("enterprise"), md.get("vdc")
        out.add(address_of(kind, md["name"], ent if isinstance(ent, str) else None,
                           vdc if isinstance(vdc, str) else None))
    return out


def parse_documents(docs: list[Document]) -> tuple[list[Resource], list[Diagnostic]]:
    resources: list[Resource] = []
    diags: list[Diagnostic] = []
    for doc in docs:
        r, d = parse_document(doc)
        diags += d
        if r is not None:
            resources.append(r)
    return resources, diags


def parse_document(doc: Document) -> tuple[Resource | None, list[Diagnostic]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [Diagnostic(doc.file, doc.line, doc.col, "a document must be a mapping with apiVersion, kind, "
                                 "metadata and spec")]
    kind = data.get("kind")
    if kind not in KINDS:
        line, col = doc.position(("kind",)) if "kind" in data else (doc.line, doc.col)
        if kind is None:
            return None, [Diagnostic(doc.file, line, col, "missing required field 'kind'", "kind",
                                     fix=f"one of: {', '.join(KINDS)}")]
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        return None, [Diagnostic(doc.file, line, col, f"unknown kind {kind!r}", "kind",
                                 fix=f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(KINDS)}")]
    diags: list[Diagnostic] = []
    try:
        env = Envelope.model_validate(data)
    except ValidationError as e:
        diags += _pydantic_diags(doc, e, ())
        for d in diags:
            if d.path == "apiVersion" and "not allowed" in d.message:
                object.__setattr__(d, "fix", f"write apiVersion: {API_VERSION}")
        return None, diags
    info = KINDS[kind]
    md = env.metadata
    line, col = doc.position(("metadata",))
    if info.enterprise and not md.enterprise:
        diags.append(Diagnostic(doc.file, line, col, f"a {kind} needs metadata.enterprise", "metadata.enterprise"))
    if not info.enterprise and md.enterprise:
        diags.append(Diagnostic(doc.file, *doc.position(("metadata", "enterprise"), key=True),
                                f"an {kind} is not inside an enterprise: remove metadata.enterprise",
                                "metadata.enterprise"))
    if info.vdc == "required" and not md.vdc:
        diags.append(Diagnostic(doc.file, line, col, f"a {kind} lives in a virtual datacenter: set metadata.vdc",
                                "metadata.vdc"))
    if info.vdc == "forbidden" and md.vdc:
        diags.append(Diagnostic(doc.file, *doc.position(("metadata", "vdc"), key=True),
                                f"a {kind} is not inside a virtual datacenter: remove metadata.vdc", "metadata.vdc"))
    try:
        spec = info.spec.model_validate(env.spec)
    except ValidationError as e:
        diags += _pydantic_diags(doc, e, ("spec",))
        return None, diags
    if diags:
        return None, diags
    return Resource(kind=kind, metadata=md, spec=spec, file=doc.file, line=doc.line), []


# ------------------------------------------------------------------------------------------------
# Rules across documents


@functools.lru_cache(maxsize=65536)
def to_camel_key(kind: str) -> str:
    """`PublicIp` -> `publicIp`: the target key that names a kind."""
    return kind[0].lower() + kind[1:]


def _net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


# The region prefix of each AWS partition other than the commercial one (whose regions have neither).
PARTITION_PREFIX = {"aws-cn": "cn-", "aws-us-gov": "us-gov-"}


def _in_region(zone: str, region: str) -> bool:
    """us-east-1a is in us-east-1; us-east-11a is not."""
    return zone[:-1] == region


_ANY_SECRET_RE = re.compile("|".join(f"(?:{x.pattern})" for x in (ACCESS_KEY_RE, PRIVATE_KEY_RE)) +
                            f"|(?i:{SECRET_ASSIGNMENT_RE.pattern.removeprefix('(?i)')})")


# The rules of each spec kind, registered with the kind they check (`@rules_for("Vpn")` on the method
# below that checks a Vpn document against the others). Every kind of models.KINDS registers its rules
# or says it has none (`NO_RULES`, with the reason): no kind is skipped by a missing method.
RuleFn = Callable[["Validator", Resource], None]
RULES: dict[str, RuleFn] = {}
NO_RULES: dict[str, str] = {}  # kind -> why its model alone is enough


def rules_for(kind: str) -> Callable[[RuleFn], RuleFn]:
    """Register the cross-document rules of one spec kind."""
    def register(fn: RuleFn) -> RuleFn:
        if kind not in KINDS:
            raise ValueError(f"rules for {kind!r}, which is not a spec kind (models.KINDS)")
        if kind in RULES or kind in NO_RULES:
            raise ValueError(f"the rules of {kind!r} are registered twice")
        RULES[kind] = fn
        return fn
    return register


def no_rules(kind: str, why: str) -> None:
    """Say that a spec kind has no rules beyond its model (an explicit entry, not a missing one)."""
    if kind in RULES or kind in NO_RULES:
        raise ValueError(f"the rules of {kind!r} are registered twice")
    NO_RULES[kind] = why


def unregistered_kinds() -> list[str]:
    """Spec kinds that neither register rules nor say they have none (a mistake: see docs/kinds.md)."""
    return sorted(set(KINDS) - set(RULES) - set(NO_RULES))


class Validator:
    def __init__(self, resources: list[Resource], docs: list[Document], broken: set[str] | frozenset[str] | None = frozenset(),
                 hardware: HardwareTable | None = None):
        """``broken``: addresses of documents that failed to parse (None: some could not be named);
        a reference to one of them is not reported as dangling. ``hardware``: the hardware profiles
        (catalogues in the tree, else the built-in table)."""
        self.resources = resources
        self.hardware = hardware or HardwareTable()
        self.broken = broken
        self.docs = {(d.file, d.line): d for d in docs}
        self.diags: list[Diagnostic] = []
        self.catalog = Catalog([])

    # -- helpers

    def error(self, r: Resource, path: PathKey, message: str, fix: str | None = None, key: bool = False,
              severity: str = "error") -> None:
        doc = self.docs.get((r.file, r.line))
        line, col = doc.position(path, key=key) if doc else (r.line, 1)
        self.diags.append(Diagnostic(r.file, line, col, message, dotted(path), fix=fix, severity=severity))

    def warn(self, r: Resource, path: PathKey, message: str, fix: str | None = None) -> None:
        """A warning: shown by validate and plan, never a change of exit code."""
        self.error(r, path, message, fix, severity="warning")

    def ref(self, r: Resource, path: PathKey, kind: str, name: str, found: Resource | None,
            vdc: str | None = None, or_enterprise: bool = False) -> bool:
        """Report a dangling reference from ``r`` to ``kind`` ``name`` looked up in ``vdc`` (or the enterprise).

        ``or_enterprise``: the name is looked up in the VDC, then outside any VDC (volumes, public IPs).
        """
        if found is not None:
            return True
        ent = None if kind == "Enterprise" else r.metadata.enterprise
        if self.broken is None or address_of(kind, name, ent, vdc) in self.broken or (
                or_enterprise and address_of(kind, name, ent, None) in self.broken):
            return False  # it is there, but invalid: its own error says why
        known = sorted(set(self.catalog.in_vdc(ent, vdc, kind)) |
                       (set(self.catalog.in_vdc(ent, None, kind)) if or_enterprise else set()))
        close = difflib.get_close_matches(name, known, n=1)
        where = (f"virtual datacenter {vdc!r}" if vdc else f"enterprise {r.metadata.enterprise!r}") \
            if kind != "Enterprise" else "the specs"
        if or_enterprise and vdc:
            where += f" or at enterprise {r.metadata.enterprise!r}"
        fix = f"did you mean {close[0]!r}?" if close else (f"known: {', '.join(known)}" if known else
                                                          f"add a {kind} named {name!r}")
        self.error(r, path, f"{kind} {name!r} not found in {where}", fix)
        return False

    # -- the run

    def run(self) -> None:
        self.check_unique()
        self.catalog = Catalog(self.resources)
        self.catalog.zones_checked = self.hardware.zones_checked()
        for r in self.resources:
            rules = RULES.get(r.kind)
            if rules is not None:
                rules(self, r)
            self.check_secrets(r)
            self.check_tags(r)
        self.check_networks()
        self.check_addresses()
        self.check_attachments()
        self.check_quotas()
        self.check_accounts()

    def check_tags(self, r: Resource) -> None:
        """Your tags fit AWS's 50 per object (with the controller's own); ignore paths name real fields."""
        from controller.spec import paths
        from controller.spec.tags import MAX_TAGS, controller_tag_count

        for i, path in enumerate(r.metadata.ignore):
            why = paths.problem(path, KINDS[r.kind].spec)
            if why:
                self.error(r, ("metadata", "ignore", i), why, "a typo here would hide drift: fix or remove the path")
        if r.kind == "Enterprise":
            if r.metadata.tags:
                self.error(r, ("metadata", "tags"), "an Enterprise has no AWS object of its own to tag",
                           "put the tags every object of the enterprise gets in spec.defaultTags")
            for i, rule in enumerate(r.spec.ignore):
                if rule.kind not in KINDS or rule.kind == "Enterprise":
                    close = difflib.get_close_matches(rule.kind, list(KINDS)[1:], n=1)
                    self.error(r, ("spec", "ignore", i, "kind"), f"unknown kind {rule.kind!r} in spec.ignore",
                               f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(list(KINDS)[1:])}")
                    continue
                for j, path in enumerate(rule.paths):
                    why = paths.problem(path, KINDS[rule.kind].spec)
                    if why:
                        self.error(r, ("spec", "ignore", i, "paths", j), f"{rule.kind}: {why}",
                                   "a typo here would hide drift: fix or remove the path")
            return
        if not KINDS[r.kind].tags:
            if r.metadata.tags:
                self.error(r, ("metadata", "tags"), f"a {r.kind} has no AWS object that takes tags",
                           "remove metadata.tags (the enterprise's defaultTags do not apply to it either)")
            return
        tags = self.catalog.tags_of(r)
        extra = 1 if getattr(r.spec, "user_data", None) is not None else 0  # the user-data digest tag
        own = controller_tag_count(tags, r.metadata.protect, extra)
        if len(tags) + own > MAX_TAGS:
            where = ("metadata", "tags") if r.metadata.tags else ("metadata",)
            self.error(r, where, f"{r.address} would carry {len(tags) + own} tags ({len(tags)} yours, with the "
                       f"enterprise's defaultTags, and {own} of the controller's): AWS allows {MAX_TAGS} per object",
                       f"remove at least {len(tags) + own - MAX_TAGS} of your tags")

    def check_unique(self) -> None:
        seen: dict[str, Resource] = {}
        implied = {n.address: vdc for vdc in self.resources if vdc.kind == "VirtualDatacenter"
                   for n in implied_networks(vdc)}
        for r in self.resources:
            first = seen.get(r.address)
            if first is not None:
                self.error(r, ("metadata", "name"), f"duplicate {r.kind} {r.name!r}: {r.address} is already defined "
                           f"at {first.file}:{first.line}", "names are unique per enterprise, VDC and kind")
                continue
            seen[r.address] = r
            if r.address in implied:
                vdc = implied[r.address]
                self.error(r, ("metadata", "name"),
                           f"network {r.name!r} is created by VDC {vdc.name!r} (network type "
                           f"{vdc.spec.network.type}); another PrivateNetwork cannot take that name",
                           "choose another name")
        self.resources = [r for r in self.resources if seen.get(r.address) is r]

    def check_secrets(self, r: Resource) -> None:
        """A literal AWS access key anywhere in a document is refused (user data, descriptions, ...)."""

        def walk(value: Any, path: PathKey) -> None:
            if isinstance(value, str):
                if not _ANY_SECRET_RE.search(value):
                    return
                if ACCESS_KEY_RE.search(value) or SECRET_ASSIGNMENT_RE.search(value):
                    self.error(r, path, "a literal AWS access key id is in the specs; secrets never go in YAML"
                               if ACCESS_KEY_RE.search(value) else "a literal AWS secret access key is in the specs; "
                               "secrets never go in YAML",
                               "reference it instead (credentials.env names an environment variable; user data "
                               "can read an instance profile or a secrets manager)")
                elif PRIVATE_KEY_RE.search(value):
                    self.error(r, path, "a private key is in the specs; secrets never go in YAML",
                               "fetch it at boot from a secrets manager, or give only the public key (User)")
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(v, (*path, k))
            elif isinstance(value, BaseModel):
                for name, f in type(value).model_fields.items():
                    walk(getattr(value, name), (*path, f.alias or name))
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, (*path, i))

        # the document as written (faster than the model, and it has the YAML's own field names)
        doc = self.docs.get((r.file, r.line))
        walk(doc.data.get("spec") if doc else r.spec, ("spec",))

    # -- per kind

    def _enterprise(self, r: Resource) -> Resource | None:
        ent = self.catalog.get("Enterprise", r.metadata.enterprise or "", None)
        if ent is None:
            self.ref(r, ("metadata", "enterprise"), "Enterprise", r.metadata.enterprise or "", None)
        return ent

    def _vdc(self, r: Resource) -> Resource | None:
        if self._enterprise(r) is None or not r.metadata.vdc:
            return None
        vdc = self.catalog.vdc_of(r)
        if vdc is None:
            self.ref(r, ("metadata", "vdc"), "VirtualDatacenter", r.metadata.vdc, None)
        return vdc

    @rules_for("Enterprise")
    def check_Enterprise(self, r: Resource) -> None:
        s = r.spec
        if s.reseller:
            if s.reseller == r.name:
                self.error(r, ("spec", "reseller"), "an enterprise cannot be its own reseller")
            else:
                self.ref(r, ("spec", "reseller"), "Enterprise", s.reseller,
                         self.catalog.get("Enterprise", s.reseller, None))
        # cycles in the reseller hierarchy
        chain = [r.name]
        cur = s.reseller
        while cur:
            if cur in chain:
                members = [self.catalog.get("Enterprise", n, None) for n in chain]
                first = min((m for m in members if m), key=lambda m: (m.file, m.line))
                if cur == r.name and len(chain) > 1 and first is r:
                    self.error(r, ("spec", "reseller"),
                               f"reseller cycle: {' -> '.join([*chain, cur])}", "break the cycle")
                break
            chain.append(cur)
            nxt = self.catalog.get("Enterprise", cur, None)
            cur = nxt.spec.reseller if nxt else None
        prefix = PARTITION_PREFIX.get(s.provider)
        for i, region in enumerate(s.regions):
            ok = region.startswith(prefix) if prefix else not region.startswith(tuple(PARTITION_PREFIX.values()))
            if not ok:
                self.error(r, ("spec", "regions", i), f"region {region} is not in partition {s.provider}"
                           + (f" (its regions start with {prefix})" if prefix else ""),
                           f"use a region of {s.provider}, or set provider to the region's partition")
        for key, creds in (("credentials", s.credentials), ("billingCredentials", s.billing_credentials)):
            role = creds.assume_role if creds else None
            if role is not None and role.role_arn.split(":")[1] != s.provider:
                self.error(r, ("spec", key, "assumeRole", "roleArn"),
                           f"role {role.role_arn} is in partition {role.role_arn.split(':')[1]}, the enterprise in "
                           f"{s.provider}", f"write arn:{s.provider}:iam::... or set provider")
        if s.organization == "member" and not s.reseller:
            self.error(r, ("spec", "organization"), "an organization member needs a reseller (its management "
                       "enterprise)", "set spec.reseller")
        if s.billing and s.billing.bucket and not s.billing.report_name:
            self.error(r, ("spec", "billing"), "billing needs reportName with bucket", "set billing.reportName")

    @rules_for("VirtualDatacenter")
    def check_VirtualDatacenter(self, r: Resource) -> None:
        ent = self._enterprise(r)
        s = r.spec
        if ent and s.region not in ent.spec.regions:
            self.error(r, ("spec", "region"), f"region {s.region} is not one of enterprise {ent.name!r}'s regions "
                       f"({', '.join(ent.spec.regions)})", f"add {s.region} to the enterprise's regions")
        for path, zone in ((("spec", "availabilityZone"), s.availability_zone),
                           (("spec", "network", "availabilityZone"), s.network.availability_zone)):
            if zone and not _in_region(zone, s.region):
                self.error(r, path, f"availability zone {zone} is not in region {s.region}")
        ranges = [s.address_range, *s.address_ranges]
        for i, cidr in enumerate(s.address_ranges):
            for other in ranges[: i + 1]:
                if _net(cidr).overlaps(_net(other)):
                    self.error(r, ("spec", "addressRanges", i), f"address range {cidr} overlaps {other}")
                    break
        if len(ranges) > 5:
            self.error(r, ("spec", "addressRanges"), f"{len(ranges)} address ranges: AWS allows 5 per VPC")
        if s.network.type == "default" and _net(s.address_range).prefixlen > 23:
            self.error(r, ("spec", "addressRange"), f"network type default needs two /24 networks, and "
                       f"{s.address_range} is too small", "use a /23 or larger range, or network type custom")
        if s.network.type == "custom":
            cidr = s.network.cidr
            if cidr and not _net(cidr).subnet_of(_net(s.address_range)):
                self.error(r, ("spec", "network", "cidr"), f"network {cidr} is not inside the VDC's address range "
                           f"{s.address_range}")
        if s.default_firewall:
            self.ref(r, ("spec", "defaultFirewall"), "Firewall", s.default_firewall,
                     self.catalog.get("Firewall", s.default_firewall, r.metadata.enterprise, r.name), r.name)

    @rules_for("PrivateNetwork")
    def check_PrivateNetwork(self, r: Resource) -> None:
        vdc = self._vdc(r)
        if vdc is None:
            return
        s = r.spec
        ranges = [vdc.spec.address_range, *vdc.spec.address_ranges]
        if not any(_net(s.cidr).subnet_of(_net(x)) for x in ranges):
            self.error(r, ("spec", "cidr"), f"network {s.cidr} is not inside any address range of VDC "
                       f"{vdc.name!r} ({', '.join(ranges)})", "add the range to the VDC's addressRanges, or "
                       "choose a CIDR inside one")
        if s.availability_zone and not _in_region(s.availability_zone, vdc.spec.region):
            self.error(r, ("spec", "availabilityZone"), f"availability zone {s.availability_zone} is not in the "
                       f"VDC's region {vdc.spec.region}")

    @rules_for("Firewall")
    def check_Firewall(self, r: Resource) -> None:
        if self._vdc(r) is None:
            return
        for direction, key in (("ingress", "from_firewall"), ("egress", "to_firewall")):
            for i, rule in enumerate(getattr(r.spec, direction) or []):
                name = getattr(rule, key)
                if name:
                    self.ref(r, ("spec", direction, i, "fromFirewall" if key == "from_firewall" else "toFirewall"),
                             "Firewall", name, self.catalog.get("Firewall", name, r.metadata.enterprise, r.vdc), r.vdc)

    @rules_for("VirtualMachine")
    def check_VirtualMachine(self, r: Resource) -> None:
        vdc = self._vdc(r)
        if vdc is None:
            return
        s = r.spec
        ent = r.metadata.enterprise
        if not s.template.startswith("ami-"):
            tpl = self.catalog.get("Template", s.template, ent)
            if self.ref(r, ("spec", "template"), "Template", s.template, tpl) and tpl:
                if tpl.spec.region != vdc.spec.region:
                    self.error(r, ("spec", "template"), f"template {tpl.name!r} is in {tpl.spec.region}, the VDC "
                               f"in {vdc.spec.region}", "use a template of the VDC's region")
        if s.firewall:
            self.ref(r, ("spec", "firewall"), "Firewall", s.firewall,
                     self.catalog.get("Firewall", s.firewall, ent, r.vdc), r.vdc)
        if s.ssh_key:
            self.ref(r, ("spec", "sshKey"), "User", s.ssh_key, self.catalog.get("User", s.ssh_key, ent))
        table = self.hardware.for_region(vdc.spec.region)
        hw = table.get(s.hardware_profile)
        if hw is None:
            close = difflib.get_close_matches(s.hardware_profile, list(table.profiles), n=1)
            where = "" if not table.knows_zones else f" in {vdc.spec.region} (hardware catalogue {table.source})"
            self.error(r, ("spec", "hardwareProfile"), f"unknown hardware profile {s.hardware_profile!r}{where}",
                       f"did you mean {close[0]!r}?" if close else "use an EC2 instance type such as t3.micro")
        else:
            if len(s.nics) > hw.max_nics:
                self.error(r, ("spec", "nics"), f"{len(s.nics)} nics: {s.hardware_profile} allows {hw.max_nics} "
                           "network interfaces", "use a larger hardware profile")
            if hw.current is False:
                like = table.current_like(hw)
                self.warn(r, ("spec", "hardwareProfile"), f"hardware profile {hw.name} is not of the current "
                          "generation", f"use {like.name} ({like.vcpus} vCPUs, {like.memory_mib} MiB), a current "
                          "profile of the same size" if like else "use a current-generation profile")
        networks_seen: dict[str, int] = {}
        zones: set[str] = set()
        first_zone: tuple[int, str] | None = None
        for i, nic in enumerate(s.nics):
            path = ("spec", "nics", i)
            net = self.catalog.get("PrivateNetwork", nic.network, ent, r.vdc)
            if not self.ref(r, (*path, "network"), "PrivateNetwork", nic.network, net, r.vdc) or net is None:
                continue
            zone = net.spec.availability_zone or vdc_zone(vdc.spec)
            if first_zone is None:
                first_zone = (i, zone)
            elif zone != first_zone[1]:
                self.error(r, (*path, "network"), f"nic {i} is on network {nic.network!r} in {zone}, and nic "
                           f"{first_zone[0]} in {first_zone[1]}", "all nics of a VM are in one availability zone")
            zones.add(zone)
            if nic.network in networks_seen:
                self.error(r, (*path, "network"), f"nics {networks_seen[nic.network]} and {i} are both on network "
                           f"{nic.network!r}", "put extra addresses of one network in secondaryIps of one nic")
            networks_seen[nic.network] = i
            ips = ([nic.ip] if nic.ip else []) + list(nic.secondary_ips)
            if hw and len(ips) > hw.ipv4_per_nic:
                self.error(r, (*path, "secondaryIps"), f"{len(ips)} addresses on one nic: {s.hardware_profile} "
                           f"allows {hw.ipv4_per_nic} per interface", "use a larger hardware profile or fewer addresses")
            cidr = _net(net.spec.cidr)
            for j, ip in enumerate(ips):
                ipath = (*path, "ip") if (nic.ip and j == 0) else (*path, "secondaryIps", j - (1 if nic.ip else 0))
                addr = ipaddress.IPv4Address(ip)
                if addr not in cidr:
                    self.error(r, ipath, f"{ip} is not in network {nic.network!r} ({cidr})")
                    continue
                offset = int(addr) - int(cidr.network_address)
                if offset < 4 or addr == cidr.broadcast_address:
                    self.error(r, ipath, f"{ip} is reserved by AWS in {cidr} (the first four addresses and the last)",
                               f"use {cidr.network_address + 4} to {cidr.broadcast_address - 1}")
            if Counter(ips).most_common(1) and Counter(ips).most_common(1)[0][1] > 1:
                self.error(r, path, f"an address is listed twice on nic {i}")
            if nic.public_ip:
                if not net.spec.internet_gateway:
                    self.error(r, (*path, "publicIp"), f"a public IP needs a public network, and {nic.network!r} "
                               "has no internet gateway", "put this nic on a network with internetGateway: true")
                if nic.public_ip != "auto":
                    pip = self.catalog.public_ip(ent, r.vdc, nic.public_ip)
                    if self.ref(r, (*path, "publicIp"), "PublicIp", nic.public_ip, pip, r.vdc, or_enterprise=True) \
                            and pip and pip.metadata.vdc is None and pip.spec.region != vdc.spec.region:
                        self.error(r, (*path, "publicIp"), f"public IP {nic.public_ip!r} is in {pip.spec.region}, "
                                   f"the VM in {vdc.spec.region}", "use a public IP of the VDC's region")
            for ip, name in nic.secondary_public_ips.items():
                spath = (*path, "secondaryPublicIps", ip)
                if ip not in nic.secondary_ips:
                    self.error(r, spath, f"{ip} is not one of this nic's secondaryIps", "add it to secondaryIps")
                if not net.spec.internet_gateway:
                    self.error(r, spath, f"a public IP needs a public network, and {nic.network!r} has no "
                               "internet gateway", "put this nic on a network with internetGateway: true")
                self.ref(r, spath, "PublicIp", name, self.catalog.public_ip(ent, r.vdc, name), r.vdc,
                         or_enterprise=True)
        if hw is not None and hw.zones is not None and first_zone and first_zone[1] not in hw.zones:
            self.check_offered(r, table, hw, first_zone[1])
        for i, vol in enumerate(s.volumes):
            v = self.catalog.volume(ent, r.vdc, vol)
            if not self.ref(r, ("spec", "volumes", i), "Volume", vol, v, r.vdc, or_enterprise=True) or v is None:
                continue
            region = v.spec.region if not v.metadata.vdc else vdc.spec.region
            if v.metadata.vdc is None and region != vdc.spec.region:
                self.error(r, ("spec", "volumes", i), f"volume {vol!r} is in region {region}, the VM in "
                           f"{vdc.spec.region}")
            if v.spec.availability_zone and zones and v.spec.availability_zone not in zones:
                self.error(r, ("spec", "volumes", i), f"volume {vol!r} is in {v.spec.availability_zone}, the VM in "
                           f"{', '.join(sorted(zones))}", "a volume attaches only to VMs of its availability zone")

    def check_offered(self, r: Resource, table: Profiles, hw: Profile, zone: str) -> None:
        """The zone rule, with a region's hardware catalogue: the VM's zone must offer its profile."""
        other = table.offered_in(zone, hw)
        offered = ", ".join(sorted(hw.zones or ())) or "no zone of the region"
        self.error(r, ("spec", "hardwareProfile"), f"hardware profile {hw.name} is not offered in {zone}, the zone "
                   f"of the VM's network (offered in: {offered}; hardware catalogue {table.source})",
                   (f"use {other.name}, offered in {zone}, or " if other else "") +
                   "put the VM on a network in a zone that offers it")

    @rules_for("Volume")
    def check_Volume(self, r: Resource) -> None:
        s = r.spec
        if r.metadata.vdc:
            vdc = self._vdc(r)
            if vdc and s.region and s.region != vdc.spec.region:
                self.error(r, ("spec", "region"), f"a volume in VDC {vdc.name!r} is in its region {vdc.spec.region}",
                           "remove region")
            if vdc and s.availability_zone and not _in_region(s.availability_zone, vdc.spec.region):
                self.error(r, ("spec", "availabilityZone"), f"{s.availability_zone} is not in {vdc.spec.region}")
        else:
            ent = self._enterprise(r)
            if not s.region:
                self.error(r, ("spec",), "a volume outside a VDC needs spec.region (its cloud location)",
                           "set spec.region, or metadata.vdc")
            elif ent and s.region not in ent.spec.regions:
                self.error(r, ("spec", "region"), f"region {s.region} is not one of the enterprise's regions")
            if s.region and s.availability_zone and not _in_region(s.availability_zone, s.region):
                self.error(r, ("spec", "availabilityZone"), f"{s.availability_zone} is not in {s.region}")

    @rules_for("PublicIp")
    def check_PublicIp(self, r: Resource) -> None:
        if r.metadata.vdc:
            self._vdc(r)
        else:
            ent = self._enterprise(r)
            if not r.spec.region:
                self.error(r, ("spec",), "a public IP outside a VDC needs spec.region", "set spec.region")
            elif ent and r.spec.region not in ent.spec.regions:
                self.error(r, ("spec", "region"), f"region {r.spec.region} is not one of the enterprise's regions")
        if r.name == "auto":
            self.error(r, ("metadata", "name"), "'auto' is reserved (publicIp: auto allocates one per nic)")

    @rules_for("User")
    def check_User(self, r: Resource) -> None:
        self._enterprise(r)

    @rules_for("Template")
    def check_Template(self, r: Resource) -> None:
        ent = self._enterprise(r)
        if ent and r.spec.region not in ent.spec.regions:
            self.error(r, ("spec", "region"), f"region {r.spec.region} is not one of the enterprise's regions")

    def _network_zones(self, r: Resource, vdc: Resource) -> tuple[set[str], bool, list[tuple[int, Resource]]]:
        """The zones of a document's `spec.networks` (each reference checked), whether all resolved, and the
        networks found with their index (load balancers and databases need two zones)."""
        zones: set[str] = set()
        resolved = True
        found = []
        for i, n in enumerate(r.spec.networks):
            net = self.catalog.get("PrivateNetwork", n, r.metadata.enterprise, r.vdc)
            resolved = self.ref(r, ("spec", "networks", i), "PrivateNetwork", n, net, r.vdc) and resolved
            if net:
                zones.add(net.spec.availability_zone or vdc_zone(vdc.spec))
                found.append((i, net))
        return zones, resolved, found

    @rules_for("LoadBalancer")
    def check_LoadBalancer(self, r: Resource) -> None:
        vdc = self._vdc(r)
        if vdc is None:
            return
        s, ent = r.spec, r.metadata.enterprise
        zones, resolved, nets = self._network_zones(r, vdc)
        for i, net in nets:
            if not s.internal and not net.spec.internet_gateway:
                self.error(r, ("spec", "networks", i), f"an internet-facing load balancer needs public networks, "
                           f"and {net.name!r} has no internet gateway", "use public networks or set internal: true")
        if s.type == "application" and resolved and len(zones) < 2:
            self.error(r, ("spec", "networks"), "an application load balancer needs networks in at least two "
                       "availability zones", "add a network of another zone, or use type: classic")
        if s.firewall:
            self.ref(r, ("spec", "firewall"), "Firewall", s.firewall, self.catalog.get("Firewall", s.firewall, ent,
                                                                                        r.vdc), r.vdc)
        for i, m in enumerate(s.members):
            self.ref(r, ("spec", "members", i), "VirtualMachine", m,
                     self.catalog.get("VirtualMachine", m, ent, r.vdc), r.vdc)

    @rules_for("Vpn")
    def check_Vpn(self, r: Resource) -> None:
        self._vdc(r)
        addr = ipaddress.IPv4Address(r.spec.remote_address)
        if any(addr in _net(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                                         "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/3")):
            self.error(r, ("spec", "remoteAddress"), f"{addr} is not a public address: a site-to-site VPN needs "
                       "the remote gateway's public IP")

    @rules_for("Database")
    def check_Database(self, r: Resource) -> None:
        vdc = self._vdc(r)
        if vdc is None:
            return
        s, ent = r.spec, r.metadata.enterprise
        zones, resolved, _ = self._network_zones(r, vdc)
        if resolved and len(zones) < 2:
            other = sorted({f"{vdc.spec.region}{c}" for c in "abc"} - zones)[0]
            self.error(r, ("spec", "networks"), f"a database needs networks in at least two availability zones "
                       f"(RDS requires it for the DB subnet group), and these are all in {', '.join(sorted(zones))}",
                       f"add a PrivateNetwork with availabilityZone: {other} to the VDC and list it in networks")
        if s.firewall:
            self.ref(r, ("spec", "firewall"), "Firewall", s.firewall,
                     self.catalog.get("Firewall", s.firewall, ent, r.vdc), r.vdc)
        if s.storage_type in ("io1", "io2") and s.storage_gi_b < 100:
            self.error(r, ("spec", "storageGiB"), f"{s.storage_type} storage starts at 100 GiB",
                       "set storageGiB: 100 or more, or use gp3")

    @rules_for("DnsZone")
    def check_DnsZone(self, r: Resource) -> None:
        if self._enterprise(r) is None:
            return
        for i, v in enumerate(r.spec.vdcs):
            self.ref(r, ("spec", "vdcs", i), "VirtualDatacenter", v,
                     self.catalog.get("VirtualDatacenter", v, r.metadata.enterprise))
        same = [z for z in self.catalog.of_kind("DnsZone") if z.enterprise == r.enterprise and z is not r
                and z.spec.domain.rstrip(".") == r.spec.domain.rstrip(".") and z.spec.private == r.spec.private]
        if same and (same[0].file, same[0].line) < (r.file, r.line):
            self.error(r, ("spec", "domain"), f"zone {same[0].name!r} ({same[0].file}:{same[0].line}) already "
                       f"is the {'private' if r.spec.private else 'public'} zone {r.spec.domain}",
                       "use one DnsZone document per domain")

    @rules_for("DnsRecord")
    def check_DnsRecord(self, r: Resource) -> None:
        if self._enterprise(r) is None:
            return
        s, ent = r.spec, r.metadata.enterprise
        self.ref(r, ("spec", "zone"), "DnsZone", s.zone, self.catalog.get("DnsZone", s.zone, ent))
        same = [d for d in self.catalog.of_kind("DnsRecord") if d.enterprise == r.enterprise and d is not r
                and (d.spec.zone, d.spec.name, d.spec.type) == (s.zone, s.name, s.type)]
        if same and (same[0].file, same[0].line) < (r.file, r.line):
            self.error(r, ("spec", "name"), f"record {same[0].name!r} ({same[0].file}:{same[0].line}) already is "
                       f"the {s.type} record {s.name!r} of zone {s.zone!r}", "merge their values into one document")
        t = s.target
        if t is None:
            return
        kind, name = t.kind, t.name
        if kind != "PublicIp" and not t.vdc:
            self.error(r, ("spec", "target"), f"a {kind} target lives in a VDC: name it",
                       "add vdc: NAME to the target")
            return
        if t.vdc and self.catalog.get("VirtualDatacenter", t.vdc, ent) is None:
            self.ref(r, ("spec", "target", "vdc"), "VirtualDatacenter", t.vdc, None)
            return
        path = ("spec", "target", to_camel_key(kind))
        found = self.catalog.public_ip(ent, t.vdc, name) if kind == "PublicIp" else self.catalog.get(kind, name, ent, t.vdc)
        if not self.ref(r, path, kind, name, found, t.vdc, or_enterprise=kind == "PublicIp") or found is None:
            return
        if kind == "VirtualMachine":
            nic = found.spec.nics[0]
            net = self.catalog.get("PrivateNetwork", nic.network, ent, t.vdc)
            if not nic.public_ip and not (net and net.spec.internet_gateway):
                self.error(r, path, f"virtual machine {name!r} has no public address (its first nic has no publicIp "
                           "and is not on a public network)", "give the VM's first nic a publicIp")
            elif found.spec.state == "undeployed":
                self.error(r, path, f"virtual machine {name!r} is undeployed: it has no address to point to")

    # -- across resources

    def check_networks(self) -> None:
        """Networks of one VDC never overlap; NAT'd networks need a public one in the VDC."""
        by_vdc: dict[tuple[str | None, str | None], list[Resource]] = defaultdict(list)
        for r in self.catalog.of_kind("PrivateNetwork"):
            by_vdc[(r.metadata.enterprise, r.metadata.vdc)].append(r)
        for (ent, vdc_name), nets in by_vdc.items():
            if vdc_name is None or self.catalog.get("VirtualDatacenter", vdc_name, ent) is None:
                continue  # reported as a dangling reference
            ordered = sorted(nets, key=lambda n: (_net(n.spec.cidr).network_address, n.address))
            # a sweep in address order: each network against the earlier ones still open at its start
            open_: list[Resource] = []
            clashes: dict[str, tuple[Resource, list[Resource]]] = {}
            for b in ordered:
                start = _net(b.spec.cidr).network_address
                open_ = [a for a in open_ if _net(a.spec.cidr).broadcast_address >= start]
                for a in open_:
                    if a.address in self.catalog.implied:
                        later, other = b, a
                    elif b.address in self.catalog.implied or (a.file, a.line) > (b.file, b.line):
                        later, other = a, b
                    else:
                        later, other = b, a
                    clashes.setdefault(later.address, (later, []))[1].append(other)
                open_.append(b)
            for later, others in clashes.values():
                what = ", ".join(f"{o.name!r} ({o.spec.cidr})" for o in others)
                self.error(later, self._implied_path(later, "cidr"), f"network {later.name!r} ({later.spec.cidr}) "
                           f"overlaps network{'s' if len(others) > 1 else ''} {what} in VDC {vdc_name!r}",
                           "networks of one VDC never overlap: choose a free CIDR")
            if not any(n.spec.internet_gateway for n in nets):
                for n in nets:
                    if n.spec.nat_gateway:
                        self.error(n, self._implied_path(n, "natGateway"), f"network {n.name!r} needs a NAT "
                                   f"gateway, and VDC {vdc_name!r} has no public network to put it in",
                                   "add a PrivateNetwork with internetGateway: true to the VDC")

    def _implied_path(self, n: Resource, field: str) -> PathKey:
        """Where a network's field is written: its own document, or the VDC that implies it."""
        if n.address not in self.catalog.implied:
            return ("spec", field)
        vdc = self.catalog.vdc_of(n)
        if vdc is not None and vdc.spec.network.type == "default":
            return ("spec", "addressRange")
        return ("spec", "network", field)

    def check_addresses(self) -> None:
        """No two nics share an address; a public IP goes on one nic only."""
        ips: dict[tuple[str | None, str | None, str], tuple[Resource, PathKey]] = {}
        eips: dict[str, tuple[Resource, PathKey]] = {}
        for r in self.catalog.of_kind("VirtualMachine"):
            for i, nic in enumerate(r.spec.nics):
                for j, ip in enumerate(([nic.ip] if nic.ip else []) + list(nic.secondary_ips)):
                    path = ("spec", "nics", i, "ip") if (nic.ip and j == 0) else (
                        "spec", "nics", i, "secondaryIps", j - (1 if nic.ip else 0))
                    key = (r.metadata.enterprise, r.vdc, ip)
                    if key in ips and ips[key][0] is not r:
                        other = ips[key][0]
                        self.error(r, path, f"address {ip} is already used by {other.address} ({other.file}:"
                                   f"{other.line})")
                    ips.setdefault(key, (r, path))
                if nic.public_ip and nic.public_ip != "auto":
                    p = self.catalog.public_ip(r.metadata.enterprise, r.vdc, nic.public_ip)
                    if p is None:
                        continue
                    if p.address in eips:
                        other = eips[p.address][0]
                        self.error(r, ("spec", "nics", i, "publicIp"), f"public IP {nic.public_ip!r} is already on "
                                   f"{other.address}", "a public IP goes on one nic only")
                    eips.setdefault(p.address, (r, ()))

    def check_attachments(self) -> None:
        owners: dict[str, Resource] = {}
        for r in self.catalog.of_kind("VirtualMachine"):
            for i, name in enumerate(r.spec.volumes):
                v = self.catalog.volume(r.metadata.enterprise, r.vdc, name)
                if v is None:
                    continue
                if v.address in owners:
                    self.error(r, ("spec", "volumes", i), f"volume {name!r} is already attached to "
                               f"{owners[v.address].address}", "a volume attaches to one VM at a time")
                owners.setdefault(v.address, r)

    def check_quotas(self) -> None:
        """Quota arithmetic over the specs: what the specs ask for must fit the enterprise's quotas."""
        for ent in self.catalog.enterprises():
            q = ent.spec.quotas
            mine = [r for r in self.catalog.for_enterprise(ent.name) if r.kind != "Enterprise"]
            vms = [r for r in mine if r.kind == "VirtualMachine" and r.spec.state != "undeployed"]
            counts = {
                "virtualMachines": len(vms),
                "virtualDatacenters": sum(r.kind == "VirtualDatacenter" for r in mine),
                "publicIps": sum(r.kind == "PublicIp" for r in mine) + sum(
                    1 for vm in vms for n in vm.spec.nics if n.public_ip == "auto"),
                "volumeGiB": sum(r.spec.size_gi_b for r in mine if r.kind == "Volume") + sum(
                    (vm.spec.boot_disk.size_gi_b if vm.spec.boot_disk else 8) for vm in vms),
            }
            for key, used in counts.items():
                limit = getattr(q, {"virtualMachines": "virtual_machines", "virtualDatacenters": "virtual_datacenters",
                                    "publicIps": "public_ips", "volumeGiB": "volume_gi_b"}[key])
                if limit is not None and used > limit:
                    self.error(ent, ("spec", "quotas", key), f"quota {key} of enterprise {ent.name!r} is {limit}, "
                               f"and the specs ask for {used}", "raise the quota or remove resources")

    def check_accounts(self) -> None:
        seen: dict[str, Resource] = {}
        for ent in self.catalog.enterprises():
            acct = ent.spec.account
            if acct is None:
                continue
            if acct in seen:
                self.error(ent, ("spec", "account"), f"account {acct} already belongs to enterprise "
                           f"{seen[acct].name!r}: one AWS account belongs to one enterprise")
            seen.setdefault(acct, ent)


if unregistered_kinds():  # at import: a kind added to models.KINDS without its rules fails every run, loudly
    raise RuntimeError(f"spec kinds without validation rules: {', '.join(unregistered_kinds())}: register them "
                       "with @rules_for(kind) in controller/spec/validate.py, or no_rules(kind, why)")


def validate_tree(specs_dir: Path, allow_empty: bool = False) -> tuple[Specs | None, list[Diagnostic]]:
    try:
        return load_specs(specs_dir, allow_empty), []
    except SpecError as e:
        return None, e.diagnostics
