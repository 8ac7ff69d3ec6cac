"""Every ``reasoning-gym`` dataset as a task, scored by the dataset's own scorer.

The task's arguments go to the dataset's config unchanged (``size``, ``seed``, and each
dataset's difficulty knobs, e.g. ``max_digits`` for ``products``); the dataset's own
validation decides what is allowed and its message is shown when it refuses. A reply scores
what ``dataset.score_answer`` gives the answer extracted from it (``ponder.scoring.answers``); it is
correct when that score is 1. Problem ``i`` is the dataset's item ``i``, which reasoning-gym
derives from ``seed + i`` alone, so problems are fixed by the seed whatever the size.

A run's seed (``ponder eval --seed S``) gives the dataset the seed ``S x SEED_STRIDE``:
reasoning-gym's seeds S and S + 1 share all their problems but one (item i of seed S + 1 is
item i + 1 of seed S), so a held-out seed would hold out nothing; strided, two runs' seeds
share no problem among their first million. Seed 0 is 0 either way. A ``seed`` given as a
task argument (``-a seed=S``) goes to the dataset unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from typing import Any, get_args

from ponder.core.problem import AnswerType, Problem
from ponder.errors import ConfigError
from ponder.tasks.base import Score, Task, TaskFamily, ask, declared_answer

#: reasoning-gym's datasets draw an unseeded random seed; ours default to this one
DEFAULT_SEED = 0
#: a run's seed S is the dataset's seed S x SEED_STRIDE (see the module)
SEED_STRIDE = 1_000_000
#: datasets whose problems follow the iteration order of Python's string hashes (reasoning-gym
#: 0.1.x; measured: two processes with the same seed got different problems), so they are only
#: reproducible, and a resumed run only asks what it stored, with PYTHONHASHSEED fixed
HASH_ORDERED = frozenset({"isomorphic_strings", "polynomial_multiplication", "ransom_note"})


def problem_seed(seed: int) -> int:
    """The dataset seed of a run's seed: runs with different seeds share no problem."""
    return seed * SEED_STRIDE


@functools.cache
def _datasets() -> dict[str, Any]:
    from reasoning_gym.factory import DATASETS

    return dict(DATASETS)


class ReasoningGymTask(Task):
    """One reasoning-gym dataset. Made by ``ReasoningGym().make(name, **args)``."""

    name = "reasoning_gym"
    seeded = True
    problem_seed = staticmethod(problem_seed)

    def __init__(
        self,
        dataset: str,
        *,
        system: str | None = None,
        answer_type: str | None = None,
        instruction: str | None = None,
        **args: Any,
    ) -> None:
        self.name = dataset  # type: ignore[misc]
        self.system = system
        self._args = {"seed": DEFAULT_SEED, **args}
        if answer_type is not None and answer_type not in get_args(AnswerType):
            raise ConfigError(
                f"answer_type {answer_type!r} is not one of: {', '.join(get_args(AnswerType))}"
            )
        if dataset in HASH_ORDERED and os.environ.get("PYTHONHASHSEED", "random") == "random":
            raise ConfigError(
                f"reasoning-gym's {dataset} draws its problems in the order of Python's string "
                "hashes, which change with every process: its problems, and what a resumed run "
                "asks, would differ from run to run. Run with PYTHONHASHSEED fixed "
                "(PYTHONHASHSEED=0 ponder eval ...) for reproducible problems"
            )
        config_cls = _datasets()[dataset][1]
        known = {f.name for f in dataclasses.fields(config_cls)}
        unknown = sorted(set(self._args) - known)
        if unknown:
            raise ConfigError(
                f"reasoning-gym dataset {dataset!r} has no argument {', '.join(unknown)}; "
                f"its arguments: {', '.join(sorted(known))}, and ponder's: system"
            )
        import reasoning_gym

        try:
            self.dataset = reasoning_gym.create_dataset(dataset, **self._args)
        except (AssertionError, TypeError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"reasoning-gym refused the arguments {self._args} for {dataset!r}: "
                f"{exc or type(exc).__name__}"
            ) from exc
        sample = [str(self.dataset[i]["answer"]) for i in range(min(20, len(self.dataset)))]
        # reasoning-gym's questions already say how to answer ("Give only the result as your
        # final answer"): by default nothing is appended. Appending "End with `Answer: ...`"
        # made the embedded model answer without working (products, greedy: 0.65 -> 0.40 on
        # the development suite); -a instruction=... adds one where a model needs it
        chosen = "" if instruction is None else instruction
        self.spec = declared_answer(answer_type, chosen, sample)  # type: ignore[arg-type]

    @property
    def args(self) -> dict[str, Any]:
        system = {"system": self.system} if self.system else {}
        answer = {"answer_type": self.spec.type, "instruction": self.spec.prompt}
        return {**_jsonable(self._args), **system, **answer}

    def problems(self, limit: int | None = None) -> Sequence[Problem]:
        count = len(self.dataset) if limit is None else min(limit, len(self.dataset))
        problems = []
        for i in range(count):
            entry = self.dataset[i]
            problems.append(
                Problem(
                    ask(entry["question"], self.spec),
                    system=self.system,
                    id=str(i),
                    metadata={"reference": str(entry["answer"]), "entry": entry},
                    answer=self.spec,
                )
            )
        return problems

    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        if answer is None:
            return Score(0.0, False, "no answer found in the reply")
        try:
            value = float(self.dataset.score_answer(answer, problem.metadata["entry"]))
        except Exception as exc:  # the dataset's scorer failing on odd input is a wrong answer
            return Score(0.0, False, f"the dataset's scorer failed: {exc!r}")
        return Score(value, value >= 1.0)


class ReasoningGym(TaskFamily):
    """The family of every reasoning-gym dataset: ``--task products`` or
    ``--task reasoning_gym:products``."""

    name = "reasoning_gym"
    seeded = True
    problem_seed = staticmethod(problem_seed)

    def names(self) -> Sequence[str]:
        return sorted(_datasets())

    def make(self, name: str, **args: Any) -> Task:
        return ReasoningGymTask(name, **args)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
