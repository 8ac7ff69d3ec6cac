"""Samples that can be stopped: the machinery under the adaptive-compute strategies.

A ``TracePool`` draws samples of one problem as streams through the Context, each trace
visible token by token, so that a strategy can

- wait for the next trace to finish (``next_finished``),
- cancel one trace (``cancel(trace)``: DeepConf drops a trace whose confidence fell) or every
  trace still running (``cancel_all``: the answer is settled),
- launch more traces as it goes (``launch``),
- cut stragglers (``straggler=f``): a trace still running after ``f`` times the median length
  of the samples that finished (once ``STRAGGLER_AFTER`` have) is cancelled. A sample far
  longer than its finished siblings is usually looping toward ``max_tokens``, and rarely
  right: shorter traces of the same prompt are more often correct (Hassid et al., "Don't
  Overthink It", arXiv 2505.17813; First Finish Search, arXiv 2505.18149).

Cancelling is real: the stream is closed, the backend frees the sequence at its next decode
step, and the tokens the trace had produced stay charged to the ledger (the Context records a
cut-short stream's tokens) and are noted in ``ledger.cancelled``.

Each ``launch(count, per_request=m)`` issues requests of ``m`` samples; a request's samples
share one prefill and one batch. A single trace can only be cancelled alone when it is its
request's only sample (``per_request=1``); concurrent single-sample requests of the same
prompt still share one prefill on the embedded backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from ponder.core.problem import AnswerSpec, Candidate, Problem
from ponder.core.types import StreamChunk, TokenLogprob
from ponder.errors import ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import SAMPLING_FIELDS, SamplingConfig, read


@dataclasses.dataclass
class Trace:
    """One sample as it streams."""

    index: int
    text: str = ""
    tokens: int = 0
    logprobs: list[TokenLogprob] = dataclasses.field(default_factory=list)
    finish_reason: str | None = None
    #: set by a watcher to cancel this trace (see ``TracePool``)
    verdict: str | None = None
    #: how its answer is read: the problem's answer spec, and whether a cut-off reply counts
    spec: AnswerSpec | None = None
    keep_cut_off: bool = False

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def candidate(self) -> Candidate:
        reason = self.finish_reason or "cancelled"
        answer, why = read(self.text, reason, self.spec, keep_cut_off=self.keep_cut_off)
        return Candidate(
            index=self.index,
            text=self.text,
            answer=answer,
            completion_tokens=self.tokens,
            finish_reason=reason,
            logprobs=tuple(self.logprobs) if self.logprobs else None,
            abstained=why,
        )


#: called on every chunk of a trace; returns a reason to cancel the trace, or None
Watcher = Callable[[Trace, StreamChunk], str | None]

#: finished samples needed before a straggler can be cut (their median sets the limit)
STRAGGLER_AFTER = 3


def straggler_error(factor: float) -> str | None:
    """What is wrong with a straggler factor, or None: it must be 0 (off) or at least 1."""
    if factor < 0.0 or 0.0 < factor < 1.0:
        return (
            f"straggler ({factor}) must be 0 (off) or at least 1: it is a multiple of the "
            "median finished sample's length"
        )
    return None


def straggler_limit(own: Sequence[int], factor: float, batch: Sequence[int] = ()) -> int | None:
    """The most tokens a sample may take before it counts as a straggler: ``factor`` times
    the median length of its problem's finished samples once there are ``STRAGGLER_AFTER`` of
    them, else of ``batch`` (``allocate``: the batch's samples from earlier rounds); None when
    ``factor`` is 0 or there are too few."""
    if not factor:
        return None
    for lengths in (own, batch):
        if len(lengths) >= STRAGGLER_AFTER:
            return max(1, math.floor(factor * statistics.median(lengths)))
    return None


class TracePool:
    """Streams of samples for one problem, each of which can be cancelled."""

    def __init__(
        self,
        ctx: Context,
        problem: Problem,
        config: SamplingConfig,
        *,
        watcher: Watcher | None = None,
        straggler: float = 0.0,
        **extra: Any,
    ) -> None:
        self.ctx = ctx
        self.problem = problem
        self.options = {**config.model_dump(include=set(SAMPLING_FIELDS)), **extra}
        self._keep_cut_off = config.keep_cut_off
        self.watcher = watcher
        self.straggler = straggler
        self.traces: list[Trace] = []
        self._finished: asyncio.Queue[Trace] = asyncio.Queue()
        self._tasks: dict[asyncio.Task[None], list[Trace]] = {}
        self._error: BaseException | None = None
        #: requests (by their first trace) that may not have reserved their budget yet, and
        #: their sizes
        self._unreserved: dict[int, int] = {}

    @property
    def running(self) -> list[Trace]:
        return [t for t in self.traces if not t.done]

    @property
    def finished(self) -> list[Trace]:
        return [t for t in self.traces if t.done and t.finish_reason != "cancelled"]

    def launch(self, count: int, *, per_request: int | None = None) -> list[Trace]:
        """Start ``count`` more traces, in requests of ``per_request`` samples (all in one
        request by default)."""
        size = per_request or count
        # a problem already under way (a sample of it has ended) is admitted before new ones
        # where requests queue for batch slots: its stopping rule is waiting on these samples,
        # while its running samples go on decoding (and are charged if the rule cancels them)
        priority = 1 if any(t.done for t in self.traces) else 0
        started: list[Trace] = []
        while count > 0:
            m = min(size, count)
            group = [
                Trace(
                    len(self.traces) + i, spec=self.problem.answer, keep_cut_off=self._keep_cut_off
                )
                for i in range(m)
            ]
            self.traces += group
            self._unreserved[group[0].index] = m
            task = asyncio.create_task(self._run(group, priority))
            self._tasks[task] = group
            started += group
            count -= m
        return started

    async def _run(self, group: list[Trace], priority: int) -> None:
        first = group[0].index
        options = dict(self.options)
        if options.get("seed") is not None:
            options["seed"] += first
        stream = self.ctx.stream(
            self.problem.messages(), n=len(group), priority=priority, **options
        )
        try:
            await self._consume(stream, group)
        except Exception as exc:  # a backend or budget failure: next_finished raises it
            self._error = self._error or exc
        finally:
            self._unreserved.pop(first, None)
            await stream.aclose()
            for trace in group:
                if not trace.done:
                    trace.finish_reason = "cancelled"
                    self.ctx.ledger.note_cancelled(trace.tokens)
                    self._finished.put_nowait(trace)

    async def _consume(self, stream: Any, group: list[Trace]) -> None:
        async for chunk in stream:
            self._unreserved.pop(group[0].index, None)  # it has reserved its budget
            trace = group[chunk.index]
            trace.text += chunk.text
            trace.tokens = max(trace.tokens, chunk.completion_tokens)
            trace.logprobs += chunk.logprobs
            if self.watcher is not None and trace.verdict is None:
                trace.verdict = self.watcher(trace, chunk)
            if trace.verdict is None and chunk.finish_reason is None and self._straggles(trace):
                trace.verdict = "straggler"
            if trace.verdict is not None and len(group) == 1:
                break  # cancel this trace alone: closing the stream aborts it
            if chunk.finish_reason is not None:
                trace.finish_reason = chunk.finish_reason
                self._finished.put_nowait(trace)

    def top_up(self, parallel: int, n: int) -> str | None:
        """Keep ``parallel`` samples in flight while ``n`` and the budget allow, one request
        each, checked one at a time, so a tight budget ends the run instead of failing it.
        Returns "budget" when the budget cannot pay for another and none is left running."""
        while len(self.running) < parallel and len(self.traces) < n:
            if not self.affordable():
                return None if self.running else "budget"
            self.launch(1, per_request=1)
        return None

    def affordable(self) -> bool:
        """Whether the budget admits one more sample, counting the launched samples whose
        request has not reserved its share yet (a request reserves when it starts, so
        checking the Context alone would let a burst of launches overdraw the budget)."""
        pending = sum(self._unreserved.values())
        fits = self.ctx.affordable(self.problem.messages(), pending + 1, self.options["max_tokens"])
        return fits > pending

    def _straggles(self, trace: Trace) -> bool:
        if not self.straggler:
            return False
        limit = straggler_limit([t.tokens for t in self.finished], self.straggler)
        return limit is not None and trace.tokens > limit

    async def next_finished(self) -> Trace | None:
        """The next trace to end (finished or cancelled), or None when none is running (and
        then every stream is closed and charged to the ledger)."""
        if self._finished.empty() and not self.running:
            await self.close()
            return None
        trace = await self._finished.get()
        if self._error is not None:
            await self.cancel_all()
            raise self._error
        return trace

    async def cancel_all(self) -> None:
        """Cancel every running trace and wait until their streams are closed and charged.
        Requests whose samples have all finished are left to close on their own."""
        for task, group in self._tasks.items():
            if not task.done() and not all(t.done for t in group):
                task.cancel()
        await self.close()

    async def close(self) -> None:
        """Wait until every request's stream is closed (and so recorded in the ledger)."""
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def candidates(self) -> list[Candidate]:
        return [t.candidate() for t in self.traces]


def savings(ctx: Context, pool: TracePool, baseline_n: int) -> dict[str, Any]:
    """What stopping saved against drawing ``baseline_n`` full samples (the fixed-N run it
    replaces): the counterfactual cost is ``baseline_n`` times the mean length of the
    samples that ran to the end, so it is an estimate, labelled as one."""
    done = pool.finished
    generated = sum(t.tokens for t in pool.traces)
    cancelled = [t for t in pool.traces if t.finish_reason == "cancelled"]
    # the counterfactual comes from the samples that finished; when the shortest finish
    # first (first_finish, cancellation) it is a lower bound
    record: dict[str, Any] = {
        "baseline_n": baseline_n,
        "samples_drawn": len(pool.traces),
        "samples_finished": len(done),
        "samples_cancelled": len(cancelled),
        "cancelled_tokens": [t.tokens for t in cancelled],
        "stragglers_cut": sum(t.verdict == "straggler" for t in pool.traces),
        "tokens_generated": generated,
    }
    if done:
        mean = sum(t.tokens for t in done) / len(done)
        record["baseline_tokens_estimate"] = round(baseline_n * mean, 1)
        # signed: negative when stopping spent more than the fixed-N run would have
        record["tokens_saved_estimate"] = round(baseline_n * mean - generated, 1)
    return record


def require_affordable(ctx: Context, problem: Problem, k: int, max_tokens: int, what: str) -> None:
    """ConfigError before any sample when the budget cannot pay for ``k`` samples at once."""
    fits = ctx.affordable(problem.messages(), k, max_tokens)
    if fits < k:
        raise ConfigError(
            f"{what}={k} needs room for {k} samples of max_tokens={max_tokens} at once, and the "
            f"budget admits {fits}; lower {what} or max_tokens, or raise the budget"
        )
