"""One invalid spec per rule and per YAML fault, each pinned to its exact file, line and column.

Every case starts from BASE (a small valid estate covering every kind), then adds files and/or
edits base files. The line the error must point at carries the marker ``#<<`` (stripped before
the file is written), so the expected line is stated next to the fault itself. ``col`` is a
number, or a substring of the marked line whose first character is the expected column.

Each case runs in-process (``validate_tree``) and through the real CLI (``python -m controller
validate``), alternately in text and ``--json`` form; no output ever contains a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.spec.diagnostics import Diagnostic
from controller.spec.validate import validate_tree

MARK = "#<<"
CASE = "zz/case.yaml"  # loaded after every BASE file, so "the later one" is always the case's

BASE: dict[str, str] = {
    "enterprises.yaml": """\
apiVersion: controller/v1
kind: Enterprise
metadata: {name: acme}
spec:
  provider: aws
  account: "111111111111"
  credentials:
    env: {accessKeyId: ACME_KEY_ID, secretAccessKey: ACME_SECRET_KEY}
  regions: [us-east-1, eu-west-1]
  quotas:
    virtualMachines: 10
    publicIps: 4
    volumeGiB: 400
    virtualDatacenters: 4
---
apiVersion: controller/v1
kind: Enterprise
metadata: {name: globex}
spec:
  account: "222222222222"
  reseller: acme
  credentials: {profile: globex}
  regions: [us-east-1]
""",
    "acme/catalogue.yaml": """\
apiVersion: controller/v1
kind: Template
metadata: {name: al2023, enterprise: acme}
spec: {region: us-east-1, ami: ami-03c3da4cfa8e8943a, username: ec2-user}
---
apiVersion: controller/v1
kind: Template
metadata: {name: al2023-eu, enterprise: acme}
spec: {region: eu-west-1, ami: ami-010210687841fde65}
---
apiVersion: controller/v1
kind: User
metadata: {name: alice, enterprise: acme}
spec:
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ alice@acme
---
apiVersion: controller/v1
kind: Volume
metadata: {name: archive, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, sizeGiB: 50}
---
apiVersion: controller/v1
kind: PublicIp
metadata: {name: spare, enterprise: acme}
spec: {region: us-east-1}
""",
    "acme/web.yaml": """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec:
  region: us-east-1
  availabilityZone: us-east-1a
  addressRange: 10.10.0.0/16
  network: {type: default}
  defaultFirewall: base
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: public-b, enterprise: acme, vdc: web}
spec: {cidr: 10.10.10.0/24, availabilityZone: us-east-1b, internetGateway: true}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: app-b, enterprise: acme, vdc: web}
spec: {cidr: 10.10.11.0/24, availabilityZone: us-east-1b, natGateway: true}
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: base, enterprise: acme, vdc: web}
spec:
  ingress:
    - {protocol: tcp, ports: "22", from: [203.0.113.0/24]}
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: web, enterprise: acme, vdc: web}
spec:
  ingress:
    - {protocol: tcp, ports: "443", from: [0.0.0.0/0]}
    - {protocol: tcp, ports: "22", fromFirewall: base}
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: web-1, enterprise: acme, vdc: web}
spec:
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {network: public, ip: 10.10.0.10, publicIp: web-ip}
  firewall: web
  sshKey: alice
  bootDisk: {sizeGiB: 10}
  volumes: [web-data]
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: web-2, enterprise: acme, vdc: web}
spec:
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {network: public-b, ip: 10.10.10.10}
  firewall: web
---
apiVersion: controller/v1
kind: PublicIp
metadata: {name: web-ip, enterprise: acme, vdc: web}
spec: {}
---
apiVersion: controller/v1
kind: Volume
metadata: {name: web-data, enterprise: acme, vdc: web}
spec: {sizeGiB: 20, availabilityZone: us-east-1a}
---
apiVersion: controller/v1
kind: LoadBalancer
metadata: {name: web-lb, enterprise: acme, vdc: web}
spec:
  networks: [public, public-b]
  firewall: web
  listeners:
    - {protocol: HTTP, port: 80, targetPort: 80}
  members: [web-1, web-2]
---
apiVersion: controller/v1
kind: Vpn
metadata: {name: office, enterprise: acme, vdc: web}
spec: {remoteAddress: 198.51.100.7}
""",
    "acme/lab.yaml": """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: lab, enterprise: acme}
spec:
  region: us-east-1
  addressRange: 10.30.0.0/16
  addressRanges: [10.31.0.0/16]
  network: {type: custom, cidr: 10.30.0.0/24, internetGateway: true}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: scratch, enterprise: acme, vdc: lab}
spec: {cidr: 10.31.5.0/24}
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: lab-1, enterprise: acme, vdc: lab}
spec:
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {network: default, ip: 10.30.0.50}
""",
    "acme/xaas.yaml": """\
apiVersion: controller/v1
kind: Database
metadata: {name: orders, enterprise: acme, vdc: web}
spec:
  engine: postgres
  engineVersion: "16"
  networks: [default, app-b]
  firewall: base
