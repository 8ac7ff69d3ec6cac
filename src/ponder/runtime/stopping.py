"""The loop every stopping strategy shares: keep samples in flight, look at each one as it
finishes, stop (cancelling the rest in the backend) when the strategy's rule says so.

    stopped = await run_until(pool, rule, parallel=4, n=16)

``rule(trace, finished)`` is called with each trace that finished on its own (cancelled ones
are skipped) and the list of those that did, in the order they did; it returns a reason to
stop (recorded as ``stopped_by``) or None to go on. With ``parallel`` set, the pool is kept
``parallel`` samples in flight (one request each) up to ``n`` samples and the budget; without
it, the loop only waits on what the caller launched. ``stopped_by`` is the rule's reason,
``"n"`` when the samples ran out, or ``"budget"`` when the budget could pay for no more. Every
stream is closed and charged to the ledger when it returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ponder.runtime.pool import Trace, TracePool

#: called with a finished trace and every finished trace so far; a reason to stop, or None
StopRule = Callable[[Trace, list[Trace]], str | None]


@dataclasses.dataclass(frozen=True)
class Stopped:
    """How a stopping loop ended."""

    stopped_by: str
    #: the traces that finished on their own, in the order they finished
    finished: list[Trace]


async def run_until(
    pool: TracePool, rule: StopRule, *, parallel: int | None = None, n: int = 0
) -> Stopped:
    """Run ``pool`` until ``rule`` fires or it has nothing left (see the module docstring)."""
    stopped_by = "n"
    if parallel is not None:
        stopped_by = pool.top_up(parallel, n) or stopped_by
    order: list[Trace] = []
    while (trace := await pool.next_finished()) is not None:
        if trace.finish_reason != "cancelled":
            order.append(trace)
            reason = rule(trace, order)
            if reason is not None:
                await pool.cancel_all()
                return Stopped(reason, order)
        if parallel is not None:
            stopped_by = pool.top_up(parallel, n) or stopped_by
    await pool.close()
    return Stopped(stopped_by, order)
