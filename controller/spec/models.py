"""The spec language: one pydantic model per kind (see SPEC.md).

YAML uses camelCase; Python uses snake_case. Every model forbids unknown fields so a typo is an
error, never a silently ignored setting. Field-level checks live here; rules that need several
documents live in ``validate.py``.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from controller.spec.tags import check_key, check_value

API_VERSION = "controller/v1"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
# An AWS object id (vpc-..., subnet-..., sg-..., i-..., vol-..., eipalloc-..., key-..., rtb-..., igw-..., nat-...).
# Also an RDS instance identifier (a Database) and a Route 53 hosted zone id (Z..., a DnsZone).
AwsId = Annotated[str, StringConstraints(pattern=r"^([a-z]+-[0-9a-f]{8,17}|[a-z][a-z0-9-]{0,62}|[A-Z0-9]{8,32})$")]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# Your own tags (controller/spec/tags.py has AWS's limits); ignore paths (controller/spec/paths.py).
TagKey = Annotated[str, AfterValidator(check_key)]
TagValue = Annotated[str, AfterValidator(check_value)]
Tags = dict[TagKey, TagValue]
IgnorePath = Annotated[str, StringConstraints(min_length=1, max_length=300)]

# A literal AWS access key id (AKIA... long-lived, ASIA... temporary).
ACCESS_KEY_RE = re.compile(r"\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b")
# A literal secret access key: 40 characters of base64, with at least one digit, one upper and one lower.
SECRET_KEY_RE = re.compile(r"^(?=.*[0-9])(?=.*[A-Z])(?=.*[a-z])[A-Za-z0-9/+=]{40}$")
# A secret access key assigned in a script or config file (user data): aws_secret_access_key = ...
SECRET_ASSIGNMENT_RE = re.compile(r"(?i)aws_?secret_?access_?key['\"]?\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
# A PEM or OpenSSH private key.
PRIVATE_KEY_RE = re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----")


def _cidr(value: str) -> str:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"{value!r} is not a valid IPv4 CIDR block ({e})") from None
    return str(net)


def _vpc_cidr(value: str) -> str:
    value = _cidr(value)
    prefix = ipaddress.IPv4Network(value).prefixlen
    if not 16 <= prefix <= 28:
        raise ValueError(f"{value} is a /{prefix}: AWS allows /16 to /28 for VPCs and subnets")
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 address") from None


# A decimal amount: an int, a float or a numeric string (strict mode takes only Decimal objects); a
# boolean is still refused.
Number = Annotated[Decimal, Field(strict=False)]
Cidr = Annotated[str, AfterValidator(_cidr)]
VpcCidr = Annotated[str, AfterValidator(_vpc_cidr)]
IPv4 = Annotated[str, AfterValidator(_ip)]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")]
AvailabilityZone = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$")]


class Model(BaseModel):
    """Base of every spec model: camelCase aliases, no unknown fields, immutable, strict types
    (a boolean is not an integer; see Number for decimals)."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
        # Strict types: YAML already gives ints, bools and strings their own types, so nothing is
        # coerced: `sizeGiB: true` or `protect: 1` is an error, never 1 GiB or protected.
        strict=True,
    )


# --------------------------------------------------------------------------------------------
# Envelope


class Metadata(Model):
    name: Name
    enterprise: Name | None = None
    vdc: Name | None = None
    protect: bool = False
    aws_id: AwsId | None = Field(default=None, description=(
        "the AWS object this document was onboarded from (`controller onboard` writes it): while no object "
        "carries this document's ownership tags, the untagged object with this id is adopted by the next apply"))
    tags: Tags = Field(default={}, description=(
        "your own tags on every AWS object of this document (they win over the enterprise's defaultTags)"))
    ignore: list[IgnorePath] = Field(default=[], description=(
        "fields whose live value is neither compared nor corrected: spec.FIELD, spec.LIST[0].FIELD, tags.KEY; "
        "`*` globs"))


# --------------------------------------------------------------------------------------------
# Enterprise


