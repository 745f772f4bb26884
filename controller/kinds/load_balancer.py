"""LoadBalancer: an application load balancer (elbv2) or a classic one (elb), as ONE node.

The node manages the whole thing: the load balancer, its listeners, and (application) one target
group per distinct target port with the members registered in it.

Identity:
  AWS name   `<vdc>-<name>`, at most 32 characters (longer: cut, plus a short hash so two long
             names never collide); unique per account and region.
  aws_id     application: the load balancer ARN. classic: its DNSName (AWS-unique, unlike the name,
             which is only unique per account and region). The classic name is kept in attrs/props.
  tags       the ownership tags, set at creation (Tags=...); read with describe_tags and restored
             with add_tags: the ELBV2 and ELB tag styles of the query layer (controller/aws/tags.py).
  target groups `<lb name>-<port>` (cut + hash when longer than 32), tagged like the load balancer.

moto creates a second ALB on a repeated create with the same name, so idempotency comes only from
the observe (a tagged load balancer of this address is never created again; a duplicate one shows
up in the plan as a delete). A target group left by a crashed create is adopted by name.

Observe, per region: one describe_load_balancers per API family, describe_tags in batches of 20
(the query layer's ELB tag styles), and detail calls (listeners, target groups, target health) only for the load balancers we own.
"""

from __future__ import annotations

import hashlib
from typing import Any

import botocore.exceptions

from controller.aws import tags as tag_style
from controller.aws.errors import is_not_found
from controller.errors import ResourceError
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    ownership_tags,
    register,
    set_by_user,
    tags_at_create,
    tags_of,
)
from controller.spec.catalog import Catalog
from controller.spec.models import Resource, address_of

MAX_NAME = 32
WEB = ("HTTP", "HTTPS")
# application LBs: listed only when one is desired or the tagging API shows one of ours (`rare`)
LB_V2 = AwsFacts("elbv2", "describe_load_balancers", "LoadBalancers", "LoadBalancerArn", tag_style.ELBV2,
                 id_prefix="arn:aws:elasticloadbalancing:", rare="elasticloadbalancing:loadbalancer")
# classic LBs: the AWS id is the DNS name; tag calls name the load balancer
LB_CLASSIC = AwsFacts("elb", "describe_load_balancers", "LoadBalancerDescriptions", "DNSName", tag_style.ELB,
                      tag_field="LoadBalancerName", id_prefix="elb:")
TARGET_GROUPS = AwsFacts("elbv2", "describe_target_groups", "TargetGroups", "TargetGroupArn", tag_style.ELBV2)


def short_name(base: str, limit: int = MAX_NAME) -> str:
    """`base` if it fits in `limit`; else a cut of it plus a 6-hex hash of the whole (no trailing '-')."""
    if len(base) <= limit:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    return f"{base[:limit - 7].rstrip('-')}-{digest}"


def lb_name(vdc: str, name: str) -> str:
    return short_name(f"{vdc}-{name}")


def target_group_name(lb: str, port: int) -> str:
    suffix = f"-{port}"
    if len(lb) + len(suffix) <= MAX_NAME:
        return f"{lb}{suffix}"
    return short_name(lb, MAX_NAME - len(suffix)) + suffix


def _health_target(hc: dict[str, Any]) -> str:
    """Classic health check target: `HTTP:80/path` or `TCP:80`."""
    path = hc.get("path") or "/"
    return f"{hc['protocol']}:{hc['port']}{path if hc['protocol'] in WEB else ''}"


def _parse_target(target: str) -> tuple[str, int | None, str | None]:
    proto, _, rest = target.partition(":")
    port, slash, path = rest.partition("/")
    return proto, int(port) if port.isdigit() else None, (slash + path) if proto in WEB else None


def _instance_protocol(protocol: str) -> str:
    return {"HTTPS": "HTTP", "SSL": "TCP"}.get(protocol, protocol)


def _gone(op: Op, fn: Any, **kwargs: Any) -> Any:
    """A probe for op.wait that reports 'gone' (instead of retrying) when the object is not found."""
    try:
        return fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        if is_not_found(e):
            return "gone"
        raise


def _undeployed(vm: Resource | None) -> bool:
    """An undeployed VM has no instance: it is no member (it joins again when deployed)."""
    return vm is not None and getattr(vm.spec, "state", "deployed") == "undeployed"


def _listener_key(listener: dict[str, Any]) -> tuple[int, str, int | None]:
    return listener["port"], listener["protocol"], listener.get("targetPort")


