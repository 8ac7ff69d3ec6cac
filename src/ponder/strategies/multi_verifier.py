"""``multi_verifier``: best-of-n where several aspect verifiers vote on each candidate.

Lifshitz et al., "Multi-Agent Verification: Scaling Test-Time Compute with Multiple
Verifiers" (BoN-MAV, arXiv 2502.20379): each verifier, a model prompted to check one aspect of
a solution, approves it or not; a candidate's score is the number of approvals, and the most
approved candidate wins. Verifiers are the product of ``aspects`` (built-in names below, or
any question of your own) and ``verifier_models`` (Context models), so more aspects or more
models scale verification compute. Each verifier is a ``judge``: it approves when its P(yes)
(logprob mode) or its rating (text mode) is at least ``approve_at``. A verifier whose verdict
failed abstains and is recorded. Ties in approvals go to the higher summed judge score, then
to the earliest sample. All verifier calls for all candidates are issued at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ponder.core.problem import Problem
from ponder.core.trust import model_names
from ponder.errors import VerifierError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, sample_candidates
from ponder.scoring.scorers.judge import Judge
from ponder.strategies.base import Outcome, Strategy

ASPECTS = {
    "correctness": "Is the final answer of the proposed solution correct?",
    "arithmetic": "Are all the calculations in the proposed solution done correctly?",
    "logic": "Does every step of the proposed solution follow from the ones before it?",
    "completeness": "Does the proposed solution fully answer the question that was asked?",
}

_PROMPT = (
    "You are checking one aspect of a proposed solution to a problem.\n\n"
    "Problem:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "{aspect} Answer with one word: Yes or No."
)
_TEXT_PROMPT = (
    "You are checking one aspect of a proposed solution to a problem.\n\n"
    "Problem:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "{aspect} Reply with a rating from 1 (surely not) to 10 (surely yes), in the form "
    "'Rating: N'."
)


class MultiVerifierConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=4096)
    aspects: list[str] = Field(
        default_factory=lambda: ["correctness", "arithmetic", "logic"], min_length=1
    )
    verifier_models: list[str] = model_names(default_factory=lambda: ["default"], min_length=1)
    mode: Literal["auto", "logprob", "text"] = "auto"
    #: a verifier approves when its judge score is at least this
    approve_at: float = Field(0.5, gt=0.0, le=1.0)

    @field_validator("aspects")
    @classmethod
    def _known_or_question(cls, aspects: list[str]) -> list[str]:
        for aspect in aspects:
            if aspect not in ASPECTS and not aspect.rstrip().endswith("?"):
                raise ValueError(
                    f"unknown aspect {aspect!r}: use one of {', '.join(ASPECTS)}, or write "
                    "your own as a question ending in '?'"
                )
        return aspects


class MultiVerifier(Strategy):
    """Best-of-n by the number of aspect verifiers that approve."""

    name = "multi_verifier"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = MultiVerifierConfig

    @property
    def _config(self) -> MultiVerifierConfig:
        assert isinstance(self.config, MultiVerifierConfig)
        return self.config

    def verifiers(self, ctx: Context) -> list[tuple[str, str, Judge]]:
        """One judge per (model, aspect), each asking the way its backend can answer;
        an unknown model or a missing capability fails here, before sampling."""
        config = self._config
        verifiers = []
        for model in config.verifier_models:
            mode = config.mode
            if mode == "auto":
                mode = "logprob" if ctx.model(model).capabilities.logprobs else "text"
            template = _TEXT_PROMPT if mode == "text" else _PROMPT
            for aspect in config.aspects:
                # a question of the user's own is text: its braces are not template fields
                asked = ASPECTS.get(aspect, aspect).replace("{", "{{").replace("}", "}}")
                prompt = template.replace("{aspect}", asked)
                judge = Judge(model=model, mode=mode, pointwise_prompt=prompt)
                judge.check(ctx)
                verifiers.append((model, aspect, judge))
        return verifiers

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        verifiers = self.verifiers(ctx)
        candidates = await sample_candidates(problem, ctx, config, config.n)
        results = await asyncio.gather(
            *(judge.score(problem, candidates, ctx) for _, _, judge in verifiers)
        )
        approvals = [0] * len(candidates)
        totals = [0.0] * len(candidates)
        verdicts: list[dict[str, Any]] = []
        for (model, aspect, _), scores in zip(verifiers, results, strict=True):
            for i, s in enumerate(scores):
                if s.value is not None:
                    approvals[i] += s.value >= config.approve_at
                    totals[i] += s.value
            verdicts.append(
                {
                    "model": model,
                    "aspect": aspect,
                    "scores": [s.as_dict() for s in scores],
                }
            )
        if not any(s.ok for scores in results for s in scores):
            raise VerifierError(
                "no verifier could judge any candidate: "
                + "; ".join(sorted({s.error or "" for scores in results for s in scores})[:3])
            )
        best = max(range(len(candidates)), key=lambda i: (approvals[i], totals[i], -i))
        chosen = candidates[best]
        details = {
            "approvals": approvals,
            "verifiers": len(verifiers),
            "verdicts": verdicts,
            "chosen": chosen.index,
        }
        return Outcome(chosen.answer, chosen.text, tuple(candidates), details)
