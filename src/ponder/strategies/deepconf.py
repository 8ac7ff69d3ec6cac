"""``deepconf``: votes weighted by the model's own confidence, and traces that lose
confidence cancelled while they run.

Fu et al., "Deep Think with Confidence" (arXiv 2508.15260). Token confidence is the negative
mean logprob of the top-k candidates at a position; group confidence is its mean over a
sliding window of ``window`` tokens; a trace's confidence is its lowest group
(``ponder.scoring.scorers.confidence``).

- ``mode=offline``: sample n traces; keep the ``eta`` percent most confident; vote weighted
  by confidence among those kept.
- ``mode=online``: sample ``warmup`` traces; the threshold s is the (100 - eta)-th percentile
  of their confidences (eta=10: DeepConf-low, aggressive; eta=90: DeepConf-high,
  conservative). Then sample more, ``parallel`` at a time, each its own stream: as soon as a
  trace's current group confidence (its last ``window`` tokens) falls below s, it is cancelled
  in the backend and does not vote. After each finished trace the confidence-weighted vote is
  checked; sampling stops once the leader holds ``consensus`` of the weight, or after n
  traces.

Deviations, for traces of hundreds rather than tens of thousands of tokens: the window
defaults to 32 tokens (the paper: 2048) and the warm-up to 4 traces (the paper: 16 of a budget
of 512); a trace shorter than the window is judged on the window it has. A group is judged
only once it is full, so a trace is never cancelled on its first few tokens.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ponder.core.problem import Candidate, Problem
from ponder.core.types import StreamChunk
from ponder.runtime import Context
from ponder.runtime.pool import Trace, TracePool, require_affordable, savings
from ponder.runtime.sampling import SamplingConfig
from ponder.runtime.stopping import run_until
from ponder.scoring.answers import majority_vote
from ponder.scoring.scorers.confidence import lowest_group_confidence, token_confidence
from ponder.strategies.base import Outcome, Strategy, outcome_of


class DeepConfConfig(SamplingConfig):
    n: int = Field(16, ge=1, le=4096)
    mode: Literal["online", "offline"] = "online"
    #: percent of traces kept (offline) / percentile that sets the threshold (online)
    eta: float = Field(10.0, gt=0.0, le=100.0)
    window: int = Field(32, ge=1)
    top_k: int = Field(20, ge=1, le=20)
    warmup: int = Field(4, ge=1)
    consensus: float = Field(0.95, gt=0.0, le=1.0)
    parallel: int = Field(4, ge=1, le=256)

    @model_validator(mode="after")
    def _warmup_fits(self) -> DeepConfConfig:
        if self.mode == "online" and self.warmup > self.n:
            raise ValueError(f"warmup ({self.warmup}) is larger than n ({self.n})")
        return self


class DeepConf(Strategy):
    """Confidence-filtered, confidence-weighted voting, with online early termination."""

    name = "deepconf"
    not_composable_because = (
        "stops samples early while they stream, and a sequential sampler's candidate is "
        "several calls it cannot cut"
    )
    Config: ClassVar[type[SamplingConfig]] = DeepConfConfig
    requires = ("logprobs", "streaming")

    @property
    def _config(self) -> DeepConfConfig:
        assert isinstance(self.config, DeepConfConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        top = min(config.top_k, ctx.backend.capabilities.max_top_logprobs) or 0
        extra = {"logprobs": True, "top_logprobs": top}
        first = config.n if config.mode == "offline" else config.warmup
        require_affordable(ctx, problem, first, config.max_tokens, "warmup")
        if config.mode == "offline":
            return await self._offline(problem, ctx, extra)
        return await self._online(problem, ctx, extra)

    async def _offline(self, problem: Problem, ctx: Context, extra: dict[str, Any]) -> Outcome:
        config = self._config
        pool = TracePool(ctx, problem, config, **extra)
        pool.launch(config.n)
        while await pool.next_finished() is not None:
            pass
        await pool.close()
        candidates = pool.candidates()
        confidences = [self._confidence(c) for c in candidates]
        keep = max(1, round(len(candidates) * config.eta / 100))
        ranked = sorted(range(len(candidates)), key=lambda i: -confidences[i])[:keep]
        answers = [c.answer if i in ranked else None for i, c in enumerate(candidates)]
        vote = majority_vote(answers, confidences)
        details = {
            "mode": "offline",
            "kept": sorted(ranked),
            "confidences": confidences,
            "savings": savings(ctx, pool, config.n),
        }
        return outcome_of(vote, candidates, details)

    async def _online(self, problem: Problem, ctx: Context, extra: dict[str, Any]) -> Outcome:
        config = self._config
        threshold: list[float] = []  # set after the warm-up

        def watch(trace: Trace, chunk: StreamChunk) -> str | None:
            if not threshold or len(trace.logprobs) < config.window:
                return None
            recent = trace.logprobs[-config.window :]
            group = sum(token_confidence(p) for p in recent) / config.window
            return "low confidence" if group < threshold[0] else None

        pool = TracePool(ctx, problem, config, watcher=watch, **extra)
        pool.launch(config.warmup)
        while any(not t.done for t in pool.traces):
            await pool.next_finished()
        warm = [self._confidence(t.candidate()) for t in pool.finished]
        threshold.append(float(np.percentile(warm, 100 - config.eta)) if warm else 0.0)
        share = [self._share(pool)]

        def consensus(trace: Trace, order: list[Trace]) -> str | None:
            share[0] = self._share(pool)
            return "consensus" if share[0] >= config.consensus else None

        stopped_by = "consensus"
        if share[0] < config.consensus:
            stopped = await run_until(pool, consensus, parallel=config.parallel, n=config.n)
            stopped_by = stopped.stopped_by
        await pool.close()
        candidates = pool.candidates()
        confidences = [self._confidence(c) for c in candidates]
        vote = majority_vote([c.answer for c in candidates], confidences)
        details = {
            "mode": "online",
            "threshold": threshold[0],
            "stopped_by": stopped_by,
            "consensus": round(share[0], 4),
            "early_terminated": [t.index for t in pool.traces if t.verdict],
            "savings": savings(ctx, pool, config.n),
        }
        return outcome_of(vote, candidates, details)

    def _share(self, pool: TracePool) -> float:
        done = [t.candidate() for t in pool.finished]
        weights = [self._confidence(c) for c in done]
        vote = majority_vote([c.answer for c in done], weights)
        total = sum(g.weight for g in vote.groups)
        return vote.groups[0].weight / total if vote.groups and total > 0 else 0.0

    def _confidence(self, candidate: Candidate) -> float:
        """Lowest group confidence; 0 for a trace without tokens (or cancelled: no vote)."""
        if candidate.finish_reason == "cancelled" or not candidate.logprobs:
            return 0.0
        confidences = [token_confidence(p) for p in candidate.logprobs]
        return lowest_group_confidence(confidences, self._config.window)
