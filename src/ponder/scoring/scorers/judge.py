"""``judge``: a model (the generator itself, or another model of the Context) asked whether a
solution is correct, or which of two solutions is.

Two ways of reading the verdict (``mode``):

- ``logprob``: the judge answers with one token; the score is P(yes) / (P(yes) + P(no)) read
  from the top logprobs of that token (spellings "Yes", " yes", "YES" summed), as in
  LLM-as-a-judge work that reads the verdict's probability rather than its sample. Pairwise,
  P(A) against P(B). Neither answer among the top alternatives is a recorded failure.
- ``text``: the judge writes a short reply; pointwise it must contain "Rating: N" with N from
  1 to 10 (score (N - 1) / 9), pairwise the letter A or B. A reply without one is a recorded
  failure, never a default score.

``auto`` (the default) reads logprobs where the judge's backend gives them, text otherwise.

Where it asks (``context``):

- ``fresh``: a new conversation that shows the problem and the solution (the prompts above).
- ``own``: the solution's own conversation, continued: the judge's model goes on from the
  solution as if it had written it, and is asked about it in a few words (``OWN_PARTIAL``,
  ``OWN_FINISHED``), its one-token verdict read from logprobs. This is the self-evaluation
  of Xie et al., "Self-Evaluation Guided Beam Search for Reasoning" (NeurIPS 2023, arXiv
  2305.00633), which scores a step by the generator's own P(correct) in its context (their
  prompt is a multiple choice "(A) correct (B) incorrect"; ours is Yes/No). Where the backend
  holds the solution's KV (a search's nodes, ``Candidate.cached_text``) the check prefills
  only its question. Needs logprobs and a backend that continues replies.
- ``auto`` (the default): ``own`` for candidates whose KV the backend holds, when the judge is
  the model that wrote them, reads logprobs and can continue a reply; ``fresh`` otherwise.
  So a step-level search on the embedded engine checks its nodes in their own context (what
  the engine keeps of each node serves the check), and every other use asks afresh.

All judge calls of one ``score`` or ``compare`` are issued together, so the backend batches
them; they are charged to the ledger under the role ``verify``.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ponder.core.problem import DEFAULT_MODEL, Candidate, Problem
from ponder.core.trust import fill, operator_only
from ponder.core.types import Completion, TokenLogprob
from ponder.scoring.scorers.base import (
    PARTIAL,
    VERIFY,
    Comparator,
    Comparison,
    ModelScorerConfig,
    Scorer,
    ScorerConfig,
    ScoreValue,
    ScoringContext,
)

POINTWISE_LOGPROB = (
    "You are checking a proposed solution to a problem.\n\n"
    "Problem:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "Is the proposed solution correct? Answer with one word: Yes or No."
)
POINTWISE_TEXT = (
    "You are checking a proposed solution to a problem.\n\n"
    "Problem:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "How likely is the proposed solution to be correct? Reply with a rating from 1 (surely "
    "wrong) to 10 (surely right), in the form 'Rating: N'."
)
#: a partial solution (a search node): are the steps so far right? (a process verifier)
PARTIAL_LOGPROB = (
    "You are checking the first steps of a solution to a problem; it is not finished yet.\n\n"
    "Problem:\n{question}\n\nSteps so far:\n{solution}\n\n"
    "Is every step so far correct and useful? Answer with one word: Yes or No."
)
PARTIAL_TEXT = (
    "You are checking the first steps of a solution to a problem; it is not finished yet.\n\n"
    "Problem:\n{question}\n\nSteps so far:\n{solution}\n\n"
    "How likely are the steps so far to be correct and on the way to the answer? Reply with "
    "a rating from 1 (surely wrong) to 10 (surely right), in the form 'Rating: N'."
)
#: the question in the solution's own context (``context=own``), appended to it
OWN_PARTIAL = "\n\nIs every step above correct? (Yes or No):"
OWN_FINISHED = "\n\nIs the solution above correct? (Yes or No):"
PAIRWISE = (
    "Two solutions to the same problem follow.\n\n"
    "Problem:\n{question}\n\nSolution A:\n{first}\n\nSolution B:\n{second}\n\n"
    "Which solution is correct? Answer with one letter: A or B."
)

_RATING = re.compile(r"rating\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_LETTER = re.compile(r"\b([AB])\b")


class JudgeConfig(ModelScorerConfig):
    mode: Literal["auto", "logprob", "text"] = "auto"
    #: where it asks: a fresh conversation, the solution's own, or auto (see the module)
    context: Literal["auto", "own", "fresh"] = "auto"
    #: sampling temperature of the judge; above 0, repeated comparisons differ (knockout's K)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    #: most tokens of a text-mode reply
    reply_tokens: int = Field(16, ge=1, le=512)
    #: longest solution shown to the judge, in characters (the end is kept: it has the answer)
    max_solution_chars: int = Field(4000, ge=100)
    pointwise_prompt: str = operator_only("", "a prompt template")
    #: the prompt for partial solutions (search nodes); "" for the built-in process prompt
    partial_prompt: str = operator_only("", "a prompt template")
    pairwise_prompt: str = operator_only(PAIRWISE, "a prompt template")

    @model_validator(mode="after")
    def _own_reads_logprobs(self) -> JudgeConfig:
        """Refused when the scorer is built, before any sample is drawn."""
        if self.context == "own" and self.mode == "text":
            raise ValueError(
                "context=own reads the verdict from logprobs; it cannot go with mode=text"
            )
        return self


class Judge(Scorer, Comparator):
    """LLM-as-a-judge, pointwise (P(correct)) and pairwise (which is better)."""

    name = "judge"
    Config: ClassVar[type[ScorerConfig]] = JudgeConfig
    fallback_note: ClassVar[str] = " (mode=text without logprobs)"
    scores_partial = True

    @property
    def _config(self) -> JudgeConfig:
        assert isinstance(self.config, JudgeConfig)
        return self.config

    def needs(self) -> tuple[str, ...]:
        if self._config.context == "own":
            return ("logprobs", "continuation")
        return ("logprobs",) if self._config.mode == "logprob" else ()

    def resolved_mode(self, ctx: ScoringContext) -> Literal["logprob", "text"]:
        mode = self._config.mode
        if mode != "auto":
            return mode
        return "logprob" if ctx.model(self.model).capabilities.logprobs else "text"

    # -- pointwise

    async def score(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        mode = self.resolved_mode(ctx)
        config = self._config
        template = config.pointwise_prompt or (
            POINTWISE_LOGPROB if mode == "logprob" else POINTWISE_TEXT
        )
        partial = config.partial_prompt or (PARTIAL_LOGPROB if mode == "logprob" else PARTIAL_TEXT)
        asks: list[tuple[Any, str]] = []
        for c in candidates:
            if self._own(c, ctx):
                own = c.cached_text if c.cached_text is not None else c.text
                question = OWN_PARTIAL if c.finish_reason == PARTIAL else OWN_FINISHED
                asks.append((problem.messages(), own.rstrip() + question))
            else:
                prompt = fill(
                    partial if c.finish_reason == PARTIAL else template,
                    question=problem.question,
                    solution=self._clip(c.text),
                )
                asks.append((prompt, ""))
        replies = await self._ask(asks, mode, ctx)
        if mode == "logprob":
            return [_pointwise_from_logprobs(r) for r in replies]
        return [_pointwise_from_text(r.text) for r in replies]

    def continues(self, ctx: ScoringContext) -> bool:
        """``own`` always; ``auto`` when the judge is the generating model, reads logprobs
        and can continue a reply (what ``_own`` asks of each candidate besides)."""
        context = self._config.context
        if context != "auto":
            return context == "own"
        return (
            (self.model or DEFAULT_MODEL) == DEFAULT_MODEL
            and self.resolved_mode(ctx) == "logprob"
            and ctx.model(self.model).capabilities.continuation
        )

    def _own(self, candidate: Candidate, ctx: ScoringContext) -> bool:
        """Whether ``candidate`` is checked in its own context (``context``, see the module)."""
        if self._config.context != "auto":
            return self._config.context == "own"
        held = candidate.cached_text is not None and candidate.model == DEFAULT_MODEL
        return held and self.continues(ctx)

    # -- pairwise

    async def compare(
        self, problem: Problem, pairs: Sequence[tuple[Candidate, Candidate]], ctx: ScoringContext
    ) -> list[Comparison]:
        mode = self.resolved_mode(ctx)
        asks = [
            (
                fill(
                    self._config.pairwise_prompt,
                    question=problem.question,
                    first=self._clip(a.text),
                    second=self._clip(b.text),
                ),
                "",
            )
            for a, b in pairs
        ]
        replies = await self._ask(asks, mode, ctx)
        if mode == "logprob":
            return [_pairwise_from_logprobs(r) for r in replies]
        return [_pairwise_from_text(r.text) for r in replies]

    # -- calls

    async def _ask(
        self,
        asks: Sequence[tuple[Any, str]],
        mode: Literal["logprob", "text"],
        ctx: ScoringContext,
    ) -> list[Completion]:
        """All questions at once (a prompt, or messages and the reply they continue):
        concurrent requests, which the backend batches."""
        config = self._config
        options: dict[str, Any]
        if mode == "logprob":
            top = min(20, ctx.model(self.model).capabilities.max_top_logprobs) or 0
            options = {"max_tokens": 1, "logprobs": True, "top_logprobs": top}
        else:
            options = {"max_tokens": config.reply_tokens}
        # a prompt asked again (knockout's repeated comparisons) gets the next seed, so that
        # at temperature > 0 the repeats are distinct draws, and runs stay reproducible
        repeats: dict[str, int] = {}
        calls = []
        for prompt, prefix in asks:
            key = f"{prompt}\x00{prefix}"
            seed = repeats[key] = repeats.get(key, -1) + 1
            calls.append(
                ctx.sample(
                    prompt,
                    role=VERIFY,
                    prefix=prefix,
                    model=self.model,
                    n=1,
                    temperature=config.temperature,
                    seed=seed,
                    **options,
                )
            )
        results = await asyncio.gather(*calls)
        return [r.completions[0] for r in results]

    def _clip(self, text: str) -> str:
        limit = self._config.max_solution_chars
        return text if len(text) <= limit else "..." + text[-limit:]


# -- reading verdicts


def choice_probabilities(
    position: TokenLogprob, choices: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    """Probability mass of each choice among a position's top alternatives (and the chosen
    token), spellings compared after stripping spaces and punctuation, case-insensitively."""
    seen: dict[str, float] = {position.token: position.logprob}
    for token, logprob in position.top:
        seen.setdefault(token, logprob)
    mass = dict.fromkeys(choices, 0.0)
    for token, logprob in seen.items():
        word = re.sub(r"[^a-z]", "", token.lower())
        for label, spellings in choices.items():
            if word in spellings:
                mass[label] += math.exp(logprob)
    return mass


def _first_position(reply: Completion) -> TokenLogprob | None:
    return reply.logprobs[0] if reply.logprobs else None


def _pointwise_from_logprobs(reply: Completion) -> ScoreValue:
    position = _first_position(reply)
    if position is None:
        return ScoreValue.failed("the judge's reply carried no logprobs")
    mass = choice_probabilities(position, {"yes": ("yes",), "no": ("no",)})
    total = mass["yes"] + mass["no"]
    if total <= 0:
        return ScoreValue.failed(
            f"neither yes nor no among the judge's top answers (it said {reply.text!r})",
            reply=reply.text,
        )
    return ScoreValue(mass["yes"] / total, details={"p_yes": mass["yes"], "p_no": mass["no"]})


def _pointwise_from_text(text: str) -> ScoreValue:
    match = _RATING.search(text) or _NUMBER.search(text)
    if not match:
        return ScoreValue.failed(f"no rating in the judge's reply {text!r}", reply=text)
    rating = float(match.group(1) if match.re is _RATING else match.group(0))
    if not 1 <= rating <= 10:
        return ScoreValue.failed(f"rating {rating:g} is outside 1-10 in {text!r}", reply=text)
    return ScoreValue((rating - 1) / 9, details={"rating": rating})


def _pairwise_from_logprobs(reply: Completion) -> Comparison:
    position = _first_position(reply)
    if position is None:
        return Comparison(None, error="the judge's reply carried no logprobs", reply=reply.text)
    mass = choice_probabilities(position, {"a": ("a",), "b": ("b",)})
    total = mass["a"] + mass["b"]
    if total <= 0:
        return Comparison(
            None, error=f"the judge answered neither A nor B ({reply.text!r})", reply=reply.text
        )
    p_first = mass["a"] / total
    return Comparison(0 if p_first >= 0.5 else 1, p_first=p_first, reply=reply.text)


def _pairwise_from_text(text: str) -> Comparison:
    match = _LETTER.search(text)
    if not match:
        return Comparison(None, error=f"the judge answered neither A nor B ({text!r})", reply=text)
    return Comparison(0 if match.group(1) == "A" else 1, reply=text)
