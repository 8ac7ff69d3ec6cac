"""What the embedded engine runs at each step, decided in plain Python over a ``KVStore``.

The scheduler owns the jobs (requests), the samples decoding, the prompt sequences (an LRU
prefix cache) and the free sequence ids. Each step it admits waiting samples (higher
priority first, FIFO within), keeps live sample ids consecutive, and lays out the next
decode batch: one pending token per live sample, then chunks of prompts still being
prefilled. It touches the KV cache only through ``KVStore.copy`` and ``KVStore.clear``, so it
runs against a fake store in tests, with no model.

Prefix sharing: a prompt is prefilled once into a *prompt sequence*; each of its samples
gets its own sequence that starts as a copy of it. Prompt sequences stay cached after their
request ends, so a later request that shares a prefix prefills only the part that differs.
Requests that arrive together and share a long prefix wait a step while the first prefills
the common part, then copy it.

Sample ids: llama.cpp fuses into one compute only *consecutive* sequence ids (with a KV
stream per sequence), so a new sample takes the lowest free id, and when a sample ends and
leaves a gap, the highest live sample moves down into it.
"""

from __future__ import annotations

import codecs
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ponder.backends.llamacpp.config import BatchEntry, EngineConfig, EngineStats, KVStore
from ponder.core.types import (
    Completion,
    GenerationResult,
    SamplingParams,
    StreamChunk,
    TokenLogprob,
    sample_seed,
)

#: a request waits for a prompt being prefilled when it would share this many more tokens
MIN_SHARED_WAIT = 32


class Prompt:
    """A prompt sequence in the KV cache: tokens[:-1] are decoded into ``seq``."""

    def __init__(self, seq: int, tokens: list[int], reused: int) -> None:
        self.seq = seq
        self.tokens = tokens
        self.decoded = reused  # prompt tokens (of tokens[:-1]) in the cache so far
        self.pins = 0

    @property
    def ready(self) -> bool:
        return self.decoded >= len(self.tokens) - 1


class Sample:
    """One sample decoding in its own sequence: its pending token, text and logprobs."""

    __slots__ = (
        "job",
        "index",
        "seq",
        "chain",
        "pending",
        "pos",
        "n_sampled",
        "out_idx",
        "decoder",
        "text",
        "emitted",
        "logprobs",
        "lp_emitted",
        "seed",
        "stop_scan",
        "tokens",
    )

    def __init__(self, job: Job, index: int, seq: int, chain: Any, seed: int | None) -> None:
        self.job = job
        self.index = index
        self.seq = seq
        self.chain = chain
        self.seed = seed
        prompt = job.prompt_tokens
        # the first token comes from re-decoding the last prompt token in the sample's own
        # sequence: a sample is always "one pending token at a position"
        self.pending = prompt[-1]
        self.pos = len(prompt) - 1
        self.n_sampled = 0
        self.out_idx = -1
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self.emitted = 0
        self.stop_scan = 0
        self.logprobs: list[TokenLogprob] | None = [] if job.params.logprobs else None
        self.lp_emitted = 0
        #: the tokens sampled so far (the end-of-generation token left out)
        self.tokens: list[int] = []


