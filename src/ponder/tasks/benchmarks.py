"""The seeds' answer benchmarks as tasks: GSM8K, MATH-500, AIME 2024 and 2025, GPQA-Diamond.

Each reads its dataset's own rows (``ponder.tasks.hub``: ``--data PATH`` or the hub), asks in
the way the task's answer type asks, and scores the way the papers do:

- ``gsm8k`` (``openai/gsm8k``, ``main``, test): the number after ``####`` in the solution;
  math-verify equivalence (``ponder.scoring.answers.equivalent``).
- ``math500`` (``HuggingFaceH4/MATH-500``, test): the ``answer`` column, a LaTeX expression;
  math-verify equivalence (``\\frac{1}{2}`` = ``0.5`` = ``1/2``).
- ``aime24`` (``HuggingFaceH4/aime_2024``, train) and ``aime25`` (``yentinglin/aime_2025``,
  train): an integer from 0 to 999; equivalence.
- ``gpqa_diamond`` (``Idavidrein/gpqa``, ``gpqa_diamond``, train): the correct answer and the
  three incorrect ones shuffled into A-D with a fixed seed per question (``shuffle_seed``, 0
  by default, so every run and every model sees the same letters); the letter is scored.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from ponder.core.problem import AnswerSpec, Problem
from ponder.scoring.answers import equivalent
from ponder.tasks.base import Score, ask
from ponder.tasks.hub import HubConfig, HubTask, first


class AnswerBenchmark(HubTask):
    """Rows -> problems with a reference answer, scored by equivalence."""

    answer_type: ClassVar[str] = "expression"

    def __init__(self, **args: Any) -> None:
        super().__init__(**args)
        self._problems: list[Problem] | None = None

    def problem_of(self, index: int, row: dict[str, Any]) -> tuple[str, str, str]:
        """(id, question, reference) of one row."""
        raise NotImplementedError

    def spec(self) -> AnswerSpec:
        config = self.config
        assert isinstance(config, HubConfig)
        return AnswerSpec(config.answer_type or self.answer_type, config.instruction)  # type: ignore[arg-type]

    def problems(self, limit: int | None = None) -> Sequence[Problem]:
        if self._problems is None:
            spec = self.spec()
            config = self.config
            assert isinstance(config, HubConfig)
            made = []
            for index, row in enumerate(self.rows()):
                pid, question, reference = self.problem_of(index, row)
                metadata = {"reference": reference}
                made.append(Problem(ask(question, spec), config.system, pid, metadata, spec))
            self._problems = made
        return self._problems[:limit]

    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        if answer is None:
            return Score(0.0, False, "no answer found in the reply")
        correct = equivalent(answer, str(problem.metadata["reference"]))
        return Score(float(correct), correct)


class GSM8K(AnswerBenchmark):
    name = "gsm8k"
    Config = HubConfig
    dataset = "openai/gsm8k"
    subset = "main"
    answer_type = "number"

    def problem_of(self, index: int, row: dict[str, Any]) -> tuple[str, str, str]:
        solution = str(first(row, "answer"))
        reference = solution.rsplit("####", 1)[-1].strip().replace(",", "")
        return f"gsm8k-{index}", str(first(row, "question")), reference


class MATH500(AnswerBenchmark):
    name = "math500"
    Config = HubConfig
    dataset = "HuggingFaceH4/MATH-500"

    def problem_of(self, index: int, row: dict[str, Any]) -> tuple[str, str, str]:
        pid = str(row.get("unique_id") or f"math500-{index}")
        return pid, str(first(row, "problem")), str(first(row, "answer"))


class AIME24(AnswerBenchmark):
    name = "aime24"
    Config = HubConfig
    dataset = "HuggingFaceH4/aime_2024"
    default_split = "train"
    answer_type = "number"

    def problem_of(self, index: int, row: dict[str, Any]) -> tuple[str, str, str]:
        pid = f"{self.name}-{row.get('id', index)}"
        answer = str(first(row, "answer")).strip()
        return pid, str(first(row, "problem", "question", "Problem")), answer


class AIME25(AIME24):
    name = "aime25"
    dataset = "yentinglin/aime_2025"


class GPQAConfig(HubConfig):
    #: the seed that shuffles each question's four answers into A-D (with its record id)
    shuffle_seed: int = 0


class GPQADiamond(AnswerBenchmark):
    name = "gpqa_diamond"
    Config = GPQAConfig
    dataset = "Idavidrein/gpqa"
    subset = "gpqa_diamond"
    default_split = "train"
    answer_type = "choice"

    def problem_of(self, index: int, row: dict[str, Any]) -> tuple[str, str, str]:
        config = self.config
        assert isinstance(config, GPQAConfig)
        pid = str(row.get("Record ID") or f"gpqa-{index}")
        right = _clean(str(first(row, "Correct Answer")))
        options = [right] + [_clean(str(first(row, f"Incorrect Answer {i}"))) for i in (1, 2, 3)]
        random.Random(f"{config.shuffle_seed}:{pid}").shuffle(options)
        letters = "ABCD"
        listed = "\n".join(f"{letters[i]}) {option}" for i, option in enumerate(options))
        question = f"{_clean(str(first(row, 'Question')))}\n\n{listed}"
        return pid, question, letters[options.index(right)]

    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        if answer is None:
            return Score(0.0, False, "no answer found in the reply")
        chosen = re.sub(r"[^A-Za-z]", "", answer).upper()[:1]
        correct = chosen == problem.metadata["reference"]
        return Score(float(correct), correct)


def _clean(text: str) -> str:
    return re.sub(r"\s+\n", "\n", text).strip()
