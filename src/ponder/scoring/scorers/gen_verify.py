"""``gen_verify``: generative verification, a verifier that reasons before its verdict.

After GenRM (Zhang et al. 2024, "Generative Verifiers: Reward Modeling as Next-Token
Prediction") and the solve/verify budget split of "When To Solve, When To Verify" (Singhi et
al. 2025): for each candidate the model writes ``m`` verification chains, each checking the
solution step by step and ending in a verdict, and the share of chains that find it correct
is the candidate's score. As a scorer it serves ``best_of_n``, the weighted votes and the
searches (``scorer=gen_verify(m=4)``), so how many tokens go to verifying rather than solving
is a setting like any other (``n`` against ``m``).

Deviations from the papers, on purpose:

- GenRM fine-tunes the verifier and reads P("Yes") after each chain; here the model is used
  as it is, prompted, and the verdict is read from the chain's text (``Verdict: correct`` or
  ``Verdict: incorrect``, the last one written), so any backend serves, logprobs or not.
- A chain that ends without a verdict (or is cut off at ``max_tokens``) is left out of the
  average and counted in the details; a candidate none of whose chains gives one is a
  recorded failure, never a default score.
- The ``m`` chains of a candidate are one request with ``n=m`` at ``temperature`` (distinct
  draws, reproducible with ``seed``); all candidates' requests go out together, so the
  backend batches them. Every token is charged to the role ``verify``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import fill, operator_only
from ponder.scoring.scorers.base import (
    VERIFY,
    ModelScorerConfig,
    Scorer,
    ScorerConfig,
    ScoreValue,
    ScoringContext,
)

PROMPT = (
    "You are checking a proposed solution to a problem.\n\n"
    "Problem:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "Check the solution step by step: redo each computation and test each claim. Then end "
    "with one line, either 'Verdict: correct' or 'Verdict: incorrect'."
)

_VERDICT = re.compile(
    r"verdict\W{0,4}(incorrect|not correct|wrong|correct|right|yes|no)\b", re.IGNORECASE
)
_RIGHT = {"correct", "right", "yes"}


class ChainsConfig(ModelScorerConfig):
    """What scorers that have the model write about each candidate share: ``m`` writings per
    candidate (one request, ``n=m``), their sampling, and how much of the solution is shown."""

    #: writings (verification chains, check programs) per candidate
    m: int = Field(4, ge=1, le=64)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    #: the most tokens one writing may take
    max_tokens: int = Field(256, ge=1)
    #: the longest solution shown (its end is kept)
    max_solution_chars: int = Field(4000, ge=100)
    seed: int | None = None

    def shown(self, text: str) -> str:
        """The solution as the prompt shows it: its last ``max_solution_chars`` characters."""
        limit = self.max_solution_chars
        return text if len(text) <= limit else "..." + text[-limit:]

    def call_options(self, model: str | None, index: int) -> dict[str, Any]:
        """The sampling options of candidate ``index``'s request (its own seed)."""
        return {
            "role": VERIFY,
            "model": model,
            "n": self.m,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": None if self.seed is None else self.seed + 7919 * index,
        }


class GenVerifyConfig(ChainsConfig):
    #: the verifier's prompt: ``{question}`` and ``{solution}`` (the operator's to set)
    prompt: str = operator_only(PROMPT, "a prompt template")


class GenVerify(Scorer):
    """Scores each candidate by the share of ``m`` verification chains that accept it."""

    name = "gen_verify"
    Config: ClassVar[type[ScorerConfig]] = GenVerifyConfig

    @property
    def _config(self) -> GenVerifyConfig:
        assert isinstance(self.config, GenVerifyConfig)
        return self.config

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        config = self._config
        calls = []
        for i, candidate in enumerate(candidates):
            solution = config.shown(candidate.text)
            prompt = fill(config.prompt, question=problem.question, solution=solution)
            calls.append(ctx.sample(prompt, **config.call_options(self.model, i)))
        results = await asyncio.gather(*calls)
        return [
            _score([c.text for c in r.completions if c.finish_reason != "length"], config.m)
            for r in results
        ]


def verdict(text: str) -> bool | None:
    """The chain's last verdict: True (correct), False (incorrect), None (none given)."""
    found = _VERDICT.findall(text)
    return None if not found else found[-1].lower() in _RIGHT


def _score(chains: list[str], m: int) -> ScoreValue:
    verdicts = [v for v in map(verdict, chains) if v is not None]
    details = {"chains": m, "with_verdict": len(verdicts), "accepted": sum(verdicts)}
    if not verdicts:
        return ScoreValue.failed(
            f"none of the {m} verification chains ended in a verdict (or all were cut off at "
            "max_tokens)",
            **details,
        )
    return ScoreValue(sum(verdicts) / len(verdicts), details=details)
