"""Eval throughput: ``ponder eval`` against the same problems solved one after another.

The job: the first 32 problems of the development suite's ``products`` task (max_digits=1),
``self_consistency`` with n=8 (temperature 0.8, at most 256 tokens per sample), on the
embedded model. One side runs ``ponder.eval.aevaluate`` (problems concurrently, scoring,
SQLite store and report included); the other solves the problems one after another through
``Strategy.run`` in one process, as a loop over ``ponder solve`` would with the model loaded
once. Both use the same per-problem seeds and a freshly loaded backend with the same engine
settings; only the runs are timed (not model loading).

The sequential side runs first (it also gives every sample's length and each problem's
computed prompt tokens); then ``--rounds`` eval runs, each measured next to two ceilings,
since this machine's speed drifts by several percent within minutes:

- the lockstep ceiling, plain llama.cpp's own decode rate (before and after each run, their
  mean counts): as many sequences as the engine decodes at once, each in its own KV stream
  past a prompt of the problems' median length, 150 steps, one ``llama_decode`` a step, no
  sampling, nothing else. Eval's completion tokens/s over it is issue 19's figure (target
  >= 0.95).
- the same work (right after each run): plain llama.cpp computing the eval's own prompt
  tokens (as many as the eval computed, spread over the problems as the sequential side
  computed them) and decoding the eval's own samples (their lengths, read from its store,
  problems in order) with continuous
  batching at the same width, no sampling, no Python beyond filling batches. Its time over
  eval's is how close the engine comes to what llama.cpp itself needs for this workload;
  its own tokens/s over the lockstep ceiling is what the workload (its final tail at
  falling width, its prefill) allows any engine.

Each round also splits the eval's wall into the time inside ``llama_decode`` and the
engine's own work and waiting. The medians over the rounds are printed, and as the last line
the ratio eval / sequential (median eval wall).

``--width W`` sets the engine's ``n_parallel`` (samples decoded at once, default 32) on both
sides; the sequential side decodes at most 8 at a time whatever the width.

    .venv/bin/python benchmarks/bench_eval.py [--problems 32] [--concurrency 8] [--width 64]
        [--model PATH.gguf]

``--model`` runs both sides on another GGUF (default: the embedded SmolLM2-135M); ``-B
KEY=VALUE`` passes an option to ponder's backend (``-B chat_template=completion -B
stop=<blank line>`` for a base model without a chat template).
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from typing import Any

from backend_options import add_model_arguments, backend_options
from ponder.backends.llamacpp import LlamaCppBackend
from ponder.eval import aevaluate
from ponder.eval.scope import problem_seed
from ponder.runtime import Context
from ponder.strategies.self_consistency import SelfConsistency
from ponder.tasks import make_task

SETTING = "self_consistency:n=8,temperature=0.8"  # pinned: the default is 0.4
SEED = 0


@dataclasses.dataclass
class Run:
    seconds: float
    accuracy: float
    tokens: int  # completion tokens
    prompts: int = 0  # prompt tokens computed (not served from the prefix cache)
    decoding: float = 0.0  # seconds inside llama_decode
    lengths: list[int] = dataclasses.field(default_factory=list)  # every sample's tokens
    prompt_lengths: list[int] = dataclasses.field(default_factory=list)  # a problem each
    computed: list[int] = dataclasses.field(default_factory=list)  # prompt tokens computed


#: the GGUF both sides run (None: the embedded model); ``--model``
MODEL: str | None = None
#: more backend options (``-B KEY=VALUE``): chat_template=completion for a base model
OPTIONS: dict[str, object] = {}


async def sequential(problems: list[Any], task: object, width: int) -> Run:
    backend = LlamaCppBackend(MODEL, n_parallel=width, **OPTIONS)
    try:
        start = time.perf_counter()
        run = Run(0.0, 0.0, 0)
        correct = 0
        for problem in problems:
            strategy = SelfConsistency(n=8, temperature=0.8, seed=problem_seed(SEED, problem.id))
            result = await strategy.run(problem, Context(backend))
            correct += task.score(problem, result.text, result.answer).correct  # type: ignore[attr-defined]
            usage = result.usage
            run.tokens += usage.completion_tokens
            run.lengths += [c.completion_tokens for c in result.candidates]
            run.prompt_lengths.append(usage.prompt_tokens)
            run.computed.append(usage.prompt_tokens - usage.cached_prompt_tokens)
        run.seconds = time.perf_counter() - start
        run.accuracy = correct / len(problems)
        run.prompts = sum(run.computed)
        return run
    finally:
        await backend.aclose()


async def concurrent(task: object, limit: int, concurrency: int | None, width: int) -> Run:
    backend = LlamaCppBackend(MODEL, n_parallel=width, **OPTIONS)
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            outcome = await aevaluate(
                [task],  # type: ignore[list-item]
                [SETTING],
                out=out,
                backend=backend,
                seed=SEED,
                limit=limit,
                concurrency=concurrency,
            )
            seconds = time.perf_counter() - start
            lengths = eval_lengths(out, task, limit)
        row = outcome.summary["results"][0]
        stats = backend.stats
        return Run(
            seconds,
            row["accuracy"],
            sum(lengths),
            stats.prompt_tokens_computed,
            stats.decode_seconds,
            lengths=lengths,
        )
    finally:
        await backend.aclose()


def eval_lengths(out: str, task: Any, limit: int) -> list[int]:
    """Every sample's completion tokens in the eval's store under ``out``, problems in the
    task's order: the work the same-work ceiling replays (the eval's samples differ from the
    sequential side's, since a batch's make-up changes llama.cpp's numerics and so the draws
    of a seeded sample; a base model's lengths vary by tens of percent)."""
    from ponder.eval.store import Store

    with Store(out) as store:
        (key,) = store.settings()
        records = store.records(*key)
    order = [problem.id for problem in task.problems(limit)]
    return [c.completion_tokens for pid in order for c in records[pid].candidates]


