"""Apply accounts for every planned change: one outcome each, in an order that converges in one apply.

The three cases a new user hit (issue 9): firewalls that refer to each other deleted together (the
rules and the groups share an AWS id), a reference dropped in the same commit that deletes what it
referred to, and a replaced VM whose public IP, load balancer membership and volume must follow it.
The walk itself: a cycle or a task that raises fails with a reason instead of vanishing.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from controller.engine.apply import Outcome, Task, walk
from tests.helpers import DEFAULT_VDC, client, enterprise_doc, plan_json, write_specs

AMI = "ami-03c3da4cfa8e8943a"


def firewall(name: str, ingress: str = "[]") -> str:
    return f"""\
apiVersion: controller/v1
kind: Firewall
metadata: {{name: {name}, enterprise: acme, vdc: web}}
spec:
  ingress: {ingress}
"""


def apply_accounted(cli: Any, specs: Path) -> dict[str, Any]:
    """`apply --json` exits 0 with one outcome per planned change, all done; the next plan is empty."""
    _, plan = plan_json(cli, specs)
    planned = sorted((c["id"], c["action"]) for c in plan["changes"] if c["action"] != "no-op")
    r = cli("apply", "--specs", str(specs), "--auto-approve", "--allow-deletes", "--json")
    assert r.code == 0, r.out + r.err
    report = json.loads(r.out)
    assert sorted((o["id"], o["action"]) for o in report["outcomes"]) == planned
    assert report["planned"] == len(planned) and all(o["status"] == "done" for o in report["outcomes"]), report
    code, after = plan_json(cli, specs)
    assert code == 0, [c for c in after["changes"] if c["action"] != "no-op"]
    return report


def groups(name: str) -> list[dict[str, Any]]:
    sgs = client("ec2").describe_security_groups()["SecurityGroups"]
    return [g for g in sgs if {"Key": "controller:address", "Value": f"acme/web/Firewall/{name}"} in g.get("Tags", [])]


def test_mutual_firewalls_deleted_together_each_change_has_an_outcome(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {
        "ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC,
        "fw.yaml": firewall("a", '[{protocol: tcp, ports: "22", fromFirewall: b}]') + "---\n"
        + firewall("b", '[{protocol: tcp, ports: "22", fromFirewall: a}]')})
    apply_accounted(cli, specs)
    (root / "fw.yaml").unlink()
    _, plan = plan_json(cli, specs)
    deletes = sorted(c["id"] for c in plan["changes"] if c["action"] == "delete")
    assert deletes == ["acme/web/Firewall/a", "acme/web/Firewall/b", "acme/web/FirewallRules/a",
                       "acme/web/FirewallRules/b"]
    assert {c["cause"] for c in plan["changes"] if c["action"] == "delete"} == {"not-in-specs"}
    report = apply_accounted(cli, specs)
    assert report["summary"] == {"delete": 4}
    assert groups("a") == groups("b") == []


def test_reference_dropped_before_the_delete_of_what_it_referred_to(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {
        "ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC,
        "fw.yaml": firewall("a", '[{protocol: tcp, ports: "22", fromFirewall: b}]') + "---\n" + firewall("b")})
    apply_accounted(cli, specs)
    write_specs(root, {"fw.yaml": firewall("a")})
    report = apply_accounted(cli, specs)
    order = [o["id"] for o in report["outcomes"]]
    assert set(order) == {"acme/web/FirewallRules/a", "acme/web/Firewall/b", "acme/web/FirewallRules/b"}
    (a,) = groups("a")
    assert a["IpPermissions"] == [] and groups("b") == []


def vm(user_data: str) -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: web-1, enterprise: acme, vdc: web}}
spec:
  template: {AMI}
  hardwareProfile: t3.micro
  nics: [{{network: public, publicIp: web-ip}}]
  volumes: [data]
  userData: "{user_data}"
---
apiVersion: controller/v1
kind: PublicIp
metadata: {{name: web-ip, enterprise: acme, vdc: web}}
spec: {{}}
---
apiVersion: controller/v1
kind: Volume
metadata: {{name: data, enterprise: acme, vdc: web}}
spec: {{sizeGiB: 8}}
---
apiVersion: controller/v1
kind: LoadBalancer
metadata: {{name: web-lb, enterprise: acme, vdc: web}}
spec:
  type: classic
  networks: [public]
  listeners: [{{protocol: HTTP, port: 80, targetPort: 8080}}]
  members: [web-1]
"""


