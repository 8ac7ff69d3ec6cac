"""The one grammar for naming components with options, used by the CLI, the Python API and
strategy options alike::

    self_consistency:n=8,temperature=0.7          NAME:key=value,...
    best_of_n:n=8,scorer=judge(mode=text,model=big)   nested NAME(key=value,...)
    self_consistency:n=1|4|16                     a|b|c: one setting per value (a sweep)
    n_ctx=8192                                    KEY=VALUE (backend and task options)

Values are read as JSON where they parse (``8``, ``0.7``, ``null``, ``true``, ``["a","b"]``),
a bracketed list of bare words as a list (``[default,qwen]``), as text otherwise. Commas
inside brackets, braces, parentheses or quotes belong to the value.
Every malformed item is a ConfigError that quotes it and shows the expected form.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from typing import Any

from ponder.errors import ConfigError

_CALL = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_value(raw: str) -> Any:
    """``"8"`` -> 8, ``"true"`` -> True, ``"[1,2]"`` -> [1, 2], and a bracketed list of bare
    words ``"[default,qwen]"`` -> ``["default", "qwen"]`` (each item read the same way);
    anything else stays text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        stripped = raw.strip()
        if len(stripped) >= 2 and stripped[0] == "[" and stripped[-1] == "]":
            inner = stripped[1:-1]
            if "[" not in inner and "]" not in inner:
                return [parse_value(item) for item in split_items(inner)]
        return raw


def split_items(text: str) -> list[str]:
    """``"a=1,b=judge(x=1,y=2),c=[1,2]"`` -> ``["a=1", "b=judge(x=1,y=2)", "c=[1,2]"]``:
    commas inside brackets, braces, parentheses or quotes do not split."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_assignment(
    item: str, what: str, example: str, *, typed: bool = True, where: str = ""
) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(KEY, value)`` (the value read as JSON where it parses, unless not
    ``typed``); a ConfigError naming ``what`` (and ``where``) showing ``example`` otherwise."""
    key, eq, value = item.partition("=")
    if not eq or not key.strip() or (not typed and not value.strip()):
        where = f" in {where!r}" if where else ""
        raise ConfigError(f"{what} {item!r}{where} is not of the form {example}")
    value = value.strip()
    return key.strip(), parse_value(value) if typed else value


def parse_options(text: str, what: str, where: str = "") -> dict[str, Any]:
    """``"a=1,b=judge(x=1)"`` -> ``{"a": 1, "b": "judge(x=1)"}``."""
    return dict(
        parse_assignment(item, what, "key=value", where=where) for item in split_items(text)
    )


def parse_spec(spec: str, what: str = "strategy") -> tuple[str, dict[str, Any]]:
    """``"self_consistency:n=8,temperature=0.7"`` -> ``("self_consistency", {...})``."""
    name, _, rest = spec.partition(":")
    options = parse_options(rest, f"{what} option", spec)
    if not name.strip():
        raise ConfigError(f"{what} spec {spec!r} names no {what}")
    return name.strip(), options


def parse_call(spec: str, what: str = "scorer") -> tuple[str, dict[str, Any]]:
    """``"judge(mode=text,model=big)"`` -> ``("judge", {"mode": "text", "model": "big"})``."""
    match = _CALL.match(spec)
    if not match:
        raise ConfigError(f"{what} {spec!r} should read NAME or NAME(key=value,...)")
    return match.group(1), parse_options(match.group(2) or "", f"{what} option", spec)


def expand_spec(spec: str, what: str = "strategy") -> list[tuple[str, str, dict[str, Any]]]:
    """Several settings from one spec: ``self_consistency:n=1|4|16`` gives three.

    Each ``a|b|c`` value is a list of alternatives; several lists give their product. Returns
    ``(label, name, options)`` per setting, the label written as on a command line.
    """
    name, options = parse_spec(spec.replace("|", "\x00"), what)
    choices = {
        key: [parse_value(v) for v in value.split("\x00")]
        if isinstance(value, str) and "\x00" in value
        else [value]
        for key, value in options.items()
    }
    settings = []
    for values in itertools.product(*choices.values()):
        chosen = dict(zip(choices, values, strict=True))
        label = format_spec(name, chosen)
        settings.append((label, name, chosen))
    return settings


def format_spec(name: str, options: dict[str, Any]) -> str:
    """The spec that reads back as ``(name, options)``: ``NAME:key=value,...``."""
    shown = ",".join(f"{k}={_show(v)}" for k, v in options.items())
    return f"{name}:{shown}" if shown else name


def parse_assignments(
    items: Iterable[str], what: str, example: str, *, typed: bool = True
) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` options (``-B``, ``--extra-model``) as one mapping; a key given
    twice is an error."""
    found: dict[str, Any] = {}
    for item in items:
        key, value = parse_assignment(item, what, example, typed=typed)
        if key in found:
            raise ConfigError(f"{what} names {key!r} twice")
        found[key] = value
    return found


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
