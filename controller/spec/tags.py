"""Your own tags: AWS's limits, and the tag that records which keys the controller manages.

There is no state file, so the keys a document's tags set are written on the object itself, in
`controller:tags` (docs/tags.md): the keys joined by spaces, a space or `=` inside a key written
`=20` / `=3D` (quoted-printable style, so the list uses only characters every AWS service accepts
in a tag value), split over `controller:tags:2`, `:3`... when it is longer than a tag value may be.
A key in that list that no document sets any more is removed from AWS; a key in no list is
someone else's and is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MAX_TAGS = 50  # per object, AWS's limit, counting the controller's own
KEY_MAX = 128
VALUE_MAX = 256
RESERVED_PREFIXES = ("aws:", "controller:")
MANAGED_KEYS = "controller:tags"
# The characters ELB, RDS and Route 53 accept in tag keys and values (EC2 accepts more): letters,
# digits, white space and these symbols. A document's tags may go to any of them.
_SYMBOLS = frozenset("_.:/=+-@")
# Tags the controller always sets on an object: address, enterprise, managed-by, Name.
OWNERSHIP_TAGS = 4


def _allowed(text: str) -> bool:
    return all(c.isalnum() or c.isspace() or c in _SYMBOLS for c in text)


def check_key(key: str) -> str:
    if not key:
        raise ValueError("a tag key cannot be empty")
    if len(key) > KEY_MAX:
        raise ValueError(f"tag key {key[:40]!r}... is {len(key)} characters: AWS allows at most {KEY_MAX}")
    low = key.lower()
    for prefix in RESERVED_PREFIXES:
        if low.startswith(prefix):
            raise ValueError(f"tag key {key!r}: keys starting with {prefix!r} are reserved "
                             f"({'for AWS' if prefix == 'aws:' else 'for the ownership tags'}): rename it")
    if key == "Name":
        raise ValueError("tag key 'Name': the Name tag is the document's metadata.name, set by the controller")
    if not _allowed(key):
        raise ValueError(f"tag key {key!r}: use letters, digits, spaces and _ . : / = + - @ only")
    return key


def check_value(value: str) -> str:
    if len(value) > VALUE_MAX:
        raise ValueError(f"tag value {value[:40]!r}... is {len(value)} characters: AWS allows at most {VALUE_MAX}")
    if not _allowed(value):
        raise ValueError(f"tag value {value!r}: use letters, digits, spaces and _ . : / = + - @ only")
    return value


def _escape(key: str) -> str:
    return key.replace("=", "=3D").replace(" ", "=20")


def _unescape(word: str) -> str:
    return re.sub(r"=(20|3D)", lambda m: " " if m.group(1) == "20" else "=", word)


def managed_keys_tags(keys: Iterable[str]) -> dict[str, str]:
    """The `controller:tags` tag(s) recording these keys; none for no keys."""
    text = " ".join(_escape(k) for k in sorted(set(keys)))
    chunks = [text[i:i + VALUE_MAX] for i in range(0, len(text), VALUE_MAX)]
    return {MANAGED_KEYS if i == 0 else f"{MANAGED_KEYS}:{i + 1}": c for i, c in enumerate(chunks)}


def managed_keys(tags: Mapping[str, str]) -> set[str]:
    """The keys an object's `controller:tags` tag(s) list (a chunk missing ends the list)."""
    parts = []
    i = 1
    while True:
        chunk = tags.get(MANAGED_KEYS if i == 1 else f"{MANAGED_KEYS}:{i}")
        if chunk is None:
            break
        parts.append(chunk)
        i += 1
    return {_unescape(w) for w in "".join(parts).split(" ") if w}


def is_bookkeeping(key: str) -> bool:
    """A `controller:tags` chunk."""
    return key == MANAGED_KEYS or key.startswith(MANAGED_KEYS + ":")


def controller_tag_count(user_keys: Iterable[str], protect: bool, extra: int = 0) -> int:
    """How many tags of the controller's own an object with these user keys carries."""
    return OWNERSHIP_TAGS + int(protect) + extra + len(managed_keys_tags(user_keys))