---
apiVersion: controller/v1
kind: DnsZone
metadata: {name: example, enterprise: acme}
spec: {domain: example.com}
---
apiVersion: controller/v1
kind: DnsZone
metadata: {name: internal, enterprise: acme}
spec: {domain: internal.example, private: true, vdcs: [web]}
---
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: www, enterprise: acme}
spec: {zone: example, name: www, type: A, target: {virtualMachine: web-1, vdc: web}}
---
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: shop, enterprise: acme}
spec: {zone: example, name: shop, type: A, target: {loadBalancer: web-lb, vdc: web}}
---
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: db, enterprise: acme}
spec: {zone: internal, name: db, type: CNAME, target: {database: orders, vdc: web}}
---
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: spf, enterprise: acme}
spec: {zone: example, name: "@", type: TXT, values: ["v=spf1 -all"]}
""",
}

HEAD = "apiVersion: controller/v1\n"


def xaas(kind: str, name: str, body: str, vdc: str | None = None) -> str:
    """A Database, DnsZone or DnsRecord document; ``body`` is the spec, indented by two spaces."""
    where = f", vdc: {vdc}" if vdc else ""
    return f"{HEAD}kind: {kind}\nmetadata: {{name: {name}, enterprise: acme{where}}}\nspec:\n{body}"


def vm(name: str, body: str, vdc: str = "web") -> str:
    """A VirtualMachine document; ``body`` is the spec, indented by two spaces."""
    return (f"{HEAD}kind: VirtualMachine\nmetadata: {{name: {name}, enterprise: acme, vdc: {vdc}}}\n"
            f"spec:\n{body}")


def user_with(meta: str) -> str:
    """A User document with more metadata (`tags: {...}`, `ignore: [...]`) on the marked line."""
    return (f"{HEAD}kind: User\nmetadata: {{name: bob, enterprise: acme, {meta}}} {MARK}\n"
            "spec: {sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ}\n")


@dataclass
class Case:
    id: str
    message: str  # a specific substring of the expected message
    files: dict[str, str] = field(default_factory=dict)  # added (or replaced) files
    edits: list[tuple[str, str, str]] = field(default_factory=list)  # (file, old, new) in BASE files
    file: str | None = None  # where the error is; default: the only file with a marker
    col: int | str | None = None
    fix: str | None = None  # substring of the fix line
    count: int = 1  # how many errors the run reports in all

    def __str__(self) -> str:
        return self.id


CASES: list[Case] = [
    # ---------------------------------------------------------------- YAML faults
    Case("yaml-syntax", "mapping values are not allowed here", col=": x", files={CASE: f"""\
{HEAD}kind: User: x {MARK}
metadata: {{name: bob, enterprise: acme}}
"""}),
    Case("yaml-tab-indent", "a tab character where YAML needs spaces", col=1, fix="spaces", files={CASE: f"""\
{HEAD}kind: User
metadata:
\tname: bob {MARK}
"""}),
    Case("yaml-duplicate-key", "duplicate key 'sshPublicKey' (first defined on line 5)", col="sshPublicKey",
         files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob, enterprise: acme}}
spec:
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ bob
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aB bob {MARK}
"""}),
    Case("yaml-python-object-apply", "tag !!python/object/apply:os.system is not allowed",
         col="!!", fix="remove the tag", files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob, enterprise: acme}}
spec:
  sshPublicKey: !!python/object/apply:os.system ["touch PWNED"] {MARK}
"""}),
    Case("yaml-python-object", "tag !!python/object:os.system is not allowed", col="!!",
         files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob, enterprise: acme}}
spec: !!python/object:os.system {{command: touch PWNED}} {MARK}
"""}),
    Case("yaml-python-name-scalar", "tag !!python/name:os.system is not allowed", col="!!",
         files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob, enterprise: acme}}
spec:
  sshPublicKey: !!python/name:os.system '' {MARK}
"""}),
    Case("not-a-mapping", "a document must be a mapping", col=1, files={CASE: f"""\
- just {MARK}
- a list
"""}),
    # ---------------------------------------------------------------- one document against its model
    Case("unknown-field", "unknown field 'sshkey'", col="sshkey", fix="did you mean 'sshKey'?",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
  sshkey: alice {MARK}
""")}),
    Case("wrong-type", "expected an integer, got 'big'", col="big", files={CASE: f"""\
{HEAD}kind: Volume
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  sizeGiB: big {MARK}
"""}),
    Case("wrong-type-list", "expected a list, got str", col="default", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: default {MARK}
""")}),
    Case("missing-required", "missing required field 'hardwareProfile'", col="template",
         files={CASE: vm("db-1", f"""\
  template: al2023 {MARK}
  nics: [{{network: default}}]
""")}),
    Case("unknown-kind", "unknown kind 'VirtualMachin'", col="VirtualMachin", fix="did you mean 'VirtualMachine'?",
         files={CASE: f"""\
{HEAD}kind: VirtualMachin {MARK}
metadata: {{name: db-1, enterprise: acme, vdc: web}}
spec: {{}}
"""}),
    Case("wrong-apiversion", "'controller/v2' is not allowed: input should be 'controller/v1'", col="controller",
         fix="write apiVersion: controller/v1", files={CASE: f"""\
apiVersion: controller/v2 {MARK}
kind: User
metadata: {{name: bob, enterprise: acme}}
spec: {{sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ bob}}
"""}),
    Case("missing-enterprise", "a User needs metadata.enterprise", col="{", files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob}} {MARK}
spec: {{sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ bob}}
"""}),
    Case("vdc-forbidden", "a User is not inside a virtual datacenter: remove metadata.vdc", col="vdc",
         files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob, enterprise: acme, vdc: web}} {MARK}
