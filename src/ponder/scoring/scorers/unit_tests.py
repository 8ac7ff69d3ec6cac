"""``tests``: run candidate code against unit tests in the code sandbox; the score is the
fraction of tests passed.

The problem says what to run through its metadata (the HumanEval task fills it in):

- ``tests``: a list of test snippets (each usually one ``assert``), run one by one;
- ``test_setup`` (optional): code run before the tests (imports, helpers);
- ``entry_point`` (optional): the function the tests call as ``candidate``;
- ``code_prompt`` (optional): the code the reply completes (HumanEval's signature), put before
  the reply's code as ``ponder.scoring.code.assemble`` does.

The candidate's code is the last fenced block of its text (or all of it). Every test runs in
one sandboxed program that reports each result as it goes, so a test that hangs or crashes
the process loses only itself and those after it. When the *setup* fails, or the program
reports nothing at all although the solution compiled, the harness itself is broken: that
is a recorded failure naming the cause, not a score of zero.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.types import Usage
from ponder.scoring.code import assemble, extract_code, test_steps
from ponder.scoring.sandbox import Limits, run_code
from ponder.scoring.scorers.base import VERIFY, Scorer, ScorerConfig, ScoreValue, ScoringContext


class TestsConfig(ScorerConfig):
    #: wall-clock seconds for one candidate's whole test run
    timeout: float = Field(10.0, gt=0)
    memory_mb: int = Field(1024, ge=64)
    #: sandbox runs at once (default: the number of CPU cores)
    concurrency: int | None = Field(None, ge=1)


class UnitTestScorer(Scorer):
    """The fraction of a problem's unit tests a candidate's code passes."""

    name = "tests"
    Config: ClassVar[type[ScorerConfig]] = TestsConfig

    @property
    def _config(self) -> TestsConfig:
        assert isinstance(self.config, TestsConfig)
        return self.config

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        tests = problem.metadata.get("tests")
        if not isinstance(tests, list | tuple) or not tests:
            error = (
                "the problem carries no unit tests: give metadata 'tests' (a list of test "
                "snippets), or use a task that provides them (humaneval)"
            )
            return [ScoreValue.failed(error) for _ in candidates]
        config = self._config
        gate = asyncio.Semaphore(config.concurrency or os.cpu_count() or 1)

        async def one(candidate: Candidate) -> ScoreValue:
            async with gate:
                start = time.perf_counter()
                value = await asyncio.to_thread(self.run_one, problem, candidate)
                ctx.record(VERIFY, Usage(), time.perf_counter() - start, model="sandbox")
                return value

        return list(await asyncio.gather(*(one(c) for c in candidates)))

    def run_one(self, problem: Problem, candidate: Candidate) -> ScoreValue:
        config = self._config
        meta = problem.metadata
        tests = [str(t) for t in meta["tests"]]
        entry = meta.get("entry_point")
        code = extract_code(candidate.text)
        if meta.get("code_prompt") is not None and entry:
            code = assemble(str(meta["code_prompt"]), code, str(entry))
        steps = test_steps(str(meta.get("test_setup") or ""), tests, entry_point=entry)
        limits = Limits.for_tests(config.timeout, config.memory_mb)
        execution = run_code(code, then=steps, limits=limits)
        passed = sum(step.ok for step in execution.steps[1:])
        details = {"status": execution.status, "passed": passed, "of": len(tests)}
        if execution.steps and not execution.steps[0].ok:  # the setup failed
            error = execution.steps[0].error or ""
            if entry and error.startswith("NameError") and f"'{entry}'" in error:
                # the candidate's fault: its code does not define the function under test
                return ScoreValue(0.0, details={**details, "reason": error})
            return ScoreValue.failed(f"the test harness crashed: {error}", **details)
        broken = [s.error for s in execution.steps[1:] if (s.error or "").startswith("SyntaxError")]
        if broken:
            return ScoreValue.failed(f"the test harness crashed: {broken[0]}", **details)
        if execution.status != "passed" and len(execution.steps) <= len(tests):
            details["reason"] = f"{execution.status}: {execution.reason}"
        return ScoreValue(passed / len(tests), details=details)
