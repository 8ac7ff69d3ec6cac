"""Collect real replies for the answer corpus (``tests/data/answers/``).

    .venv/bin/python benchmarks/answers_corpus.py MODEL.gguf [MODEL.gguf::TEMPLATE ...] --out F

(``::TEMPLATE`` names a chat template for a GGUF without one: chatml, gemma, llama3.)

For each model and task (reasoning-gym datasets whose answers are numbers or yes/no, and a
short-text set), a few problems are asked once greedily and twice at temperature 0.7, with
the tasks' own prompts; replies cut off at max_tokens are left out (they abstain by policy,
whatever they say) unless ``--keep-cut-off`` (a base model that never ends its turn). Each
line holds the model, task, answer type, question, reference and reply; a person then adds
``label``: the answer a careful reader takes from the reply, or null where it gives none.
``benchmarks/answers_split.py`` then splits the labelled lines into a development half and a
sealed test half; ``tests/test_extraction_corpus.py`` measures the extractor against them.

The corpus's second collection (``origin: new``; the first, ``v1``, is seed 7):

    python benchmarks/answers_corpus.py QWEN.gguf --per-task 8 --seed 8 --max-tokens 512 --out F
    python benchmarks/answers_corpus.py GEMMA.gguf::completion --per-task 8 --seed 8 \
        --stop '\n\n' --max-tokens 200 --out F     # a base model: plain text, one paragraph
    python benchmarks/answers_corpus.py SMOLLM2.gguf --per-task 4 --seed 8 --max-tokens 256 --out F

Round 3 (seed 10, ``--per-task 2 --no-capitals``, the same max_tokens and stops per model) asked
count_primes, simple_geometry, coin_flip, decimal_chain_sum, ransom_note, zebra_puzzles, gcd,
aiw, gsm_symbolic, syllogism, letter_counting, family_relationships, fraction_simplification
and lcm (one ``--task`` each). ransom_note's problems follow Python's string-hash order, so
they are reproducible only with PYTHONHASHSEED fixed, which that collection did not do (ponder
now refuses the dataset without it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.core.problem import AnswerSpec, Problem
from ponder.runtime import Context
from ponder.tasks import make_task

TASKS = (
    ("syllogism", {}),
    ("letter_counting", {}),
    ("gcd", {}),
    ("simple_equations", {}),
    ("aiw", {}),
    ("gsm_symbolic", {}),
    ("products", {"max_digits": 2}),
)
CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
)


def problems(
    per_task: int, seed: int = 7, tasks: tuple[str, ...] = (), capitals: bool = True
) -> list[tuple[str, Problem]]:
    found = []
    for name, args in [(t, {}) for t in tasks] or TASKS:
        # the dataset seed as given (not a run seed, which is strided): the corpus's seeds
        task = make_task(name, {**args, "seed": seed})
        found += [(name, p) for p in task.problems(per_task)]
    if not capitals:
        return found
    text = AnswerSpec("text")
    for country, capital in CAPITALS:
        question = f"What is the capital of {country}?"
        found.append(("capitals", Problem(question, metadata={"reference": capital}, answer=text)))
    return found


async def collect(
    spec: str,
    per_task: int,
    max_tokens: int,
    keep_cut_off: bool,
    seed: int = 7,
    stop: tuple[str, ...] = (),
    tasks: tuple[str, ...] = (),
    capitals: bool = True,
) -> list[dict[str, object]]:
    model, _, template = spec.partition("::")
    backend = LlamaCppBackend(
        model, chat_template=template or None, n_ctx=1024, n_parallel=16, n_prompt_slots=4
    )
    ctx = Context(backend)
    lines: list[dict[str, object]] = []

    async def ask(name: str, problem: Problem) -> None:
        extra = {"stop": stop} if stop else {}
        greedy = ctx.sample(
            problem.messages(), n=1, temperature=0.0, max_tokens=max_tokens, **extra
        )
        sampled = ctx.sample(
            problem.messages(), n=2, temperature=0.7, max_tokens=max_tokens, seed=11, **extra
        )
        for result in await asyncio.gather(greedy, sampled):
            for completion in result.completions:
                if completion.finish_reason != "stop" and not keep_cut_off:
                    continue
                lines.append(
                    {
                        "model": Path(model).name,
                        "task": name,
                        "type": problem.answer.type if problem.answer else "expression",
                        "question": problem.question,
                        "reference": problem.metadata.get("reference"),
                        "reply": completion.text,
                        "finish_reason": completion.finish_reason,
                    }
                )

    try:
        await asyncio.gather(
            *(ask(name, p) for name, p in problems(per_task, seed, tasks, capitals))
        )
    finally:
        await backend.aclose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-task", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument(
        "--keep-cut-off", action="store_true", help="keep replies cut at max_tokens (base models)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the tasks' seed (7: the first corpus)")
    parser.add_argument(
        "--stop",
        action="append",
        default=[],
        help="a stop sequence (repeatable): a base model's turn ends there",
    )
    parser.add_argument(
        "--task", action="append", default=[], help="a task instead of the default set"
    )
    parser.add_argument("--no-capitals", action="store_true", help="leave out the capitals")
    args = parser.parse_args()
    with open(args.out, "a") as f:
        for model in args.models:
            lines = asyncio.run(
                collect(
                    model,
                    args.per_task,
                    args.max_tokens,
                    args.keep_cut_off,
                    args.seed,
                    tuple(s.encode().decode("unicode_escape") for s in args.stop),
                    tuple(args.task),
                    not args.no_capitals,
                )
            )
            for line in lines:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
