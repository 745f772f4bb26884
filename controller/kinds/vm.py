"""VirtualMachine: an EC2 instance.

Props (the live side has the same shape, AWS ids where the desired side has Refs):
  ami            the AMI id (a plain string; the Template node is an extra dependency)
  rootDevice     Ref(template, rootDeviceName): where the boot disk goes (not compared)
  instanceType   update in place: stop, modify, start back if it was running
  nics           [{subnet, ip}] by device index; ip None = AWS picks (then not compared); forces replacement
  secondaryIps   [[ip, ...]] per nic, sorted; assigned and unassigned in place on the nic's ENI
  firewall       the security group on every nic (the VDC's defaultFirewall when the VM names none; None = the
                 VPC's default group); update in place
  keyName        the key pair (a User): forces replacement
  bootDisk       {sizeGiB, type, encrypted} or None (the AMI's): forces replacement
  userData       its sha256 (secret: shown only as a digest); AWS cannot cheaply return user data, so the
                 instance carries the digest in a tag set at creation; forces replacement
  state          deployed | powered-off (start/stop in place); undeployed makes the node absent: the
                 instance is terminated (the boot disk goes with it, data volumes stay)

Only what the user wrote is compared (plus the structural props). attrs: enis and privateIps by nic index.
"""

from __future__ import annotations

import hashlib
from typing import Any

from controller.aws import tags as tag_style
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    client_token,
    ownership_tags,
    register,
    set_by_user,
    tags_at_create,
    tags_of,
)
from controller.kinds.hardware import offering_node
from controller.kinds.user import user_node_id
from controller.kinds.volume import VOLUMES
from controller.spec.catalog import Catalog
from controller.spec.models import Resource, address_of

TAG_USER_DATA = "controller:user-data-sha256"
STATES = {"running": "deployed", "pending": "deployed", "stopped": "powered-off", "stopping": "powered-off"}
GONE = ("terminated", "shutting-down")
NOT_YET = ["InvalidInstanceID.NotFound", "IncorrectInstanceState"]
USER_FIELDS = {"state": "state", "ssh_key": "keyName", "boot_disk": "bootDisk", "user_data": "userData"}
INSTANCES = AwsFacts("ec2", "describe_instances", "Reservations[].Instances", "InstanceId", tag_style.EC2,
                     resource_type="instance", adopt_filter="instance-id", id_prefix="i-")


def user_data_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def template_node_id(vm: Resource) -> str:
    return address_of("Template", vm.spec.template, vm.metadata.enterprise)