class EnvCredentials(Model):
    """Names of environment variables that hold the keys, never the keys themselves."""

    access_key_id: EnvVarName
    secret_access_key: EnvVarName
    session_token: EnvVarName | None = None

    @field_validator("access_key_id", "secret_access_key", "session_token", mode="before")
    @classmethod
    def _not_a_literal_key(cls, v: Any) -> Any:
        if isinstance(v, str) and (ACCESS_KEY_RE.search(v) or SECRET_KEY_RE.match(v)):
            raise ValueError(
                "looks like a literal AWS key: put the key in an environment variable and write "
                "the variable's name here (e.g. ACME_AWS_ACCESS_KEY_ID)"
            )
        return v


class AssumeRole(Model):
    role_arn: Annotated[str, StringConstraints(pattern=r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/.+$")]
    external_id: EnvVarName | None = Field(
        default=None, description="name of the environment variable holding the external id"
    )
    session_name: str = "controller"


class Credentials(Model):
    """Exactly one of env, profile or assumeRole."""

    env: EnvCredentials | None = None
    profile: Annotated[str, StringConstraints(min_length=1)] | None = None
    assume_role: AssumeRole | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Credentials:
        given = [k for k in ("env", "profile", "assume_role") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of env, profile or assumeRole"
                + (f" (found {', '.join(to_camel(g) for g in given)})" if given else "")
            )
        return self


class Quotas(Model):
    virtual_machines: Annotated[int, Field(ge=0)] | None = None
    public_ips: Annotated[int, Field(ge=0)] | None = None
    volume_gi_b: Annotated[int, Field(ge=0)] | None = None
    virtual_datacenters: Annotated[int, Field(ge=0)] | None = None


class Billing(Model):
    """Billing settings; the platform's property names are accepted as aliases."""

    discount: Annotated[Number, Field(ge=0, le=100)] = Field(
        default=Decimal(0), validation_alias=AliasChoices("discount", "amazon_discount")
    )
    bucket: str | None = Field(default=None, validation_alias=AliasChoices("bucket", "amazon_bucket"))
    bucket_region: Region | None = Field(
        default=None, validation_alias=AliasChoices("bucketRegion", "amazon_bucket_region")
    )
    bucket_prefix: str = Field(default="", validation_alias=AliasChoices("bucketPrefix", "amazon_bucket_prefix"))
    report_name: str | None = Field(
        default=None, validation_alias=AliasChoices("reportName", "amazon_report_name")
    )
    compress_format: Literal["ZIP", "GZ"] = Field(
        default="GZ", validation_alias=AliasChoices("compressFormat", "amazon_billing_compress_format")
    )


class Budget(Model):
    name: Name
    monthly_limit: Annotated[Number, Field(gt=0)]
    alert_at: list[Annotated[int, Field(gt=0, le=1000)]] = [50, 80, 100]


class Policies(Model):
    """How the daemon treats this enterprise."""

    self_heal: bool = True
    prune: bool = False
    suspend: bool = False


class IgnoreRule(Model):
    """Paths ignored on every document of one kind of this enterprise."""

    kind: str
    paths: Annotated[list[IgnorePath], Field(min_length=1)]


class EnterpriseSpec(Model):
    provider: Literal["aws", "aws-cn", "aws-us-gov"] = "aws"
    account: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] | None = None
    credentials: Credentials
    billing_credentials: Credentials | None = None
    regions: Annotated[list[Region], Field(min_length=1)]
    quotas: Quotas = Quotas()
    reseller: Name | None = None
    organization: Literal["management", "member"] | None = None
    billing: Billing | None = None
    budgets: list[Budget] = []
    policies: Policies = Policies()
    default_tags: Tags = Field(default={}, description="tags on every AWS object of the enterprise")
    ignore: list[IgnoreRule] = []


# --------------------------------------------------------------------------------------------
# Virtual datacenter and networks


class CustomNetwork(Model):
    cidr: VpcCidr | None = None
    availability_zone: AvailabilityZone | None = None
    internet_gateway: bool = False
    nat_gateway: bool = False


class VdcNetwork(Model):
    type: Literal["default", "custom", "none"] = "default"
    cidr: VpcCidr | None = None
    availability_zone: AvailabilityZone | None = None
    internet_gateway: bool = False
    nat_gateway: bool = False

    @model_validator(mode="after")
    def _custom_fields_only_for_custom(self) -> VdcNetwork:
        if self.type != "custom" and (self.cidr or self.internet_gateway or self.nat_gateway):
            raise ValueError(
                f"cidr, internetGateway and natGateway describe a custom network; "
                f"network type {self.type!r} takes none of them"
            )
        if self.type == "custom" and self.internet_gateway and self.nat_gateway:
            raise ValueError("a network is either public (internetGateway) or NAT'd (natGateway), not both")
        return self


ONBOARD_PARTS = ("InternetGateway/igw", "RouteTable/public", "RouteTable/main", "NatGateway/nat",
                 "PrivateNetwork/public", "PrivateNetwork/default")


class Onboard(Model):
    vpc_id: Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    parts: dict[str, AwsId] = Field(default={}, description=(
        "AWS ids of the objects the VDC implies (its gateways, route tables and implied networks), "
        "adopted like the VPC: keys " + ", ".join(ONBOARD_PARTS)))

    @field_validator("parts")
    @classmethod
    def _known_parts(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(ONBOARD_PARTS))
        if unknown:
            raise ValueError(f"unknown part {unknown[0]!r}: one of {', '.join(ONBOARD_PARTS)}")
        return v


class VirtualDatacenterSpec(Model):
    region: Region
    availability_zone: AvailabilityZone | None = None
    address_range: VpcCidr = "10.0.0.0/16"
    network: VdcNetwork = VdcNetwork()
    address_ranges: list[VpcCidr] = []
    default_firewall: Name | None = None
    onboard: Onboard | None = None


class PrivateNetworkSpec(Model):
    cidr: VpcCidr
    availability_zone: AvailabilityZone | None = None
    internet_gateway: bool = False
    nat_gateway: bool = False

    @model_validator(mode="after")
    def _public_or_natd(self) -> PrivateNetworkSpec:
        if self.internet_gateway and self.nat_gateway:
            raise ValueError("a network is either public (internetGateway) or NAT'd (natGateway), not both")
        return self


# --------------------------------------------------------------------------------------------
# Firewall

# ASCII digits only: \d would take full-width digits ('２２' read as port 22)
PORTS_RE = re.compile(r"^([0-9]{1,5})(-([0-9]{1,5}))?$")


class Rule(Model):
    protocol: Literal["tcp", "udp", "icmp", "all"]
    ports: str | None = None
    from_: list[Cidr] = Field(default=[], alias="from")
    from_firewall: Name | None = None
    to: list[Cidr] = []
    to_firewall: Name | None = None
    description: str | None = None

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError('ports is a string: "22" or "8000-8090"')
        m = PORTS_RE.match(v)
        if not m:
            raise ValueError(f'{v!r} is not a port or a range: write "22" or "8000-8090"')
        lo, hi = int(m.group(1)), int(m.group(3) or m.group(1))
        if not (0 <= lo <= hi <= 65535):
            raise ValueError(f"port range {v!r} must be within 0-65535 and ascending")
        return v

    @model_validator(mode="after")
    def _ports_needed(self) -> Rule:
        if self.protocol in ("tcp", "udp") and self.ports is None:
            raise ValueError(f'protocol {self.protocol} needs ports ("22" or "8000-8090")')
        if self.protocol == "all" and self.ports is not None:
            raise ValueError("protocol all covers every port: remove ports")
        return self

    def port_range(self) -> tuple[int, int]:
        if self.protocol == "all":
            return (-1, -1)
        if self.ports is None:
            return (-1, -1)
        lo, _, hi = self.ports.partition("-")
        return int(lo), int(hi or lo)


def _ingress(r: Rule) -> Rule:
    if r.to or r.to_firewall:
        raise ValueError("ingress rules take from/fromFirewall, not to/toFirewall")
    if not (r.from_ or r.from_firewall):
        raise ValueError("an ingress rule needs from (CIDRs) or fromFirewall")
    return r


def _egress(r: Rule) -> Rule:
    if r.from_ or r.from_firewall:
        raise ValueError("egress rules take to/toFirewall, not from/fromFirewall")
    if not (r.to or r.to_firewall):
        raise ValueError("an egress rule needs to (CIDRs) or toFirewall")
    return r


# Checked per rule (not on the whole firewall) so that an error points at the rule itself.
IngressRule = Annotated[Rule, AfterValidator(_ingress)]
EgressRule = Annotated[Rule, AfterValidator(_egress)]


class FirewallSpec(Model):
    description: str = ""
    group_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="the security group's name in AWS when it is not the firewall's name "
                                  "(an onboarded group); changing it replaces the group")
    ingress: list[IngressRule] = []
    egress: list[EgressRule] | None = None