def test_replaced_vm_takes_its_public_ip_membership_and_volume_along_in_one_apply(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC, "vm.yaml": vm("one")})
    apply_accounted(cli, specs)
    write_specs(root, {"vm.yaml": vm("two")})
    _, plan = plan_json(cli, specs)
    acting = {c["id"]: c for c in plan["changes"] if c["action"] != "no-op"}
    assert acting["acme/web/VirtualMachine/web-1"]["cause"] == "forces-replacement"
    follow = {i: (c["action"], c["cause"], c["refers_to"]) for i, c in acting.items() if i.split("/")[-2] in (
        "PublicIpAssociation", "LoadBalancer")}
    assert follow == {
        "acme/web/PublicIpAssociation/web-ip": ("update", "depends-on-replaced", "acme/web/VirtualMachine/web-1"),
        "acme/web/LoadBalancer/web-lb": ("update", "depends-on-replaced", "acme/web/VirtualMachine/web-1")}
    assert "refers to acme/web/VirtualMachine/web-1, which is replaced" in acting["acme/web/LoadBalancer/web-lb"][
        "reason"]
    apply_accounted(cli, specs)
    ec2 = client("ec2")
    live = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]
    assert len(live) == 1
    eip = ec2.describe_addresses()["Addresses"][0]
    assert eip.get("InstanceId") == live[0]["InstanceId"]


# -- the walk, without AWS


def _task(label: str, status: str = "done", after: set[str] | None = None) -> Task:
    return Task(label, lambda: Outcome(label, "create", status), after=after or set())


def test_walk_cycle_fails_with_a_reason_and_the_rest_runs():
    tasks = {"a": _task("a", after={"b"}), "b": _task("b", after={"a"}), "c": _task("c", after={"a"}),
             "d": _task("d")}
    res = walk(tasks, 2)
    assert set(res) == set(tasks)
    assert res["a"].status == res["b"].status == "failed" and "dependency cycle" in res["a"].detail
    assert res["c"].status == "skipped" and "because a failed" in res["c"].detail
    assert res["d"].status == "done"


def test_walk_task_that_raises_fails_and_skips_what_needs_it():
    def boom() -> Outcome:
        raise RuntimeError("bug")

    tasks = {"x": Task("x", boom), "y": _task("y", after={"x"}),
             "z": Task("z", lambda: Outcome("z", "update", "done"), later_than={"x"})}
    res = walk(tasks, 2)
    assert res["x"].status == "failed" and "internal error: RuntimeError: bug" in res["x"].detail
    assert res["y"].status == "skipped" and res["y"].detail == "because x failed"
    assert res["z"].status == "done"  # only ordered after x: its failure does not matter to z


def test_nat_gateway_moved_to_a_network_added_in_the_same_commit(aws, tmp_path: Path):
    """Found by the convergence campaign (seed 18, step 22): a new public network sorts first, so the
    NAT gateway moves there (a replacement). Deleting the old gateway resolved the new one's props,
    which refer to the network not made yet: 'DependencyMissing', and the route table skipped."""
    import random

    from tests.fuzz.convergence import Cli, Model, Net, clients, converge

    model = Model(random.Random(0))
    model.add_vdc()
    (name, vdc), = model.vdcs.items()
    vdc.nets["app"].nat = True
    specs = tmp_path / "specs"

    def write() -> None:
        specs.mkdir(exist_ok=True)
        for f, text in model.files().items():
            (specs / f).write_text(text)

    write()
    aws_clients = clients()
    converge(Cli(specs), aws_clients)
    vdc.nets["green"] = Net(5, public=True)
    write()
    code, out, _ = Cli(specs)("plan", "--json")
    nat = next(c for c in json.loads(out)["changes"] if c["id"] == f"acme/{name}/NatGateway/nat")
    assert (nat["action"], nat["cause"]) == ("replace", "forces-replacement")
    converge(Cli(specs), aws_clients)  # one outcome each, all done; then no changes, no orphan


def _random_walk(seed: int) -> None:
    import random
    import threading

    rnd = random.Random(seed)
    n = rnd.randint(1, 60)
    order, lock, have, outcomes = [], threading.Lock(), set(), []
    fails = {f"t{i}" for i in range(n) if rnd.random() < 0.15}
    after = {f"t{i}": {f"t{j}" for j in range(i) if rnd.random() < 0.1} for i in range(n)}
    later = {f"t{i}": {f"t{j}" for j in range(i) if rnd.random() < 0.05} - after[f"t{i}"] for i in range(n)}

    def run(k: str) -> Outcome:
        with lock:
            early = (after[k] | later[k]) - have
            order.append(k)
        return Outcome(k, "create", "failed" if k in fails or early else "done", f"ran before {early}")

    def done(o: Outcome) -> None:
        with lock:
            have.add(o.id)
            outcomes.append(o.id)

    tasks = {k: Task(k, partial(run, k), after=after[k], later_than=later[k]) for k in after}
    res = walk(tasks, rnd.randint(1, 8), on_done=done)
    assert set(res) == set(tasks) and sorted(outcomes) == sorted(tasks), seed
    for i in range(n):  # in index order: what a task needs has its expected status already
        k = f"t{i}"
        blocked = any(res[d].status != "done" for d in after[k])
        assert res[k].status == ("skipped" if blocked else "failed" if k in fails else "done"), (seed, res[k])
        assert (k in order) == (not blocked), (seed, k)


def test_walk_on_random_graphs_runs_each_task_once_after_what_it_waits_for():
    """Random acyclic task graphs with random failures: every task gets one outcome; a task runs only
    after every task it waits for has an outcome; it is skipped exactly when something it needs was not
    done (transitively), and runs otherwise."""
    for seed in range(40):
        _random_walk(seed)
