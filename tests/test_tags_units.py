"""Properties of the tag bookkeeping and of ignore masking, without AWS.

- The `controller:tags` list round-trips any set of valid keys (spaces, `=`, long lists split over
  several tags of at most 256 characters).
- Tag drift converges: from any live tag set (foreign keys, hand edits, a stale list), applying the
  planned tag changes once leaves no drift; foreign keys are never touched; ignored keys never
  change; every key the specs set ends with its desired value.
- Masking: an ignored path always takes the live value, everything else keeps the desired one.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.engine.drift import masked, tag_drift
from controller.graph import Node
from controller.kinds.base import Live, ownership_tags
from controller.spec.paths import mask, parse
from controller.spec.tags import MANAGED_KEYS, VALUE_MAX, check_key, managed_keys, managed_keys_tags

KEY_CHARS = st.sampled_from(list("abcXYZ019 _.:/=+-@é"))
keys = st.text(KEY_CHARS, min_size=1, max_size=128).filter(
    lambda k: not k.lower().startswith(("aws:", "controller:")) and k != "Name")
values = st.text(KEY_CHARS, max_size=20)


@given(st.sets(keys, max_size=45))
def test_managed_keys_round_trip(ks: set[str]) -> None:
    for k in ks:
        check_key(k)
    tags = managed_keys_tags(ks)
    assert all(len(v) <= VALUE_MAX for v in tags.values())
    assert (MANAGED_KEYS in tags) == bool(ks)
    assert managed_keys(tags) == ks


def node(tags: dict[str, str], ignore: tuple[str, ...] = ()) -> Node:
    return Node(id="acme/web/VirtualMachine/vm-1", kind="VirtualMachine", address="acme/web/VirtualMachine/vm-1",
                enterprise="acme", region="us-east-1", props={}, tags=tags, ignore=ignore)


def apply_drift(live: dict[str, str], drift: dict[str, tuple[str | None, str | None]]) -> dict[str, str]:
    out = dict(live)
    for k, (_, after) in drift.items():
        if after is None:
            out.pop(k, None)
        else:
            out[k] = after
    return out


@settings(max_examples=150, deadline=None)
@given(want=st.dictionaries(keys, values, max_size=8), before=st.dictionaries(keys, values, max_size=8),
       foreign=st.dictionaries(keys, values, max_size=5), edits=st.dictionaries(keys, values, max_size=4),
       ignored=st.sets(keys, max_size=3), drop_list=st.booleans())
def test_tag_drift_converges_and_never_touches_foreign_or_ignored_keys(
        want: dict[str, str], before: dict[str, str], foreign: dict[str, str], edits: dict[str, str],
        ignored: set[str], drop_list: bool) -> None:
    foreign = {k: v for k, v in foreign.items() if k not in want and k not in before}
    # live: what an earlier apply of `before` left, another tool's tags, then hand edits
    live = {**foreign, **ownership_tags(node(before)), **edits}
    if drop_list:
        for k in list(live):
            if k.startswith(MANAGED_KEYS):
                del live[k]
    n = node(want, tuple(f"tags.{k}" for k in ignored))
    drift, _ = tag_drift(n, Live(id=n.id, kind=n.kind, aws_id="i-1", tags=dict(live)))
    after = apply_drift(live, drift)
    again, _ = tag_drift(n, Live(id=n.id, kind=n.kind, aws_id="i-1", tags=dict(after)))
    assert again == {}, again
    for k, v in want.items():
        if k not in ignored:
            assert after[k] == v
    for k in ignored:
        assert after.get(k) == live.get(k), "an ignored key is never written"
    listed = managed_keys(live)
    for k, v in foreign.items():
        if k not in listed and k not in edits:
            assert after[k] == v, "a foreign key is left alone"
    for k in set(before) - set(want) - ignored:
        if k in listed:
            assert k not in after, "a key removed from the specs is removed"


json_leaf = st.one_of(st.integers(), st.text(max_size=3), st.none())
json_value: Any = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)), max_leaves=10)


@given(want=st.dictionaries(st.sampled_from(["state", "nics", "ami"]), json_value, min_size=1),
       live=st.dictionaries(st.sampled_from(["state", "nics", "ami"]), json_value))
def test_mask_takes_the_live_value_of_ignored_props_only(want: dict[str, Any], live: dict[str, Any]) -> None:
    tokens = parse("state")
    assert tokens is not None
    out, n = mask(want, live, tokens, lambda a, b: a == b)
    for k in want:
        assert out[k] == (live.get(k) if k == "state" else want[k])
    assert n == int("state" in want and want["state"] != live.get("state"))


def test_mask_by_index_and_glob() -> None:
    want = {"secondaryIps": [["10.0.1.10"], ["10.0.2.10"]], "nics": [{"subnet": "a", "ip": "1"}]}
    live = {"secondaryIps": [["10.0.1.10", "10.0.1.11"], ["10.0.2.11"]], "nics": [{"subnet": "a", "ip": "2"}]}
    n = node({}, ("secondaryIps[0]", "nics[*].ip"))
    n.props = want
    n.compared = frozenset(want)
    props, count = masked(n, Live(id=n.id, kind=n.kind, aws_id="i-1", props=live))
    assert props == {"secondaryIps": [["10.0.1.10", "10.0.1.11"], ["10.0.2.10"]],
                     "nics": [{"subnet": "a", "ip": "2"}]}
    assert count == 2
    assert want["secondaryIps"][0] == ["10.0.1.10"], "the node's own props are not changed"


@pytest.mark.parametrize("kind,path,props", [
    ("VirtualMachine", "spec.state", ("state",)),
    ("VirtualMachine", "spec.hardwareProfile", ("instanceType",)),
    ("VirtualMachine", "spec.nics[0].secondaryIps", ("secondaryIps[0]",)),
    ("VirtualMachine", "spec.nics[*].secondaryIps[1]", ("secondaryIps[*][1]",)),
    ("VirtualMachine", "spec.nics[1].ip", ("nics[1].ip",)),
    ("VirtualMachine", "spec.sshKey", ("keyName",)),
    ("VirtualDatacenter", "spec.addressRanges", ("secondaryCidrs",)),
    ("PrivateNetwork", "spec.internetGateway", ("routeTable", "mapPublicIp")),
    ("LoadBalancer", "spec.networks", ("subnets",)),
    ("LoadBalancer", "spec.healthCheck.interval", ("healthCheck.interval",)),
    ("User", "spec.sshPublicKey", ("publicKey",)),
    ("Database", "spec.networks", ("subnets",)),
    ("Volume", "tags.team-*", ("tags.team-*",)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_spec_paths_name_the_props_they_stand_for(kind: str, path: str, props: tuple[str, ...]) -> None:
    from controller.kinds import REGISTRY
    from controller.kinds.base import prop_paths

    assert prop_paths(REGISTRY[kind], [path]) == props
