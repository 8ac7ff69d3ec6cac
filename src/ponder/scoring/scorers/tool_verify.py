"""``tool_verify``: the model writes a short Python check of a candidate; the sandbox runs it.

After T1 (Kang et al. 2025, "Scaling Test-time Compute of Small Models via Tool-integrated
Self-verification"): a small model verifies poorly where a verdict needs exact computation,
so the computation is handed to a tool. For each candidate the model writes ``m`` short
programs (role ``verify``) that redo the solution's computation or test its claim, each
printing one last line: the answer it computes, or ``True`` / ``False`` for the claim. Each
program runs in ponder's code sandbox (no network, no host files, CPU, memory and wall
limits); a program whose last line is ``True``/``False`` gives that verdict, and one that
prints a value accepts the candidate when the value is equivalent to the candidate's answer
(as votes group answers). The candidate's score is the share of its programs that accept it.

- A program that fails (an exception, a timeout, no output, no code at all) gives no verdict:
  it is left out of the average and counted in the details; a candidate none of whose
  programs gives one is a recorded failure, never a default score. A candidate without an
  answer is a recorded failure too: there is nothing to check.
- What decides the score is the output of a program the *verifier* wrote, run in the
  sandbox; the candidate's text reaches it only as the prompt's data.
- Not offered to ``ponder serve`` requests by default (it runs programs for each candidate of
  each request): an operator allows it with ``--allow tool_verify``.

Deviations, on purpose: T1 distills tool use into the small model by training; here the
model is prompted as it is, and the programs run where a verdict is read, not inside the
model's own reasoning.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import fill, operator_only
from ponder.core.types import Usage
from ponder.scoring.answers import equivalent
from ponder.scoring.code import extract_code
from ponder.scoring.sandbox import Limits, run_code
from ponder.scoring.scorers.base import (
    VERIFY,
    Scorer,
    ScorerConfig,
    ScoreValue,
    ScoringContext,
)
from ponder.scoring.scorers.gen_verify import ChainsConfig

PROMPT = (
    "A proposed solution to a problem follows.\n\nProblem:\n{question}\n\n"
    "Proposed solution:\n{solution}\n\nIts final answer: {answer}\n\n"
    "Write a short Python program, in one ```python block, that checks this answer: redo "
    "the computation the problem needs, step by step in code, and print the final result "
    "as the program's last line. If the answer is a claim that cannot be computed, print "
    "True if the claim holds and False if it does not."
)

_TRUE = {"true", "correct", "yes"}
_FALSE = {"false", "incorrect", "no"}


class ToolVerifyConfig(ChainsConfig):
    #: programs per candidate
    m: int = Field(1, ge=1, le=16)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    #: the most tokens one program may take
    max_tokens: int = Field(384, ge=1)
    #: wall-clock seconds one program may run
    timeout: float = Field(5.0, gt=0, le=60)
    memory_mb: int = Field(512, ge=64)
    #: programs run at once (default: the number of CPU cores)
    concurrency: int | None = Field(None, ge=1)
    #: the verifier's prompt: ``{question}``, ``{solution}`` and ``{answer}``
    prompt: str = operator_only(PROMPT, "a prompt template")


class ToolVerify(Scorer):
    """Scores each candidate by the share of its model-written check programs that accept
    it, run in the sandbox."""

    name = "tool_verify"
    Config: ClassVar[type[ScorerConfig]] = ToolVerifyConfig

    @property
    def _config(self) -> ToolVerifyConfig:
        assert isinstance(self.config, ToolVerifyConfig)
        return self.config

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        config = self._config
        checkable = [i for i, c in enumerate(candidates) if c.answer is not None]
        calls = []
        for i in checkable:
            candidate = candidates[i]
            solution = config.shown(candidate.text)
            prompt = fill(
                config.prompt,
                question=problem.question,
                solution=solution,
                answer=candidate.answer,
            )
            calls.append(ctx.sample(prompt, **config.call_options(self.model, i)))
        results = await asyncio.gather(*calls)
        gate = asyncio.Semaphore(config.concurrency or os.cpu_count() or 1)

        async def check(program: str, answer: str) -> dict[str, Any]:
            async with gate:
                start = time.perf_counter()
                outcome = await asyncio.to_thread(self._run, program, answer)
                ctx.record(VERIFY, Usage(), time.perf_counter() - start, model="sandbox")
                return outcome

        scores: list[ScoreValue] = [
            ScoreValue.failed("the candidate gave no answer to check") for _ in candidates
        ]
        for i, result in zip(checkable, results, strict=True):
            answer = candidates[i].answer
            assert answer is not None
            programs = [
                c.text
                for c in result.completions
                if c.finish_reason != "length" and "```" in c.text
            ]
            checks = await asyncio.gather(*(check(extract_code(p), answer) for p in programs))
            scores[i] = _score(list(checks), config.m)
        return scores

    def _run(self, program: str, answer: str) -> dict[str, Any]:
        config = self._config
        limits = Limits.for_tests(config.timeout, config.memory_mb)
        execution = run_code(program, limits=limits)
        lines = [line.strip() for line in execution.stdout.splitlines() if line.strip()]
        if execution.status != "passed" or not lines:
            why = execution.reason or "the program printed nothing"
            return {"verdict": None, "why": f"{execution.status}: {why}"[:200]}
        last = lines[-1][:200]
        word = last.lower().rstrip(".")
        if word in _TRUE | _FALSE and answer.lower() not in _TRUE | _FALSE:
            return {"verdict": word in _TRUE, "printed": last}
        return {"verdict": equivalent(last, answer), "printed": last}


def _score(checks: list[dict[str, Any]], m: int) -> ScoreValue:
    verdicts = [c["verdict"] for c in checks if c["verdict"] is not None]
    details = {
        "programs": m,
        "ran": len(checks),
        "with_verdict": len(verdicts),
        "accepted": sum(verdicts),
        "checks": checks,
    }
    if not verdicts:
        return ScoreValue.failed(
            f"none of the {m} check programs gave a verdict (no code, cut off, failed or "
            "printed nothing)",
            **details,
        )
    return ScoreValue(sum(verdicts) / len(verdicts), details=details)


__all__ = ["ToolVerify"]