class Job:
    """One request inside the engine. Thread-safe to cancel from any thread."""

    def __init__(
        self,
        prompt_tokens: list[int],
        params: SamplingParams,
        on_chunk: Callable[[StreamChunk], None] | None,
        on_done: Callable[[GenerationResult | BaseException], None],
        priority: int = 0,
        retain: bool = False,
        ends: frozenset[str] = frozenset(),
        retain_ended: bool = False,
        keep: int = 0,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.params = params
        self.priority = priority
        #: keep each finished sample's KV as a cached prefix (it will be continued)
        self.retain = retain
        #: and the samples that ended by themselves (end of turn) too
        self.retain_ended = retain_ended
        #: prefixes its caller holds at once (``GenerationRequest.keep``): the prompt cache
        #: is sized to it before the work begins
        self.keep = keep
        #: stop strings that mark the end of the reply (the template's end of turn), reported
        #: as the end of generation (``stop_reason`` ""), not as a stop string
        self.ends = ends
        self.on_chunk = on_chunk
        self.on_done = on_done
        self.cancelled = threading.Event()
        base = params.seed if params.seed is not None else random.getrandbits(31)
        self.seeds = [sample_seed(base, i) for i in range(params.n)]
        self.next_index = 0
        self.live = 0
        self.prompt: Prompt | None = None
        self.pinned = False  # holds its prompt sequence (until its last sample has started)
        self.cached = 0
        self.results: list[Completion | None] = [None] * params.n
        self.finished = False

    def cancel(self) -> None:
        self.cancelled.set()

    @property
    def waiting_samples(self) -> int:
        return self.params.n - self.next_index


class Scheduler:
    """Admission, the prompt cache, sequence ids and batch layout (see the module docstring).
    Driven by one thread, the engine's worker."""

    def __init__(
        self,
        config: EngineConfig,
        kv: KVStore,
        *,
        n_cells: int,
        new_chain: Callable[[SamplingParams, int], Any],
        free_chain: Callable[[Any], None],
    ) -> None:
        self.kv = kv
        self._new_chain = new_chain
        self._free_chain = free_chain
        self.stats = EngineStats()
        self.jobs: list[Job] = []  # admitted order (FIFO)
        self.samples: list[Sample] = []
        self.prompts: OrderedDict[int, Prompt] = OrderedDict()  # seq -> prompt, LRU order
        self.relayout(config, n_cells)

    def relayout(self, config: EngineConfig, n_cells: int) -> None:
        """A new, empty KV store of ``config``'s sizes (only when no sample is live and no
        job holds a prompt): the cached prompts are gone."""
        assert not self.samples and all(job.prompt is None for job in self.jobs)
        self.config = config
        self.n_cells = n_cells  # all KV cells (the unified cache's capacity)
        self.prompts.clear()
        self.free_sample_seqs = list(range(config.n_parallel))
        self.free_prompt_seqs = list(
            range(config.n_parallel, config.n_parallel + config.n_prompt_slots)
        )

    def demand(self) -> tuple[int, int, int]:
        """Samples and prompts the queued jobs want at once (a retaining job's samples each
        want a prompt slot to be kept in once they finish), and the most prefixes a job's
        caller said it will hold (``keep``)."""
        samples = sum(job.waiting_samples for job in self.jobs)
        retained = sum(job.params.n for job in self.jobs if job.retain)
        keep = max((job.keep for job in self.jobs), default=0)
        return samples, len(self.jobs) + retained, keep

    def unattached_demand(self) -> int:
        """Samples wanted by queued jobs that hold no prompt yet (work not begun)."""
        return sum(job.waiting_samples for job in self.jobs if job.prompt is None)

    # -- admission

    def admit(self, *, attach: bool = True) -> None:
        """Start waiting samples while sample slots and KV room allow. ``attach=False``: only
        jobs that already hold a prompt start samples (the engine lets the batch drain to
        grow its KV layout)."""
        # higher priority first (a problem already under way before a new one), FIFO within
        for job in sorted(self.jobs, key=lambda j: -j.priority):
            if job.waiting_samples == 0:
                continue
            if job.prompt is None and (not attach or not self.attach_prompt(job)):
                # None: its prefix is being prefilled for another job; False: no prompt slot
                # free. Jobs that hold a prompt go on (a queued job of lower priority may hold
                # the slot this one waits for); a later job cannot take a slot first, as none
                # can be freed in this pass
                continue
            prompt = job.prompt
            assert prompt is not None
            if not prompt.ready:
                continue
            while job.waiting_samples and self.free_sample_seqs:
                if not self._kv_fits(job.params.max_tokens + 1):
                    return
                self._start_sample(job)
            if not self.free_sample_seqs:
                return

    def attach_prompt(self, job: Job) -> bool | None:
        """Give the job a prompt sequence: a cached one holding its whole prompt, or a new one
        that starts as a copy of the longest cached prefix. False if no slot or KV room yet;
        None if a longer prefix is being prefilled for another job right now (wait for it)."""
        tokens = job.prompt_tokens
        for prompt in self.prompts.values():
            if prompt.tokens == tokens:
                # the same prompt, cached or still being prefilled for another request: share
                # it (concurrent single-sample requests of one prompt pay for one prefill)
                self._pin(job, prompt, len(tokens) - 1)
                return True
        best, best_len = self._longest_cached_prefix(tokens)
        if self._prefix_in_flight(tokens, best_len):
            return None
        if not self.free_prompt_seqs and not self.evict_one():
            return False
        if not self._kv_fits(len(tokens)):
            return False
        best, best_len = self._longest_cached_prefix(tokens)  # eviction may have taken it
        seq = self.free_prompt_seqs.pop()
        if best is not None:
            self.kv.copy(best.seq, seq, best_len)
            if best.pins == 0 and best_len == len(best.tokens) - 1:
                # the new prompt extends the cached one, which is now redundant
                self._drop_prompt(best)
        prompt = Prompt(seq, tokens, best_len)
        self.prompts[seq] = prompt
        self._pin(job, prompt, best_len)
        return True

    def _prefix_in_flight(self, tokens: list[int], cached: int) -> bool:
        """Whether a prompt still being prefilled shares at least ``MIN_SHARED_WAIT`` more
        tokens with ``tokens`` than the cache holds: concurrent requests that differ only in
        their ends (a judge's prompts, one per candidate) then prefill the common part once.
        Prefill is compute-bound, so waiting a step for it costs no throughput."""
        for prompt in self.prompts.values():
            if prompt.ready or prompt.pins == 0:
                continue
            common = _common_prefix(prompt.tokens[:-1], tokens[:-1])
            if common - cached >= MIN_SHARED_WAIT and prompt.decoded < common:
                return True
        return False

    def _longest_cached_prefix(self, tokens: list[int]) -> tuple[Prompt | None, int]:
        best, best_len = None, 0
        for prompt in self.prompts.values():
            n = _common_prefix(prompt.tokens[: prompt.decoded], tokens[:-1])
            if n > best_len:
                best, best_len = prompt, n
        return best, best_len

    def _pin(self, job: Job, prompt: Prompt, reused: int) -> None:
        prompt.pins += 1
        self.prompts.move_to_end(prompt.seq)
        job.prompt = prompt
        job.pinned = True
        job.cached = reused
        self.stats.prompt_tokens_reused += reused

    def unpin(self, job: Job) -> None:
        """The job no longer needs its prompt sequence: its samples have their own copies. It
        stays in the cache for later requests, evictable (so that a prompt slot is not held
        while the job's slowest sample finishes)."""
        if job.prompt is not None and job.pinned:
            job.pinned = False
            job.prompt.pins -= 1
            if job.prompt.pins == 0 and not job.prompt.ready:
                # half-prefilled and nobody waits for it: drop it
                self._drop_prompt(job.prompt)

    def _start_sample(self, job: Job) -> None:
        seq = min(self.free_sample_seqs)  # the lowest: keep live ids consecutive
        self.free_sample_seqs.remove(seq)
        prompt = job.prompt
        assert prompt is not None
        n_shared = len(job.prompt_tokens) - 1
        if n_shared:
            self.kv.copy(prompt.seq, seq, n_shared)
        index = job.next_index
        job.next_index += 1
        job.live += 1
        seed = job.seeds[index]
        self.samples.append(Sample(job, index, seq, self._new_chain(job.params, seed), seed))
        if job.waiting_samples == 0:
            self.unpin(job)

    def retain(self, sample: Sample) -> bool:
        """Keep a finished sample's KV as a cached prompt (its prompt and the tokens it
        sampled), so that a request continuing it prefills nothing. It is cached like any
        prompt: least recently used first out when a slot is wanted. False if no slot or
        KV room could be had (the sample's work is then recomputed when continued)."""
        tokens = sample.job.prompt_tokens + sample.tokens
        if any(p.tokens == tokens for p in self.prompts.values()):
            return True
        if not self.free_prompt_seqs and not self.evict_one():
            return False
        if not self._kv_fits(len(tokens)):
            return False
        seq = self.free_prompt_seqs.pop()
        self.kv.copy(sample.seq, seq)  # holds tokens[:-1]: the last sampled one is pending
        self.prompts[seq] = Prompt(seq, tokens, len(tokens) - 1)
        self.stats.samples_retained += 1
        return True

    # -- the KV cache

    def _kv_reserved(self) -> int:
        cells = sum(len(p.tokens) for p in self.prompts.values())
        cells += sum(s.job.params.max_tokens + 1 for s in self.samples)
        return cells

    def _kv_fits(self, extra: int) -> bool:
        if not self.config.kv_unified:
            return True  # every sequence has cells of its own; the engine checked the size
        while self._kv_reserved() + extra > self.n_cells:
            if not self.evict_one():
                return not self.samples  # alone it must fit; the engine checked that
        return True

    def evict_one(self) -> bool:
        """Drop the least recently used prompt no job holds; False if there is none."""
        for prompt in self.prompts.values():  # least recently used first
            if prompt.pins == 0:
                self._drop_prompt(prompt)
                return True
        return False

    def _drop_prompt(self, prompt: Prompt) -> None:
        self.kv.clear(prompt.seq)
        del self.prompts[prompt.seq]
        self.free_prompt_seqs.append(prompt.seq)

    def drop_all_prompts(self) -> None:
        """Forget every cached prompt (after a failed decode left the cache unknown)."""
        for prompt in list(self.prompts.values()):
            self._drop_prompt(prompt)

    def trim_idle_cache(self) -> None:
        """Idle: keep only the most recently used prompt. In the unified KV cache every
        sequence attends over the span of all occupied cells, so idle cached prompts slow
        everybody down; the latest prompt is the one a sequential caller is likely to reuse,
        and while the engine is busy the whole LRU cache serves concurrent requests. With a KV
        stream per sequence cached prompts cost no attention, and all of them stay."""
        if not self.config.kv_unified:
            return
        while len(self.prompts) > 1 and self.evict_one():
            pass

    def compact(self) -> None:
        """With a KV stream per sequence, llama.cpp computes a batch's sequences together only
        while their ids run consecutively; a gap splits every decode step into more passes over
        the weights. Move the highest live samples down into the gaps (one stream copy each)."""
        if self.config.kv_unified or not self.samples:
            return
        while self.free_sample_seqs:
            top = max(self.samples, key=lambda s: s.seq)
            low = min(self.free_sample_seqs)
            if top.seq < low:
                return
            self.kv.copy(top.seq, low)
            self.kv.clear(top.seq)
            self.free_sample_seqs.remove(low)
            self.free_sample_seqs.append(top.seq)
            top.seq = low
            self.stats.samples_moved += 1

    # -- the batch

    def build_batch(self) -> tuple[list[BatchEntry], list[tuple[Prompt, int]]]:
        """The next decode: every live sample's pending token (in increasing sequence id:
        llama.cpp fuses only consecutive ids), then prompt chunks up to ``n_batch``. Returns
        the entries and, per prompt being prefilled, the position its chunk reaches."""
        cap = self.config.n_batch
        entries: list[BatchEntry] = []
        for sample in sorted(self.samples, key=lambda s: s.seq):
            if len(entries) >= cap:
                sample.out_idx = -1
                continue
            sample.out_idx = len(entries)
            entries.append((sample.pending, sample.pos, sample.seq, True))
        prefilling: list[tuple[Prompt, int]] = []
        for prompt in sorted(self.prompts.values(), key=lambda p: p.seq):
            if len(entries) >= cap:
                break
            if prompt.ready or prompt.pins == 0:
                continue
            end = min(len(prompt.tokens) - 1, prompt.decoded + cap - len(entries))
            for pos in range(prompt.decoded, end):
                entries.append((prompt.tokens[pos], pos, prompt.seq, False))
            prefilling.append((prompt, end))
        return entries, prefilling

    def decoded(self, n_tokens: int, prefilling: list[tuple[Prompt, int]]) -> None:
        """Account for a successful decode of the batch ``build_batch`` laid out."""
        self.stats.decode_calls += 1
        self.stats.tokens_decoded += n_tokens
        for prompt, end in prefilling:
            self.stats.prompt_tokens_computed += end - prompt.decoded
            prompt.decoded = end

    # -- ending

    def drop_sample(self, sample: Sample) -> None:
        self.kv.clear(sample.seq)
        self._free_chain(sample.chain)
        self.samples.remove(sample)
        self.free_sample_seqs.append(sample.seq)

    def release_job(self, job: Job) -> None:
        if job.finished:
            return
        job.finished = True
        self.unpin(job)
        if job in self.jobs:
            self.jobs.remove(job)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