spec: {{sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ bob}}
"""}),
    Case("enterprise-on-enterprise", "an Enterprise is not inside an enterprise: remove metadata.enterprise",
         col="enterprise", files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech, enterprise: acme}} {MARK}
spec: {{credentials: {{profile: initech}}, regions: [us-east-1]}}
"""}),
    Case("vdc-required", "a Firewall lives in a virtual datacenter: set metadata.vdc", col="{",
         files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme}} {MARK}
spec: {{}}
"""}),
    Case("bad-name", "'Web_1' is not a valid name", col="Web_1", files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: Web_1, enterprise: acme, vdc: web}} {MARK}
spec: {{}}
"""}),
    # ---------------------------------------------------------------- addresses and networks
    Case("bad-cidr", "'10.10.20.1/24' is not a valid IPv4 CIDR block", col="10.10", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.20.1/24 {MARK}
"""}),
    Case("cidr-15", "10.10.0.0/15 is a /15: AWS allows /16 to /28", col="10.10", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.0.0/15 {MARK}
"""}),
    Case("cidr-29", "10.10.20.0/29 is a /29: AWS allows /16 to /28", col="10.10", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.20.0/29 {MARK}
"""}),
    Case("network-outside-vdc", "network 10.99.0.0/24 is not inside any address range of VDC 'web' (10.10.0.0/16)",
         col="10.99", fix="addressRanges", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.99.0.0/24 {MARK}
"""}),
    Case("networks-overlap", "network 'db' (10.10.10.128/25) overlaps network 'public-b' (10.10.10.0/24) in VDC 'web'",
         col="10.10", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.10.128/25 {MARK}
"""}),
    Case("network-overlaps-implied", "network 'db' (10.10.1.0/25) overlaps network 'default' (10.10.1.0/24)",
         col="10.10", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.1.0/25 {MARK}
"""}),
    Case("network-overlaps-four", "network 'db' (10.10.0.0/20) overlaps networks 'public' (10.10.0.0/24), "
         "'default' (10.10.1.0/24), 'public-b' (10.10.10.0/24), 'app-b' (10.10.11.0/24) in VDC 'web'",
         col="10.10", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.0.0/20 {MARK}
"""}),
    Case("secondary-range-overlap", "address range 10.30.128.0/17 overlaps 10.30.0.0/16", col="10.30.128",
         edits=[("acme/lab.yaml", "  addressRanges: [10.31.0.0/16]",
                 f"  addressRanges: [10.31.0.0/16, 10.30.128.0/17] {MARK}")]),
    Case("default-vdc-too-small", "network type default needs two /24 networks, and 10.40.0.0/24 is too small",
         col="10.40", fix="/23", files={CASE: f"""\
{HEAD}kind: VirtualDatacenter
metadata: {{name: tiny, enterprise: acme}}
spec:
  region: us-east-1
  addressRange: 10.40.0.0/24 {MARK}
"""}),
    Case("custom-network-outside-range", "network 10.41.0.0/24 is not inside the VDC's address range 10.40.0.0/16",
         col="10.41", files={CASE: f"""\
{HEAD}kind: VirtualDatacenter
metadata: {{name: tiny, enterprise: acme}}
spec:
  region: us-east-1
  addressRange: 10.40.0.0/16
  network:
    type: custom
    cidr: 10.41.0.0/24 {MARK}
    internetGateway: true
"""}),
    Case("ip-reserved-first-four", "10.10.0.3 is reserved by AWS in 10.10.0.0/24", col="10.10.0.3",
         fix="use 10.10.0.4 to 10.10.0.254", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - network: public
      ip: 10.10.0.3 {MARK}
""")}),
    Case("ip-reserved-last", "10.10.1.255 is reserved by AWS in 10.10.1.0/24", col="10.10.1.255",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - network: default
      ip: 10.10.1.20
      secondaryIps: [10.10.1.255] {MARK}
""")}),
    Case("ip-outside-network", "10.10.5.5 is not in network 'public' (10.10.0.0/24)", col="10.10.5.5",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public, ip: 10.10.5.5}} {MARK}
""")}),
    Case("ip-duplicate-across-vms", "address 10.10.0.10 is already used by acme/web/VirtualMachine/web-1",
         col="10.10.0.10", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public, ip: 10.10.0.10}} {MARK}
""")}),
    Case("too-many-ips", "3 addresses on one nic: t3.micro allows 2 per interface", col="[",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - network: default
      ip: 10.10.1.20
      secondaryIps: [10.10.1.21, 10.10.1.22] {MARK}
""")}),
    Case("too-many-nics", "3 nics: t3.micro allows 2 network interfaces", col="-", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec: {{cidr: 10.10.20.0/24, availabilityZone: us-east-1a}}
---
""" + vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public}} {MARK}
    - {{network: default}}
    - {{network: db}}
""")}),
    Case("nics-in-two-zones", "nic 1 is on network 'public-b' in us-east-1b, and nic 0 in us-east-1a",
         col="public-b", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public}}
    - {{network: public-b}} {MARK}
