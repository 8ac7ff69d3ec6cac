"""``reward_model``: an outcome or process reward model behind HTTP.

Three wire formats (``api``):

- ``pooling``: vLLM's ``POST /pooling`` (a reward model served with ``vllm serve MODEL``,
  pooling runner). One request per candidate, sent concurrently, with the problem as the user
  message and the candidate as the assistant message. The reply's ``data[0].data`` is read as
  rows: a number is one row; a flat list of numbers is one row of class outputs; a list of
  lists is one row per token or per step. Each row's value is its last entry (the positive
  class of a two-class head, or the single reward). Without ``step_token`` the last row is the
  outcome reward; with ``step_token`` (a process reward model such as Qwen2.5-Math-PRM, whose
  steps end with ``<extra_0>``) the steps are joined with it and each row is a step's score.
- ``classify``: vLLM's ``POST /classify`` with all candidates in one request; the score is
  the last class probability.
- ``json``: a plain scoring endpoint. ``POST url`` with
  ``{"question": ..., "responses": [...], "steps": [[...], ...]}`` answers
  ``{"scores": [...]}``, one entry per response: a number (outcome) or a list of numbers
  (step scores).

Step scores are folded by ``aggregate`` (last, min, product, mean). A server that does not
answer, answers an HTTP error, or answers something unreadable gives recorded failures whose
``error`` names the URL and what came back; no score is ever made up. Token usage the server
reports is charged to the ledger under ``verify``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ponder.backends.http import HttpClient, HttpPolicy
from ponder.core.problem import Candidate, Problem
from ponder.core.trust import operator_only
from ponder.core.types import Usage
from ponder.errors import BackendError, BackendProtocolError, BackendTimeout, BackendUnreachable
from ponder.scoring.scorers.base import (
    VERIFY,
    ScorerConfig,
    ScoreValue,
    ScoringContext,
    StepScorer,
    StepScorerConfig,
)

#: POST a JSON body to the reward model, answering its decoded JSON object
Post = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class RewardModelConfig(StepScorerConfig):
    url: str = operator_only(..., "a URL")
    api: Literal["pooling", "classify", "json"] = "pooling"
    #: the served model's name, sent as ``model`` (omitted when None)
    model_name: str | None = None
    #: the token that ends each step for a process reward model; None: outcome reward
    step_token: str | None = None
    aggregate: Literal["last", "min", "product", "mean"] = "last"
    timeout: float = Field(60.0, gt=0)
    #: retries of a call that failed with 429, 5xx or a dropped connection (backoff between)
    max_retries: int = Field(0, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


class RewardModel(StepScorer):
    """Scores candidates with a reward model served over HTTP."""

    name = "reward_model"
    Config: ClassVar[type[ScorerConfig]] = RewardModelConfig
    scores_partial = True

    @property
    def _config(self) -> RewardModelConfig:
        assert isinstance(self.config, RewardModelConfig)
        return self.config

    def endpoint(self) -> str:
        config = self._config
        if config.api == "json":
            return config.url
        root = config.url.removesuffix("/v1")
        return f"{root}/{config.api}"

    async def score_steps(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        config = self._config
        start = time.perf_counter()
        usage = Usage()
        url = urlsplit(self.endpoint())
        policy = HttpPolicy(timeout=config.timeout, max_retries=config.max_retries)
        http = HttpClient(f"{url.scheme}://{url.netloc}", policy=policy)
        client = functools.partial(http.json, url.path + (f"?{url.query}" if url.query else ""))
        try:
            if config.api == "pooling":
                calls = [self._pooling(client, problem, c) for c in candidates]
                answers = await asyncio.gather(*calls)
                scores = [s for s, _ in answers]
                for _, u in answers:
                    usage = usage + u
            elif config.api == "classify":
                scores, usage = await self._classify(client, problem, candidates)
            else:
                scores, usage = await self._json(client, problem, candidates)
        finally:
            await http.aclose()
        ctx.record(
            VERIFY, usage, time.perf_counter() - start, model=f"reward_model:{self.endpoint()}"
        )
        return scores

    def _response_text(self, candidate: Candidate) -> str:
        token = self._config.step_token
        if token is None:
            return candidate.text
        return token.join(self.split_steps(candidate.text)) + token

    def _body(self, **fields: Any) -> dict[str, Any]:
        name = self._config.model_name
        return {**({"model": name} if name else {}), **fields}

    async def _post(self, client: Post, body: dict[str, Any]) -> Any:
        """The decoded JSON answer, or a str saying what went wrong."""
        try:
            return await client(body)
        except BackendProtocolError:
            # never its body: the scores (and their errors) reach whoever asked for them
            return "the reward model answered something that is not JSON"
        except (BackendUnreachable, BackendTimeout) as exc:
            return (
                f"the reward model could not be reached ({exc}); is the server running, and is "
                "the url option right?"
            )
        except BackendError as exc:
            status = f" with status {exc.status}" if exc.status else ""
            return f"the reward model failed{status}"

    async def _pooling(
        self, client: Post, problem: Problem, candidate: Candidate
    ) -> tuple[ScoreValue, Usage]:
        messages = [
            {"role": "user", "content": problem.question},
            {"role": "assistant", "content": self._response_text(candidate)},
        ]
        answer = await self._post(client, self._body(messages=messages))
        if isinstance(answer, str):
            return ScoreValue.failed(answer), Usage()
        try:
            rows = _rows(answer["data"][0]["data"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return self._malformed(answer, exc), Usage()
        steps = rows if self._config.step_token else rows[-1:]
        return ScoreValue(None, steps=tuple(steps)), _usage(answer)

    async def _classify(
        self, client: Post, problem: Problem, candidates: Sequence[Candidate]
    ) -> tuple[list[ScoreValue], Usage]:
        texts = [f"{problem.question}\n\n{self._response_text(c)}" for c in candidates]
        answer = await self._post(client, self._body(input=texts))
        if isinstance(answer, str):
            return [ScoreValue.failed(answer) for _ in candidates], Usage()
        try:
            items = sorted(answer["data"], key=lambda item: int(item["index"]))
            values = [_number(item["probs"][-1]) for item in items]
            if len(values) != len(candidates):
                raise ValueError(f"{len(values)} results for {len(candidates)} inputs")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return [self._malformed(answer, exc) for _ in candidates], Usage()
        return [ScoreValue(None, steps=(v,)) for v in values], _usage(answer)

    async def _json(
        self, client: Post, problem: Problem, candidates: Sequence[Candidate]
    ) -> tuple[list[ScoreValue], Usage]:
        body = {
            "question": problem.question,
            "responses": [c.text for c in candidates],
            "steps": [self.split_steps(c.text) for c in candidates],
        }
        answer = await self._post(client, body)
        if isinstance(answer, str):
            return [ScoreValue.failed(answer) for _ in candidates], Usage()
        try:
            raw = answer["scores"]
            if not isinstance(raw, list) or len(raw) != len(candidates):
                raise ValueError(f"'scores' must be a list of {len(candidates)} entries")
            scored = [
                ScoreValue(
                    None,
                    steps=tuple(_number(x) for x in s) if isinstance(s, list) else (_number(s),),
                )
                for s in raw
            ]
        except (KeyError, TypeError, ValueError) as exc:
            return [self._malformed(answer, exc) for _ in candidates], Usage()
        return scored, _usage(answer)

    def _malformed(self, answer: Any, exc: Exception) -> ScoreValue:
        return ScoreValue.failed(
            "the reward model answered JSON of an unexpected shape "
            f"({type(exc).__name__}); see its api option (pooling, classify, json)"
        )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _rows(data: Any) -> list[float]:
    """One value per row of a pooling output (see the module docstring)."""
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [float(data)]
    if not isinstance(data, list) or not data:
        raise ValueError("the pooling output is empty or not a list")
    if all(isinstance(x, list) for x in data):
        return [_number(row[-1]) for row in data]
    return [_number(data[-1])]


def _usage(answer: Any) -> Usage:
    raw = answer.get("usage") if isinstance(answer, dict) else None
    if not isinstance(raw, dict):
        return Usage()
    prompt = raw.get("prompt_tokens")
    return Usage(prompt_tokens=prompt) if isinstance(prompt, int) else Usage()
