"""Kind plugins: one module per AWS kind, all with the contract of base.Kind.

Importing this package imports every module in it (discovered, not listed), and each module's
`@register` classes land in base.REGISTRY: adding a kind is adding its module (docs/kinds.md).
"""

import importlib
import pkgutil

from controller.kinds.base import REGISTRY, Kind

NOT_KINDS = frozenset({"base"})  # modules of this package that hold no kind

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m not in NOT_KINDS and not _m.startswith("_"):
        importlib.import_module(f"{__name__}.{_m}")

__all__ = ["REGISTRY", "Kind"]