""")}),
    Case("unknown-hardware-profile", "unknown hardware profile 't3.mega'", col="t3.mega", fix="did you mean 't3.",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.mega {MARK}
  nics: [{{network: default}}]
""")}),
    Case("public-ip-on-private-network", "a public IP needs a public network, and 'default' has no internet gateway",
         col="auto", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: default, publicIp: auto}} {MARK}
""")}),
    Case("public-ip-twice", "public IP 'web-ip' is already on acme/web/VirtualMachine/web-1", col="web-ip",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public, publicIp: web-ip}} {MARK}
""")}),
    Case("public-ip-other-region", "public IP 'eu-ip' is in eu-west-1, the VM in us-east-1", col="eu-ip",
         files={CASE: f"""\
{HEAD}kind: PublicIp
metadata: {{name: eu-ip, enterprise: acme}}
spec: {{region: eu-west-1}}
---
""" + vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public, publicIp: eu-ip}} {MARK}
""")}),
    Case("nat-custom-without-public", "network 'default' needs a NAT gateway, and VDC 'priv' has no public network",
         col="true", fix="internetGateway: true", files={CASE: f"""\
{HEAD}kind: VirtualDatacenter
metadata: {{name: priv, enterprise: acme}}
spec:
  region: us-east-1
  addressRange: 10.40.0.0/16
  network:
    type: custom
    natGateway: true {MARK}
"""}),
    Case("nat-network-without-public", "network 'db' needs a NAT gateway, and VDC 'priv' has no public network",
         col="true", fix="internetGateway: true", files={CASE: f"""\
{HEAD}kind: VirtualDatacenter
metadata: {{name: priv, enterprise: acme}}
spec:
  region: us-east-1
  addressRange: 10.40.0.0/16
  network: {{type: none}}
---
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: priv}}
spec:
  cidr: 10.40.1.0/24
  natGateway: true {MARK}
"""}),
    # ---------------------------------------------------------------- references
    Case("ref-network", "PrivateNetwork 'publc' not found in virtual datacenter 'web'", col="publc",
         fix="did you mean 'public'?", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: publc}} {MARK}
""")}),
    Case("ref-firewall", "Firewall 'db' not found in virtual datacenter 'web'", col="db",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
  firewall: db {MARK}
""")}),
    Case("ref-from-firewall", "Firewall 'bsae' not found in virtual datacenter 'web'", col="bsae",
         fix="did you mean 'base'?", files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  ingress:
    - protocol: tcp
      ports: "5432"
      fromFirewall: bsae {MARK}
"""}),
    Case("ref-template", "Template 'centos' not found in enterprise 'acme'", col="centos",
         files={CASE: vm("db-1", f"""\
  template: centos {MARK}
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
""")}),
    Case("ref-ssh-key", "User 'bob' not found in enterprise 'acme'", col="bob", fix="alice",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
  sshKey: bob {MARK}
""")}),
    Case("ref-volume", "Volume 'db-data' not found in virtual datacenter 'web' or at enterprise 'acme'",
         col="db-data", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
  volumes: [db-data] {MARK}
""")}),
    Case("ref-public-ip", "PublicIp 'db-ip' not found in virtual datacenter 'web' or at enterprise 'acme'",
         col="db-ip", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics:
    - {{network: public, publicIp: db-ip}} {MARK}
""")}),
    Case("ref-reseller", "Enterprise 'nobody' not found in the specs", col="nobody",
         edits=[("enterprises.yaml", "  reseller: acme", f"  reseller: nobody {MARK}")]),
    Case("ref-enterprise", "Enterprise 'initech' not found in the specs", col="initech",
         files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: bob, enterprise: initech}} {MARK}
spec: {{sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ bob}}
"""}),
    Case("ref-vdc", "VirtualDatacenter 'wbe' not found in enterprise 'acme'", col="wbe", fix="did you mean 'web'?",
         files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme, vdc: wbe}} {MARK}
spec: {{}}
"""}),
    Case("ref-lb-member", "VirtualMachine 'web-3' not found in virtual datacenter 'web'", col="web-3",
         edits=[("acme/web.yaml", "  members: [web-1, web-2]", f"  members: [web-1, web-3] {MARK}")]),
    Case("ref-lb-network", "PrivateNetwork 'public-c' not found in virtual datacenter 'web'", col="public-c",
         edits=[("acme/web.yaml", "  networks: [public, public-b]", f"  networks: [public, public-c] {MARK}")]),
    Case("ref-default-firewall", "Firewall 'basee' not found in virtual datacenter 'web'", col="basee",
         fix="did you mean 'base'?",
         edits=[("acme/web.yaml", "  defaultFirewall: base", f"  defaultFirewall: basee {MARK}")]),
    Case("template-other-region", "template 'al2023-eu' is in eu-west-1, the VDC in us-east-1", col="al2023-eu",
         files={CASE: vm("db-1", f"""\
  template: al2023-eu {MARK}
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
""")}),
    # ---------------------------------------------------------------- names
    Case("duplicate-name", "duplicate User 'alice': acme/User/alice is already defined at", col="alice",
         files={CASE: f"""\
{HEAD}kind: User
metadata: {{name: alice, enterprise: acme}} {MARK}
spec: {{sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx1d8i3mJ0Y7nq8cQH8VtQ2b6o5Rk1n0p9dWj0kL3aZ bob}}
"""}),
    Case("name-clash-implied-public", "network 'public' is created by VDC 'web' (network type default)",
         col="public", fix="choose another name", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: public, enterprise: acme, vdc: web}} {MARK}
spec: {{cidr: 10.10.20.0/24}}
"""}),
    Case("name-clash-implied-default", "network 'default' is created by VDC 'lab' (network type custom)",
         col="default", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: default, enterprise: acme, vdc: lab}} {MARK}
