"""``certainty_probe``: stop reasoning once probes of the partial reasoning keep agreeing.

Fu et al., "Efficiently Scaling LLM Reasoning with Certaindex" (Dynasor-CoT, arXiv
2412.20993): every ``probe_every`` tokens, the partial reasoning is continued with an
answer-forcing suffix ("... I suddenly got the answer to the whole problem. The final answer
is: ") for a few tokens, greedily. Once ``agree`` consecutive probes give the same answer and
none of them hedges (words such as "wait", "hmm", "not sure", "double-check"), the reasoning
is cancelled and the probed answer returned. A trace that ends on its own first answers from
its own text.

Each probe is a continuation request sharing the prompt and the partial reasoning with the
cached prefix, so it prefills only the new tokens and the suffix; probes run while the trace
keeps decoding, and are charged to the ledger under the role ``probe``. Needs a backend that
can continue from an assistant prefix (``continuation``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Problem
from ponder.core.types import StreamChunk
from ponder.runtime import Context
from ponder.runtime.pool import Trace, TracePool, require_affordable, savings
from ponder.runtime.sampling import SamplingConfig
from ponder.scoring.answers import equivalent
from ponder.scoring.extraction import extract_answer
from ponder.strategies.base import Outcome, Strategy

PROBE_SUFFIX = "\n\n... Oh, I suddenly got the answer to the whole problem. The final answer is: "
HEDGES = (
    "wait",
    "hmm",
    "not sure",
    "double-check",
    "double check",
    "let me check",
    "maybe",
    "however",
    "actually",
)
_HEDGE = re.compile(r"\b(" + "|".join(re.escape(h) for h in HEDGES) + r")\b", re.IGNORECASE)


class CertaintyProbeConfig(SamplingConfig):
    max_tokens: int = Field(512, ge=1)
    probe_every: int = Field(32, ge=1)
    #: consecutive agreeing, unhedged probes that settle the answer
    agree: int = Field(2, ge=1, le=64)
    probe_tokens: int = Field(16, ge=1, le=256)
    probe_suffix: str = PROBE_SUFFIX


class CertaintyProbe(Strategy):
    """One reasoning trace, probed for its answer as it goes; stopped once certain."""

    name = "certainty_probe"
    not_composable_because = (
        "stops samples early while they stream, and a sequential sampler's candidate is "
        "several calls it cannot cut"
    )
    Config: ClassVar[type[SamplingConfig]] = CertaintyProbeConfig
    requires = ("continuation", "streaming")

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, CertaintyProbeConfig)
        require_affordable(ctx, problem, 1, config.max_tokens, "max_tokens")
        probes: list[asyncio.Task[dict[str, Any]]] = []
        due = [config.probe_every]
        changed = asyncio.Event()  # a probe was launched or has answered

        def watch(trace: Trace, chunk: StreamChunk) -> str | None:
            if trace.tokens >= due[0] and chunk.finish_reason is None:
                due[0] += config.probe_every
                probe = asyncio.create_task(self._probe(problem, ctx, trace.text, trace.tokens))
                probe.add_done_callback(lambda _: changed.set())
                probes.append(probe)
                changed.set()
            return None

        pool = TracePool(ctx, problem, config, watcher=watch)
        [trace] = pool.launch(1)
        finished = asyncio.create_task(pool.next_finished())
        results: list[dict[str, Any]] = []
        settled: str | None = None
        checked = 0  # probes are read in the order they were launched
        while settled is None and not finished.done():
            wake = asyncio.create_task(changed.wait())
            await asyncio.wait({finished, wake}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            changed.clear()
            while settled is None and checked < len(probes) and probes[checked].done():
                results.append(probes[checked].result())
                checked += 1
                settled = self._settled(results, config.agree)
        for task in probes[checked:]:
            task.cancel()
        await asyncio.gather(*probes[checked:], return_exceptions=True)
        if settled is not None:
            await pool.cancel_all()
        await finished
        await pool.close()
        candidates = pool.candidates()
        answer = settled if settled is not None else candidates[0].answer
        details = {
            "stopped_by": "probes agreed" if settled is not None else "trace finished",
            "probes": results,
            "tokens_at_stop": trace.tokens,
            "savings": savings(ctx, pool, 1),
        }
        return Outcome(answer, trace.text, tuple(candidates), details)

    async def _probe(self, problem: Problem, ctx: Context, partial: str, at: int) -> dict[str, Any]:
        config = self.config
        assert isinstance(config, CertaintyProbeConfig)
        result = await ctx.sample(
            problem.messages(),
            role="probe",
            prefix=partial + config.probe_suffix,
            n=1,
            temperature=0.0,
            max_tokens=config.probe_tokens,
        )
        text = result.completions[0].text
        line = text.strip().splitlines()[0] if text.strip() else ""
        return {
            "at_tokens": at,
            "reply": text,
            "answer": extract_answer(line, problem.answer) if line else None,
            "hedged": bool(_HEDGE.search(text)),
        }

    @staticmethod
    def _settled(results: list[dict[str, Any]], agree: int) -> str | None:
        last = results[-agree:]
        if len(last) < agree or any(r["hedged"] or r["answer"] is None for r in last):
            return None
        first = last[0]["answer"]
        if all(equivalent(first, r["answer"]) for r in last[1:]):
            return str(first)
        return None
