"""Kind plugins: one module per AWS kind, all with the contract of base.Kind.

Importing this package registers every kind in base.REGISTRY.
"""

import importlib

from controller.kinds.base import REGISTRY, Kind

MODULES = ("vdc", "network", "firewall", "vm", "volume", "public_ip", "user", "template", "load_balancer", "vpn")

for _m in MODULES:
    try:
        importlib.import_module(f"controller.kinds.{_m}")
    except ModuleNotFoundError as _e:  # a kind not written yet
        if _e.name != f"controller.kinds.{_m}":
            raise

__all__ = ["REGISTRY", "Kind"]
