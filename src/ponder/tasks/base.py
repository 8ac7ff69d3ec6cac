"""What an evaluation task is, and how a task is found by name.

A task is a deterministic list of problems (the same for the same arguments and seed) and a
scorer. Tasks are registered under the entry-point group ``ponder.tasks``, as a plugin would::

    [project.entry-points."ponder.tasks"]
    my_task = "my_package.tasks:MyTask"          # a Task subclass: one task
    my_suite = "my_package.tasks:MySuite"        # a TaskFamily subclass: many tasks by name

A name is looked up in this order: a registered task; ``FAMILY:MEMBER`` (``reasoning_gym:
products``); a member of any registered family (``products``); a task whose ``claims`` accepts
the spec (``data/questions.jsonl``). An unknown name lists what is known.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ponder.core.problem import AnswerSpec, AnswerType, Problem, validate_options
from ponder.core.registry import Registry, default_registry
from ponder.errors import ConfigError, UnknownNameError


@dataclasses.dataclass(frozen=True)
class Score:
    """A scorer's verdict: the task's own score in [0, 1], whether it counts as correct, and
    why not (a failed test, a sandbox refusal) when the scorer can say."""

    value: float
    correct: bool
    reason: str | None = None


class TaskConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: a system prompt put before every question
    system: str | None = None
    #: the kind of answer the task asks for (None: inferred from its reference answers)
    answer_type: AnswerType | None = None
    #: the instruction that asks for it, appended to every question (None: the type's
    #: default, a final line ``Answer: ...``; "" for none)
    instruction: str | None = None


_YES_NO = {"yes", "no"}
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d+)?|\d+/\d+)$")


def infer_answer_type(references: Sequence[str]) -> AnswerType:
    """The kind of answer references of this kind call for: yes_no when every one is yes or
    no, number when every one is a number (or a fraction), choice when every one is a
    letter A-J, text when every one is a few words, else expression."""
    refs = [r.strip() for r in references if r.strip()]
    if not refs:
        return "expression"
    if all(r.lower().rstrip(".") in _YES_NO for r in refs):
        return "yes_no"
    if all(_NUMBER.match(r.replace(",", "")) for r in refs):
        return "number"
    if all(re.fullmatch(r"\(?[A-J]\)?", r) for r in refs):
        return "choice"
    if all(len(r.split()) <= 4 and not re.search(r"[\d=+*/^]", r) for r in refs):
        return "text"
    return "expression"


def declared_answer(
    answer_type: AnswerType | None, instruction: str | None, references: Sequence[str]
) -> AnswerSpec:
    """The answer spec a task declares: the type given (or inferred from ``references``) and
    its instruction."""
    return AnswerSpec(answer_type or infer_answer_type(references), instruction)


def tests_score(program: str, steps: list[str], timeout: float, memory_mb: int) -> Score:
    """Correct when ``program`` passes every test step in the sandbox; else why not."""
    from ponder.scoring.sandbox import Limits, run_code

    execution = run_code(program, then=steps, limits=Limits.for_tests(timeout, memory_mb))
    if execution.ok:
        return Score(1.0, True)
    return Score(0.0, False, f"{execution.status}: {execution.reason}")


def ask(question: str, spec: AnswerSpec) -> str:
    """The question with the instruction that asks for the declared answer."""
    return f"{question.rstrip()}\n\n{spec.prompt}" if spec.prompt else question


class Task(abc.ABC):
    """Base class of every task. Subclasses set ``name``, ``Config``, ``problems``, ``score``.

    ``kind`` is ``"answer"`` when the score depends on the extracted answer only (votes over
    answers are meaningful, so maj@k is reported), or ``"code"`` when it depends on the text.
    ``score`` is synchronous and may be slow (it may run code); the harness calls it from a
    worker thread.
    """

    name: ClassVar[str]
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    kind: ClassVar[str] = "answer"
    #: whether the problems are drawn from a ``seed`` argument (``make_task`` then passes the
    #: run's seed, as ``problem_seed`` turns it, unless the arguments give one)
    seeded: ClassVar[bool] = False

    @staticmethod
    def problem_seed(seed: int) -> int:
        """The ``seed`` argument a run's seed gives the task (see ``ReasoningGym``)."""
        return seed

    def __init__(self, **args: Any) -> None:
        self.config = validate_options(self.Config, args, f"task {self.name!r}")

    @property
    def args(self) -> dict[str, Any]:
        """The arguments that identify this task's problems (JSON-serialisable)."""
        dumped: dict[str, Any] = self.config.model_dump(mode="json")
        return dumped

    @property
    def label(self) -> str:
        """How reports name the task."""
        return self.name

    @property
    def key(self) -> str:
        """A stable identity: name and canonical arguments."""
        return f"{self.name}:{json.dumps(self.args, sort_keys=True, separators=(',', ':'))}"

    @classmethod
    def claims(cls, spec: str) -> bool:
        """Whether a spec that is not a registered name is meant for this task (a path)."""
        return False

    @classmethod
    def from_spec(cls, spec: str, **args: Any) -> Task:
        return cls(**args)

    @abc.abstractmethod
    def problems(self, limit: int | None = None) -> Sequence[Problem]:
        """The problems (the first ``limit`` only, when given), in a fixed order;
        ``Problem.id`` is unique within the task and ``Problem.metadata["reference"]`` holds
        the reference answer when there is one. Procedural tasks generate only those asked
        for."""

    @abc.abstractmethod
    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        """Score one reply: its full ``text`` and the ``answer`` extracted from it."""