def _quiet_callback() -> object:
    import llama_cpp as ll

    return ll.llama_log_callback(lambda level, text, data: None)


_QUIET = _quiet_callback()  # llama.cpp's load log off (kept alive: llama.cpp holds it)


class PlainLlama:
    """Plain llama.cpp at the engine's settings (a KV stream per sequence, flash attention,
    all cores), ``width`` streams each holding the same kind of ``prompt``-token prompt,
    prefilled on entry (with ``scratch``, one more stream, holding the same prompt)."""

    def __init__(self, width: int, prompt: int, scratch: bool = False) -> None:
        import os

        import llama_cpp as ll

        from ponder.backends.llamacpp import default_model_path

        path = MODEL or default_model_path()
        self.ll, self.prompt, self.width = ll, prompt, width
        self.streams = width + 1 if scratch else width
        ll.llama_backend_init()
        ll.llama_log_set(_QUIET, None)
        self.model = ll.llama_model_load_from_file(
            str(path).encode(), ll.llama_model_default_params()
        )
        params = ll.llama_context_default_params()
        params.n_batch, params.n_ubatch = 512, 512
        params.n_ctx, params.n_seq_max = 512 * self.streams, self.streams
        params.kv_unified, params.flash_attn_type = False, 1
        params.n_threads = params.n_threads_batch = os.cpu_count() or 1
        self.ctx = ll.llama_init_from_model(self.model, params)
        self.mem = ll.llama_get_memory(self.ctx)
        self.batch = ll.llama_batch_init(512, 0, 1)

    def __enter__(self) -> PlainLlama:
        for seq in range(self.streams):
            self.decode([(100 + (7 * pos + seq) % 1000, pos, seq) for pos in range(self.prompt)])
        return self

    def decode(self, entries: list[tuple[int, int, int]]) -> None:
        batch = self.batch
        for i, (token, pos, seq) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, True
        batch.n_tokens = len(entries)
        if rc := self.ll.llama_decode(self.ctx, batch):
            raise RuntimeError(f"llama_decode failed (code {rc})")

    def __exit__(self, *exc: object) -> None:
        self.ll.llama_batch_free(self.batch)
        self.ll.llama_free(self.ctx)
        self.ll.llama_model_free(self.model)


