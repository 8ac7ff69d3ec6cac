"""The embedded engine's scheduler against a fake KV store: admission, the prompt cache,
sequence ids and batch layout, step by step, with no model and no threads."""

from __future__ import annotations

from typing import Any

from ponder.backends.llamacpp.config import EngineConfig
from ponder.backends.llamacpp.scheduler import Job, Sample, Scheduler
from ponder.core.types import Completion, make_params


class FakeKV:
    """Each sequence's cells as the list of tokens decoded into it."""

    def __init__(self) -> None:
        self.cells: dict[int, list[int]] = {}
        self.copies: list[tuple[int, int, int | None]] = []

    def clear(self, seq: int) -> None:
        self.cells.pop(seq, None)

    def copy(self, src: int, dst: int, n: int | None = None) -> None:
        assert not self.cells.get(dst), f"copy into sequence {dst}, which is not empty"
        source = self.cells.get(src, [])
        self.cells[dst] = list(source if n is None else source[:n])
        self.copies.append((src, dst, n))


class Driver:
    """Plays the engine: decodes each batch into the fake store, 'samples' token 1000 + the
    sample's index, and finishes samples at max_tokens, as the engine does."""

    def __init__(self, config: EngineConfig, n_cells: int = 1 << 20) -> None:
        self.kv = FakeKV()
        self.sched = Scheduler(
            config, self.kv, n_cells=n_cells, new_chain=lambda p, s: None, free_chain=_free
        )
        self.finished: list[str] = []
        self.batches: list[list[int]] = []  # the live sample ids of each decode

    def submit(
        self, name: str, prompt: list[int], max_tokens: int = 2, n: int = 1, **kw: Any
    ) -> Job:
        job = Job(prompt, make_params(n=n, max_tokens=max_tokens, seed=0), None, _done, **kw)
        job.name = name  # type: ignore[attr-defined]
        self.sched.jobs.append(job)
        return job

    def step(self) -> bool:
        sched = self.sched
        sched.admit()
        sched.compact()
        entries, prefilling = sched.build_batch()
        if not entries:
            return False
        self.batches.append(sorted(s.seq for s in sched.samples))
        for token, pos, seq, _ in entries:
            cells = self.kv.cells.setdefault(seq, [])
            assert pos == len(cells), f"sequence {seq} decodes position {pos} after {len(cells)}"
            cells.append(token)
        sched.decoded(len(entries), prefilling)
        for sample in [s for s in sched.samples if s.out_idx >= 0]:
            self._advance(sample)
        return True

    def run(self, steps: int = 1000) -> None:
        for _ in range(steps):
            if not self.step() and not self.sched.jobs:
                return
        raise AssertionError("the scheduler did not finish its jobs")

    def _advance(self, sample: Sample) -> None:
        sample.n_sampled += 1
        sample.pos += 1
        sample.pending = 1000 + sample.index
        job = sample.job
        if sample.n_sampled < job.params.max_tokens:
            return
        job.results[sample.index] = Completion("", "length", sample.n_sampled, sample.index)
        last = job.live == 1 and job.waiting_samples == 0
        self.sched.drop_sample(sample)
        job.live -= 1
        if last:
            self.sched.release_job(job)
            self.finished.append(job.name)  # type: ignore[attr-defined]


def _free(chain: object) -> None:
    assert chain is None


def _done(outcome: object) -> None:
    pass


PROMPT = list(range(1, 11))  # 10 tokens: 9 are prefilled, the last starts every sample


def test_a_prompt_is_prefilled_once_for_its_samples_and_reused_later() -> None:
    d = Driver(EngineConfig(n_parallel=4, n_prompt_slots=2))
    first = d.submit("first", PROMPT, n=3)
    d.run()
    stats = d.sched.stats
    assert stats.prompt_tokens_computed == 9 and first.cached == 0
    # each sample started as a copy of the prompt's 9 cells
    assert sum(1 for _, _, n in d.kv.copies if n == 9) == 3
    again = d.submit("again", PROMPT, n=2)
    d.run()
    assert stats.prompt_tokens_computed == 9  # nothing prefilled again
    assert again.cached == 9 and d.finished == ["first", "again"]


def test_a_longer_prompt_prefills_only_what_the_cached_prefix_lacks() -> None:
    d = Driver(EngineConfig(n_parallel=2, n_prompt_slots=2))
    d.submit("short", PROMPT)
    d.run()
    longer = d.submit("long", [*PROMPT, 11, 12, 13, 14, 15])
    d.run()
    assert longer.cached == 9
    assert d.sched.stats.prompt_tokens_computed == 9 + 5
    # the cached prompt it extended is redundant and was dropped: one prompt sequence left
    assert [p.tokens for p in d.sched.prompts.values()] == [[*PROMPT, 11, 12, 13, 14, 15]]


