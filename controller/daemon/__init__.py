"""`controller daemon`: continuous reconcile (docs/daemon.md)."""

DEFAULT_RECONCILE_TIMEOUT = 900.0  # seconds; here, not in loop.py, so the CLI can name it without importing boto3