def decode_ceiling(width: int = 32, prompt: int = 100, steps: int = 150) -> float:
    """Tokens/s of plain llama.cpp decoding ``width`` sequences of ``prompt`` + ``steps``
    tokens in lockstep."""
    with PlainLlama(width, prompt) as plain:
        start = time.perf_counter()
        for step in range(steps):
            plain.decode(
                [(200 + (13 * step + seq) % 1000, prompt + step, seq) for seq in range(width)]
            )
        return width * steps / (time.perf_counter() - start)


def same_work_ceiling(
    lengths: list[int], prompts: list[int], width: int = 32, prompt: int = 100
) -> float:
    """Seconds plain llama.cpp takes for the eval's own work, with continuous batching at
    ``width``: each problem's computed prompt tokens (``prompts``, one count a problem) and
    its ``len(lengths) // len(prompts)`` samples of the given lengths, problems in order. A
    sample that ends frees its stream for the next, which starts from the stream's prompt
    (prefilled before the clock starts); a problem's prompt tokens are decoded in the
    batches after its first sample starts, next to the samples (one problem's a batch), at
    the end of a stream of their own holding a prompt of the same length, as the engine
    computes a prompt's new part past its cached prefix. Once none wait, the highest live
    stream moves into each gap, as the engine does, since llama.cpp fuses only consecutive
    sequence ids. No sampling, no copies of prompts into the samples' streams, no Python
    beyond filling the batch: the workload's own cost, its tail at falling width and its
    prefill included."""
    per_problem = len(lengths) // len(prompts)
    with PlainLlama(width, prompt, scratch=True) as plain:
        ll, mem, scratch = plain.ll, plain.mem, width
        waiting = [(k // per_problem, n) for k, n in enumerate(lengths)][::-1]
        live: dict[int, list[int]] = {}  # stream -> [steps left, position]
        prefill: list[int] = []  # prompt tokens still to compute, a problem each
        prefilled = 0  # of prefill[0]
        started: set[int] = set()

        def start_sample(seq: int) -> None:
            problem, n = waiting.pop()
            if problem not in started:
                started.add(problem)
                prefill.append(prompts[problem])
            live[seq] = [n, prompt]

        for seq in range(width):
            if waiting:
                start_sample(seq)
        start = time.perf_counter()
        step = 0
        while live or prefill:
            entries = [(200 + (13 * step + s) % 1000, live[s][1], s) for s in sorted(live)]
            if prefill and len(entries) < 512:  # one problem's prompt tokens a batch
                chunk = min(prefill[0] - prefilled, 512 - len(entries))
                first = max(0, prompt - prefill[0]) + prefilled
                if not prefilled:
                    ll.llama_memory_seq_rm(mem, scratch, first, -1)
                entries += [(300 + p % 500, p, scratch) for p in range(first, first + chunk)]
                prefilled += chunk
                if prefilled == prefill[0]:
                    prefill.pop(0)
                    prefilled = 0
            plain.decode(entries)
            step += 1
            for seq in sorted(live):
                live[seq][0] -= 1
                live[seq][1] += 1
                if live[seq][0] > 0:
                    continue
                ll.llama_memory_seq_rm(mem, seq, prompt, -1)  # back to its prompt
                if waiting:
                    start_sample(seq)
                else:
                    del live[seq]
            while gaps := set(range(len(live))) - set(live):
                gap, top = min(gaps), max(live)  # top > gap: some id is past len(live)
                ll.llama_memory_seq_rm(mem, gap, -1, -1)
                ll.llama_memory_seq_cp(mem, top, gap, -1, -1)
                live[gap] = live.pop(top)
        return time.perf_counter() - start


def scaled(counts: list[int], total: int) -> list[int]:
    """``counts`` in proportion, summing to ``total`` (the eval, running problems side by side,
    serves more of its prompts from the prefix cache than the sequential side that counted
    them per problem)."""
    cumulative = [
        round(total * sum(counts[: k + 1]) / max(1, sum(counts))) for k in range(len(counts))
    ]
    return [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)]


def configure(args: argparse.Namespace) -> Any:
    """The model and backend options of ``add_model_arguments``'s ``args`` set for both sides,
    and the task they run (``products``, one-digit factors, seed ``SEED``): what this bench,
    ``profile_eval.py`` and ``replay_eval.py`` share."""
    global MODEL
    MODEL = args.model
    OPTIONS.update(backend_options(args.options))
    return make_task("products", {"max_digits": 1}, seed=SEED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--width", type=int, default=32, help="the engine's n_parallel")
    parser.add_argument(
        "--rounds", type=int, default=2, help="eval runs, each next to its ceilings"
    )
    add_model_arguments(parser)
    args = parser.parse_args()
    task = configure(args)
    problems = list(task.problems(args.problems))
    seq = asyncio.run(sequential(problems, task, args.width))
    prompt = sorted(seq.prompt_lengths)[len(problems) // 2]
    print(f"problems: {len(problems)} x {SETTING} (max_tokens 256), engine n_parallel {args.width}")
    print(
        f"sequential  : {seq.seconds:7.1f} s  accuracy {seq.accuracy:.3f}  completion tokens "
        f"{seq.tokens}  prompt tokens computed {seq.prompts}"
    )
    # the machine drifts by several percent over minutes: each eval run is measured next to
    # its ceilings (lockstep before and after it, the same work right after it)
    lockstep = [decode_ceiling(args.width, prompt)]
    runs = []
    for r in range(args.rounds):
        run = asyncio.run(concurrent(task, args.problems, args.concurrency, args.width))
        same = same_work_ceiling(run.lengths, scaled(seq.computed, run.prompts), args.width, prompt)
        lockstep.append(decode_ceiling(args.width, prompt))
        ceiling = (lockstep[-2] + lockstep[-1]) / 2
        runs.append((run, same, ceiling))
        print(
            f"round {r + 1}: ponder eval {run.seconds:5.1f} s (accuracy {run.accuracy:.3f}, "
            f"completion tokens {run.tokens}, prompt tokens computed {run.prompts}): "
            f"{run.decoding:.1f} s inside llama_decode, {run.seconds - run.decoding:.1f} s "
            f"({(run.seconds - run.decoding) / run.seconds:.1%}) the engine's own work and "
            f"waiting"
        )
        print(
            f"         plain llama.cpp, the same work: {same:5.1f} s; lockstep ceiling "
            f"{lockstep[-2]:.0f} before, {lockstep[-1]:.0f} after (tokens/s)"
        )
        print(
            f"         eval tokens/s / lockstep ceiling {run.tokens / run.seconds / ceiling:.3f}; "
            f"same work / eval {same / run.seconds:.3f}; same work's tokens/s / lockstep "
            f"ceiling {run.tokens / same / ceiling:.3f}"
        )

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2

    eval_s = median([run.seconds for run, _, _ in runs])
    print(
        f"median over {len(runs)} rounds: eval tokens/s / lockstep ceiling "
        f"{median([run.tokens / run.seconds / c for run, _, c in runs]):.3f} (target >= 0.95); "
        f"plain llama.cpp's same work / eval {median([s / run.seconds for run, s, _ in runs]):.3f}"
        f"; the same work's own tokens/s / lockstep ceiling "
        f"{median([run.tokens / s / c for run, s, c in runs]):.3f} (what the workload allows)"
    )
    print(f"ratio eval/sequential wall time: {eval_s / seq.seconds:.3f}")


if __name__ == "__main__":
    main()
