"""Benchmarks: `python -m tests.bench [NAME]` runs every bench_*.py module's main(); never part of make test."""