@register
class LoadBalancer(Kind):
    name = "LoadBalancer"
    spec_kinds = ("LoadBalancer",)
    force_new = frozenset({"type", "name", "internal"})
    set_fields = frozenset({"subnets", "listeners", "members"})
    ignore_props = {"networks": "subnets"}
    facts = (LB_V2, LB_CLASSIC, TARGET_GROUPS)

    # -- desired ---------------------------------------------------------------------------------

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        vdc = catalog.vdc_required(r)
        s = r.spec
        ent, vdc_name = r.metadata.enterprise, r.metadata.vdc
        hc = s.health_check
        listeners = [{"protocol": li.protocol, "port": li.port, "targetPort": li.target_port} for li in s.listeners]
        props: dict[str, Any] = {
            "type": s.type,
            "name": lb_name(vdc.name, r.name),
            "vpc": Ref(vdc.address),
            "subnets": [Ref(address_of("PrivateNetwork", n, ent, vdc_name)) for n in s.networks],
            "firewall": Ref(address_of("Firewall", s.firewall, ent, vdc_name)) if s.firewall else None,
            "listeners": listeners,
            "members": [Ref(address_of("VirtualMachine", m, ent, vdc_name)) for m in s.members
                        if not _undeployed(catalog.get("VirtualMachine", m, ent, vdc_name))],
            "healthCheck": {
                "protocol": hc.protocol,
                "port": hc.port or s.listeners[0].target_port,
                "path": hc.path if hc.protocol in WEB else None,
                "interval": hc.interval,
                "healthyThreshold": hc.healthy_threshold,
                "unhealthyThreshold": hc.unhealthy_threshold,
            },
            "internal": s.internal,
        }
        compared = ["type", "name", "subnets", "firewall", "listeners", "internal",
                    *set_by_user(s, "members"), *(["healthCheck"] if "health_check" in s.model_fields_set else [])]
        return [self.node(self.name, r, props, region=vdc.spec.region, compared=compared)]

    def check(self, node: Node, live: Live | None) -> str | None:
        p = node.props
        secure = [li["port"] for li in p["listeners"] if li["protocol"] in ("HTTPS", "SSL")]
        if secure:
            return (f"listener port {secure[0]} uses {'HTTPS' if p['type'] == 'application' else 'HTTPS/SSL'}, "
                    "which needs a certificate, and the spec cannot name one yet: use HTTP or TCP")
        if p["type"] == "application":
            bad = [li["port"] for li in p["listeners"] if li["protocol"] not in WEB]
            if bad:
                return f"an application load balancer takes HTTP/HTTPS listeners, and port {bad[0]} is not one"
            if p["healthCheck"]["protocol"] not in WEB:
                return "an application load balancer health-checks over HTTP or HTTPS"
        return None

    # -- observe ---------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Live]:
        # Application LBs are listed only when something is desired or the tagging API shows one of
        # ours (keeps a no-change plan cheap). Classic LBs are always listed: moto's tagging API
        # leaves them out when filtering by type, and a missed LB would never be deleted.
        v2 = self._observe_v2(obs) if obs.needs(self.name, LB_V2) else []
        return v2 + self._observe_classic(obs)

    def _observe_v2(self, obs: Observation) -> list[Live]:
        lbs = obs.owned(LB_V2)
        if not lbs:
            return []
        groups = obs.list("elbv2", "describe_target_groups", "TargetGroups")
        out = []
        for lb in lbs:
            arn = lb["LoadBalancerArn"]
            tags = tags_of(lb)
            tgs = sorted((g for g in groups if arn in g.get("LoadBalancerArns", [])), key=lambda g: g["Port"])
            tg_port = {g["TargetGroupArn"]: g["Port"] for g in tgs}
            listeners = []
            for li in obs.list("elbv2", "describe_listeners", "Listeners", LoadBalancerArn=arn):
                fwd = next((a.get("TargetGroupArn") for a in li.get("DefaultActions", []) if a["Type"] == "forward"),
                           None)
                listeners.append({"protocol": li["Protocol"], "port": li["Port"], "targetPort": tg_port.get(fwd),
                                  "arn": li["ListenerArn"]})
            targets: dict[str, list[str]] = {}
            for g in tgs:
                seen = obs.list("elbv2", "describe_target_health", "TargetHealthDescriptions",
                                TargetGroupArn=g["TargetGroupArn"])
                targets[g["TargetGroupArn"]] = sorted(
                    h["Target"]["Id"] for h in seen if h.get("TargetHealth", {}).get("State") != "draining")
            node = obs.desired.get(tags[TAG_ADDRESS])
            checks = [self._v2_health(g) for g in tgs]
            want = node.props.get("healthCheck") if node is not None else None
            health = next((c for c in checks if c != want), checks[0] if checks else None)
            members = sorted({i for ids in targets.values() for i in ids})
            sgs = lb.get("SecurityGroups") or []
            subnets = sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []) if z.get("SubnetId"))
            props = {
                "type": lb.get("Type", "application"), "name": lb["LoadBalancerName"], "vpc": lb.get("VpcId"),
                "subnets": subnets, "firewall": sgs[0] if sgs else None,
                "listeners": [{k: v for k, v in li.items() if k != "arn"} for li in listeners],
                "members": members, "healthCheck": health, "internal": lb.get("Scheme") == "internal",
            }
            out.append(Live(id=tags[TAG_ADDRESS], kind=self.name, aws_id=arn, props=props, tags=tags,
                            refs=[*subnets, *sgs, lb.get("VpcId") or "", *members],
                            attrs={"dnsName": lb.get("DNSName"), "zoneId": lb.get("CanonicalHostedZoneId"),
                                   "arn": arn, "listeners": listeners,
                                   "targetGroups": {str(g["Port"]): g["TargetGroupArn"] for g in tgs},
                                   "targets": targets,
                                   # the target groups carry the load balancer's tags (retag sets both)
                                   "tagged_parts": sorted(g["TargetGroupArn"] for g in tgs)}))
        return out

    @staticmethod
    def _v2_health(g: dict[str, Any]) -> dict[str, Any]:
        port = g.get("HealthCheckPort")
        proto = g.get("HealthCheckProtocol") or g.get("Protocol")
        return {
            "protocol": proto,
            "port": g["Port"] if port in (None, "traffic-port") else int(port),
            "path": g.get("HealthCheckPath") if proto in WEB else None,
            "interval": g.get("HealthCheckIntervalSeconds"),
            "healthyThreshold": g.get("HealthyThresholdCount"),
            "unhealthyThreshold": g.get("UnhealthyThresholdCount"),
        }

    def _observe_classic(self, obs: Observation) -> list[Live]:
        out = []
        for lb in obs.owned(LB_CLASSIC):
            name = lb["LoadBalancerName"]
            tags = tags_of(lb)
            hc = lb.get("HealthCheck") or {}
            health = None
            if hc.get("Target"):
                proto, port, path = _parse_target(hc["Target"])
                health = {"protocol": proto, "port": port, "path": path, "interval": hc.get("Interval"),
                          "healthyThreshold": hc.get("HealthyThreshold"),
                          "unhealthyThreshold": hc.get("UnhealthyThreshold")}
            listeners = [{"protocol": d["Listener"]["Protocol"].upper(), "port": d["Listener"]["LoadBalancerPort"],
                          "targetPort": d["Listener"]["InstancePort"]} for d in lb.get("ListenerDescriptions", [])]
            sgs = lb.get("SecurityGroups") or []
            members = sorted(i["InstanceId"] for i in lb.get("Instances", []))
            props = {
                "type": "classic", "name": name, "vpc": lb.get("VPCId"), "subnets": sorted(lb.get("Subnets", [])),
                "firewall": sgs[0] if sgs else None, "listeners": listeners, "members": members,
                "healthCheck": health, "internal": lb.get("Scheme") == "internal",
            }
            dns = lb.get("DNSName") or f"elb:{name}"
            out.append(Live(id=tags[TAG_ADDRESS], kind=self.name, aws_id=dns, props=props, tags=tags,
                            refs=[*props["subnets"], *sgs, lb.get("VPCId") or "", *members],
                            attrs={"dnsName": dns, "name": name, "zoneId": lb.get("CanonicalHostedZoneNameID")}))
        return out

    # -- create ----------------------------------------------------------------------------------

    def create(self, op: Op) -> Live:
        node = op.want
        p = op.props
        if p["type"] == "classic":
            elb = op.client("elb")
            kwargs: dict[str, Any] = {"LoadBalancerName": p["name"], "Subnets": p["subnets"],
                                      **tags_at_create(node, LB_CLASSIC),
                                      "Listeners": [self._classic_listener(li) for li in p["listeners"]]}
            if p["firewall"]:
                kwargs["SecurityGroups"] = [p["firewall"]]
            if p["internal"]:
                kwargs["Scheme"] = "internal"
            dns = op.call("create load balancer", elb.create_load_balancer, **kwargs,
                          retry_codes=["InvalidSubnet", "InvalidSecurityGroup"])["DNSName"]
            zone = (op.call("describe load balancer", elb.describe_load_balancers, LoadBalancerNames=[p["name"]])
                    ["LoadBalancerDescriptions"][0].get("CanonicalHostedZoneNameID"))
            op.live = Live(id=node.id, kind=self.name, aws_id=dns, tags=ownership_tags(node),
                           props={**p, "listeners": list(p["listeners"]), "members": [], "healthCheck": None},
                           attrs={"dnsName": dns, "name": p["name"], "zoneId": zone})
            self.update(op, ["members", "healthCheck"])
        else:
            v2 = op.client("elbv2")
            kwargs = {"Name": p["name"], "Subnets": p["subnets"], "Type": p["type"], **self.tags_at_create(node),
                      "Scheme": "internal" if p["internal"] else "internet-facing"}
            if p["firewall"]:
                kwargs["SecurityGroups"] = [p["firewall"]]
            lb = op.call("create load balancer", v2.create_load_balancer, **kwargs,
                         retry_codes=["InvalidSubnet", "InvalidSecurityGroup"])["LoadBalancers"][0]
            arn = lb["LoadBalancerArn"]
            op.live = Live(id=node.id, kind=self.name, aws_id=arn, tags=ownership_tags(node),
                           props={**p, "listeners": [], "members": [], "healthCheck": None},
                           attrs={"dnsName": lb.get("DNSName"), "zoneId": lb.get("CanonicalHostedZoneId"),
                                  "arn": arn, "listeners": [], "targetGroups": {},
                                  "targets": {}})
            self._converge_v2(op, ["listeners", "members", "healthCheck"])
        live = op.live
        live.props = dict(p)
        return live

    @staticmethod
    def _classic_listener(li: dict[str, Any]) -> dict[str, Any]:
        return {"Protocol": li["protocol"], "LoadBalancerPort": li["port"],
                "InstanceProtocol": _instance_protocol(li["protocol"]), "InstancePort": li["targetPort"]}

    # -- update ----------------------------------------------------------------------------------

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        if op.props["type"] == "classic":
            self._update_classic(op, changes)
        else:
            self._update_v2(op, changes)

    def _update_classic(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        elb = op.client("elb")
        name = op.live.attrs.get("name") or op.props["name"]
        want, have = op.props, op.live.props
        if "subnets" in changes:
            add = sorted(set(want["subnets"]) - set(have.get("subnets") or []))
            drop = sorted(set(have.get("subnets") or []) - set(want["subnets"]))
            if add:
                op.call("attach subnets", elb.attach_load_balancer_to_subnets, LoadBalancerName=name, Subnets=add)
            if drop:
                op.call("detach subnets", elb.detach_load_balancer_from_subnets, LoadBalancerName=name, Subnets=drop)
        if "firewall" in changes and want["firewall"]:
            op.call("set security groups", elb.apply_security_groups_to_load_balancer, LoadBalancerName=name,
                    SecurityGroups=[want["firewall"]])
        if "listeners" in changes:
            wanted = {_listener_key(li) for li in want["listeners"]}
            present = {_listener_key(li) for li in have.get("listeners") or []}
            stale = sorted({port for port, *_ in present - wanted})
            if stale:
                op.call("delete listeners", elb.delete_load_balancer_listeners, LoadBalancerName=name,
                        LoadBalancerPorts=stale)
            kept = {k for k in present if k[0] not in stale}
            new = [li for li in want["listeners"] if _listener_key(li) not in kept]
            if new:
                op.call("create listeners", elb.create_load_balancer_listeners, LoadBalancerName=name,
                        Listeners=[self._classic_listener(li) for li in new])
        if "healthCheck" in changes:
            hc = want["healthCheck"]
            op.call("configure health check", elb.configure_health_check, LoadBalancerName=name, HealthCheck={
                "Target": _health_target(hc), "Interval": hc["interval"], "Timeout": min(5, hc["interval"] - 1),
                "HealthyThreshold": hc["healthyThreshold"], "UnhealthyThreshold": hc["unhealthyThreshold"]})
        if "members" in changes:
            add = sorted(set(want["members"]) - set(have.get("members") or []))
            drop = sorted(set(have.get("members") or []) - set(want["members"]))
            if add:
                op.call("register members", elb.register_instances_with_load_balancer, LoadBalancerName=name,
                        Instances=[{"InstanceId": i} for i in add])
            if drop:
                op.call("deregister members", elb.deregister_instances_from_load_balancer, LoadBalancerName=name,
                        Instances=[{"InstanceId": i} for i in drop], ok_not_found=True)

    def _update_v2(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        v2 = op.client("elbv2")
        arn = op.live.aws_id
        want, have = op.props, op.live.props
        if "subnets" in changes:
            op.call("set subnets", v2.set_subnets, LoadBalancerArn=arn, Subnets=want["subnets"])
        if "firewall" in changes and want["firewall"]:
            op.call("set security groups", v2.set_security_groups, LoadBalancerArn=arn,
                    SecurityGroups=[want["firewall"]])
        # a live load balancer whose parts are missing (a crashed create) converges like a new one
        parts = [c for c in ("listeners", "members", "healthCheck") if c in changes or not have.get(c)]
        self._converge_v2(op, parts)

    def _converge_v2(self, op: Op, changes: list[str]) -> None:
        """Target groups (one per target port), listeners forwarding to them, members, health checks."""
        assert op.live is not None and op.node is not None
        v2 = op.client("elbv2")
        arn = op.live.aws_id
        want = op.props
        hc = want["healthCheck"]
        groups: dict[int, str] = {int(k): v for k, v in (op.live.attrs.get("targetGroups") or {}).items()}
        targets: dict[str, list[str]] = dict(op.live.attrs.get("targets") or {})
        ports = sorted({li["targetPort"] for li in want["listeners"]})
        protocol_of = {li["targetPort"]: ("HTTPS" if li["protocol"] == "HTTPS" else "HTTP")
                       for li in reversed(want["listeners"])}
        health_args = {"HealthCheckProtocol": hc["protocol"], "HealthCheckPort": str(hc["port"]),
                       "HealthCheckIntervalSeconds": hc["interval"], "HealthyThresholdCount": hc["healthyThreshold"],
                       "UnhealthyThresholdCount": hc["unhealthyThreshold"],
                       "HealthCheckTimeoutSeconds": min(5, hc["interval"] - 1)}
        if hc["path"]:
            health_args["HealthCheckPath"] = hc["path"]
        fresh: set[str] = set()
        for port in ports:
            if port in groups:
                continue
            groups[port] = self._target_group(op, port, protocol_of[port], health_args)
            fresh.add(groups[port])
        if "healthCheck" in changes:
            for port in ports:
                if groups[port] not in fresh:
                    op.call("modify target group health check", v2.modify_target_group,
                            TargetGroupArn=groups[port], **health_args)
        # listeners: one per port; a changed protocol or target is modified in place
        have = {li["port"]: li for li in op.live.attrs.get("listeners") or []}
        for li in want["listeners"]:
            action = [{"Type": "forward", "TargetGroupArn": groups[li["targetPort"]]}]
            old = have.pop(li["port"], None)
            if old is None:
                op.call("create listener", v2.create_listener, LoadBalancerArn=arn, Protocol=li["protocol"],
                        Port=li["port"], DefaultActions=action, retry_codes=["LoadBalancerNotFound"])
            elif (old["protocol"], old["targetPort"]) != (li["protocol"], li["targetPort"]):
                op.call("modify listener", v2.modify_listener, ListenerArn=old["arn"], Protocol=li["protocol"],
                        Port=li["port"], DefaultActions=action)
        for old in have.values():
            op.call("delete listener", v2.delete_listener, ListenerArn=old["arn"], ok_not_found=True)
        # members: registered in every target group
        for port in ports:
            tg = groups[port]
            present = set(targets.get(tg, []))
            add = sorted(set(want["members"]) - present)
            drop = sorted(present - set(want["members"]))
            if add:
                op.call("register members", v2.register_targets, TargetGroupArn=tg,
                        Targets=[{"Id": i} for i in add], retry_codes=["InvalidTarget"])
            if drop:
                op.call("deregister members", v2.deregister_targets, TargetGroupArn=tg,
                        Targets=[{"Id": i} for i in drop], ok_not_found=True)
        # target groups of ports no listener uses any more
        for port, tg in sorted(groups.items()):
            if port not in ports:
                op.call("delete target group", v2.delete_target_group, TargetGroupArn=tg, ok_not_found=True,
                        retry_codes=["ResourceInUse"])
        op.live.attrs["targetGroups"] = {str(p): groups[p] for p in ports}

    def _target_group(self, op: Op, port: int, protocol: str, health_args: dict[str, Any]) -> str:
        """The target group of one port: one left by an earlier, crashed try is adopted, never made twice."""
        assert op.node is not None
        v2 = op.client("elbv2")
        name = target_group_name(op.props["name"], port)
        try:
            found = v2.describe_target_groups(Names=[name])["TargetGroups"]
        except botocore.exceptions.ClientError as e:
            if not is_not_found(e):
                raise ResourceError(op.address, "find target group", str(e.response["Error"].get("Code")),
                                    str(e.response["Error"].get("Message", ""))) from e
            found = []
        if found:
            arn = str(found[0]["TargetGroupArn"])
            tags = op.call("read target group tags", v2.describe_tags, ResourceArns=[arn])["TagDescriptions"]
            owner = {t["Key"]: t["Value"] for d in tags for t in d.get("Tags", [])}.get(TAG_ADDRESS)
            if owner != op.node.id:
                raise ResourceError(op.address, "create target group", "DuplicateTargetGroupName",
                                    f"target group {name} exists and is not this load balancer's "
                                    f"(its controller:address tag is {owner!r})")
            op.call("modify target group health check", v2.modify_target_group, TargetGroupArn=arn, **health_args)
            return arn
        tg = op.call("create target group", v2.create_target_group, Name=name, Protocol=protocol, Port=port,
                     VpcId=op.props["vpc"], TargetType="instance", **tags_at_create(op.node, TARGET_GROUPS),
                     **health_args)["TargetGroups"][0]
        return str(tg["TargetGroupArn"])

    # -- tags ------------------------------------------------------------------------------------

    def facts_of(self, live: Live) -> AwsFacts:
        return LB_V2 if live.aws_id.startswith("arn:") else LB_CLASSIC

    def tag_target(self, op: Op) -> str:
        """An application LB is tagged by its ARN (its aws_id), a classic one by its name."""
        assert op.live is not None
        if op.live.aws_id.startswith("arn:"):
            return op.live.aws_id
        name = self._classic_name(op)
        if name is None:
            raise ResourceError(op.address, "tag", "LoadBalancerNotFound",
                                f"no classic load balancer has DNS name {op.live.aws_id}")
        return name

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, op: Op) -> None:
        assert op.live is not None
        if not op.live.aws_id.startswith("arn:"):
            name = self._classic_name(op)
            if name:
                op.call("delete load balancer", op.client("elb").delete_load_balancer, LoadBalancerName=name,
                        ok_not_found=True)
            return
        v2 = op.client("elbv2")
        arn = op.live.aws_id
        # only the target groups of THIS load balancer (a duplicate's delete must not touch the original's)
        groups = op.call("find target groups", v2.describe_target_groups, LoadBalancerArn=arn, ok_not_found=True)
        tgs = {g["TargetGroupArn"] for g in (groups or {}).get("TargetGroups", [])}
        tgs |= set((op.live.attrs.get("targetGroups") or {}).values())
        listeners = op.call("find listeners", v2.describe_listeners, LoadBalancerArn=arn, ok_not_found=True)
        for li in (listeners or {}).get("Listeners", []):
            op.call("delete listener", v2.delete_listener, ListenerArn=li["ListenerArn"], ok_not_found=True)
        op.call("delete load balancer", v2.delete_load_balancer, LoadBalancerArn=arn, ok_not_found=True)
        op.wait("load balancer gone", lambda: _gone(op, v2.describe_load_balancers, LoadBalancerArns=[arn]),
                ready=lambda v: v == "gone")
        for tg in sorted(tgs):
            op.call("delete target group", v2.delete_target_group, TargetGroupArn=tg, ok_not_found=True,
                    retry_codes=["ResourceInUse"], attempts=15)

    def _classic_name(self, op: Op) -> str | None:
        assert op.live is not None
        name = op.live.attrs.get("name") or op.live.props.get("name")
        if name:
            return str(name)
        # a bare Live (only the DNSName known): find the name by listing
        lbs = op.call("find load balancer", op.client("elb").describe_load_balancers)["LoadBalancerDescriptions"]
        for lb in lbs:
            if lb.get("DNSName") == op.live.aws_id or f"elb:{lb['LoadBalancerName']}" == op.live.aws_id:
                return str(lb["LoadBalancerName"])
        return None  # gone already