spec: {{cidr: 10.31.6.0/24}}
"""}),
    # ---------------------------------------------------------------- secrets and credentials
    Case("literal-key-in-credentials", "looks like a literal AWS key", col="AKIA",
         edits=[("enterprises.yaml", "    env: {accessKeyId: ACME_KEY_ID, secretAccessKey: ACME_SECRET_KEY}",
                 f"    env: {{accessKeyId: AKIAIOSFODNN7EXAMPLE, secretAccessKey: ACME_SECRET_KEY}} {MARK}")]),
    Case("literal-secret-in-credentials", "looks like a literal AWS key", col="wJal",
         edits=[("enterprises.yaml", "    env: {accessKeyId: ACME_KEY_ID, secretAccessKey: ACME_SECRET_KEY}",
                 "    env: {accessKeyId: ACME_KEY_ID, secretAccessKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY} "
                 f"{MARK}")]),
    Case("literal-key-in-user-data", "a literal AWS access key id is in the specs", col="|",
         files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
  userData: | {MARK}
    #!/bin/sh
    export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
""")}),
    Case("private-key-in-user-data", "a private key is in the specs", col="|", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: default}}]
  userData: | {MARK}
    cat > /root/.ssh/id_rsa <<EOF
    -----BEGIN OPENSSH PRIVATE KEY-----
    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
    -----END OPENSSH PRIVATE KEY-----
    EOF
""")}),
    Case("credentials-two-methods", "give exactly one of env, profile or assumeRole (found env, profile)",
         col="profile", edits=[("enterprises.yaml", "    env: {accessKeyId",
                                f"    profile: acme {MARK}\n    env: {{accessKeyId")]),
    # ---------------------------------------------------------------- quotas and accounts
    Case("quota-virtual-machines", "quota virtualMachines of enterprise 'acme' is 2, and the specs ask for 3",
         col="2", edits=[("enterprises.yaml", "    virtualMachines: 10", f"    virtualMachines: 2 {MARK}")]),
    Case("quota-public-ips", "quota publicIps of enterprise 'acme' is 1, and the specs ask for 2", col="1",
         edits=[("enterprises.yaml", "    publicIps: 4", f"    publicIps: 1 {MARK}")]),
    Case("quota-volume-gib", "quota volumeGiB of enterprise 'acme' is 90, and the specs ask for 96", col="90",
         edits=[("enterprises.yaml", "    volumeGiB: 400", f"    volumeGiB: 90 {MARK}")]),
    Case("quota-virtual-datacenters", "quota virtualDatacenters of enterprise 'acme' is 1, and the specs ask for 2",
         col="1", edits=[("enterprises.yaml", "    virtualDatacenters: 4", f"    virtualDatacenters: 1 {MARK}")]),
    Case("account-twice", "account 111111111111 already belongs to enterprise 'acme'", col='"',
         edits=[("enterprises.yaml", '  account: "222222222222"', f'  account: "111111111111" {MARK}')]),
    Case("reseller-cycle", "reseller cycle: acme -> globex -> acme", col="globex",
         edits=[("enterprises.yaml", "  provider: aws\n", f"  provider: aws\n  reseller: globex {MARK}\n")]),
    Case("own-reseller", "an enterprise cannot be its own reseller", col="globex",
         edits=[("enterprises.yaml", "  reseller: acme", f"  reseller: globex {MARK}")]),
    Case("region-partition-cn", "region us-east-1 is not in partition aws-cn (its regions start with cn-)",
         col="us-east-1", files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech}}
spec:
  provider: aws-cn
  credentials: {{profile: initech}}
  regions: [cn-north-1, us-east-1] {MARK}
"""}),
    Case("region-partition-gov", "region eu-west-1 is not in partition aws-us-gov (its regions start with us-gov-)",
         col="eu-west-1", files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech}}
spec:
  provider: aws-us-gov
  credentials: {{profile: initech}}
  regions: [eu-west-1] {MARK}