def test_live_sample_ids_stay_consecutive_when_samples_end_below_others() -> None:
    d = Driver(EngineConfig(n_parallel=6, n_prompt_slots=2))
    d.submit("short", PROMPT, n=3, max_tokens=2)
    d.submit("long", [*PROMPT[:5], 99], n=2, max_tokens=8)
    d.run()
    assert d.finished == ["short", "long"]
    assert d.sched.stats.samples_moved >= 2  # the long samples moved down into the gap
    assert all(ids == list(range(len(ids))) for ids in d.batches)


def test_higher_priority_is_admitted_first_and_fifo_within() -> None:
    d = Driver(EngineConfig(n_parallel=1, n_prompt_slots=4))
    d.submit("running", PROMPT, max_tokens=3)
    d.step()
    d.submit("low-1", [1, 2, 3, 4], priority=0)
    d.submit("low-2", [5, 6, 7, 8], priority=0)
    d.submit("high", [9, 10, 11, 12], priority=1)
    d.run()
    assert d.finished == ["running", "high", "low-1", "low-2"]


def test_a_queued_job_holding_the_prompt_slot_is_not_starved_by_a_higher_priority() -> None:
    # one prompt slot: "new" takes it while waiting for the only sample slot; "under way"
    # (higher priority) needs that slot too, so "new" must start first, then free it
    d = Driver(EngineConfig(n_parallel=1, n_prompt_slots=1))
    d.submit("first", PROMPT, max_tokens=6)
    d.step()
    new = d.submit("new", [7, 7, 7, 7], max_tokens=2)
    while new.prompt is None:  # "first" still decodes: "new" takes the prompt slot
        assert d.step()
    assert new.pinned and new.next_index == 0  # holds the slot, waits for a sample slot
    d.submit("under way", PROMPT, max_tokens=2, priority=1)
    d.run()
    assert d.finished == ["first", "new", "under way"]


def test_a_shared_cache_too_small_for_all_samples_admits_them_in_waves() -> None:
    config = EngineConfig(n_parallel=8, n_prompt_slots=2, kv_unified=True)
    d = Driver(config, n_cells=10 + 2 * 6)  # the prompt and two samples of max_tokens=5
    d.submit("waves", PROMPT, n=4, max_tokens=5)
    d.run()
    assert d.finished == ["waves"]
    assert max(len(ids) for ids in d.batches) == 2


def test_the_least_recently_used_prompt_is_evicted_first() -> None:
    d = Driver(EngineConfig(n_parallel=2, n_prompt_slots=2))
    for name, prompt in [("a", [1, 2, 3]), ("b", [4, 5, 6]), ("a again", [1, 2, 3])]:
        d.submit(name, prompt)
        d.run()
    d.submit("c", [7, 8, 9])  # needs a slot: "b" was used least recently
    d.run()
    assert sorted(p.tokens for p in d.sched.prompts.values()) == [[1, 2, 3], [7, 8, 9]]


def test_a_half_prefilled_prompt_nobody_waits_for_is_dropped() -> None:
    d = Driver(EngineConfig(n_parallel=2, n_prompt_slots=2, n_batch=4))
    job = d.submit("cancelled", list(range(1, 20)))
    d.step()  # 4 of its 18 prompt tokens decoded
    (prompt,) = d.sched.prompts.values()
    assert not prompt.ready and prompt.decoded == 4
    d.sched.release_job(job)  # as the engine does when the job is cancelled
    assert not d.sched.prompts and prompt.seq not in d.kv.cells
    assert sorted(d.sched.free_prompt_seqs) == [2, 3]


def test_requests_sharing_a_long_prefix_wait_and_prefill_it_once() -> None:
    d = Driver(EngineConfig(n_parallel=4, n_prompt_slots=4, n_batch=64))
    common = list(range(100, 160))  # 60 shared tokens
    d.submit("a", [*common, 1, 2])
    d.submit("b", [*common, 3, 4])
    d.run()
    # "a" prefills 61 tokens; "b" waits a step, then copies the common part and adds its own 1
    assert d.sched.stats.prompt_tokens_computed == 61 + 1
    assert d.sched.stats.prompt_tokens_reused == 60
