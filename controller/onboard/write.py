"""Turn an Estate (onboard/read.py) into spec documents: one file per VDC, one for the region.

Every document names the AWS object it was made from in `metadata.awsId` (the VDC in
`spec.onboard`), so the next plan adopts exactly those objects (docs/onboarding.md), and in a
comment above it. Only objects without the controller's ownership tags are written.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.kinds.base import TAG_ADDRESS, tags_of
from controller.kinds.firewall import decode_rule
from controller.kinds.network import PrivateNetwork
from controller.kinds.user import normalize_key
from controller.kinds.vdc import VirtualDatacenter, decode_routes
from controller.kinds.vm import VirtualMachine
from controller.kinds.volume import decode_volume
from controller.onboard.read import Estate
from controller.spec.models import DB_ENGINES
from controller.spec.tags import check_key, check_value

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ALL_OUT = [("all", "all", "0.0.0.0/0")]


def sanitize(text: str | None, fallback: str) -> str:
    """A valid name ([a-z0-9-], 1..63) from an AWS name; the AWS id when nothing is left."""
    s = re.sub(r"[^a-z0-9-]+", "-", (text or "").lower())
    s = re.sub(r"-{2,}", "-", s).strip("-")[:63].strip("-")
    return s if s and NAME_RE.match(s) else fallback


class Names:
    """Unique names per scope: a second `web` becomes `web-2`."""

    def __init__(self, taken: set[str] | None = None):
        self.taken = set(taken or ())

    def get(self, text: str | None, fallback: str) -> str:
        base = sanitize(text, fallback)
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base[:60]}-{n}"
        self.taken.add(name)
        return name


@dataclass
class Doc:
    kind: str
    name: str
    comment: list[str]
    body: dict[str, Any]
    sort: tuple[Any, ...] = ()

    def render(self) -> str:
        lines = [f"# {c}" for c in self.comment]
        return "\n".join(lines) + ("\n" if lines else "") + yaml.safe_dump(self.body, sort_keys=False, width=110)


@dataclass
class Onboarded:
    files: dict[str, list[Doc]] = field(default_factory=dict)  # file name (relative) -> documents
    warnings: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def user_tags(obj: dict[str, Any]) -> dict[str, str]:
    """The tags of an AWS object that are a user's (metadata.tags): not AWS's, not ours, not the Name, and
    only what a document may hold (AWS's other services accept fewer characters than EC2)."""
    out = {}
    for k, v in tags_of(obj).items():
        try:
            out[check_key(k)] = check_value(v)
        except ValueError:
            continue
    return out


def doc(kind: str, name: str, enterprise: str, spec: dict[str, Any], vdc: str | None = None,
        aws_id: str | None = None, obj: dict[str, Any] | None = None) -> dict[str, Any]:
    """A document; `obj`: the AWS object whose user tags go into metadata.tags."""
    meta: dict[str, Any] = {"name": name, "enterprise": enterprise}
    if vdc:
        meta["vdc"] = vdc
    if aws_id:
        meta["awsId"] = aws_id
    tags = user_tags(obj) if obj is not None else {}
    if tags:
        meta["tags"] = tags
    return {"apiVersion": "controller/v1", "kind": kind, "metadata": meta, "spec": spec}


def label(obj: dict[str, Any], aws_id: str) -> str:
    name = tags_of(obj).get("Name")
    return f"{aws_id}" + (f" (Name: {name})" if name else "")


def default_target(rt: dict[str, Any] | None) -> str | None:
    """What the default route of a route table goes to: `nat`, `igw` or None."""
    for r in decode_routes(rt or {}):
        gw = r["target"] or ""
        if gw.startswith("nat-"):
            return "nat"
        if gw.startswith("igw-"):
            return "igw"
    return None


def rule_ports(proto: str, ports: str | None) -> tuple[bool, str | None]:
    """(representable in a spec, the spec's ports) of a decoded rule: ICMP types and codes cannot be
    written; all ports of TCP or UDP are written as 0-65535."""
    if proto == "all":
        return True, None
    if proto == "icmp":
        return ports is None, None
    return True, ports or "0-65535"


class Writer:
    def __init__(self, est: Estate, enterprise: str, taken_vdcs: set[str], taken_region: dict[str, set[str]]):
        self.est = est
        self.ent = enterprise
        self.vdc_names = Names(taken_vdcs)
        self.region_names = {k: Names(v) for k, v in taken_region.items()}
        self.out = Onboarded()
        self.instance_vdc: dict[str, str] = {}
        self.users: dict[str, str] = {}  # key name -> User name
        self.region_docs: list[Doc] = []
        self.eni_owner: dict[str, tuple[dict[str, Any], int]] = {}  # eni -> (instance, device index)
        for inst in est.instances:
            for n in inst.get("NetworkInterfaces", []):
                self.eni_owner[n["NetworkInterfaceId"]] = (inst, n.get("Attachment", {}).get("DeviceIndex", 0))
        self._users()

    def warn(self, where: str, text: str) -> str:
        self.out.warnings.append(f"{where}: {text}")
        return f"note: {text}"

    # -- the region: users, loose volumes and Elastic IPs ----------------------------------------

    def _users(self) -> None:
        names = self.region_names.setdefault("User", Names())
        for kp in sorted(self.est.key_pairs, key=lambda k: k.get("KeyName", "")):
            key, name = kp.get("KeyName", ""), kp.get("KeyName", "")
            if TAG_ADDRESS in tags_of(kp) or not kp.get("PublicKey") or not NAME_RE.match(name):
                continue  # managed, no public key to write, or a name a User cannot have
            if name in names.taken:
                continue
            names.taken.add(name)
            self.users[key] = name
            self.region_docs.append(Doc("User", name, [label(kp, kp["KeyPairId"])], doc(
                "User", name, self.ent, {"sshPublicKey": normalize_key(kp["PublicKey"])},
                aws_id=kp["KeyPairId"], obj=kp), (0, name)))
            self.out.counts["User"] += 1

    def region_level(self) -> None:
        est = self.est
        vol_names = self.region_names.setdefault("Volume", Names())
        for v in sorted(est.volumes, key=lambda v: v["VolumeId"]):
            if TAG_ADDRESS in tags_of(v) or v.get("Attachments") or v.get("State") != "available":
                continue
            name = vol_names.get(tags_of(v).get("Name"), v["VolumeId"])
            spec = {"region": est.region, **self._volume_spec(v)}
            self.region_docs.append(Doc("Volume", name, [label(v, v["VolumeId"]) + ", not attached"],
                                        doc("Volume", name, self.ent, spec, aws_id=v["VolumeId"], obj=v), (1, name)))
            self.out.counts["Volume"] += 1
        ip_names = self.region_names.setdefault("PublicIp", Names())
        for a in sorted(est.addresses, key=lambda a: a.get("PublicIp", "")):
            if TAG_ADDRESS in tags_of(a) or a.get("AssociationId") or "AllocationId" not in a:
                continue
            name = ip_names.get(tags_of(a).get("Name"), a["AllocationId"])
            self.region_docs.append(Doc("PublicIp", name, [label(a, a["AllocationId"]) + f" {a['PublicIp']}, "
                                                                 "not associated"],
                                        doc("PublicIp", name, self.ent, {"region": est.region,
                                                                         "address": a["PublicIp"]},
                                            aws_id=a["AllocationId"], obj=a), (2, name)))
            self.out.counts["PublicIp"] += 1
        if self.region_docs:
            self.out.files[f"{self.ent}/region-{est.region}.yaml"] = sorted(self.region_docs, key=lambda d: d.sort)

    @staticmethod
    def _volume_spec(v: dict[str, Any]) -> dict[str, Any]:
        p = decode_volume(v)
        spec: dict[str, Any] = {"sizeGiB": p["sizeGiB"], "type": p["type"] or "gp3"}
        if spec["type"] in ("io1", "io2") and p["iops"]:
            spec["iops"] = p["iops"]
        if p["encrypted"]:
            spec["encrypted"] = True
            if p["kmsKeyId"]:
                spec["kmsKeyId"] = p["kmsKeyId"]
        spec["availabilityZone"] = p["availabilityZone"]
        return spec

    # -- one VPC ----------------------------------------------------------------------------------

    def vpc(self, vpc: dict[str, Any]) -> str:
        est, vid = self.est, vpc["VpcId"]
        vdc = self.vdc_names.get(tags_of(vpc).get("Name"), vid)
        docs: list[Doc] = []
        subnets = sorted(est.in_vpc(est.subnets, vid),
                         key=lambda s: ipaddress.IPv4Network(s["CidrBlock"]))
        tables = est.in_vpc(est.route_tables, vid)
        main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
        explicit = {a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")}
        table_of = {s["SubnetId"]: explicit.get(s["SubnetId"], main) for s in subnets}
        kind_of = {s["SubnetId"]: default_target(table_of[s["SubnetId"]]) for s in subnets}
        zones = Counter(s["AvailabilityZone"] for s in subnets)
        zone = zones.most_common(1)[0][0] if zones else f"{est.region}a"
        nat = next((n for n in est.in_vpc(est.nats, vid)), None)
        igw = est.igw_of(vid)
        decoded = VirtualDatacenter.decode(vpc)
        cidr, secondary = decoded["cidr"], decoded["secondaryCidrs"]

        parts: dict[str, str] = {}
        public = [s for s in subnets if kind_of[s["SubnetId"]] == "igw"]
        natd = [s for s in subnets if kind_of[s["SubnetId"]] == "nat"]
        net_type = "default" if self._is_default(cidr, subnets, kind_of, explicit, tables, nat) else "none"
        net_names: dict[str, str] = {}
        notes: list[str] = []
        if net_type == "default":
            net_names = {public[0]["SubnetId"]: "public", natd[0]["SubnetId"]: "default"}
            parts["PrivateNetwork/public"] = public[0]["SubnetId"]
            parts["PrivateNetwork/default"] = natd[0]["SubnetId"]
        else:
            names = Names({"public", "default"})
            for s in subnets:
                name = names.get(tags_of(s).get("Name"), s["SubnetId"])
                net_names[s["SubnetId"]] = name
                spec: dict[str, Any] = {"cidr": s["CidrBlock"], "availabilityZone": s["AvailabilityZone"]}
                if kind_of[s["SubnetId"]] == "igw":
                    spec["internetGateway"] = True
                elif kind_of[s["SubnetId"]] == "nat":
                    spec["natGateway"] = True
                comment = [label(s, s["SubnetId"])]
                if kind_of[s["SubnetId"]] == "igw" and not PrivateNetwork.decode(s)["mapPublicIp"]:
                    comment.append(self.warn(s["SubnetId"], "public subnet without MapPublicIpOnLaunch: the first "
                                                            "apply turns it on"))
                docs.append(Doc("PrivateNetwork", name, comment,
                                doc("PrivateNetwork", name, self.ent, spec, vdc, s["SubnetId"], obj=s),
                                (1, ipaddress.IPv4Network(s["CidrBlock"]))))
                self.out.counts["PrivateNetwork"] += 1
        if public and igw:
            parts["InternetGateway/igw"] = igw["InternetGatewayId"]
            pub_tables = sorted({str(t["RouteTableId"]) for s in public
                                 if (t := table_of[s["SubnetId"]]) is not None and t is not main})
            if pub_tables:
                parts["RouteTable/public"] = pub_tables[0]
            if len(pub_tables) != 1 or any(table_of[s["SubnetId"]] is main for s in public):
                notes.append(self.warn(vid, "the public subnets do not share one public route table: the first "
                                            "apply associates them with the one adopted"))
        if (public or natd) and main:
            parts["RouteTable/main"] = main["RouteTableId"]
        if natd and public and nat:
            parts["NatGateway/nat"] = nat["NatGatewayId"]
            eips = [a.get("PublicIp") for a in nat.get("NatGatewayAddresses", [])]
            notes.append(f"NAT gateway {nat['NatGatewayId']} (Elastic IP {', '.join(str(e) for e in eips)}) is "
                         "adopted with the VDC; its Elastic IP stays as it is")
        network: dict[str, Any] = {"type": net_type}
        spec = {"region": est.region, "availabilityZone": zone, "addressRange": cidr}
        if secondary:
            spec["addressRanges"] = secondary
        spec["network"] = network

        groups = sorted(est.in_vpc(est.groups, vid), key=lambda g: (g["GroupName"] != "default", g["GroupName"]))
        fw_names = Names()
        fw_of: dict[str, str] = {}
        for g in groups:
            fw_of[g["GroupId"]] = fw_names.get(g["GroupName"], g["GroupId"])
        default_group = next((g for g in groups if g["GroupName"] == "default"), None)
        if default_group is not None:
            spec["defaultFirewall"] = fw_of[default_group["GroupId"]]
        spec["onboard"] = {"vpcId": vid, **({"parts": dict(sorted(parts.items()))} if parts else {})}
        docs.append(Doc("VirtualDatacenter", vdc, [label(vpc, vid), *notes],
                        doc("VirtualDatacenter", vdc, self.ent, spec, obj=vpc), (0,)))
        self.out.counts["VirtualDatacenter"] += 1
        for g in groups:
            docs.append(self._firewall(g, fw_of[g["GroupId"]], fw_of, vdc))
        docs.extend(self._vms(vid, vdc, net_names, fw_of))
        docs.extend(self._databases(vid, vdc, net_names, fw_of))
        docs.extend(self._zones(vid, vdc))
        self.out.files[f"{self.ent}/{vdc}.yaml"] = sorted(docs, key=lambda d: (d.sort[0], str(d.sort[1:])))
        return vdc

    @staticmethod
    def _is_default(cidr: str, subnets: list[dict[str, Any]], kind_of: dict[str, str | None],
                    explicit: dict[str, dict[str, Any]], tables: list[dict[str, Any]],
                    nat: dict[str, Any] | None) -> bool:
        """The `default` type: public = the range's first /24 (own table -> igw), `default` = the second /24
        (main table -> NAT), one zone, exactly two route tables, the NAT gateway in the public subnet."""
        rng = ipaddress.IPv4Network(cidr)
        if rng.prefixlen > 23 or len(subnets) != 2 or len(tables) != 2 or nat is None:
            return False
        first, second = (str(n) for n in list(rng.subnets(new_prefix=24))[:2])
        by_cidr = {s["CidrBlock"]: s for s in subnets}
        pub, priv = by_cidr.get(first), by_cidr.get(second)
        return (pub is not None and priv is not None and kind_of[pub["SubnetId"]] == "igw"
                and pub["SubnetId"] in explicit and kind_of[priv["SubnetId"]] == "nat"
                and priv["SubnetId"] not in explicit and pub["AvailabilityZone"] == priv["AvailabilityZone"]
                and nat.get("SubnetId") == pub["SubnetId"] and PrivateNetwork.decode(pub)["mapPublicIp"])

    def _firewall(self, g: dict[str, Any], name: str, fw_of: dict[str, str], vdc: str) -> Doc:
        comment = [label(g, g["GroupId"]) + f" {g['GroupName']!r}"]
        spec: dict[str, Any] = {"description": g.get("Description", "")}
        if g["GroupName"] != name or name == "default":
            spec["groupName"] = g["GroupName"]
        for direction, key, peer_key, fw_key in (("ingress", "IpPermissions", "from", "fromFirewall"),
                                                 ("egress", "IpPermissionsEgress", "to", "toFirewall")):
            rules, atoms = [], []
            for p in g.get(key, []):
                proto, decoded_ports, peers, groups = decode_rule(p)
                ok, ports = rule_ports(proto, decoded_ports)
                if proto not in ("all", "tcp", "udp", "icmp") or not ok:
                    comment.append(self.warn(g["GroupId"], f"{direction} rule {proto} {p.get('FromPort')}-"
                                                           f"{p.get('ToPort')} cannot be written (left out: the "
                                                           "first apply revokes it)"))
                    continue
                base: dict[str, Any] = {"protocol": proto, **({"ports": ports} if ports else {})}
                cidrs = sorted(peers)
                if cidrs:
                    rules.append({**base, peer_key: cidrs})
                    atoms += [(proto, ports or "all", c) for c in cidrs]
                for group in groups:
                    other = fw_of.get(group)
                    if other is None:
                        comment.append(self.warn(g["GroupId"], f"{direction} rule refers to {group}, "
                                                               "a group of another VPC (left out)"))
                        continue
                    rules.append({**base, fw_key: other})
                    atoms.append((proto, ports or "all", other))
            if direction == "ingress":
                spec["ingress"] = rules
            elif sorted(atoms) != ALL_OUT:
                spec["egress"] = rules
        self.out.counts["Firewall"] += 1
        return Doc("Firewall", name, comment, doc("Firewall", name, self.ent, spec, vdc, g["GroupId"], obj=g), (2, name))

    def _vms(self, vid: str, vdc: str, net_names: dict[str, str], fw_of: dict[str, str]) -> list[Doc]:
        est = self.est
        docs: list[Doc] = []
        vm_names, vol_names, ip_names = Names(), Names(), Names()
        volumes = {v["VolumeId"]: v for v in est.volumes}
        eips = [a for a in est.addresses if a.get("AssociationId") and TAG_ADDRESS not in tags_of(a)]
        for inst in sorted(est.in_vpc(est.instances, vid), key=lambda i: (tags_of(i).get("Name", ""),
                                                                          i["InstanceId"])):
            iid = inst["InstanceId"]
            if TAG_ADDRESS in tags_of(inst):
                continue
            name = vm_names.get(tags_of(inst).get("Name"), iid)
            comment = [label(inst, iid)]
            enis = VirtualMachine.nics_of(inst)
            nics = []
            for n in enis:
                primary = n.get("PrivateIpAddress")
                nic: dict[str, Any] = {"network": net_names.get(n["SubnetId"], n["SubnetId"]), "ip": primary}
                secondary = VirtualMachine.secondary_ips(n)
                if secondary:
                    nic["secondaryIps"] = secondary
                for a in eips:
                    on_this = a.get("NetworkInterfaceId") == n["NetworkInterfaceId"] or (
                        not a.get("NetworkInterfaceId") and a.get("InstanceId") == iid
                        and a.get("PrivateIpAddress") in [primary, *secondary])
                    if not on_this:
                        continue
                    pname = ip_names.get(tags_of(a).get("Name"), a["AllocationId"])
                    docs.append(Doc("PublicIp", pname, [label(a, a["AllocationId"]) + f" {a['PublicIp']}, on {name}"],
                                    doc("PublicIp", pname, self.ent, {"address": a["PublicIp"]}, vdc, a["AllocationId"],
                                        obj=a),
                                    (4, pname)))
                    self.out.counts["PublicIp"] += 1
                    if a.get("PrivateIpAddress") in (None, primary) and "publicIp" in nic:
                        comment.append(self.warn(a["AllocationId"], f"a second Elastic IP on {primary}: "
                                                                    "left unattached in the YAML"))
                    elif a.get("PrivateIpAddress") in (None, primary):
                        nic["publicIp"] = pname
                    else:
                        nic.setdefault("secondaryPublicIps", {})[a["PrivateIpAddress"]] = pname
                nics.append(nic)
            spec: dict[str, Any] = {"template": inst["ImageId"], "hardwareProfile": inst["InstanceType"],
                                    "state": VirtualMachine.state_of(inst), "nics": nics}
            groups = VirtualMachine.groups_of(inst)
            if len(groups) == 1 and groups[0] in fw_of:
                spec["firewall"] = fw_of[groups[0]]
            elif groups:
                comment.append(self.warn(iid, f"{len(groups)} security groups: a VM has one firewall (left out)"))
            key = inst.get("KeyName")
            if key and key in self.users:
                spec["sshKey"] = self.users[key]
            elif key:
                comment.append(f"key pair {key!r} has no readable public key or no valid User name: sshKey left out")
            root = inst.get("RootDeviceName")
            mappings = [m for m in inst.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("VolumeId")]
            if mappings and not any(m["DeviceName"] == root for m in mappings):
                root = mappings[0]["DeviceName"]  # moto puts the root volume on /dev/sda1 whatever the AMI says
            vols = []
            for m in sorted(mappings, key=lambda m: m["DeviceName"]):
                v = volumes.get(m["Ebs"]["VolumeId"])
                if m["DeviceName"] == root or v is None or TAG_ADDRESS in tags_of(v):
                    continue
                vname = vol_names.get(tags_of(v).get("Name"), v["VolumeId"])
                vspec = self._volume_spec(v)
                if m["Ebs"].get("DeleteOnTermination"):
                    vspec["deleteOnTermination"] = True
                docs.append(Doc("Volume", vname, [label(v, v["VolumeId"]) + f", on {name} at {m['DeviceName']}"],
                                doc("Volume", vname, self.ent, vspec, vdc, v["VolumeId"], obj=v), (3, vname)))
                self.out.counts["Volume"] += 1
                vols.append(vname)
            if vols:
                spec["volumes"] = vols
            docs.append(Doc("VirtualMachine", name, comment, doc("VirtualMachine", name, self.ent, spec, vdc, iid, obj=inst),
                            (5, name)))
            self.out.counts["VirtualMachine"] += 1
        return docs


    def _databases(self, vid: str, vdc: str, net_names: dict[str, str], fw_of: dict[str, str]) -> list[Doc]:
        """A Database document per RDS instance of the VPC (adopted by its identifier). The password is
        AWS-managed or the user's: it is never read, and no document has a field for it."""
        docs = []
        names = Names()
        for d in sorted((d for d in self.est.databases if d["DBSubnetGroup"].get("VpcId") == vid),
                        key=lambda d: d["DBInstanceIdentifier"]):
            ident = d["DBInstanceIdentifier"]
            where = f"RDS instance {ident}"
            if d.get("Engine") not in DB_ENGINES:
                self.warn(where, f"engine {d.get('Engine')} is not one the controller manages (postgres, mysql, "
                                 "mariadb): not onboarded")
                continue
            subnets = [s["SubnetIdentifier"] for s in d["DBSubnetGroup"].get("Subnets") or []]
            unnamed = [s for s in subnets if s not in net_names]
            if unnamed:
                self.warn(where, f"its subnet group has subnets no network document describes ({', '.join(unnamed)}): "
                                 "not onboarded")
                continue
            groups = [g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups") or []]
            spec: dict[str, Any] = {
                "engine": d["Engine"], "engineVersion": str(d.get("EngineVersion")),
                "instanceClass": d["DBInstanceClass"], "storageGiB": d["AllocatedStorage"],
                "storageType": d.get("StorageType", "gp2"), "networks": sorted({net_names[s] for s in subnets}),
                "multiAz": bool(d.get("MultiAZ")), "backupRetentionDays": d.get("BackupRetentionPeriod", 0),
                "masterUsername": d["MasterUsername"],
            }
            comment = [f"{where} (subnet group {d['DBSubnetGroup'].get('DBSubnetGroupName')})"]
            if len(groups) == 1 and groups[0] in fw_of:
                spec["firewall"] = fw_of[groups[0]]
            elif groups:
                comment.append(self.warn(where, f"{len(groups)} security groups: the document names none, the "
                                                "first apply leaves them as they are"))
            if not d.get("MasterUserSecret"):
                comment.append(self.warn(where, "its master password is not managed by AWS: the controller never "
                                                "reads or changes it"))
            body = doc("Database", names.get(ident, ident), self.ent, spec, vdc, ident, obj=d)
            if d.get("DeletionProtection"):
                body["metadata"]["protect"] = True
            docs.append(Doc("Database", body["metadata"]["name"], comment, body, (4, ident)))
            self.out.counts["Database"] += 1
        return docs

    def _zones(self, vid: str, vdc: str) -> list[Doc]:
        """A DnsZone document per private zone associated with the VPC alone. Its records are listed as
        not managed: they stay as they are (the controller never changes a record it did not create)."""
        docs = []
        for z in self.est.zones:
            if [v.get("VPCId") for v in z["vpcs"]] != [vid]:
                if any(v.get("VPCId") == vid for v in z["vpcs"]):
                    others = sorted(v["VPCId"] for v in z["vpcs"] if v.get("VPCId") != vid)
                    self.warn(f"zone {z['zone']['Name']}", f"also serves {', '.join(others)}: not onboarded with "
                                                           "this VPC (its document would drop them)")
                continue
            zone = z["zone"]
            zid, domain = zone["Id"].rsplit("/", 1)[-1], zone["Name"].rstrip(".")
            records = [f"{r['Name'].rstrip('.')} {r['Type']}" for r in z["records"]
                       if not (r["Name"].rstrip(".") == domain and r["Type"] in ("SOA", "NS"))]
            spec: dict[str, Any] = {"domain": domain, "private": True, "vdcs": [vdc]}
            if (zone.get("Config") or {}).get("Comment"):
                spec["comment"] = zone["Config"]["Comment"]
            comment = [f"private hosted zone {zid}"]
            if records:
                comment.append(self.warn(f"zone {domain}", f"{len(records)} records not managed (made outside the "
                                                            f"controller, left as they are): {', '.join(records)}"))
            name = sanitize(domain.replace(".", "-"), zid.lower())
            docs.append(Doc("DnsZone", name, comment, doc("DnsZone", name, self.ent, spec, None, zid), (5, domain)))
            self.out.counts["DnsZone"] += 1
        return docs


def render_file(docs: list[Doc], source: str) -> str:
    stamp = dt.date.today().isoformat()
    head = (f"# Written by `controller onboard` on {stamp} from {source}.\n"
            "# metadata.awsId / spec.onboard name the AWS objects these documents adopt: the next apply tags\n"
            "# them (and changes nothing else). Edit freely; see docs/onboarding.md.\n")
    return head + "".join(f"---\n{d.render()}" for d in docs)


def onboard_estate(est: Estate, enterprise: str, taken_vdcs: set[str],
                   taken_region: dict[str, set[str]]) -> Onboarded:
    w = Writer(est, enterprise, taken_vdcs, taken_region)
    for vpc in sorted(est.vpcs, key=lambda v: (tags_of(v).get("Name", ""), v["VpcId"])):
        w.vpc(vpc)
    w.region_level()
    return w.out
