"""Model-based convergence: random valid edit sequences over every kind, with out-of-band changes.

A seeded generator keeps a model of an estate (VDCs with networks, firewalls that refer to each
other, VMs moving between networks and states, static and secondary IPs, public IPs, volumes,
classic load balancers, VPNs), makes one random edit of the specs per step (or changes AWS behind
the controller's back with boto3: a rule added, an instance stopped, a Name tag changed, a volume
detached, a route deleted), then goes through the CLI, `controller apply --auto-approve
--allow-deletes --json` and `controller plan --json`, and checks after every step:

- apply exits 0, prints no traceback, and reports exactly one outcome per planned change, all done;
- the next plan shows no changes;
- the live objects carrying the ownership tags are exactly the desired ones, per AWS type (no
  duplicate, no orphan).

`python -m tests.fuzz convergence [--seeds N] [--steps N] [--first-seed N]` runs the long campaign
(`make fuzz`); tests/test_convergence.py runs a small fixed budget in `make test`. A failure prints
the seed, the step and the edits that led there: `--first-seed S --seeds 1 --steps K` replays it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AMI = "ami-03c3da4cfa8e8943a"
ENTERPRISE = "acme"
ACCOUNT = "111111111111"
NAMES = ["red", "blue", "green", "gold", "teal"]


# -- the model of the specs


@dataclass
class Net:
    slot: int  # 10.<vdc>.<slot>.0/24
    public: bool = False
    nat: bool = False


@dataclass
class Vm:
    net: str
    state: str = "deployed"
    ip: int | None = None  # last octet of a static address
    secondary: list[int] = field(default_factory=list)
    public_ip: str | None = None  # a PublicIp name, or "auto"
    firewall: str | None = None
    user_data: str = "v1"
    volumes: list[str] = field(default_factory=list)


@dataclass
class Lb:
    net: str
    members: list[str] = field(default_factory=list)


@dataclass
class Vdc:
    index: int
    nets: dict[str, Net] = field(default_factory=dict)
    firewalls: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # name -> [(port, peer)]
    vms: dict[str, Vm] = field(default_factory=dict)
    volumes: dict[str, int] = field(default_factory=dict)  # name -> size GiB
    ips: set[str] = field(default_factory=set)
    lbs: dict[str, Lb] = field(default_factory=dict)
    vpn: str | None = None  # remote address
    ranges: list[str] = field(default_factory=list)  # secondary address ranges


class Model:
    """The estate the specs describe; every edit keeps it valid (the rules of docs/spec-language.md)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.vdcs: dict[str, Vdc] = {}
        self.gone: dict[str, Vdc] = {}  # removed VDCs, to add back as they were

    # helpers
    def pick(self, items: Any) -> Any:
        items = sorted(items, key=lambda x: (x is not None, str(x)))
        return self.rng.choice(items) if items else None

    def vdc(self) -> tuple[str, Vdc] | tuple[None, None]:
        name = self.pick(self.vdcs)
        return (name, self.vdcs[name]) if name else (None, None)

    def free_name(self, taken: Any) -> str | None:
        free = [n for n in NAMES if n not in taken]
        return self.rng.choice(free) if free else None

    # the edits: each returns a description, or None when it does not apply now
    def add_vdc(self) -> str | None:
        if self.gone and self.rng.random() < 0.5:
            name = self.pick(self.gone)
            self.vdcs[name] = self.gone.pop(name)
            return f"re-add VDC {name}"
        name = self.free_name(set(self.vdcs) | set(self.gone))
        if name is None or len(self.vdcs) >= 2:
            return None
        index = NAMES.index(name) + 10
        v = Vdc(index)
        v.nets["web"] = Net(0, public=True)
        v.nets["app"] = Net(1)
        self.vdcs[name] = v
        return f"add VDC {name}"

    def remove_vdc(self) -> str | None:
        name, v = self.vdc()
        if name is None or len(self.vdcs) < 2 and self.rng.random() < 0.5:
            return None
        self.gone[name] = self.vdcs.pop(name)
        return f"remove VDC {name} (every document in it)"

    def add_network(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        net = self.free_name(v.nets)
        slots = {n.slot for n in v.nets.values()}
        slot = self.pick(set(range(2, 8)) - slots)
        if net is None or slot is None:
            return None
        v.nets[net] = Net(slot, public=self.rng.random() < 0.4)
        return f"add network {name}/{net}"

    def remove_network(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        used = {vm.net for vm in v.vms.values()} | {lb.net for lb in v.lbs.values()}
        net = self.pick(set(v.nets) - used)
        if net is None:
            return None
        del v.nets[net]
        self._fix_nat(v)
        return f"remove network {name}/{net}"

    def readdress_network(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        net = self.pick(v.nets)
        slot = self.pick(set(range(2, 8)) - {n.slot for n in v.nets.values()})
        if net is None or slot is None:
            return None
        v.nets[net].slot = slot
        for vm in v.vms.values():  # static addresses follow the network
            if vm.net == net:
                vm.ip, vm.secondary = None, []
        return f"re-address network {name}/{net} to slot {slot}"

    def toggle_gateway(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        net = self.pick(v.nets)
        if net is None:
            return None
        n = v.nets[net]
        if self.rng.random() < 0.5:
            n.public = not n.public
            n.nat = False
            what = "internet gateway " + ("on" if n.public else "off")
        else:
            n.nat, n.public = not n.nat, False
            what = "NAT " + ("on" if n.nat else "off")
        self._fix_nat(v)
        self._fix_public(v)
        return f"{what} for {name}/{net}"

    def _fix_nat(self, v: Vdc) -> None:
        if not any(n.public for n in v.nets.values()):
            for n in v.nets.values():
                n.nat = False

    def _fix_public(self, v: Vdc) -> None:
        for vm in v.vms.values():
            if not v.nets[vm.net].public:
                vm.public_ip = None
        for lb_name, lb in list(v.lbs.items()):
            if not v.nets[lb.net].public:
                del v.lbs[lb_name]

    def add_secondary_range(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        if v.ranges:
            v.ranges = []
            return f"drop the secondary address range of VDC {name}"
        v.ranges = [f"10.{v.index + 100}.0.0/16"]
        return f"add a secondary address range to VDC {name}"

    def add_firewall(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        fw = self.free_name(v.firewalls)
        if fw is None:
            return None
        v.firewalls[fw] = []
        self._rules(v, fw)
        return f"add firewall {name}/{fw}: {v.firewalls[fw]}"

    def change_rules(self) -> str | None:
        name, v = self.vdc()
        fw = self.pick(v.firewalls) if v else None
        if v is None or fw is None:
            return None
        self._rules(v, fw)
        if self.rng.random() < 0.5:  # and the peer refers back: mutual references
            peers = [p for _, p in v.firewalls[fw] if p in v.firewalls and p != fw]
            if peers:
                v.firewalls[peers[0]] = [*v.firewalls[peers[0]], ("22", fw)]
        return f"rules of {name}/{fw}: {v.firewalls[fw]}"

    def _rules(self, v: Vdc, fw: str) -> None:
        rules = []
        for _ in range(self.rng.randint(0, 3)):
            port = self.rng.choice(["22", "80", "443", "8000-8100"])
            peer = self.pick([*[p for p in v.firewalls if p != fw], "0.0.0.0/0", "10.0.0.0/8"])
            if (port, peer) not in rules:
                rules.append((port, peer))
        v.firewalls[fw] = rules

    def remove_firewall(self) -> str | None:
        name, v = self.vdc()
        fw = self.pick(v.firewalls) if v else None
        if v is None or fw is None:
            return None
        del v.firewalls[fw]
        for other, rules in v.firewalls.items():  # the references to it go in the same commit
            v.firewalls[other] = [(p, peer) for p, peer in rules if peer != fw]
        for vm in v.vms.values():
            if vm.firewall == fw:
                vm.firewall = None
        return f"remove firewall {name}/{fw} (and every reference to it)"

    def add_vm(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        vm = self.free_name(v.vms)
        net = self.pick(v.nets)
        if vm is None or net is None or len(v.vms) >= 3:
            return None
        v.vms[vm] = Vm(net, firewall=self.pick(v.firewalls) if self.rng.random() < 0.5 else None)
        return f"add VM {name}/{vm} on {net}"

    def remove_vm(self) -> str | None:
        name, v = self.vdc()
        vm = self.pick(v.vms) if v else None
        if v is None or vm is None:
            return None
        del v.vms[vm]
        for lb in v.lbs.values():
            lb.members = [m for m in lb.members if m != vm]
        return f"remove VM {name}/{vm}"

    def _vm(self) -> tuple[str, Vdc, str, Vm] | None:
        name, v = self.vdc()
        vm = self.pick(v.vms) if v else None
        if v is None or vm is None:
            return None
        return name, v, vm, v.vms[vm]

    def move_vm(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        net = self.pick(set(v.nets) - {m.net})
        if net is None:
            return None
        m.net, m.ip, m.secondary = net, None, []
        self._fix_public(v)
        return f"move VM {name}/{vm} to {net}"

    def vm_state(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        m.state = self.rng.choice(sorted({"deployed", "powered-off", "undeployed"} - {m.state}))
        return f"VM {name}/{vm} state {m.state}"

    def vm_addresses(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        taken = {o.ip for k, o in v.vms.items() if k != vm and o.net == m.net} | {
            s for k, o in v.vms.items() if k != vm and o.net == m.net for s in o.secondary}
        free = sorted(set(range(10, 40)) - taken)
        m.ip = self.rng.choice(free) if self.rng.random() < 0.6 else None
        m.secondary = sorted(self.rng.sample([x for x in free if x != m.ip], self.rng.randint(0, 1)))  # t3.micro: 2 addresses a nic
        return f"VM {name}/{vm} ip {m.ip} secondary {m.secondary}"

    def vm_public_ip(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        if not v.nets[m.net].public:
            return None
        used = {o.public_ip for k, o in v.vms.items() if k != vm}
        choice = self.pick([None, "auto", *sorted(v.ips - used)]) if v.ips - used else self.rng.choice([None, "auto"])
        m.public_ip = choice
        return f"VM {name}/{vm} public IP {choice}"

    def vm_user_data(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        m.user_data = f"v{int(m.user_data[1:]) + 1}"
        return f"VM {name}/{vm} user data {m.user_data} (forces replacement)"

    def vm_firewall(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        m.firewall = self.pick([None, *v.firewalls]) if v.firewalls else None
        return f"VM {name}/{vm} firewall {m.firewall}"

    def add_public_ip(self) -> str | None:
        name, v = self.vdc()
        ip = self.free_name(v.ips) if v else None
        if v is None or ip is None:
            return None
        v.ips.add(ip)
        return f"add public IP {name}/{ip}"

    def remove_public_ip(self) -> str | None:
        name, v = self.vdc()
        ip = self.pick(v.ips) if v else None
        if v is None or ip is None:
            return None
        v.ips.discard(ip)
        for m in v.vms.values():
            if m.public_ip == ip:
                m.public_ip = None
        return f"remove public IP {name}/{ip}"

    def add_volume(self) -> str | None:
        name, v = self.vdc()
        vol = self.free_name(v.volumes) if v else None
        if v is None or vol is None:
            return None
        v.volumes[vol] = self.rng.choice([1, 2, 4])
        return f"add volume {name}/{vol}"

    def remove_volume(self) -> str | None:
        name, v = self.vdc()
        vol = self.pick(v.volumes) if v else None
        if v is None or vol is None:
            return None
        del v.volumes[vol]
        for m in v.vms.values():
            m.volumes = [x for x in m.volumes if x != vol]
        return f"remove volume {name}/{vol}"

    def attach_volume(self) -> str | None:
        got = self._vm()
        if got is None:
            return None
        name, v, vm, m = got
        used = {x for o in v.vms.values() for x in o.volumes}
        if m.volumes and self.rng.random() < 0.5:
            gone = m.volumes.pop()
            return f"detach volume {name}/{gone} from {vm}"
        vol = self.pick(set(v.volumes) - used)
        if vol is None:
            return None
        m.volumes.append(vol)
        return f"attach volume {name}/{vol} to {vm}"

    def lb(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        if v.lbs and self.rng.random() < 0.3:
            lb = self.pick(v.lbs)
            del v.lbs[lb]
            return f"remove load balancer {name}/{lb}"
        public = [n for n, x in v.nets.items() if x.public]
        if not public:
            return None
        lb = self.pick(v.lbs) if v.lbs and self.rng.random() < 0.6 else self.free_name(v.lbs)
        if lb is None:
            return None
        members = sorted(self.rng.sample(sorted(v.vms), self.rng.randint(0, len(v.vms))))
        v.lbs[lb] = Lb(self.rng.choice(public), members)
        return f"load balancer {name}/{lb} on {v.lbs[lb].net} members {members}"

    def vpn(self) -> str | None:
        name, v = self.vdc()
        if v is None:
            return None
        v.vpn = None if v.vpn else f"198.51.100.{self.rng.randint(2, 250)}"
        return f"VPN of {name}: {v.vpn}"

    EDITS = ("add_vdc", "remove_vdc", "add_network", "remove_network", "readdress_network", "toggle_gateway",
             "add_secondary_range", "add_firewall", "change_rules", "remove_firewall", "add_vm", "remove_vm",
             "move_vm", "vm_state", "vm_addresses", "vm_public_ip", "vm_user_data", "vm_firewall",
             "add_public_ip", "remove_public_ip", "add_volume", "remove_volume", "attach_volume", "lb", "vpn",
             # weights: what has more ways to go wrong comes up more often
             "add_vm", "attach_volume", "attach_volume", "change_rules", "change_rules", "move_vm", "vm_public_ip")

    def edit(self) -> str:
        if not self.vdcs:
            return str(self.add_vdc())
        for _ in range(50):
            what = getattr(self, self.rng.choice(self.EDITS))()
            if what:
                return str(what)
        return str(self.add_vdc() or "no edit")

    # -- the documents

    def files(self) -> dict[str, str]:
        out = {"enterprise.yaml": (f"apiVersion: controller/v1\nkind: Enterprise\nmetadata: {{name: {ENTERPRISE}}}\n"
                                   f"spec:\n  account: \"{ACCOUNT}\"\n  credentials:\n    assumeRole: "
                                   f"{{roleArn: \"arn:aws:iam::{ACCOUNT}:role/controller\"}}\n  regions: [us-east-1]\n")}
        for name, v in sorted(self.vdcs.items()):
            out[f"{name}.yaml"] = "---\n".join(self._docs(name, v))
        return out

    def _docs(self, name: str, v: Vdc) -> list[str]:
        def doc(kind: str, n: str, spec: dict[str, Any], vdc: bool = True) -> str:
            meta = {"name": n, "enterprise": ENTERPRISE, **({"vdc": name} if vdc else {})}
            return json.dumps({"apiVersion": "controller/v1", "kind": kind, "metadata": meta, "spec": spec}) + "\n"

        base = f"10.{v.index}"
        docs = [doc("VirtualDatacenter", name, {"region": "us-east-1", "availabilityZone": "us-east-1a",
                                                "addressRange": f"{base}.0.0/16", "network": {"type": "none"},
                                                "addressRanges": v.ranges}, vdc=False)]
        for n, net in sorted(v.nets.items()):
            docs.append(doc("PrivateNetwork", n, {"cidr": f"{base}.{net.slot}.0/24", "internetGateway": net.public,
                                                  "natGateway": net.nat}))
        for fw, rules in sorted(v.firewalls.items()):
            ingress = []
            for port, peer in rules:
                rule: dict[str, Any] = {"protocol": "tcp", "ports": port}
                if "/" in peer:
                    rule["from"] = [peer]
                else:
                    rule["fromFirewall"] = peer
                ingress.append(rule)
            docs.append(doc("Firewall", fw, {"description": f"firewall {fw}", "ingress": ingress}))
        for vm, m in sorted(v.vms.items()):
            nic: dict[str, Any] = {"network": m.net}
            slot = v.nets[m.net].slot
            if m.ip is not None:
                nic["ip"] = f"{base}.{slot}.{m.ip}"
            if m.secondary:
                nic["secondaryIps"] = [f"{base}.{slot}.{s}" for s in m.secondary]
            if m.public_ip:
                nic["publicIp"] = m.public_ip
            spec: dict[str, Any] = {"template": AMI, "hardwareProfile": "t3.micro", "state": m.state, "nics": [nic],
                                    "userData": m.user_data, "volumes": m.volumes}
            if m.firewall:
                spec["firewall"] = m.firewall
            docs.append(doc("VirtualMachine", vm, spec))
        for vol, size in sorted(v.volumes.items()):
            docs.append(doc("Volume", vol, {"sizeGiB": size}))
        for ip in sorted(v.ips):
            docs.append(doc("PublicIp", ip, {}))
        for lb, b in sorted(v.lbs.items()):
            docs.append(doc("LoadBalancer", lb, {"type": "classic", "networks": [b.net], "members": b.members,
                                                 "listeners": [{"protocol": "HTTP", "port": 80, "targetPort": 8080}]}))
        if v.vpn:
            docs.append(doc("Vpn", "office", {"remoteAddress": v.vpn}))
        return docs


# -- out of band: AWS changed behind the controller's back


def _owned(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if any(t["Key"] == "controller:address" for t in i.get("Tags") or [])]


def out_of_band(rng: random.Random, client: Callable[[str], Any]) -> str | None:
    """One change made behind the controller's back, or None when there is nothing to change (or the
    local endpoint cannot make it: moto answers 500 to some detaches of a stopped instance's volume)."""
    import botocore.exceptions
    import botocore.parsers

    try:
        return _out_of_band(rng, client)
    except (botocore.exceptions.ClientError, botocore.parsers.ResponseParserError):
        return None


def _out_of_band(rng: random.Random, client: Callable[[str], Any]) -> str | None:
    ec2 = client("ec2")
    choice = rng.choice(["rule", "stop", "name", "detach", "route"])
    if choice == "rule":
        groups = _owned(ec2.describe_security_groups()["SecurityGroups"])
        if groups:
            g = rng.choice(groups)
            ec2.authorize_security_group_ingress(GroupId=g["GroupId"], IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            return f"out of band: rule added to {g['GroupId']}"
    if choice == "stop":
        running = _owned([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                          if i["State"]["Name"] == "running"])
        if running:
            i = rng.choice(running)
            ec2.stop_instances(InstanceIds=[i["InstanceId"]])
            return f"out of band: instance {i['InstanceId']} stopped"
    if choice == "name":
        things = [(v["VpcId"], v) for v in _owned(ec2.describe_vpcs()["Vpcs"])] + [
            (s["SubnetId"], s) for s in _owned(ec2.describe_subnets()["Subnets"])] + [
            (i["InstanceId"], i) for r in ec2.describe_instances()["Reservations"] for i in _owned(r["Instances"])
            if i["State"]["Name"] != "terminated"]
        if things:
            aws_id, _ = rng.choice(sorted(things, key=lambda t: t[0]))
            ec2.create_tags(Resources=[aws_id], Tags=[{"Key": "Name", "Value": "renamed-by-hand"}])
            return f"out of band: Name of {aws_id} changed"
    if choice == "detach":
        attached = [v for v in _owned(ec2.describe_volumes()["Volumes"]) if v.get("Attachments") and not any(
            "/VirtualMachine/" in t["Value"] for t in v["Tags"] if t["Key"] == "controller:address")]  # not a boot disk
        if attached:
            v = rng.choice(attached)
            ec2.detach_volume(VolumeId=v["VolumeId"])
            return f"out of band: volume {v['VolumeId']} detached"
    if choice == "route":
        tables = [t for t in _owned(ec2.describe_route_tables()["RouteTables"])
                  if any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in t.get("Routes", []))]
        if tables:
            t = rng.choice(tables)
            ec2.delete_route(RouteTableId=t["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
            return f"out of band: default route of {t['RouteTableId']} deleted"
    return None


# -- the invariants


class Failure(AssertionError):
    pass


@dataclass
class Cli:
    """The real CLI, run in this process (the same code path as the `controller` command, faster)."""

    specs: Path

    def __call__(self, *args: str) -> tuple[int, str, str]:
        from controller.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*args, "--specs", str(self.specs)])
            except SystemExit as e:  # argparse
                code = int(e.code or 0)
        return code, out.getvalue(), err.getvalue()


def acting(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in plan["changes"] if c["action"] != "no-op"]


def converge(cli: Cli, client: Callable[[str], Any]) -> None:
    """One apply, then the invariants; raises Failure naming what broke."""
    code, out, err = cli("plan", "--json")
    if code not in (0, 2) or "Traceback" in err:
        raise Failure(f"plan exited {code}: {err.strip()[-2000:]}")
    plan = json.loads(out)
    planned = sorted((c["id"], c["action"], c.get("aws_id") or "") for c in acting(plan))
    code, out, err = cli("apply", "--auto-approve", "--allow-deletes", "--json")
    report = json.loads(out) if out.strip().startswith("{") else {}
    problems = [f"{o['id']} {o['action']} {o['status']}: {o['detail']}" for o in report.get("outcomes", [])
                if o["status"] != "done"]
    if code != 0 or "Traceback" in err or "internal error" in err:
        raise Failure(f"apply exited {code}: {err.strip()[-1500:]} {problems}")
    got = sorted((o["id"], o["action"]) for o in report.get("outcomes", []))
    if got != sorted((i, a) for i, a, _ in planned):
        raise Failure(f"outcomes {got} are not the planned changes {planned}")
    if problems:
        raise Failure(f"apply exited 0 with outcomes not done: {problems}")
    code, out, err = cli("plan", "--json")
    after = json.loads(out) if out.strip().startswith("{") else {"changes": []}
    if code != 0:
        left = [f"{c['action']} {c['id']} # {c['reason']}" for c in acting(after)]
        raise Failure(f"the plan after apply is not empty (exit {code}): {left} {err.strip()[-500:]}")
    check_ownership(after, client)


# AWS type -> the kinds whose objects it holds (each tagged with its node id)
TYPES = {"vpc": {"VirtualDatacenter"}, "subnet": {"PrivateNetwork"}, "sg": {"Firewall"},
         "instance": {"VirtualMachine"}, "volume": {"Volume"}, "eip": {"PublicIp", "NatGateway"},
         "igw": {"InternetGateway"}, "rtb": {"RouteTable"}, "nat": {"NatGateway"}, "elb": {"LoadBalancer"},
         "vpn": {"Vpn"}, "cgw": {"Vpn"}, "vgw": {"Vpn"}}


def tagged(client: Callable[[str], Any]) -> Counter[tuple[str, str]]:
    """(AWS type, ownership address) of every live object carrying our tags; a duplicate counts 2."""
    ec2, elb = client("ec2"), client("elb")
    found: Counter[tuple[str, str]] = Counter()

    def tally(kind: str, items: list[dict[str, Any]], alive: Callable[[dict[str, Any]], bool] = lambda _: True
              ) -> None:
        for i in items:
            if alive(i):
                for t in i.get("Tags") or []:
                    if t["Key"] == "controller:address":
                        found[(kind, t["Value"])] += 1

    tally("vpc", ec2.describe_vpcs()["Vpcs"])
    tally("subnet", ec2.describe_subnets()["Subnets"])
    tally("sg", ec2.describe_security_groups()["SecurityGroups"])
    tally("instance", [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
          lambda i: i["State"]["Name"] not in ("terminated", "shutting-down"))
    tally("volume", ec2.describe_volumes()["Volumes"], lambda v: v["State"] not in ("deleted", "deleting") and not any(
        t["Key"] == "controller:address" and "/VirtualMachine/" in t["Value"] for t in v.get("Tags") or []))
    # (a boot disk carries its VM's tags: it is part of the instance)
    tally("eip", ec2.describe_addresses()["Addresses"])
    tally("igw", ec2.describe_internet_gateways()["InternetGateways"])
    tally("rtb", ec2.describe_route_tables()["RouteTables"])
    tally("nat", ec2.describe_nat_gateways()["NatGateways"], lambda n: n["State"] not in ("deleted", "deleting"))
    alive = lambda x: x.get("State") not in ("deleted", "deleting")  # noqa: E731
    tally("vpn", ec2.describe_vpn_connections()["VpnConnections"], alive)
    tally("cgw", ec2.describe_customer_gateways()["CustomerGateways"], alive)
    tally("vgw", ec2.describe_vpn_gateways()["VpnGateways"], alive)
    names = [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]]
    for i in range(0, len(names), 20):
        tally("elb", elb.describe_tags(LoadBalancerNames=names[i:i + 20])["TagDescriptions"])
    return found


def check_ownership(plan: dict[str, Any], client: Callable[[str], Any]) -> None:
    found = tagged(client)
    dupes = {k: n for k, n in found.items() if n > 1}
    if dupes:
        raise Failure(f"duplicates carry one ownership tag: {dupes}")
    desired = {c["id"]: c["kind"] for c in plan["changes"] if c["action"] == "no-op" and c["cause"] == "up-to-date"}
    for typ, kinds in TYPES.items():
        have = {a for (t, a) in found if t == typ}
        want = {i for i, k in desired.items() if k in kinds}
        if have != want:
            raise Failure(f"{typ}: orphans {sorted(have - want)}, missing {sorted(want - have)}")


# -- a run


@dataclass
class Result:
    seed: int
    steps: int
    failure: str | None = None
    history: list[str] = field(default_factory=list)


def run_seed(seed: int, steps: int, specs: Path, client: Callable[[str], Any], out_of_band_rate: float = 0.25,
             log: Callable[[str], None] = lambda s: None) -> Result:
    """`steps` random steps from an account without objects of ours, then every document removed (the
    account is left empty again, which is checked as one more step); stops at the first failure."""
    rng = random.Random(seed)
    model = Model(rng)
    cli = Cli(specs)
    result = Result(seed, 0)
    for step in range(1, steps + 2):
        what = "?"
        try:
            if step > steps:
                model.vdcs.clear()
                what = "remove every VDC"
            elif model.vdcs and rng.random() < out_of_band_rate:
                what = out_of_band(rng, client) or model.edit()
            else:
                what = model.edit()
            result.history.append(f"{step}: {what}")
            log(f"seed {seed} step {step}: {what}")
            if specs.exists():
                shutil.rmtree(specs)
            specs.mkdir(parents=True)
            for name, text in model.files().items():
                (specs / name).write_text(text)
            converge(cli, client)
        except Failure as e:
            result.failure = f"seed {seed} step {step} ({what}): {e}"
            return result
        except Exception:  # the harness itself, or boto3 in the out-of-band step
            result.failure = f"seed {seed} step {step} ({what}): {traceback.format_exc()[-3000:]}"
            return result
        result.steps = min(step, steps)
    return result


def clients() -> Callable[[str], Any]:
    """tests.helpers.client, one per service (each assumes a role: keep them)."""
    from tests.helpers import client

    made: dict[str, Any] = {}
    return lambda service: made.setdefault(service, client(service)) if service not in made else made[service]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz convergence", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("-v", "--verbose", action="store_true", help="print every step")
    args = p.parse_args(argv)
    import os

    from tests.awsserver import start_server

    server = start_server()
    os.environ.update(server.env())
    os.environ.pop("AWS_PROFILE", None)
    started = time.monotonic()
    failures: list[Result] = []
    total = 0
    tmp = Path(tempfile.mkdtemp(prefix="convergence-"))
    try:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.monotonic()
            if failures:  # a failed seed may have left objects behind
                server.reset()
            r = run_seed(seed, args.steps, tmp / "specs", clients(),
                         log=(lambda s: print(s, flush=True)) if args.verbose else (lambda s: None))
            total += r.steps
            status = "ok" if r.failure is None else "FAILED"
            print(f"seed {seed}: {r.steps}/{args.steps} steps {status} in {time.monotonic() - t0:.0f} s", flush=True)
            if r.failure:
                failures.append(r)
                print("  " + "\n  ".join(r.history), flush=True)
                print(f"  {r.failure}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"convergence: {args.seeds} seeds x {args.steps} steps, {total} steps converged, "
          f"{len(failures)} failures, {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
