"""Long fuzz campaigns (`make fuzz`), never part of `make test`.

Each campaign is a module in this package with a `main(argv) -> int` function; `python -m tests.fuzz`
runs them all (or the ones named), and each prints its own figures.
"""
