"""Kind plugins: one module per AWS kind, all with the contract of base.Kind.

Importing this package registers every kind in base.REGISTRY.
"""

import importlib

from controller.kinds.base import REGISTRY, Kind

MODULES = ("vdc", "network", "firewall", "vm", "volume", "public_ip", "user", "template", "hardware", "load_balancer",
           "vpn", "database", "dns")

for _m in MODULES:
    importlib.import_module(f"controller.kinds.{_m}")

__all__ = ["REGISTRY", "Kind"]
