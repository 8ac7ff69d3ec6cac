"""What a request may reach: the operator's allowlist, named components, and option values
checked as data, in one place, before any work.

A request names strategies and option *values*; it never names a path, a module, a URL or a
template (``ponder.core.trust`` marks those options where they are declared). The operator
decides what is offered:

- ``strategies`` and ``scorers``: the registered names a request may use. By default every
  strategy ponder ships, and the scorers that need nothing of the host (``judge``,
  ``confidence``, ``arithmetic``, ``gen_verify``); ``--allow NAME`` widens and ``--deny NAME``
  narrows it.
- ``named_scorers``: ``--scorer NAME=SPEC`` (``rm=reward_model(url=http://gpu:8001/...)``,
  ``check=python(function=mypkg.checks:score)``): a request names ``rm``, never the URL.
- ``plans``: ``--plan NAME=FILE``: ``auto:plan=NAME``.
- ``trusted`` specs (``--strategy``, ``--preset``): written by the operator, so their own
  options may set what a request may not.

Every refusal is a ``PolicyError`` (a 400 that says what is not allowed and what is), raised
before a strategy is built; no refusal quotes a file or an upstream.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo

from ponder.core.registry import Registry, default_registry
from ponder.core.spec import parse_call
from ponder.core.trust import COMPONENT, MODELS, NAMED, OPERATOR
from ponder.errors import ConfigError, UserError

#: scorers offered by default: they read nothing and reach nothing of the host
DEFAULT_SCORERS = frozenset({"judge", "confidence", "arithmetic", "gen_verify"})
#: nesting of components in components (a sampler's scorer's ...)
MAX_DEPTH = 4


class PolicyError(UserError):
    """A request asked for what the server does not offer to requests."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def token_field(name: str) -> bool:
    """Whether an option sets the tokens of one sample (``max_tokens``, ``answer_tokens``,
    ``max_thinking``, ...)."""
    return (name.endswith("_tokens") and not name.endswith("per_problem")) or name in (
        "max_thinking",
    )


@dataclasses.dataclass(frozen=True)
class Policy:
    strategies: frozenset[str]
    scorers: frozenset[str] = DEFAULT_SCORERS
    named_scorers: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    plans: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: the longest string, the longest list, and the most tokens a sample may be given
    max_string: int = 2000
    max_list: int = 64
    sample_tokens: int = 4096

    @classmethod
    def default(cls, registry: Registry | None = None, **changes: Any) -> Policy:
        """Every strategy ponder ships (not plugins', whose options are not marked) and the
        default scorers."""
        registry = registry or default_registry()
        shipped = frozenset(
            name
            for name in registry.names("strategy")
            if _module(registry, "strategy", name).startswith("ponder.")
        )
        return cls(strategies=shipped, **changes)

    def widened(
        self, allow: list[str], deny: list[str], registry: Registry | None = None
    ) -> Policy:
        """With ``allow`` names added and ``deny`` names removed (a strategy or a scorer,
        whichever the registry has; ``all``: every registered one)."""
        registry = registry or default_registry()
        strategies, scorers = set(self.strategies), set(self.scorers)
        for name in allow:
            if name == "all":
                strategies |= set(registry.names("strategy"))
                scorers |= set(registry.names("scorer"))
                continue
            kinds = [k for k in ("strategy", "scorer") if name in registry.names(k)]
            if not kinds:
                raise ConfigError(f"--allow {name}: no strategy or scorer has that name")
            (strategies if "strategy" in kinds else scorers).add(name)
            if len(kinds) == 2:
                scorers.add(name)
        for name in deny:
            if name not in strategies and name not in scorers:
                raise ConfigError(f"--deny {name}: it is not allowed to begin with")
            strategies.discard(name)
            scorers.discard(name)
        return dataclasses.replace(
            self, strategies=frozenset(strategies), scorers=frozenset(scorers)
        )

    def offered_scorers(self) -> list[str]:
        return sorted({*self.scorers, *self.named_scorers})

    # -- admission

    def admit(
        self,
        name: str,
        trusted: Mapping[str, Any],
        requested: Mapping[str, Any],
        models: set[str] | None,
        *,
        registry: Registry | None = None,
    ) -> dict[str, Any]:
        """The options a run of strategy ``name`` gets: the operator's ``trusted`` ones
        (named components resolved) with the request's own on top, each checked (``models``:
        the served model names; None: not checked). A PolicyError for what the request may
        not ask for."""
        registry = registry or default_registry()
        checker = _Checker(self, registry, models)
        checker.strategy_name(name, "strategy", "ponder.strategy")
        fields = _fields(registry, "strategy", name)
        options = {
            k: checker.option(fields.get(k), k, v, True, name, 0) for k, v in trusted.items()
        }
        for key, value in requested.items():
            options[key] = checker.option(fields.get(key), key, value, False, name, 0)
        return options


