"""`controller daemon`: continuous reconcile (docs/daemon.md)."""
