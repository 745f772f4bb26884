"""The guards a plan must pass before anything is changed: protection, plan-time errors, the delete limit.

The command line and the daemon both call `check_plan`; its messages name no command-line flag (the
daemon has other knobs): a caller that offers a way round a guard adds its own hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.errors import ConfigError

if TYPE_CHECKING:
    from controller.engine.plan import Plan

DEFAULT_MAX_DELETES = 10


class GuardError(ConfigError):
    """A plan refused before any change (nothing was changed)."""


class DeleteLimitError(GuardError):
    def __init__(self, deletes: int, limit: int):
        self.deletes, self.limit = deletes, limit
        super().__init__(f"the plan deletes or replaces {deletes} objects, more than the limit of {limit}; "
                         "nothing was changed")


def check_plan(plan: Plan, max_deletes: int, allow_deletes: bool) -> None:
    blocked = plan.blocked()
    if blocked:
        lines = []
        for c in blocked:
            why = c.error or f"protected (metadata.protect: true): refusing to {c.action} it"
            lines.append(f"  {c.address}: {why}")
        raise GuardError("the plan cannot be applied, nothing was changed:\n" + "\n".join(lines))
    if plan.deletes > max_deletes and not allow_deletes:
        raise DeleteLimitError(plan.deletes, max_deletes)
