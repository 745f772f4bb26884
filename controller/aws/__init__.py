"""Everything that talks to AWS: sessions, batched queries, tags, error translation."""