"""}),
    Case("region-partition-aws", "region cn-north-1 is not in partition aws", col="cn-north-1",
         files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech}}
spec:
  credentials: {{profile: initech}}
  regions:
    - us-east-1
    - cn-north-1 {MARK}
"""}),
    Case("vdc-zone-other-region", "availability zone eu-west-1a is not in region us-east-1", col="eu-west-1a",
         edits=[("acme/lab.yaml", "  region: us-east-1\n", f"  region: us-east-1\n  availabilityZone: eu-west-1a {MARK}\n")]),
    Case("vdc-zone-prefix-only", "availability zone us-east-11a is not in region us-east-1", col="us-east-11a",
         edits=[("acme/lab.yaml", "  region: us-east-1\n", f"  region: us-east-1\n  availabilityZone: us-east-11a {MARK}\n")]),
    Case("network-zone-other-region", "availability zone us-west-2a is not in the VDC's region us-east-1",
         col="us-west-2a", files={CASE: f"""\
{HEAD}kind: PrivateNetwork
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  cidr: 10.10.20.0/24
  availabilityZone: us-west-2a {MARK}
"""}),
    Case("vdc-region-not-enterprise", "region eu-central-1 is not one of enterprise 'acme''s regions",
         col="eu-central-1", fix="add eu-central-1 to the enterprise's regions", files={CASE: f"""\
{HEAD}kind: VirtualDatacenter
metadata: {{name: frankfurt, enterprise: acme}}
spec:
  region: eu-central-1 {MARK}
  network: {{type: none}}
"""}),
    # ---------------------------------------------------------------- volumes, load balancers, VPNs, firewalls
    Case("volume-two-vms", "volume 'web-data' is already attached to acme/web/VirtualMachine/web-1",
         col="web-data", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: public}}]
  volumes: [web-data] {MARK}
""")}),
    Case("volume-other-zone", "volume 'archive' is in us-east-1a, the VM in us-east-1b", col="archive",
         fix="availability zone", files={CASE: vm("db-1", f"""\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{{network: public-b}}]
  volumes: [archive] {MARK}
""")}),
    Case("lb-application-one-zone", "an application load balancer needs networks in at least two availability zones",
         col="[", fix="type: classic", files={CASE: f"""\
{HEAD}kind: LoadBalancer
metadata: {{name: api, enterprise: acme, vdc: web}}
spec:
  networks: [public] {MARK}
  listeners: [{{protocol: HTTP, port: 80, targetPort: 8080}}]
"""}),
    Case("vpn-private-remote", "10.1.2.3 is not a public address", col="10.1.2.3",
         edits=[("acme/web.yaml", "spec: {remoteAddress: 198.51.100.7}", f"spec: {{remoteAddress: 10.1.2.3}} {MARK}")]),
    Case("kms-without-encrypted", "kmsKeyId needs encrypted: true", col="kmsKeyId", files={CASE: f"""\
{HEAD}kind: Volume
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  sizeGiB: 10
  kmsKeyId: alias/db {MARK}