@dataclasses.dataclass
class _Checker:
    policy: Policy
    registry: Registry
    models: set[str] | None

    def strategy_name(self, name: str, what: str, param: str) -> None:
        if name not in self.policy.strategies:
            known = set(self.registry.names("strategy"))
            why = "does not exist" if name not in known else "is not offered by this server"
            raise PolicyError(
                f"{what} {name!r} {why}; this server offers: "
                f"{', '.join(sorted(self.policy.strategies))}",
                param,
            )

    def option(
        self, field: FieldInfo | None, key: str, value: Any, trusted: bool, owner: str, depth: int
    ) -> Any:
        extra = field.json_schema_extra if field is not None else None
        marks = extra if isinstance(extra, dict) else {}
        where = f"option {key!r} of {owner!r}"
        if OPERATOR in marks and not trusted:
            return self.operator_value(marks, key, value, where)
        if COMPONENT in marks and value is not None:
            return self.component(str(marks[COMPONENT]), value, trusted, where, depth + 1)
        if MODELS in marks and self.models is not None:
            names = value if isinstance(value, list) else [value]
            unknown = [n for n in names if not isinstance(n, str) or n not in self.models]
            if unknown:
                raise PolicyError(
                    f"{where} names a model this server does not serve ({unknown[0]!r}); "
                    f"its models: {', '.join(sorted(self.models))}",
                    key,
                )
        if not trusted:
            self.data(value, where, key)
            if token_field(key) and isinstance(value, int) and value > self.policy.sample_tokens:
                raise PolicyError(
                    f"{where} is {value}, over this server's limit of "
                    f"{self.policy.sample_tokens} tokens a sample",
                    key,
                )
        return value

    def operator_value(self, marks: Mapping[str, Any], key: str, value: Any, where: str) -> Any:
        named = marks.get(NAMED)
        if named == "plan":
            if isinstance(value, str) and value in self.policy.plans:
                return self.policy.plans[value]
            offered = ", ".join(sorted(self.policy.plans)) or "none"
            raise PolicyError(
                f"{where} takes the name of a plan this server offers ({offered}; the "
                "operator names them with --plan NAME=FILE), not a path",
                key,
            )
        raise PolicyError(
            f"{where} is {marks[OPERATOR]}, which only the server's operator may set; a "
            "request names strategies and option values. The operator can offer one by name "
            "(--scorer NAME=SPEC, --preset SPEC)",
            key,
        )

    def component(self, kind: str, value: Any, trusted: bool, where: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise PolicyError(f"{where}: components nested deeper than {MAX_DEPTH}")
        name, options = _named(value, kind, where)
        if kind == "scorer":
            base: dict[str, Any] = {}
            if name in self.policy.named_scorers:
                base = dict(self.policy.named_scorers[name])
                name = str(base.pop("name"))
            elif name not in self.policy.scorers:
                raise PolicyError(
                    f"{where}: scorer {name!r} is not offered by this server; it offers: "
                    f"{', '.join(self.policy.offered_scorers())}",
                    "scorer",
                )
            fields = _fields(self.registry, "scorer", name)
            checked = {
                k: self.option(fields.get(k), k, v, True, name, depth) for k, v in base.items()
            }
            for k, v in options.items():
                checked[k] = self.option(fields.get(k), k, v, trusted, name, depth)
            return {"name": name, **checked}
        self.strategy_name(name, f"{where}: strategy", kind)
        fields = _fields(self.registry, "strategy", name)
        checked = {
            k: self.option(fields.get(k), k, v, trusted, name, depth) for k, v in options.items()
        }
        return {"name": name, **checked}

    def data(self, value: Any, where: str, key: str, depth: int = 0) -> None:
        """Option values are data: numbers, booleans, short strings, short flat lists."""
        policy = self.policy
        if value is None or isinstance(value, bool | int):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise PolicyError(f"{where} must be a finite number", key)
            return
        if isinstance(value, str):
            if len(value) > policy.max_string:
                raise PolicyError(f"{where} is over {policy.max_string} characters", key)
            return
        if isinstance(value, list) and depth < 2:
            if len(value) > policy.max_list:
                raise PolicyError(f"{where} has over {policy.max_list} items", key)
            for item in value:
                self.data(item, where, key, depth + 1)
            return
        raise PolicyError(
            f"{where} must be a number, a boolean, a string or a list of them, not "
            f"{type(value).__name__}",
            key,
        )


def _named(value: Any, kind: str, where: str) -> tuple[str, dict[str, Any]]:
    try:
        if isinstance(value, str):
            return parse_call(value, kind)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            options = dict(value)
            return str(options.pop("name")), options
    except ConfigError as exc:
        raise PolicyError(f"{where}: {exc}", kind) from None
    raise PolicyError(
        f"{where} must name a {kind}: NAME, NAME(key=value,...) or an object with a 'name'",
        kind,
    )


def _fields(registry: Registry, kind: str, name: str) -> dict[str, FieldInfo]:
    cls = registry.get(kind, name)
    config = getattr(cls, "Config", None)
    return dict(getattr(config, "model_fields", {}))


def _module(registry: Registry, kind: str, name: str) -> str:
    entry = registry.entries.get(kind, {}).get(name)
    value = getattr(entry, "value", None)
    if isinstance(value, str):
        return value
    return str(getattr(entry, "__module__", ""))
