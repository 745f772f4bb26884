"""Cost hints for a plan: what the plan adds or leaves that costs money while idle — NAT gateways,
Elastic IPs no VM uses, volumes no VM has attached, databases (an RDS instance bills by the hour
whether used or not) — with an estimated monthly cost."""

from __future__ import annotations

from typing import Any

from controller.graph import refs_in
from controller.pricing import monthly, priced_class


def cost_hints(graph: Any, changes: list[Any]) -> list[dict[str, Any]]:
    acting = {c.id: c.action for c in changes}
    kept = {nid for nid, a in acting.items() if a in ("create", "no-op", "update", "replace", "adopt")}
    # an existing NAT gateway keeps its own Elastic IP (allocation is not compared): a region-level PublicIp
    # it names is used only when the NAT gateway is (re)created with it
    users = [n for n in graph.nodes.values() if n.absent is None and (
        n.kind in ("PublicIpAssociation", "VolumeAttachment")
        or (n.kind == "NatGateway" and acting.get(n.id) in ("create", "replace")))]
    used = {r.id for n in users for r in refs_in(n.props)}
    out = []
    for nid in sorted(kept & set(graph.nodes)):
        n = graph.nodes[nid]
        if n.absent is not None:
            continue
        if n.kind == "NatGateway":
            out.append({"id": nid, "what": "NAT gateway", "usd_month": monthly("nat", n.region)})
        elif n.kind == "PublicIp" and nid not in used:
            out.append({"id": nid, "what": "Elastic IP no VM uses", "usd_month": monthly("eip", n.region)})
        elif n.kind == "Volume" and nid not in used:
            out.append({"id": nid, "what": f"unattached volume ({n.props.get('sizeGiB')} GiB {n.props.get('type')})",
                        "usd_month": monthly("ebs", n.region, n.props.get("sizeGiB") or 0, n.props.get("type") or "gp3")})
        elif n.kind == "Database":
            p = n.props
            usd = monthly("rds", n.region, p["storageGiB"], p["storageType"], p["instanceClass"], p["multiAz"])
            what = f"database ({p['instanceClass']}{', multi-AZ' if p['multiAz'] else ''}, {p['storageGiB']} GiB)"
            if not priced_class(n.region, p["instanceClass"]):
                what += ": class not in the price table, storage only"
            out.append({"id": nid, "what": what, "usd_month": usd})
    return out