"""}),
    Case("ports-missing-tcp", 'protocol tcp needs ports ("22" or "8000-8090")', col="protocol",
         files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  ingress:
    - protocol: tcp {MARK}
      from: [10.0.0.0/8]
"""}),
    Case("bad-port-range", "port range '90-80' must be within 0-65535 and ascending", col='"', files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  ingress:
    - protocol: tcp
      ports: "90-80" {MARK}
      from: [10.0.0.0/8]
"""}),
    Case("ingress-with-to", "ingress rules take from/fromFirewall, not to/toFirewall", col="to",
         files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  ingress:
    - protocol: tcp
      ports: "22"
      to: [10.0.0.0/8] {MARK}
"""}),
    Case("egress-with-from-firewall", "egress rules take to/toFirewall, not from/fromFirewall", col="fromFirewall",
         files={CASE: f"""\
{HEAD}kind: Firewall
metadata: {{name: db, enterprise: acme, vdc: web}}
spec:
  egress:
    - protocol: all
      fromFirewall: base {MARK}
"""}),
    Case("custom-network-both-gateways", "either public (internetGateway) or NAT'd (natGateway), not both",
         col="{", files={CASE: f"""\
{HEAD}kind: VirtualDatacenter
metadata: {{name: priv, enterprise: acme}}
spec:
  region: us-east-1
  addressRange: 10.40.0.0/16
  network: {{type: custom, internetGateway: true, natGateway: true}} {MARK}
"""}),
    # -- Database, DnsZone, DnsRecord
    Case("db-one-zone", "a database needs networks in at least two availability zones", col="[",
         fix="add a PrivateNetwork with availabilityZone: us-east-1b", files={CASE: xaas("Database", "one", f"""\
  engine: mysql
  networks: [public, default] {MARK}
""", "web")}),
    Case("db-engine", "input should be 'postgres', 'mysql' or 'mariadb'", col="oracle", files={CASE: xaas(
        "Database", "ora", f"""\
  engine: oracle {MARK}
  networks: [default, app-b]
""", "web")}),
    Case("db-class", "String should match pattern", col="m5", files={CASE: xaas("Database", "big", f"""\
  engine: postgres
  instanceClass: m5.large {MARK}
  networks: [default, app-b]
""", "web")}),
    Case("db-password-field", "the master password is managed by AWS", col="masterPassword", files={CASE: xaas("Database", "pw", f"""\
  engine: postgres
  networks: [default, app-b]
  masterPassword: hunter22 {MARK}
""", "web")}),
    Case("db-reserved-user", "'rdsadmin' is reserved by the engine", col="rdsadmin", files={CASE: xaas(
        "Database", "adm", f"""\
  engine: mysql
  masterUsername: rdsadmin {MARK}
  networks: [default, app-b]
""", "web")}),
    Case("db-ref-network", "PrivateNetwork 'data-c' not found in virtual datacenter 'web'", col="data-c",
         edits=[("acme/xaas.yaml", "  networks: [default, app-b]", f"  networks: [default, data-c] {MARK}")]),
    Case("db-ref-firewall", "Firewall 'dbs' not found in virtual datacenter 'web'", col="dbs",
         edits=[("acme/xaas.yaml", "  firewall: base", f"  firewall: dbs {MARK}")]),
    Case("zone-private-no-vdcs", "a private zone serves at least one VDC", col="domain", files={CASE: xaas(
        "DnsZone", "lonely", f"""\
  domain: lonely.example {MARK}
  private: true
""")}),
    Case("zone-ref-vdc", "VirtualDatacenter 'shop' not found", col="shop",
         edits=[("acme/xaas.yaml", "private: true, vdcs: [web]}", f"private: true, vdcs: [shop]}} {MARK}")]),
    Case("zone-twice", "already is the public zone example.com", col="example.com", files={CASE: xaas(
        "DnsZone", "again", f"""\
  domain: example.com {MARK}
""")}),
    Case("record-values-and-target", "give exactly one of values or target", col="zone", files={CASE: xaas(
        "DnsRecord", "both", f"""\
  zone: example {MARK}
  name: both
  type: A
  values: [192.0.2.1]
  target: {{publicIp: spare}}
""")}),
    Case("record-target-type", "a Database target makes a CNAME record, not A", col="type", files={CASE: xaas(
        "DnsRecord", "dba", f"""\
  zone: example
  name: dba
  type: A {MARK}
  target: {{database: orders, vdc: web}}
""")}),
    Case("record-ref-zone", "DnsZone 'exmaple' not found", col="exmaple", fix="did you mean 'example'?",
         files={CASE: xaas("DnsRecord", "typo", f"""\
  zone: exmaple {MARK}
  name: typo
  type: A
  values: [192.0.2.1]
""")}),
    Case("record-ref-target", "LoadBalancer 'shop-lb' not found in virtual datacenter 'web'", col="shop-lb",
         edits=[("acme/xaas.yaml", "target: {loadBalancer: web-lb, vdc: web}}",
                 f"target: {{loadBalancer: shop-lb, vdc: web}}}} {MARK}")]),
    Case("record-target-no-vdc", "a VirtualMachine target lives in a VDC: name it",
         edits=[("acme/xaas.yaml", "target: {virtualMachine: web-1, vdc: web}}",
                 f"target: {{virtualMachine: web-1}}}} {MARK}")]),
    Case("record-vm-no-public-address", "virtual machine 'app-1' has no public address", col="app-1",
         files={CASE: vm("app-1", """\
  template: al2023
  hardwareProfile: t3.micro
  nics: [{network: app-b}]
""") + "---\n" + xaas("DnsRecord", "app", f"""\
  zone: example
  name: app
  type: A
  target: {{virtualMachine: app-1, vdc: web}} {MARK}
""")}),
    Case("record-twice", "already is the A record 'www' of zone 'example'", col="www", files={CASE: xaas(
        "DnsRecord", "www2", f"""\
  zone: example
  name: www {MARK}
  type: A
  values: [192.0.2.1]
""")}),
    Case("record-bad-ip", "'300.1.1.1' is not a valid IPv4 address", col="zone", files={CASE: xaas(
        "DnsRecord", "bad", f"""\
  zone: example {MARK}
  name: bad
  type: A
  values: [300.1.1.1]
""")}),
    # ---------------------------------------------------------------- your tags and ignore paths
    *[Case(f"tag-{cid}", msg, files={CASE: user_with(f"tags: {tags}")}) for cid, tags, msg in [
        ("aws-prefix", '{"aws:owner": x}', "keys starting with 'aws:' are reserved"),
        ("controller-prefix", '{"controller:tags": x}', "keys starting with 'controller:' are reserved"),
        ("name", "{Name: bob}", "the Name tag is the document's metadata.name"),
        ("key-too-long", "{" + "k" * 129 + ": x}", "AWS allows at most 128"),
        ("value-too-long", "{k: " + "v" * 257 + "}", "AWS allows at most 256"),
        ("bad-character", '{k: "a,b"}', "use letters, digits, spaces and _ . : / = + - @ only"),
    ]],
    Case("tags-over-50", "would carry 52 tags (47 yours, with the enterprise's defaultTags, and 5 of the "
         "controller's): AWS allows 50 per object", fix="remove at least 2", files={CASE: user_with(
             "tags: {" + ", ".join(f"k{i}: v" for i in range(47)) + "}")}),
    Case("tags-on-enterprise", "an Enterprise has no AWS object of its own to tag", fix="spec.defaultTags",
         files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech, tags: {{a: b}}}} {MARK}
