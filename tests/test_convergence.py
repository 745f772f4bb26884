"""Random valid edit sequences converge at every step (a small fixed budget of tests/fuzz/convergence.py).

Each step edits the specs (or changes AWS behind the controller's back), applies through the CLI and
checks: apply exits 0 with one outcome per planned change, the next plan is empty, and the objects
carrying the ownership tags are exactly the desired ones. The long campaign is `make fuzz`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.convergence import Model, clients, run_seed

BUDGET = [(23, 6)]  # (seed, steps): about a minute on an idle machine; `make fuzz` runs 20 x 40


@pytest.mark.parametrize(("seed", "steps"), BUDGET, ids=lambda v: str(v))
def test_random_edit_sequence_converges_at_every_step(aws, tmp_path: Path, seed: int, steps: int):
    r = run_seed(seed, steps, tmp_path / "specs", clients())
    assert r.failure is None, "\n".join([*r.history, r.failure or ""])
    assert r.steps == steps


def test_generator_covers_every_kind_and_edit():
    """The generator reaches every edit and every kind within a campaign's length (not a dead model)."""
    import random

    seen_edits: set[str] = set()
    kinds: set[str] = set()
    for seed in range(1, 21):
        model = Model(random.Random(seed))
        for _ in range(40):
            what = model.edit()
            seen_edits.add(what.split(" ")[0])
            for text in model.files().values():
                kinds |= {k for k in ("VirtualDatacenter", "PrivateNetwork", "Firewall", "VirtualMachine", "Volume",
                                      "PublicIp", "LoadBalancer", "Vpn") if f'"kind": "{k}"' in text}
    assert kinds == {"VirtualDatacenter", "PrivateNetwork", "Firewall", "VirtualMachine", "Volume", "PublicIp",
                     "LoadBalancer", "Vpn"}
    assert {"add", "remove", "re-add", "re-address", "move", "rules", "VM", "attach", "detach", "load",
            "VPN"} <= seen_edits, seen_edits