class TaskFamily(abc.ABC):
    """Many tasks under one name space (every reasoning-gym dataset, say)."""

    name: ClassVar[str]
    seeded: ClassVar[bool] = False

    @staticmethod
    def problem_seed(seed: int) -> int:
        """The ``seed`` argument a run's seed gives the family's tasks."""
        return seed

    @abc.abstractmethod
    def names(self) -> Sequence[str]: ...

    @abc.abstractmethod
    def make(self, name: str, **args: Any) -> Task: ...


def _families(registry: Registry) -> dict[str, TaskFamily]:
    found = {}
    for name in registry.names("task"):
        component = registry.get("task", name)
        if isinstance(component, type) and issubclass(component, TaskFamily):
            found[name] = component()
    return found


def task_names(registry: Registry | None = None) -> list[str]:
    """Every task name: registered tasks, then ``FAMILY:MEMBER`` for each family member."""
    registry = registry or default_registry()
    names = []
    for name in registry.names("task"):
        component = registry.get("task", name)
        if isinstance(component, type) and issubclass(component, Task):
            names.append(name)
    for family_name, family in _families(registry).items():
        names.extend(f"{family_name}:{member}" for member in family.names())
    return names


def make_task(
    spec: str,
    args: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    registry: Registry | None = None,
) -> Task:
    """The task named (or claimed) by ``spec``, made with ``args``; see the module docstring.
    ``seed`` seeds the problems of a seeded task unless ``args`` has its own."""
    registry = registry or default_registry()
    args = dict(args or {})

    def seeded(kind: type[Task] | TaskFamily) -> dict[str, Any]:
        if kind.seeded and seed is not None and "seed" not in args:
            return {**args, "seed": kind.problem_seed(seed)}
        return args

    registered = registry.names("task")
    if spec in registered:
        component = registry.get("task", spec)
        if isinstance(component, type) and issubclass(component, Task):
            task: Task = component(**seeded(component))
            return task
    family_name, sep, member = spec.partition(":")
    families = _families(registry)
    if sep and family_name in families:
        family = families[family_name]
        return _from_family(family, member, seeded(family))
    for family in families.values():
        if spec in family.names():
            return _from_family(family, spec, seeded(family))
    for name in registered:
        component = registry.get("task", name)
        if isinstance(component, type) and issubclass(component, Task) and component.claims(spec):
            return component.from_spec(spec, **seeded(component))
    if "/" in spec or "." in spec:  # meant as a file: say so, not "unknown task"
        raise ConfigError(
            f"no task file at {spec!r}: give the path of an existing JSONL file (one "
            '{"question": ..., "answer": ...} object per line), or a task name'
        )
    raise UnknownNameError("task", spec, task_names(registry))


def task_class(spec: str, registry: Registry | None = None) -> type[Task] | None:
    """The Task class registered under ``spec`` itself (None for family members and files)."""
    registry = registry or default_registry()
    if spec not in registry.names("task"):
        return None
    component = registry.get("task", spec)
    return component if isinstance(component, type) and issubclass(component, Task) else None


def _from_family(family: TaskFamily, member: str, args: dict[str, Any]) -> Task:
    if member not in family.names():
        raise UnknownNameError(f"{family.name} task", member, family.names())
    return family.make(member, **args)
