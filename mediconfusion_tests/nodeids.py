"""Pair ids as pytest sees them: test ids, node ids and category marker names.

pytest escapes non-ASCII characters in parametrize ids (``é`` becomes ``\\xe9``),
so a node id cannot simply be read back as a pair id. Test ids are therefore
built ASCII-only and reversibly here: printable ASCII stays as it is, anything
else (and the characters that would break a node id) is percent-encoded.
"""

from __future__ import annotations

import keyword
import re
from urllib.parse import quote, unquote

PREFIX = "pair-"
#: Characters kept as they are in a test id; everything else is percent-encoded (UTF-8).
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%[]\\")
_PAIR_NODE = re.compile(r"\[" + re.escape(PREFIX) + r"([^\[\]]*)\]$")
_NOT_MARKER = re.compile(r"\W+")
#: Words pytest's -m expressions read as operators or constants.
_RESERVED = frozenset({"and", "or", "not", "true", "false", "none"})


def pair_test_id(pair_id: str) -> str:
    """The parametrize id of a pair: ``pair-10001``; ``pair-caf%C3%A9`` for ``café``."""
    return PREFIX + quote(pair_id, safe=_SAFE)


def pair_id_of(nodeid: str) -> str | None:
    """The pair id a node id of the suite names, or None for any other test."""
    match = _PAIR_NODE.search(nodeid)
    return None if match is None else unquote(match.group(1))


def marker_name(category: str) -> str:
    """``Head and Neck`` -> ``head_and_neck``; letters of any script are kept."""
    return _NOT_MARKER.sub("_", category.casefold()).strip("_")


def marker_problem(category: str) -> str | None:
    """Why a category cannot be a pytest marker, or None when it can."""
    name = marker_name(category)
    if not name:
        return f"category {category!r} has no letter or digit to make a marker name from"
    if name.lower() in _RESERVED or keyword.iskeyword(name):
        return f"category {category!r} would be the marker {name!r}, a reserved word in -m expressions"
    return None