# --------------------------------------------------------------------------------------------
# Virtual machine, volume, public IP


class Nic(Model):
    network: Name
    ip: IPv4 | None = None
    secondary_ips: list[IPv4] = []
    public_ip: Name | None = None
    secondary_public_ips: dict[IPv4, Name] = Field(default={}, description=(
        "PublicIps on secondary IPs of this nic: {secondary IP: PublicIp name}"))


class BootDisk(Model):
    size_gi_b: Annotated[int, Field(ge=1, le=16384)] = 8
    type: Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"] = "gp3"
    encrypted: bool = False


class VirtualMachineSpec(Model):
    template: str
    hardware_profile: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$")]
    state: Literal["deployed", "powered-off", "undeployed"] = "deployed"
    nics: Annotated[list[Nic], Field(min_length=1)]
    firewall: Name | None = None
    ssh_key: Name | None = None
    boot_disk: BootDisk | None = None
    volumes: list[Name] = []
    user_data: str | None = None

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        if not (re.match(r"^ami-[0-9a-f]{8,17}$", v) or re.match(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", v)):
            raise ValueError(f"{v!r} is neither a Template name nor an AMI id (ami-...)")
        return v


class VolumeSpec(Model):
    size_gi_b: Annotated[int, Field(ge=1, le=65536)]
    type: Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"] = "gp3"
    iops: Annotated[int, Field(ge=100, le=256000)] | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    delete_on_termination: bool = False
    availability_zone: AvailabilityZone | None = None
    region: Region | None = None

    @model_validator(mode="after")
    def _consistent(self) -> VolumeSpec:
        if self.kms_key_id and not self.encrypted:
            raise ValueError("kmsKeyId needs encrypted: true")
        if self.iops is not None and self.type not in ("gp3", "io1", "io2"):
            raise ValueError(f"iops applies to gp3, io1 and io2 volumes, not {self.type}")
        if self.type in ("io1", "io2") and self.iops is None:
            raise ValueError(f"{self.type} volumes need iops")
        return self


class PublicIpSpec(Model):
    region: Region | None = None
    address: IPv4 | None = None
    description: str | None = None


# --------------------------------------------------------------------------------------------
# User, template, load balancer, VPN


class UserSpec(Model):
    ssh_public_key: str

    @field_validator("ssh_public_key")
    @classmethod
    def _key(cls, v: str) -> str:
        if "PRIVATE KEY" in v:
            raise ValueError("this is a private key: give the public key (ssh-rsa AAAA... or ssh-ed25519 AAAA...)")
        if not re.match(r"^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", v.strip()):
            raise ValueError("not an OpenSSH public key: expected 'ssh-rsa AAAA...' or 'ssh-ed25519 AAAA...'")
        return v.strip()


class TemplateSpec(Model):
    region: Region
    ami: Annotated[str, StringConstraints(pattern=r"^ami-[0-9a-f]{8,17}$")]
    os: str | None = None
    username: str | None = None


class Listener(Model):
    protocol: Literal["HTTP", "HTTPS", "TCP", "SSL"]
    port: Annotated[int, Field(ge=1, le=65535)]
    target_port: Annotated[int, Field(ge=1, le=65535)]


class HealthCheck(Model):
    protocol: Literal["HTTP", "HTTPS", "TCP", "SSL"] = "HTTP"
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    path: str = "/"
    interval: Annotated[int, Field(ge=5, le=300)] = 30
    healthy_threshold: Annotated[int, Field(ge=2, le=10)] = 3
    unhealthy_threshold: Annotated[int, Field(ge=2, le=10)] = 3


class LoadBalancerSpec(Model):
    type: Literal["classic", "application"] = "application"
    networks: Annotated[list[Name], Field(min_length=1)]
    firewall: Name | None = None
    listeners: Annotated[list[Listener], Field(min_length=1)]
    members: list[Name] = []
    health_check: HealthCheck = HealthCheck()
    internal: bool = False


class VpnSpec(Model):
    remote_address: IPv4
    bgp_asn: Annotated[int, Field(ge=1, le=4294967295)] = 65000
    static_routes: list[Cidr] = []


# --------------------------------------------------------------------------------------------
# XaaS: RDS databases, Route 53 zones and records

DB_ENGINES = ("postgres", "mysql", "mariadb")
Domain = Annotated[str, StringConstraints(
    max_length=254, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")]


class DatabaseSpec(Model):
    """An RDS DB instance and its DB subnet group. The master password is AWS-managed (Secrets Manager):
    there is no field for it, on purpose."""

    engine: Literal["postgres", "mysql", "mariadb"]
    engine_version: Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+){0,2}$")] | None = None
    instance_class: Annotated[str, StringConstraints(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")] = "db.t3.micro"
    storage_gi_b: Annotated[int, Field(ge=20, le=65536)] = 20
    storage_type: Literal["gp2", "gp3", "io1", "io2", "standard"] = "gp3"
    networks: Annotated[list[Name], Field(min_length=1, description=(
        "the PrivateNetworks of the DB subnet group: RDS needs subnets in at least two availability zones"))]
    firewall: Name | None = None
    multi_az: bool = False
    backup_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    master_username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")] = "dbadmin"
    skip_final_snapshot: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k in data if isinstance(k, str) and "password" in k.lower()]
            if given:
                raise ValueError(f"{given[0]}: the master password is managed by AWS (Secrets Manager), never "
                                 "written in a document: remove it")
        return data

    @field_validator("master_username")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v.lower() == "rdsadmin":
            raise ValueError(f"{v!r} is reserved by the engine: choose another master user name (e.g. dbadmin)")
        return v


class DnsZoneSpec(Model):
    domain: Domain
    private: bool = False
    vdcs: list[Name] = Field(default=[], description="the VDCs whose VPCs a private zone serves")
    comment: str | None = None

    @model_validator(mode="after")
    def _vdcs_for_private(self) -> DnsZoneSpec:
        if self.private and not self.vdcs:
            raise ValueError("a private zone serves at least one VDC: list it in vdcs")
        if not self.private and self.vdcs:
            raise ValueError("vdcs are for private zones: set private: true or remove vdcs")
        return self


class DnsTarget(Model):
    """Exactly one: resolved at apply to an IP address, an alias to the load balancer, or the endpoint."""

    public_ip: Name | None = None
    virtual_machine: Name | None = None
    load_balancer: Name | None = None
    database: Name | None = None
    vdc: Name | None = Field(default=None, description="the VDC of the target (records live outside VDCs)")

    @model_validator(mode="after")
    def _exactly_one(self) -> DnsTarget:
        given = [to_camel(k) for k in ("public_ip", "virtual_machine", "load_balancer", "database")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of publicIp, virtualMachine, loadBalancer or database"
                             + (f" (found {', '.join(given)})" if given else ""))
        return self

    @property
    def kind(self) -> str:
        return {"public_ip": "PublicIp", "virtual_machine": "VirtualMachine", "load_balancer": "LoadBalancer",
                "database": "Database"}[next(k for k in ("public_ip", "virtual_machine", "load_balancer", "database")
                                             if getattr(self, k) is not None)]

    @property
    def name(self) -> str:
        return str(self.public_ip or self.virtual_machine or self.load_balancer or self.database)


RecordName = Annotated[str, StringConstraints(pattern=r"^(@|(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*)$")]


class DnsRecordSpec(Model):
    zone: Name
    name: RecordName = Field(description="relative to the zone; @ for the apex")
    type: Literal["A", "AAAA", "CNAME", "TXT", "MX"]
    ttl: Annotated[int, Field(ge=0, le=2147483647)] = 300
    values: list[Annotated[str, StringConstraints(min_length=1, max_length=4000)]] | None = None
    target: DnsTarget | None = None

    @model_validator(mode="after")
    def _values_or_target(self) -> DnsRecordSpec:
        if (self.values is None) == (self.target is None):
            raise ValueError("give exactly one of values or target")
        if self.values is not None and not self.values:
            raise ValueError("values is empty: give at least one value")
        if self.target is not None:
            want = {"PublicIp": ("A",), "VirtualMachine": ("A",), "LoadBalancer": ("A",),
                    "Database": ("CNAME",)}[self.target.kind]
            if self.type not in want:
                raise ValueError(f"a {self.target.kind} target makes a {want[0]} record, not {self.type}: "
                                 f"set type: {want[0]}")
        if self.type == "CNAME" and self.name == "@":
            raise ValueError("a CNAME cannot be at the zone apex (@): use an A record with a target")
        if self.type == "CNAME" and self.values is not None and len(self.values) != 1:
            raise ValueError("a CNAME record has exactly one value")
        if self.type == "A" and self.values:
            for v in self.values:
                _ip(v)
        return self


# --------------------------------------------------------------------------------------------
# Kinds


class KindInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    spec: type[Model]
    enterprise: bool  # metadata.enterprise required
    vdc: Literal["required", "optional", "forbidden"]
    # no AWS object that takes tags (an AMI the controller does not own, a Route 53 record): metadata.tags is
    # an error rather than a silent no-op
    tags: bool = True


KINDS: dict[str, KindInfo] = {
    k.name: k
    for k in [
        KindInfo(name="Enterprise", spec=EnterpriseSpec, enterprise=False, vdc="forbidden"),
        KindInfo(name="VirtualDatacenter", spec=VirtualDatacenterSpec, enterprise=True, vdc="forbidden"),
        KindInfo(name="PrivateNetwork", spec=PrivateNetworkSpec, enterprise=True, vdc="required"),
        KindInfo(name="Firewall", spec=FirewallSpec, enterprise=True, vdc="required"),
        KindInfo(name="VirtualMachine", spec=VirtualMachineSpec, enterprise=True, vdc="required"),
        KindInfo(name="Volume", spec=VolumeSpec, enterprise=True, vdc="optional"),
        KindInfo(name="PublicIp", spec=PublicIpSpec, enterprise=True, vdc="optional"),
        KindInfo(name="User", spec=UserSpec, enterprise=True, vdc="forbidden"),
        KindInfo(name="Template", spec=TemplateSpec, enterprise=True, vdc="forbidden", tags=False),
        KindInfo(name="LoadBalancer", spec=LoadBalancerSpec, enterprise=True, vdc="required"),
        KindInfo(name="Vpn", spec=VpnSpec, enterprise=True, vdc="required"),
        KindInfo(name="Database", spec=DatabaseSpec, enterprise=True, vdc="required"),
        KindInfo(name="DnsZone", spec=DnsZoneSpec, enterprise=True, vdc="forbidden"),
        KindInfo(name="DnsRecord", spec=DnsRecordSpec, enterprise=True, vdc="forbidden", tags=False),
    ]
}


class Resource(BaseModel):
    """A validated document: envelope plus typed spec, and where it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    KIND_ORDER: ClassVar[list[str]] = list(KINDS)

    kind: str
    metadata: Metadata
    spec: Any
    file: str = ""
    line: int = 0

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def enterprise(self) -> str:
        return self.metadata.enterprise or self.metadata.name

    @property
    def vdc(self) -> str | None:
        return self.metadata.vdc

    @property
    def address(self) -> str:
        return address_of(self.kind, self.metadata.name, self.metadata.enterprise, self.metadata.vdc)


def address_of(kind: str, name: str, enterprise: str | None, vdc: str | None = None) -> str:
    """`enterprise/vdc/Kind/name`, or `enterprise/Kind/name` outside a VDC, or `Enterprise/name`."""
    if kind == "Enterprise" or enterprise is None:
        return f"{kind}/{name}"
    if vdc:
        return f"{enterprise}/{vdc}/{kind}/{name}"
    return f"{enterprise}/{kind}/{name}"


class Envelope(Model):
    """The part of every document that is the same for all kinds."""

    model_config = ConfigDict(extra="forbid", alias_generator=None, populate_by_name=True, frozen=True)

    api_version: Literal["controller/v1"] = Field(alias="apiVersion")
    kind: str
    metadata: Metadata
    spec: dict[str, Any] = {}
