"""Fan an evaluation's problems out over a Ray cluster.

Each worker is a Ray actor that builds its own backend (from the model spec, so the model is
loaded once per worker, on the worker's machine) and solves problems concurrently on its own
event loop; the driver stores each record as it arrives, in the same store as a local run.
``address`` is a cluster address, or ``"auto"`` to join the cluster this machine belongs to,
or ``"local"`` to start a single-machine cluster (what the tests use).

Workers look strategies up in their own installed registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from ponder.backends.base import Backend
from ponder.core.types import ModelShape
from ponder.errors import ConfigError, PonderError, RunError
from ponder.eval.records import ProblemRecord
from ponder.eval.runner import Job

logger = logging.getLogger(__name__)


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray needs Ray, which is not installed; install the extra: pip install 'ponder[ray]'"
        ) from None
    return ray


class _Worker:
    """One Ray actor: a backend and an event loop solving problems."""

    def __init__(
        self, backend_factory: Callable[[], Backend], seed: int, shape: ModelShape | None
    ) -> None:
        from ponder.core.registry import default_registry

        self.backend = backend_factory()
        self.seed = seed
        self.shape = shape
        self.registry = default_registry()

    async def solve(self, job: Job) -> ProblemRecord:
        from ponder.eval.runner import solve_problem

        return await solve_problem(
            job.task,
            job.problem,
            job.setting,
            self.backend,
            seed=self.seed,
            registry=self.registry,
            model_shape=self.shape,
        )

    async def close(self) -> None:
        await self.backend.aclose()


def _connect(ray: Any, address: str) -> bool:
    """Join (or start) the cluster; True when this call started the connection."""
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"could not join the Ray cluster at {address!r}: {exc}. Start one with "
            "`ray start --head`, or pass --ray local for a single-machine cluster"
        ) from exc
    return True


async def run_on_ray(
    address: str,
    jobs: Sequence[Job],
    backend_factory: Callable[[], Backend],
    on_record: Callable[[Job, ProblemRecord], None],
    *,
    seed: int,
    model_shape: ModelShape | None,
    workers: int,
    concurrency: int,
) -> None:
    """Run ``jobs`` on ``workers`` Ray actors, ``concurrency`` problems in flight on each."""
    ray = require_ray()
    if workers < 1:
        raise ConfigError(f"--ray-workers must be at least 1, got {workers}")
    started_here = _connect(ray, address)
    actor_cls = ray.remote(num_cpus=0, max_concurrency=concurrency)(_Worker)
    actors = [actor_cls.remote(backend_factory, seed, model_shape) for _ in range(workers)]
    try:
        pending: dict[Any, tuple[Job, Any]] = {}
        queue = list(jobs)
        queue.reverse()

        def submit(actor: Any) -> None:
            job = queue.pop()
            pending[actor.solve.remote(job)] = (job, actor)

        for actor in actors:
            for _ in range(concurrency):
                if queue:
                    submit(actor)
        while pending:
            done, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
            for ref in done:
                job, actor = pending.pop(ref)
                try:
                    record = await asyncio.to_thread(ray.get, ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, PonderError) else None
                    if cause is not None:
                        raise cause from None
                    raise RunError(f"a Ray worker failed: {exc}") from exc
                on_record(job, record)
                if queue:
                    submit(actor)
    finally:
        for actor in actors:
            try:
                await asyncio.to_thread(ray.get, actor.close.remote())
            except Exception as exc:  # the worker may be gone; its results are already stored
                logger.warning("closing a Ray worker failed: %s", exc)
            ray.kill(actor)
        if started_here:
            ray.shutdown()


__all__ = ["require_ray", "run_on_ray"]
