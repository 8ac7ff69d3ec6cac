"""What one ``ponder eval`` run covers: its tasks, its strategy settings, the model and seed.

The plan is stored with the run (``Store.start_run``) so that a report can be redrawn from
the store alone. Settings of a strategy that declares ``pool_estimate`` and that differ only
in ``n`` share one pool: only the largest n is run, the smaller ones are estimated from its
samples. A setting of a batch strategy (``allocate``: registered under
``ponder.batch_strategies``) runs once per task over its problems together.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Sequence
from typing import Any

from ponder.api import make_batch_strategy, make_strategy
from ponder.backends.base import Backend
from ponder.core.registry import Registry
from ponder.core.spec import expand_spec
from ponder.core.types import ModelShape
from ponder.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Setting:
    """One strategy setting as run (or estimated) by the harness."""

    label: str  # as given on the command line: "self_consistency:n=4"
    name: str
    config: dict[str, Any]  # the validated options, defaults filled in
    key: str  # canonical identity: name and config
    pool: str | None = None  # the key of the run setting this one is estimated from
    k: int | None = None  # the n it stands for, when estimated
    batch: bool = False  # one run over a task's problems together (``allocate``), not each
    #: its answer is the plain majority vote of its n samples (so maj@n is its own result)
    majority: bool = False

    @property
    def estimated(self) -> bool:
        return self.pool is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Setting:
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class TaskPlan:
    key: str
    name: str  # as reports show it (unique within a plan)
    kind: str
    args: dict[str, Any]
    problems: list[str]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one ``ponder eval`` run covers; stored with the run so reports can be redrawn."""

    tasks: list[TaskPlan]
    settings: list[Setting]
    model: str
    seed: int
    limit: int | None
    model_shape: ModelShape | None = None
    command: str | None = None
    #: what produced the run beyond the model: the backend's build, CPU features and
    #: threads (``Backend.environment``); results move between machines, and this says why
    environment: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        shape = data.get("model_shape")
        return cls(
            tasks=[TaskPlan(**t) for t in data["tasks"]],
            settings=[Setting.from_dict(s) for s in data["settings"]],
            model=data["model"],
            seed=data["seed"],
            limit=data["limit"],
            model_shape=ModelShape(**shape) if shape else None,
            command=data.get("command"),
            environment=data.get("environment"),
        )

    @property
    def run_settings(self) -> list[Setting]:
        return [s for s in self.settings if not s.estimated]


#: strategy options added after stores were first written, with their defaults: left out of a
#: setting's key when at the default, so earlier stores still resume
LATE_OPTIONS: dict[str, Any] = {
    "sampler": None,
    "stop": [],
    "logprobs": False,
    "top_logprobs": 0,
    "loop_template": 0,
    "reader": "rules",
    "reader_tokens": 16,
    "reader_model": None,
}
#: the same, for options one strategy gained later than the others
LATE_STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {"greedy": {"loop_repeats": 0}}


def make_settings(specs: Sequence[str], registry: Registry) -> list[Setting]:
    """Settings from strategy specs (``NAME:k=v|v2,...``), validated, pools marked."""
    settings: list[Setting] = []
    seen: set[str] = set()
    for spec in specs:
        for label, name, options in expand_spec(spec):
            batch = name in registry.names("batch_strategy")
            make = make_batch_strategy if batch else make_strategy
            config = make(name, registry=registry, **options).config.model_dump(mode="json")
            for option, default in (LATE_OPTIONS | LATE_STRATEGY_OPTIONS.get(name, {})).items():
                # options added since stores were first written leave the key as it was
                if config.get(option, "given") == default:
                    del config[option]
            key = f"{name}:{json.dumps(config, sort_keys=True, separators=(',', ':'))}"
            if key in seen:
                raise ConfigError(f"strategy setting {label!r} is given twice")
            seen.add(key)
            majority = not batch and registry.get("strategy", name).pool_estimate == "majority"
            settings.append(Setting(label, name, config, key, batch=batch, majority=majority))
    if not settings:
        raise ConfigError("give at least one --strategy")
    return _mark_pools(settings, registry)


def _mark_pools(settings: list[Setting], registry: Registry) -> list[Setting]:
    groups: dict[str, list[Setting]] = {}
    for s in settings:
        if s.batch:
            continue
        cls = registry.get("strategy", s.name)
        if cls.pool_estimate and "n" in s.config:
            rest = {k: v for k, v in s.config.items() if k != "n"}
            groups.setdefault(f"{s.name}:{json.dumps(rest, sort_keys=True)}", []).append(s)
    marked = {}
    for members in groups.values():
        largest = max(members, key=lambda s: s.config["n"])
        for s in members:
            if s is not largest:
                marked[s.key] = dataclasses.replace(s, pool=largest.key, k=s.config["n"])
    return [marked.get(s.key, s) for s in settings]


def problem_seed(seed: int, problem_id: str) -> int:
    """The base sample seed of one problem in a run with ``seed``."""
    return (seed * 1_000_003 + zlib.crc32(problem_id.encode())) % (2**31 - 1)


async def model_id(backend: Backend) -> str:
    """How results name the model: the backend's identity of it (a GGUF by its content, a
    server's model by URL and model id)."""
    return await backend.identity()
