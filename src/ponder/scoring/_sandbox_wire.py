"""Plain data across the sandbox's boundary: loaded by path by ``_sandbox_child.py`` (the
candidate's side) and ``_sandbox_judge.py`` (the trusted side); never imported by ponder.
Standard library only.

A value crosses as one line of JSON in which only builtin, plain types can be written:
``None``, ``bool``, ``int``, ``float``, ``str`` and lists as themselves, and tagged objects
for the rest (``{"$t": [...]}`` a tuple, ``{"$d": [[k, v], ...]}`` a dict, ``{"$s": [...]}``
a set, ``{"$fs": [...]}`` a frozenset, ``{"$b": "base64"}`` bytes, ``{"$c": [re, im]}`` a
complex number, ``{"$f": "nan"|"inf"|"-inf"}`` a float JSON cannot write).

``decode`` is what the trusted side runs on the candidate's bytes: it builds nothing but
those builtin types (so an object with an ``__eq__`` of its own cannot cross: the candidate's
process may send any bytes, and they are only ever data), refuses lines over ``MAX_LINE``
bytes, nesting over ``MAX_DEPTH`` and containers over ``MAX_ITEMS`` items before or while it
parses, and raises ``WireError`` for anything else malformed, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

MAX_LINE = 16 << 20
MAX_DEPTH = 64
MAX_ITEMS = 1 << 20
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class WireError(ValueError):
    """A value that cannot cross, or bytes that are not a value."""


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data; WireError for anything that is not plain data
    (exact builtin types only: an ``int`` subclass is not an ``int``)."""
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH}")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$f": repr(value)}
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"$t": [encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"$d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind is set:
        return {"$s": [encode(v, depth + 1) for v in value]}
    if kind is frozenset:
        return {"$fs": [encode(v, depth + 1) for v in value]}
    if kind is bytes:
        return {"$b": base64.b64encode(value).decode()}
    if kind is complex:
        return {"$c": [encode(value.real, depth + 1), encode(value.imag, depth + 1)]}
    raise WireError(f"a value of type {kind.__name__} is not plain data")


def dumps(message: Any) -> bytes:
    """One message as a line of bytes."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> Any:
    """One line of JSON, checked for size and nesting before it is parsed; WireError if it
    is not JSON."""
    if len(line) > MAX_LINE:
        raise WireError(f"a message over {MAX_LINE} bytes")
    depth = deepest = 0
    quoted = escaped = False
    for byte in line:  # brackets outside strings, counted without parsing
        if quoted:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                quoted = False
        elif byte == 0x22:
            quoted = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > 2 * MAX_DEPTH + 8:
                    raise WireError(f"nested deeper than {MAX_DEPTH}")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not a JSON line: {str(exc)[:100]}") from None


def decode(data: Any, depth: int = 0) -> Any:
    """Plain data from what ``encode`` wrote: builtin types only; WireError otherwise."""
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH}")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        _count(data)
        return [decode(v, depth + 1) for v in data]
    if type(data) is not dict or len(data) != 1:
        raise WireError("not a tagged value")
    ((tag, inner),) = data.items()
    try:
        if tag == "$f" and inner in _FLOATS:
            return _FLOATS[inner]
        if tag == "$b" and type(inner) is str:
            return base64.b64decode(inner, validate=True)
        if type(inner) is not list:
            raise WireError(f"a malformed {tag!r} value")
        _count(inner)
        items = [decode(v, depth + 1) for v in inner]
        if tag == "$t":
            return tuple(items)
        if tag == "$s":
            return set(items)
        if tag == "$fs":
            return frozenset(items)
        if tag == "$c" and len(items) == 2 and all(type(v) in (int, float) for v in items):
            return complex(items[0], items[1])
        if tag == "$d" and all(type(p) is list and len(p) == 2 for p in items):
            return {k: v for k, v in items}
    except (TypeError, binascii.Error) as exc:  # an unhashable key, bad base64
        raise WireError(f"a malformed {tag!r} value: {exc}") from None
    raise WireError(f"an unknown or malformed tag {tag!r}")


def _count(items: list[Any]) -> None:
    if len(items) > MAX_ITEMS:
        raise WireError(f"a container of over {MAX_ITEMS} items")
