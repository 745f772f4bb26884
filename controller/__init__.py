"""controller: GitOps-style declarative reconciliation of virtual datacenters in AWS."""

__version__ = "0.1.0"
