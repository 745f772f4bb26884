"""The reconcile engine: desired graph -> observe -> diff -> plan -> apply."""