spec: {{credentials: {{profile: initech}}, regions: [us-east-1]}}
"""}),
    Case("tags-on-template", "a Template has no AWS object that takes tags", files={CASE: f"""\
{HEAD}kind: Template
metadata: {{name: tpl, enterprise: acme, tags: {{a: b}}}} {MARK}
spec: {{region: us-east-1, ami: ami-03c3da4cfa8e8943a}}
"""}),
    Case("ignore-no-such-field", "ignore path 'spec.sshKey' matches no field of this kind (spec fields: "
         "sshPublicKey)", fix="a typo here would hide drift", files={CASE: user_with("ignore: [spec.sshKey]")}),
    Case("ignore-not-well-formed", "ignore path 'spec.' is not well formed",
         files={CASE: user_with('ignore: ["spec."]')}),
    Case("ignore-not-spec-or-tags", "ignore path 'metadata.name' must start with spec. or tags.",
         files={CASE: user_with("ignore: [metadata.name]")}),
    Case("ignore-enterprise-unknown-kind", "unknown kind 'Vm' in spec.ignore", files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech}}
spec:
  credentials: {{profile: initech}}
  regions: [us-east-1]
  ignore: [{{kind: Vm, paths: [spec.state]}}] {MARK}
"""}),
    Case("ignore-enterprise-no-such-field", "VirtualMachine: ignore path 'spec.nics[*].ipAddress' matches no "
         "field", files={CASE: f"""\
{HEAD}kind: Enterprise
metadata: {{name: initech}}
spec:
  credentials: {{profile: initech}}
  regions: [us-east-1]
  ignore:
    - {{kind: VirtualMachine, paths: [spec.state, "spec.nics[*].ip", "spec.nics[*].ipAddress"]}} {MARK}
"""}),
]



def write_tree(root: Path, case: Case) -> tuple[str, int, int | None]:
    """Write BASE plus the case's changes under root/specs; return (file, line, col) of the marker."""
    files = dict(BASE)
    for name, old, new in case.edits:
        assert old in files[name], f"edit of {name} does not apply: {old!r}"
        files[name] = files[name].replace(old, new, 1)
    files.update(case.files)
    marked = [(name, text) for name, text in files.items() if MARK in text]
    if case.file:
        marked = [(n, t) for n, t in marked if n == case.file]
    assert len(marked) == 1, f"one file must carry the marker, found {[n for n, _ in marked]}"
    where, text = marked[0]
    line = col = None
    for i, ln in enumerate(text.splitlines(), 1):
        if MARK in ln:
            line = i
            clean = ln.replace(MARK, "").rstrip()
            if isinstance(case.col, str):
                assert case.col in clean, f"col anchor {case.col!r} not in line {clean!r}"
                col = clean.index(case.col) + 1
            else:
                col = case.col
    assert line is not None
    for name, text in files.items():
        p = root / "specs" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(ln.replace(MARK, "").rstrip() for ln in text.split("\n")))
    return f"specs/{where}", line, col


def check(diags: list[dict], case: Case, where: tuple[str, int, int | None]) -> None:
    file, line, col = where
    summary = "\n".join(f"{d['file']}:{d['line']}:{d['col']}: {d['message']} ({d['path']}) fix={d.get('fix')}"
                        for d in diags)
    assert len(diags) == case.count, f"expected {case.count} error(s), got:\n{summary}"
    hits = [d for d in diags if case.message in d["message"]]
    assert hits, f"no error says {case.message!r}; got:\n{summary}"
    d = hits[0]
    assert (d["file"], d["line"]) == (file, line), f"wrong place for {case.message!r}; got:\n{summary}"
    if col is not None:
        assert d["col"] == col, f"wrong column for {case.message!r}; got:\n{summary}"
    if case.fix is not None:
        assert d.get("fix") and case.fix in d["fix"], f"fix should mention {case.fix!r}; got:\n{summary}"


def test_base_estate_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in BASE.items():
        p = tmp_path / "specs" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    monkeypatch.chdir(tmp_path)
    specs, diags = validate_tree(Path("specs"))
    assert diags == [], "\n".join(d.render() for d in diags)
    assert specs is not None


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 45


@pytest.mark.parametrize("case", CASES, ids=str)
def test_in_process(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = write_tree(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    specs, diags = validate_tree(Path("specs"))
    assert specs is None
    assert all(isinstance(d, Diagnostic) for d in diags)
    check([d.to_json() for d in diags], case, where)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_cli(case: Case, tmp_path: Path, cli) -> None:
    """Through the real CLI: even-numbered cases with --json, the others as text."""
    where = write_tree(tmp_path, case)
    as_json = CASES.index(case) % 2 == 0
    run = cli("validate", "--specs", "specs", *(["--json"] if as_json else []), cwd=tmp_path)
    assert "Traceback" not in run.out + run.err
    assert "internal error" not in run.out + run.err
    assert run.code == 1, run.out + run.err
    if as_json:
        diags = json.loads(run.out)
        assert all(set(d) >= {"file", "line", "col", "message", "path"} for d in diags)
    else:
        file, line, col = where
        rendered = [ln for ln in run.err.splitlines() if ln.startswith(f"{file}:{line}:") and case.message in ln]
        assert rendered, run.err
        if col is not None:
            assert rendered[0].startswith(f"{file}:{line}:{col}: error: "), run.err
        assert f"{case.count} error(s) in " in run.err.splitlines()[-1], run.err
        diags = []
        for ln in run.err.splitlines():
            if ": error: " in ln:
                head, msg = ln.split(": error: ", 1)
                f, li, co = head.rsplit(":", 2)
                diags.append({"file": f, "line": int(li), "col": int(co), "message": msg, "path": ""})
            elif ln.startswith("    fix: ") and diags:
                diags[-1]["fix"] = ln.removeprefix("    fix: ")
    check(diags, case, where)
    assert not (tmp_path / "PWNED").exists()
