"""The one JSON reader for files the run is given: strict, so no value it reads can poison a metric.

Plain ``json.loads`` accepts ``NaN`` and ``Infinity``, reads ``1e999`` as infinity
and raises an unexplained error deep inside for an integer of thousands of digits;
any of these would end as a traceback, or as ``Infinity`` written into a report
that browsers then cannot parse. Here each is a ``ValueError`` saying what it is.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Longer integers are not ids, counts or token numbers; Python refuses past 4300 digits anyway.
MAX_INTEGER_DIGITS = 64


class StrictJSONError(ValueError):
    """Valid JSON syntax holding a value the run cannot use as a number."""


def _constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a number JSON allows (numbers must be finite)")


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise StrictJSONError(f"an integer of {digits} digits ({text[:12]}...) is not a value this file may hold")
    return int(text)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:24] + "..."
        raise StrictJSONError(f"the number {shown} is too large: it overflows to infinity")
    return value


def loads(text: str | bytes, **options: Any) -> Any:
    """``json.loads`` refusing NaN, infinities, overflowing numbers and absurdly long integers."""
    return json.loads(text, parse_constant=_constant, parse_float=_number, parse_int=_integer, **options)


def _digits(text: str) -> int | str:
    """An integer, or the digits themselves when there are too many: the field check then names it."""
    return int(text) if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS else text


def loads_fields(text: str | bytes, **options: Any) -> Any:
    """For records whose every field is checked afterwards (dataset.json): NaN and infinities stay floats
    and absurdly long integers stay text, so the check names the pair and the field that holds them."""
    return json.loads(text, parse_int=_digits, **options)