@register
class VirtualMachine(Kind):
    name = "VirtualMachine"
    spec_kinds = ("VirtualMachine",)
    force_new = frozenset({"ami", "nics", "keyName", "bootDisk", "userData"})
    secret_fields = frozenset({"userData"})
    ignore_props = {"hardwareProfile": "instanceType", "sshKey": "keyName", "template": "ami",
                    "nics[*].secondaryIps": "secondaryIps[*]"}
    facts = (INSTANCES, VOLUMES)  # the instance, and its boot disk

    # -- desired ---------------------------------------------------------------------------------

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        vdc = catalog.vdc_required(r)
        s = r.spec
        ent, region = r.metadata.enterprise, vdc.spec.region
        ami = catalog.template_ami(r)
        tpl_id = template_node_id(r)
        nodes: list[Node] = []
        if s.template.startswith("ami-"):
            nodes.append(Node(id=tpl_id, kind="Template", address=tpl_id, enterprise=r.enterprise, region=region,
                              props={"ami": ami}, compared=frozenset({"ami"}), source=f"{r.file}:{r.line}"))
        fw = s.firewall or vdc.spec.default_firewall
        props: dict[str, Any] = {
            "ami": ami,
            "rootDevice": Ref(tpl_id, "rootDeviceName"),
            "instanceType": s.hardware_profile,
            "nics": [{"subnet": Ref(address_of("PrivateNetwork", n.network, ent, vdc.name)), "ip": n.ip}
                     for n in s.nics],
            "secondaryIps": [sorted(n.secondary_ips) for n in s.nics],
            "firewall": Ref(address_of("Firewall", fw, ent, vdc.name)) if fw else None,
            "keyName": s.ssh_key,
            "bootDisk": ({"sizeGiB": s.boot_disk.size_gi_b, "type": s.boot_disk.type,
                          "encrypted": s.boot_disk.encrypted} if s.boot_disk else None),
            "userData": user_data_digest(s.user_data) if s.user_data is not None else None,
            "userDataText": s.user_data,  # for create only: never compared, never shown
            "state": s.state,
        }
        compared = ["ami", "instanceType", "nics", "secondaryIps", "firewall"]
        compared += [USER_FIELDS[f] for f in set_by_user(s, *USER_FIELDS)]
        extra = [tpl_id] + ([user_node_id(r.enterprise, s.ssh_key, region)] if s.ssh_key else [])
        offering = offering_node(r, catalog, vdc, region)
        if offering is not None:  # the zone rule at plan: no hardware catalogue in the tree for this region
            nodes.append(offering)
            extra.append(offering.id)
        node = self.node(self.name, r, props, region=region, compared=compared, extra_deps=extra)
        if s.state == "undeployed":
            node.absent = "state: undeployed"
        nodes.append(node)
        return nodes

    # -- observed --------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Live]:
        instances = [i for i in obs.owned(INSTANCES) if i.get("State", {}).get("Name") not in GONE]
        if not instances:
            return []
        volumes = {v["VolumeId"]: v for v in obs.owned(VOLUMES)}
        out = []
        for inst in instances:
            props, attrs, refs = self.decode(inst, volumes)
            live = self.live_from(self.name, inst, inst["InstanceId"], props, refs=refs, **attrs)
            if live is None:
                continue
            want = obs.desired.get(live.id)
            if want is not None and want.kind == self.name:
                # a nic whose ip the user left to AWS: whatever AWS picked is not drift
                for nic, wanted in zip(props["nics"], want.props.get("nics") or [], strict=False):
                    if wanted.get("ip") is None:
                        nic["ip"] = None
            out.append(live)
        return out

    @staticmethod
    def nics_of(inst: dict[str, Any]) -> list[dict[str, Any]]:
        """The instance's network interfaces by device index."""
        return sorted(inst.get("NetworkInterfaces", []), key=lambda n: n.get("Attachment", {}).get("DeviceIndex", 0))

    @staticmethod
    def groups_of(inst: dict[str, Any]) -> list[str]:
        """The instance's security groups (moto leaves the instance's list empty when created with
        NetworkInterfaces: then the first nic's)."""
        groups = [g["GroupId"] for g in inst.get("SecurityGroups", [])]
        enis = VirtualMachine.nics_of(inst)
        if not groups and enis:
            groups = [g["GroupId"] for g in enis[0].get("Groups", [])]
        return sorted(set(groups))

    @staticmethod
    def secondary_ips(nic: dict[str, Any]) -> list[str]:
        return sorted(a["PrivateIpAddress"] for a in nic.get("PrivateIpAddresses", []) if not a.get("Primary"))

    @staticmethod
    def state_of(inst: dict[str, Any]) -> str:
        name = inst.get("State", {}).get("Name", "")
        return STATES.get(name, name)

    @staticmethod
    def decode(inst: dict[str, Any], volumes: dict[str, dict[str, Any]]
               ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """An instance as (props, attrs, refs): the one place an instance is read (observe, onboarding)."""
        enis = VirtualMachine.nics_of(inst)
        groups = VirtualMachine.groups_of(inst)
        root = inst.get("RootDeviceName")
        tags = tags_of(inst)
        mine = [volumes[m["Ebs"]["VolumeId"]] for m in inst.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("VolumeId") in volumes]
        # the root device's volume; else the one volume tagged with the VM's own address (created at launch:
        # moto puts an AMI's default root volume on /dev/sda1 whatever RootDeviceName says)
        at_root = [v for v in mine if any(a.get("Device") == root for a in v.get("Attachments", []))]
        own = [v for v in mine if {"Key": TAG_ADDRESS, "Value": tags.get(TAG_ADDRESS)} in v.get("Tags", [])]
        disk = at_root[0] if at_root else (own[0] if len(own) == 1 else None)
        boot = ({"sizeGiB": disk.get("Size"), "type": disk.get("VolumeType"), "encrypted": bool(disk.get("Encrypted"))}
                if disk else None)
        props = {
            "ami": inst.get("ImageId"),
            "rootDevice": root,
            "instanceType": inst.get("InstanceType"),
            "nics": [{"subnet": n.get("SubnetId"), "ip": n.get("PrivateIpAddress")} for n in enis],
            "secondaryIps": [VirtualMachine.secondary_ips(n) for n in enis],
            "firewall": (groups[0] if len(groups) == 1 else groups) if groups else None,
            "keyName": inst.get("KeyName"),
            "bootDisk": boot,
            "userData": tags.get(TAG_USER_DATA),
            "state": VirtualMachine.state_of(inst),
        }
        attrs = {"enis": [n["NetworkInterfaceId"] for n in enis],
                 "privateIps": [n.get("PrivateIpAddress") for n in enis], "publicIp": inst.get("PublicIpAddress"),
                 # the root volume and the nics carry the instance's tags: a retag sets them on all
                 "tagged_parts": [n["NetworkInterfaceId"] for n in enis] + ([disk["VolumeId"]] if disk else [])}
        refs = [n.get("SubnetId") for n in enis] + groups
        return props, attrs, [r for r in dict.fromkeys(refs) if r]

    # -- verbs -----------------------------------------------------------------------------------

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        p = op.props
        extra = {TAG_USER_DATA: p["userData"]} if p.get("userData") else {}
        tags = {**ownership_tags(node), **extra}
        kw: dict[str, Any] = {
            "ImageId": p["ami"], "InstanceType": p["instanceType"], "MinCount": 1, "MaxCount": 1,
            "ClientToken": client_token(node, op.props),
            # the instance, and the boot disk made with it (one TagSpecifications entry each)
            "TagSpecifications": [*self.tags_at_create(node, extra)["TagSpecifications"],
                                  *tags_at_create(node, VOLUMES)["TagSpecifications"],
                                  tag_style.Ec2Tags.spec("network-interface", ownership_tags(node))],
        }
        if p.get("keyName"):
            kw["KeyName"] = p["keyName"]
        if p.get("userDataText"):
            kw["UserData"] = p["userDataText"]
        nics = p["nics"]
        groups = [p["firewall"]] if p.get("firewall") else [self._default_group(op, nics[0]["subnet"])]
        if len(nics) == 1:
            kw["SubnetId"] = nics[0]["subnet"]
            kw["SecurityGroupIds"] = groups
            if nics[0]["ip"]:
                kw["PrivateIpAddress"] = nics[0]["ip"]
        else:
            kw["NetworkInterfaces"] = [
                {"DeviceIndex": i, "SubnetId": n["subnet"], "Groups": groups,
                 **({"PrivateIpAddress": n["ip"]} if n["ip"] else {})} for i, n in enumerate(nics)]
        disk = p.get("bootDisk")
        if disk:
            kw["BlockDeviceMappings"] = [{"DeviceName": p["rootDevice"], "Ebs": {
                "VolumeSize": disk["sizeGiB"], "VolumeType": disk["type"], "Encrypted": disk["encrypted"],
                "DeleteOnTermination": True}}]
        inst = op.call("run instance", ec2.run_instances, **kw,
                       retry_codes=["InvalidSubnetID.NotFound", "InvalidGroup.NotFound"])["Instances"][0]
        iid = inst["InstanceId"]
        enis = self.nics_of(inst)
        eni_ids = [n["NetworkInterfaceId"] for n in enis]
        # The nics are tagged by the TagSpecifications above (the local endpoint too: localaws.py). No check
        # here: RunInstances' answer never lists a nic's tags, so a check would tag every nic twice on AWS.
        live = Live(id=node.id, kind=self.name, aws_id=iid, tags=tags,
                    props={**p, "secondaryIps": [[] for _ in nics], "state": "deployed"},
                    attrs={"enis": eni_ids, "privateIps": [n.get("PrivateIpAddress") for n in enis],
                           "publicIp": inst.get("PublicIpAddress")})
        live.props.pop("userDataText", None)
        op.live = live
        self.update(op, ["secondaryIps"])
        if p["state"] == "powered-off":
            self._wait(op, "running")  # a pending instance cannot be stopped yet
            self._set_state(op, "powered-off")
        live.props.update(secondaryIps=p["secondaryIps"], state=p["state"])
        return live

    @staticmethod
    def _default_group(op: Op, subnet: str) -> str:
        """The VPC's default security group (a VM with no firewall and a VDC with no defaultFirewall)."""
        ec2 = op.client()
        sub = op.call("describe subnet", ec2.describe_subnets, SubnetIds=[subnet],
                      retry_codes=["InvalidSubnetID.NotFound"])["Subnets"][0]
        found = op.call("find default security group", ec2.describe_security_groups, Filters=[
            {"Name": "vpc-id", "Values": [sub["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}])
        return str(found["SecurityGroups"][0]["GroupId"])

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        ec2 = op.client()
        iid = op.live.aws_id
        state = op.live.props.get("state")
        target = op.props["state"] if "state" in changes else state
        if "instanceType" in changes:
            if state != "powered-off":
                self._set_state(op, "powered-off")
                state = "powered-off"
            op.call("change instance type", ec2.modify_instance_attribute, InstanceId=iid,
                    InstanceType={"Value": op.props["instanceType"]}, retry_codes=NOT_YET)
        if "firewall" in changes and op.props.get("firewall"):
            groups = [op.props["firewall"]]
            op.call("set firewall", ec2.modify_instance_attribute, InstanceId=iid, Groups=groups,
                    retry_codes=NOT_YET)
            for eni in (op.live.attrs.get("enis") or [])[1:]:  # the other nics (the call above covers the first)
                op.call("set firewall on nic", ec2.modify_network_interface_attribute, NetworkInterfaceId=eni,
                        Groups=groups, retry_codes=["InvalidNetworkInterfaceID.NotFound"])
        if "secondaryIps" in changes:
            enis = op.live.attrs.get("enis") or []
            have_all = op.live.props.get("secondaryIps") or []
            for i, want in enumerate(op.props["secondaryIps"]):
                if i >= len(enis):
                    break
                have = set(have_all[i]) if i < len(have_all) else set()
                add, drop = sorted(set(want) - have), sorted(have - set(want))
                if drop:
                    op.call("unassign secondary IPs", ec2.unassign_private_ip_addresses,
                            NetworkInterfaceId=enis[i], PrivateIpAddresses=drop)
                if add:
                    op.call("assign secondary IPs", ec2.assign_private_ip_addresses, NetworkInterfaceId=enis[i],
                            PrivateIpAddresses=add, retry_codes=["InvalidNetworkInterfaceID.NotFound"])
        if target in ("deployed", "powered-off") and target != state:
            self._set_state(op, target)

    def _set_state(self, op: Op, target: str) -> None:
        ec2 = op.client()
        iid = op.live.aws_id if op.live else ""
        if target == "powered-off":
            op.call("stop instance", ec2.stop_instances, InstanceIds=[iid], retry_codes=NOT_YET)
            self._wait(op, "stopped")
        else:
            op.call("start instance", ec2.start_instances, InstanceIds=[iid], retry_codes=NOT_YET)
            self._wait(op, "running")

    @staticmethod
    def _wait(op: Op, state: str) -> None:
        """Batched with the other VMs' waits: one DescribeInstances per poll for all of them. A terminated
        instance may be gone from the answer (AWS forgets them after a while): that is terminated too."""
        iid = op.live.aws_id if op.live else ""
        op.wait_for(INSTANCES, iid, state, ready=lambda i: i["State"]["Name"] == state,
                    failed=lambda i: (f"the instance is {i['State']['Name']}"
                                      if i["State"]["Name"] in GONE and state != "terminated" else None),
                    absent_ok=state == "terminated")

    def delete(self, op: Op) -> None:
        assert op.live is not None
        # the boot disk goes with the instance (DeleteOnTermination on the root device only); data volumes stay
        res = op.call("terminate instance", op.client().terminate_instances, InstanceIds=[op.live.aws_id],
                      ok_not_found=True)
        if res is not None:
            self._wait(op, "terminated")
