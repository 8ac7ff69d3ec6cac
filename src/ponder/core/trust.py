"""What only the operator may set, marked where each option is declared; and templates
filled without ``str.format``'s reach.

A component's pydantic config marks its options with ``json_schema_extra`` keys that the
server's request policy (``ponder.server.policy``) reads; nothing else changes their meaning:

- ``operator_only(default, why)``: the option names a path, a module, a URL or a prompt
  template. A request may not set it (``ponder serve`` answers 400 saying so); the operator
  sets it on the command line, in a named scorer or preset, or from Python. ``named=KIND``
  lets a request give the *name* of one the operator configured (``auto:plan=NAME``).
- ``component(default, kind)``: the option names another component (a scorer, a sampler
  strategy), whose own options are checked the same way.
- ``model_names(...)``: the option names Context models; a request may name only the
  models the server serves.

``fill(template, **values)`` is ``template.format(**values)`` for plain ``{name}`` fields
only: a format spec (``{question:>50000000}``), a conversion, an attribute or an index is a
ConfigError, and so is a name that is not given, so no template can allocate without bound
or reach into an object.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import Field

from ponder.errors import ConfigError

OPERATOR = "ponder_operator"
NAMED = "ponder_named"
COMPONENT = "ponder_component"
MODELS = "ponder_models"


def operator_only(default: Any, why: str, *, named: str | None = None, **kwargs: Any) -> Any:
    """A field a request may not set: ``why`` says what it names (``"a file path"``)."""
    extra: dict[str, Any] = {OPERATOR: why}
    if named:
        extra[NAMED] = named
    return Field(default, json_schema_extra=extra, **kwargs)


def component(default: Any, kind: str, **kwargs: Any) -> Any:
    """A field that names a component of ``kind`` (``scorer``, ``sampler``)."""
    return Field(default, json_schema_extra={COMPONENT: kind}, **kwargs)


def model_names(**kwargs: Any) -> Any:
    """A field holding one Context model's name, or a list of them."""
    return Field(json_schema_extra={MODELS: True}, **kwargs)


_FORMATTER = string.Formatter()


def fill(template: str, **values: Any) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (``{{``/``}}`` are
    literal braces); anything else a format string could do is refused."""
    pieces: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ConfigError(f"the template is malformed ({exc}): {template[:80]!r}") from None
    for literal, field, spec, conversion in parsed:
        pieces.append(literal)
        if field is None:
            continue
        if spec or conversion or field not in values:
            shown = "{" + field + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ConfigError(
                f"the template's field {shown[:60]!r} is not one of "
                f"{', '.join('{' + k + '}' for k in values)} (no format specs, conversions, "
                "attributes or indexes; write {{ and }} for literal braces)"
            )
        pieces.append(str(values[field]))
    return "".join(pieces)
