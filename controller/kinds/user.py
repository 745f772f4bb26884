"""User: an SSH public key, imported as an EC2 key pair in each region where a VM uses it (in the
enterprise's first region while no VM does, so it is ready for the first one).

Node id `ent/User/name@region`; the key pair's name is the user name; aws_id = KeyPairId. A key pair
cannot change its key: a new key means replacement (delete, then import under the same name).
"""

from __future__ import annotations

import weakref

from controller.aws import tags as tag_style
from controller.graph import Node
from controller.kinds.base import AwsFacts, Kind, Live, Observation, Op, ownership_tags, register
from controller.spec.catalog import Catalog
from controller.spec.models import Resource

KEY_PAIRS = AwsFacts("ec2", "describe_key_pairs", "KeyPairs", "KeyPairId", tag_style.EC2, resource_type="key-pair",
                     adopt_filter="key-pair-id", id_prefix="key-", describe_args=(("IncludePublicKey", True),))


def normalize_key(key: str) -> str:
    """`type base64`: the comment is not part of the key (AWS may keep or drop it)."""
    return " ".join(key.split()[:2])


_KEY_REGIONS: weakref.WeakKeyDictionary[Catalog, dict[tuple[str, str], list[str]]] = weakref.WeakKeyDictionary()


def key_regions(catalog: Catalog) -> dict[tuple[str, str], list[str]]:
    """(enterprise, user) -> the regions of the VMs that use that user's key (one pass per catalog)."""
    found = _KEY_REGIONS.get(catalog)
    if found is None:
        acc: dict[tuple[str, str], set[str]] = {}
        for vm in catalog.of_kind("VirtualMachine"):
            vdc = catalog.vdc_of(vm)
            if vm.spec.ssh_key and vdc is not None:
                acc.setdefault((vm.enterprise, vm.spec.ssh_key), set()).add(vdc.spec.region)
        found = {k: sorted(v) for k, v in acc.items()}
        _KEY_REGIONS[catalog] = found
    return found


def user_node_id(enterprise: str, name: str, region: str) -> str:
    return f"{enterprise}/User/{name}@{region}"


@register
class User(Kind):
    name = "User"
    spec_kinds = ("User",)
    force_new = frozenset({"publicKey"})
    ignore_props = {"sshPublicKey": "publicKey"}
    facts = (KEY_PAIRS,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        regions = key_regions(catalog).get((r.enterprise, r.name))
        if not regions:
            ent = catalog.get("Enterprise", r.enterprise, None)
            regions = ent.spec.regions[:1] if ent else []
        props = {"publicKey": normalize_key(r.spec.ssh_public_key)}
        return [self.node(self.name, r, dict(props), id=user_node_id(r.enterprise, r.name, region), region=region)
                for region in regions]

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for kp in obs.owned(KEY_PAIRS):
            live = self.live_from(self.name, kp, kp["KeyPairId"], {"publicKey": normalize_key(kp.get("PublicKey", ""))},
                                  keyName=kp.get("KeyName"))
            if live:
                out.append(live)
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        kp = op.call("import key pair", op.client().import_key_pair, KeyName=node.name,
                     PublicKeyMaterial=op.props["publicKey"].encode(), **self.tags_at_create(node))
        return Live(id=node.id, kind=self.name, aws_id=kp["KeyPairId"], props=dict(op.props),
                    tags=ownership_tags(node), attrs={"keyName": node.name})

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        op.call("delete key pair", ec2.delete_key_pair, KeyPairId=op.live.aws_id, ok_not_found=True)
        # moto deletes by KeyName only and ignores KeyPairId: if this very key pair is still there, delete it
        # by the name it reports (so a same-named key pair that is not ours is never touched)
        left = op.call("check key pair deleted", ec2.describe_key_pairs, KeyPairIds=[op.live.aws_id],
                       ok_not_found=True)
        for kp in (left or {}).get("KeyPairs", []):
            if kp.get("KeyPairId") == op.live.aws_id:
                op.call("delete key pair", ec2.delete_key_pair, KeyName=kp["KeyName"], ok_not_found=True)
