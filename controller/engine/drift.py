"""What of a node is compared with AWS, and what an update writes: your tags and the ignore paths.

masked(): a node's props with every ignored path replaced by the live value, so the diff finds no
difference there and an update writes back what is already in AWS (creation uses the node's own
props). tag_drift(): the tags to set or remove, key by key (docs/tags.md):
  - every tag the controller sets (yours and its own) must have the desired value;
  - a key the object's `controller:tags` list names that no document sets any more is removed;
  - any other key is someone else's: never compared, never touched;
  - ignored keys (tags.K globs) are neither compared nor removed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from controller.graph import Node
from controller.kinds.base import TAG_PROTECT, Live, ownership_tags
from controller.spec.paths import mask, parse
from controller.spec.tags import managed_keys


def _prop_tokens(node: Node) -> list[list[tuple[str, str]]]:
    out = []
    for path in node.ignore:
        if path.startswith("tags."):
            continue
        tokens = parse(path)
        if tokens:
            out.append(tokens)
    return out


def masked(node: Node, live: Live | None, same: Callable[[Any, Any], bool] = lambda a, b: a == b
           ) -> tuple[dict[str, Any], int]:
    """The node's props with its ignored paths taken from AWS, and how many of them differed."""
    props, count = node.props, 0
    if live is None:
        return props, 0
    for tokens in _prop_tokens(node):
        head = tokens[0]
        if head[0] == "field" and not any(fnmatch.fnmatchcase(f, head[1]) for f in node.compared):
            continue  # a prop that is not compared is never drift, ignored or not
        props, n = mask(props, live.props, tokens, same)
        count += n
    return props, count


def tag_ignored(node: Node, key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, p[len("tags."):]) for p in node.ignore if p.startswith("tags."))


def tag_drift(node: Node, live: Live) -> tuple[dict[str, tuple[str | None, str | None]], int]:
    """{key: (live value, desired value or None to remove)} and how many ignored keys differed."""
    want: dict[str, str | None] = dict(ownership_tags(node))
    if live.tags.get(TAG_PROTECT) and not node.protect:
        want[TAG_PROTECT] = None
    for gone in managed_keys(live.tags) - set(node.tags):
        want.setdefault(gone, None)
    out, ignored = {}, 0
    for key, value in want.items():
        have = live.tags.get(key)
        if have == value:
            continue
        if key in node.tags and tag_ignored(node, key) or value is None and tag_ignored(node, key):
            ignored += 1
            continue
        out[key] = (have, value)
    return out, ignored
