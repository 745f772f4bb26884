"""Machine images for the template catalogue: DescribeImages with server-side filters, the newest of
each name family, and Template documents with the operating system and SSH user inferred.

The inference table (OS_RULES) is documented in docs/catalog.md; change both together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

from controller.aws.errors import aws_call

OWN_HEADER = "# Written by `controller catalog templates`"

# (pattern over the image's name, then its description; os; SSH username), first match wins
OS_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"windows", re.I), "windows", "Administrator"),
    (re.compile(r"\bamzn|\bal20\d\d\b|amazon[ -]linux|amazon-eks", re.I), "amazon-linux", "ec2-user"),
    (re.compile(r"\brhel|red ?hat", re.I), "rhel", "ec2-user"),
    (re.compile(r"\bsuse|\bsles", re.I), "suse", "ec2-user"),
    (re.compile(r"ubuntu", re.I), "ubuntu", "ubuntu"),
    (re.compile(r"debian", re.I), "debian", "admin"),
    (re.compile(r"centos", re.I), "centos", "centos"),
    (re.compile(r"fedora", re.I), "fedora", "fedora"),
]

# A build date inside an image name (20260930, 2017.10.13, 2024-02-07), with the version numbers just
# before it and the build counters after it (al2023-ami-2023.12.20260930.0-...): what changes from one
# release of an image to the next. The rest of the name is its family.
_DATE = re.compile(r"(?<!\d)(?:\d+\.)*(?:19|20)\d{2}[._-]?(?:0[1-9]|1[0-2])[._-]?(?:0[1-9]|[12]\d|3[01])(?!\d)"
                   r"(?:\.\d+)*")
# the AMI ids the Template kind accepts (spec/models.py): moto serves a few made-up ids that AWS never would
AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Image:
    ami: str
    name: str
    description: str
    owner: str
    owner_alias: str | None
    architecture: str
    created: str
    platform: str | None
    deprecation_time: str | None

    @property
    def family(self) -> str:
        return _DATE.sub("*", self.name)

    def os_user(self) -> tuple[str, str] | None:
        """(os, SSH username) inferred from the image, or None when nothing matches."""
        if "windows" in (self.platform or "").lower():  # Platform, or PlatformDetails ("Windows with SQL ...")
            return "windows", "Administrator"
        for text in (self.name, self.description):
            for pattern, os_name, user in OS_RULES:
                if pattern.search(text):
                    return os_name, user
        return None


def _image(i: dict[str, Any]) -> Image:
    return Image(ami=i["ImageId"], name=i.get("Name") or i["ImageId"], description=i.get("Description") or "",
                 owner=str(i.get("OwnerId", "")), owner_alias=i.get("ImageOwnerAlias"),
                 architecture=i.get("Architecture", ""), created=i.get("CreationDate", ""),
                 platform=i.get("Platform") or i.get("PlatformDetails"), deprecation_time=i.get("DeprecationTime"))


def fetch_images(ec2: Any, region: str, owner: str, name: str | None = None, arch: str | None = None) -> list[Image]:
    """Available images of an owner (amazon, self, an account id), filtered by AWS, not here."""
    filters = [{"Name": "state", "Values": ["available"]}]
    if name:
        filters.append({"Name": "name", "Values": [name]})  # EC2 matches * and ? itself
    if arch:
        filters.append({"Name": "architecture", "Values": [arch]})
    kwargs: dict[str, Any] = {"Owners": [owner], "Filters": filters}
    out: list[dict[str, Any]] = []
    with aws_call(f"images of {owner} in {region}", "describe_images"):
        if ec2.can_paginate("describe_images"):
            for page in ec2.get_paginator("describe_images").paginate(**kwargs):
                out.extend(page.get("Images", []))
        else:
            out = ec2.describe_images(**kwargs).get("Images", [])
    return sorted((_image(i) for i in out if AMI_ID.match(i.get("ImageId", ""))),
                  key=lambda im: (im.family, im.created, im.name))


def latest(images: list[Image]) -> list[Image]:
    """The newest image of each name family (by creation date, then name: later builds sort later)."""
    best: dict[tuple[str, str], Image] = {}
    for im in images:
        key = (im.family, im.architecture)
        cur = best.get(key)
        if cur is None or (im.created, im.name) > (cur.created, cur.name):
            best[key] = im
    return sorted(best.values(), key=lambda im: (im.family, im.architecture))


def template_name(im: Image, family: bool) -> str:
    """A document name ([a-z0-9-], 1..63) from the image's name (or its family, with --latest)."""
    base = (im.family.replace("*", "") if family else im.name).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", base).strip("-") or im.ami
    if len(slug) > 63:
        slug = slug[:54].rstrip("-") + "-" + hashlib.sha256(slug.encode()).hexdigest()[:8]
    return slug


def template_names(images: list[Image], family: bool) -> dict[str, str]:
    """AMI id -> a document name, unique within one run."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for im in images:
        name = template_name(im, family)
        if name in taken:
            name = f"{name[:63 - len(im.ami) - 1].rstrip('-')}-{im.ami}"
        taken.add(name)
        out[im.ami] = name
    return out


def render_template(im: Image, name: str, enterprise: str, region: str) -> str:
    """One Template document; os and username inferred, or a comment asking for them."""
    spec: dict[str, Any] = {"region": region, "ami": im.ami}
    inferred = im.os_user()
    if inferred:
        spec["os"], spec["username"] = inferred
    doc = {"apiVersion": "controller/v1", "kind": "Template",
           "metadata": {"name": name, "enterprise": enterprise}, "spec": spec}
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
    if not inferred:
        text += ("  # TODO: the operating system and SSH user of this image could not be inferred from its name or\n"
                 "  # description: fill them in (see docs/catalog.md), for example:\n"
                 "  # os: ubuntu\n"
                 "  # username: ubuntu\n")
    about = f"{im.name} ({im.owner_alias or im.owner}, {im.architecture}, created {im.created or '?'})"
    return f"{OWN_HEADER} from {about}\n{text}"
