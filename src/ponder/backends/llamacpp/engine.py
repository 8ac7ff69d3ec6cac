"""The embedded engine: continuous batching over llama.cpp's low-level API.

One worker thread owns the llama.cpp context (``model.LlamaModel``). Every step it asks the
scheduler (``scheduler.Scheduler``) to admit waiting samples and lay out one batch: a token
from every live sequence plus a chunk of any prompt still being prefilled, decoded in a
single ``llama_decode``; then it draws every sequence's next token (argmax, temperature,
top-k and top-p sampling for the whole batch at once in numpy, ``draw``, its rows shared
among threads), cuts stop strings, streams text and logprobs, and finishes samples.

KV layout. By default every sequence has a KV *stream* of its own (llama.cpp's non-unified
cache, ``kv_unified=False``): attention for a token spans only its own sequence's cells, so a
batch of 32 samples costs little more per token than a batch of 8. (In the unified cache every
token of a batch attends over the span of all occupied cells, masked: on 2 CPU cores decode
falls from ~280 to ~130 tokens/s at 32 sequences of ~300 tokens.) ``kv_unified=True`` keeps
one shared cache of ``n_ctx`` cells instead: less memory, slower wide batches. Prefix sharing
and the ordering of sequence ids are the scheduler's (see its docstring).

Cancellation: ``Job.cancel()`` sets a flag that the worker checks before building every batch;
a cancelled sequence is removed from the KV cache and its slot freed before the next decode, so
it costs at most the decode step already under way.

Numerics: a single sequence on a fresh engine reproduces plain llama-cpp-python token for
token, and seeded requests on engines in the same state give the same samples. Where the KV
layout differs (other sequences in the batch, another prefix-cache state), floating-point sums
group differently, so a near-tie can resolve differently: a greedy sample may differ from its
twin in the same batch, and a seeded sample from an earlier run of the same request. vLLM has
the same batch-composition effect.

``ponder.backends.llamacpp.backend`` is the public face.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from ponder.backends.llamacpp.config import EngineConfig, EngineStats
from ponder.backends.llamacpp.model import LlamaModel, free_chain, make_chain
from ponder.backends.llamacpp.scheduler import Job, Prompt, Sample, Scheduler
from ponder.backends.llamacpp.threads import ThreadGovernor
from ponder.backends.loops import loops, template_loops
from ponder.core.types import (
    Completion,
    FinishReason,
    GenerationResult,
    StreamChunk,
    TokenLogprob,
    Usage,
)
from ponder.errors import BackendError, ContextLengthError, ModelLoadError

logger = logging.getLogger(__name__)


class Engine:
    """Owns a llama.cpp model and context and the worker thread that drives them."""

    def __init__(
        self, path: str, config: EngineConfig, explicit: frozenset[str] = frozenset()
    ) -> None:
        self.path = path
        # jobs; an Event: drop the prompt cache, then set it; None: stop
        self._inbox: queue.SimpleQueue[Job | threading.Event | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._closed = False
        self._crash: str | None = None
        # llama.cpp's threads follow the load unless the user set n_threads; the governor's
        # first reading covers the model's loading (the model starts on every usable core)
        self.governor = None if config.n_threads else ThreadGovernor()
        self.model = LlamaModel(path, config, explicit)
        if self.governor is not None:
            self.governor.apply = self.model.set_threads
        self.scheduler = Scheduler(
            self.model.config,
            self.model,
            n_cells=int(self.model.n_ctx),
            new_chain=make_chain,
            free_chain=free_chain,
        )
        self.stats: EngineStats = self.scheduler.stats
        self._thread = threading.Thread(target=self._run, name="ponder-llama", daemon=True)
        self._thread.start()

    @property
    def config(self) -> EngineConfig:
        """The engine's sizes now (they grow toward ``model.full``)."""
        return self.model.config

    # ---------------------------------------------------------------- public, any thread

    def max_sample_tokens(self) -> int:
        """Most prompt + completion tokens one sample can hold."""
        return min(int(self.model.n_ctx_seq), int(self.model.n_ctx_train))

    def submit(self, job: Job) -> None:
        need = len(job.prompt_tokens) + job.params.max_tokens
        if need > self.max_sample_tokens():
            raise ContextLengthError(
                f"prompt ({len(job.prompt_tokens)} tokens) + max_tokens "
                f"({job.params.max_tokens}) = {need} exceeds the context of "
                f"{self.max_sample_tokens()} tokens; lower max_tokens or shorten the prompt"
            )
        if self._closed:
            if self._crash:
                raise BackendError(
                    f"the embedded engine stopped after an internal error ({self._crash}); "
                    "create a new backend"
                )
            raise BackendError("the embedded engine is closed")
        self._inbox.put(job)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def clear_prompt_cache(self) -> None:
        """Drop every cached prompt that no running request uses (for cold-cache timings)."""
        if self._closed:
            return
        done = threading.Event()
        self._inbox.put(done)
        self._wake.set()
        done.wait(timeout=60)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._wake.set()
        self._thread.join(timeout=30)
        self.model.close()

    # ---------------------------------------------------------------- worker thread

    def _run(self) -> None:
        sched = self.scheduler
        try:
            while True:
                if not self._drain_inbox():
                    break
                self._reap_cancelled()
                self._grow()
                sched.admit(attach=not self._outgrown())
                sched.compact()
                entries, prefilling = sched.build_batch()
                if not entries:
                    if not sched.jobs:
                        sched.trim_idle_cache()
                    self._wake.wait(timeout=0.5)
                    self._wake.clear()
                    continue
                if self.governor is not None:
                    self.governor.tick()
                start = time.perf_counter()
                rc = self.model.decode(entries)
                sched.stats.decode_seconds += time.perf_counter() - start
                self._decode(len(entries), prefilling, rc)
        except BaseException as exc:  # the worker must never die silently
            logger.exception("embedded engine failed")
            self._crash = f"{type(exc).__name__}: {exc}"
            for job in list(sched.jobs):
                self._fail(job, BackendError(f"embedded engine failed: {exc}"))
            self._closed = True
        finally:
            for job in list(sched.jobs):
                self._fail(job, BackendError("the embedded engine was closed"))
            while True:
                try:
                    left = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if isinstance(left, Job):
                    left.on_done(BackendError("the embedded engine was closed"))
                elif left is not None:
                    left.set()

    def _outgrown(self) -> bool:
        """Work not yet begun would fill every sample stream there is, and the layout can
        grow: new work waits while the live samples finish, then the engine grows (a
        server's steady stream of requests would otherwise never leave it idle enough to
        grow, and wide batches would stay narrow). The running samples' tail decodes at a
        falling width once; everything after runs wider."""
        model = self.model
        if model.at_full_size or not self.scheduler.samples:
            return False
        return self.scheduler.unattached_demand() >= model.config.n_parallel

    def _grow(self) -> None:
        """Widen the KV layout toward the plan when the queued work needs more streams than
        there are, and the prompt cache beyond the plan's default to what a request said it
        will keep (``keep``, up to what the KV budget allows). Only when idle (no live sample,
        no prompt held), since a new context starts empty; a fresh engine waits a moment for
        requests that arrive together."""
        sched, model = self.scheduler, self.model
        if sched.samples or not sched.jobs:  # decoding: nothing to do
            return
        if any(job.prompt is not None for job in sched.jobs):
            return
        samples, prompts, keep = sched.demand()
        current = model.config
        if model.at_full_size and keep <= current.n_prompt_slots:
            return
        if sched.stats.decode_calls == 0:
            time.sleep(0.005)
            if not self._drain_inbox():
                self._inbox.put(None)  # closing: the loop sees it next
                return
            samples, prompts, keep = sched.demand()
        samples = min(samples, model.full.n_parallel)
        prompts = max(min(prompts, model.full.n_prompt_slots), min(keep, model.prompt_slot_cap))
        if samples <= current.n_parallel and prompts <= current.n_prompt_slots:
            return
        parallel = max(current.n_parallel, min(samples, model.full.n_parallel))
        if parallel > current.n_parallel:  # grow at least twofold: few rebuilds
            parallel = max(parallel, 2 * current.n_parallel)
        slots = max(current.n_prompt_slots, prompts, parallel // 4)
        try:
            model.resize(parallel, slots)
        except ModelLoadError as exc:  # llama.cpp could not allocate it: stay as we were
            logger.warning("could not grow the KV cache (%s); staying at its current size", exc)
            model.resize(current.n_parallel, current.n_prompt_slots)
            model.full = model.config
            model.prompt_slot_cap = model.config.n_prompt_slots
        sched.relayout(model.config, int(model.n_ctx))
        logger.debug("KV layout grown to %d samples, %d prompts", parallel, slots)

    def _drain_inbox(self) -> bool:
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                return True
            if job is None:
                return False
            if isinstance(job, threading.Event):
                while self.scheduler.evict_one():
                    pass
                job.set()
                continue
            self.scheduler.jobs.append(job)

    def _reap_cancelled(self) -> None:
        sched = self.scheduler
        for job in [j for j in sched.jobs if j.cancelled.is_set()]:
            for sample in [s for s in sched.samples if s.job is job]:
                sched.stats.samples_cancelled += 1
                self._finish_sample(sample, "cancelled")
            sched.release_job(job)
            job.on_done(_result(job))  # the samples finished before the cancel

    def _fail(self, job: Job, error: BaseException) -> None:
        sched = self.scheduler
        for sample in [s for s in sched.samples if s.job is job]:
            sched.drop_sample(sample)
        sched.release_job(job)
        job.on_done(error)

    def _decode(self, n_tokens: int, prefilling: list[tuple[Prompt, int]], rc: int) -> None:
        sched = self.scheduler
        if rc != 0:
            error = BackendError(
                f"llama_decode failed (code {rc}) on a batch of {n_tokens} tokens; "
                "the KV cache may be too small: raise n_ctx"
            )
            for job in list(sched.jobs):
                self._fail(job, error)
            sched.drop_all_prompts()
            return
        sched.decoded(n_tokens, prefilling)
        stepping = sorted(
            (sample for sample in sched.samples if sample.out_idx >= 0), key=lambda s: s.out_idx
        )
        tokens = self.model.sample_many([(s.chain, s.out_idx) for s in stepping])
        for sample, token in zip(stepping, tokens, strict=True):
            self._step_sample(sample, token)

    def _step_sample(self, sample: Sample, token: int) -> None:
        model = self.model
        params = sample.job.params
        sample.n_sampled += 1
        self.scheduler.stats.tokens_sampled += 1
        sample.pos += 1
        if sample.logprobs is not None:
            sample.logprobs.append(model.logprob(sample.out_idx, token, params.top_logprobs))
        if model.is_end(token):
            self._finish_sample(sample, "stop", "")
            return
        sample.tokens.append(token)
        sample.text += sample.decoder.decode(model.piece(token))
        if params.stop and (hit := _cut_at_stop(sample, params.stop)) is not None:
            self._finish_sample(sample, "stop", "" if hit in sample.job.ends else hit)
            return
        if sample.n_sampled >= params.max_tokens:
            self._finish_sample(sample, "length")
            return
        # checked every 4 tokens: a loop, once there, stays; this keeps the hot loop light
        if sample.n_sampled % 4 == 0 and (
            (params.loop_repeats and loops(sample.tokens, params.loop_repeats))
            or (
                params.loop_template
                and template_loops(sample.tokens, params.loop_template, model.is_number)
            )
        ):
            self._finish_sample(sample, "repetition")
            return
        sample.pending = token
        if sample.job.on_chunk is not None:
            hold = max(map(len, params.stop)) - 1 if params.stop else 0
            _emit(sample, len(sample.text) - hold, None)

    def _finish_sample(
        self, sample: Sample, reason: FinishReason, stop_reason: str | None = None
    ) -> None:
        job = sample.job
        if reason != "cancelled":
            sample.text += sample.decoder.decode(b"", final=True)
        job.results[sample.index] = Completion(
            text=sample.text,
            finish_reason=reason,
            completion_tokens=sample.n_sampled,
            index=sample.index,
            logprobs=tuple(sample.logprobs) if sample.logprobs is not None else None,
            seed=sample.seed,
            stop_reason=stop_reason,
            token_ids=tuple(sample.tokens),
        )
        last = job.live == 1 and job.waiting_samples == 0
        if reason != "cancelled":
            _emit(sample, len(sample.text), reason, _usage(job) if last else None)
        ended = stop_reason == "" and not job.retain_ended
        if job.retain and reason in ("stop", "length") and not ended:
            self.scheduler.retain(sample)  # it will be continued: keep its KV
        self.scheduler.drop_sample(sample)
        job.live -= 1
        if reason != "cancelled" and last:
            self.scheduler.release_job(job)
            job.on_done(_result(job))


def _cut_at_stop(sample: Sample, stops: tuple[str, ...]) -> str | None:
    """The stop string the sample's text now holds (the earliest), cutting the text before
    it; None if there is none. Only the new text (and what a stop string could straddle) is
    searched."""
    text = sample.text
    start = sample.stop_scan
    cut, hit = -1, None
    for stop in stops:
        at = text.find(stop, max(0, start - len(stop) + 1))
        if at >= 0 and (cut < 0 or at < cut):
            cut, hit = at, stop
    sample.stop_scan = len(text)
    if hit is not None:
        sample.text = text[:cut]
    return hit


def _emit(
    sample: Sample, upto: int, finish: FinishReason | None, usage: Usage | None = None
) -> None:
    job = sample.job
    if job.on_chunk is None:
        return
    upto = max(upto, sample.emitted)
    delta = sample.text[sample.emitted : upto]
    logprobs: tuple[TokenLogprob, ...] = ()
    if sample.logprobs is not None:
        logprobs = tuple(sample.logprobs[sample.lp_emitted :])
        sample.lp_emitted = len(sample.logprobs)
    if not delta and not logprobs and finish is None:
        return
    sample.emitted = upto
    job.on_chunk(StreamChunk(sample.index, delta, logprobs, finish, sample.n_sampled, usage))


def _usage(job: Job) -> Usage:
    done = [c for c in job.results if c is not None]
    return Usage(
        prompt_tokens=len(job.prompt_tokens),
        cached_prompt_tokens=job.cached,
        completion_tokens=sum(c.completion_tokens for c in done),
    )


def _result(job: Job) -> GenerationResult:
    completions = tuple(c for c in job.results if c is not None)
    return GenerationResult(completions, _usage(job))


__all__ = ["Engine", "EngineConfig", "EngineStats", "Job"]
