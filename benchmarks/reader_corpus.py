"""The three readers (``reader=rules|model|hybrid``) against the labelled answer corpus.

    .venv/bin/python benchmarks/reader_corpus.py \
        --model SmolLM2-135M-Instruct.Q4_1.gguf=PATH \
        --model gemma-3-270m-q4_k_m.gguf=PATH::completion \
        --model qwen2.5-coder-0.5b-instruct-q4_k_m.gguf=PATH \
        --model hand-written=PATH   # the model that reads the hand-written replies
        --out readings.jsonl
    .venv/bin/python benchmarks/reader_corpus.py --readings readings.jsonl  # the table again
    .venv/bin/python benchmarks/reader_corpus.py --reader QWEN.gguf --out qwen-readings.jsonl

Each corpus entry (``tests/data/answers/{dev,sealed}.jsonl``) that records its question is
read three ways: by the rules alone, by the model that wrote it (``ponder.runtime.reader``:
the reply continued with "Therefore, the final answer (...) is" for 16 tokens at temperature
0), and by the hybrid (the rules' declared forms, the model elsewhere, the rules' fallback
where the model reads nothing). Agreement with the label is printed per half and family, with
the model's reading cost per entry (here the reply is prefilled anew: in a run the reading
continues the reply's cached tokens). Entries of the first corpus (collected without their
questions) have no model reading and are left out of the table. ``--out`` saves the model's
readings (keyed by a hash of each entry's model, task, question and reply, so they survive a
new split of the corpus); ``--readings`` prints the table from them without a model, the
rules read as they read now. ``--reader GGUF`` has one model read every entry
(``reader_model``: a stronger model reading the others' replies) instead of each its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ponder.backends.llamacpp import LlamaCppBackend
from ponder.core.problem import AnswerSpec, Candidate, Problem
from ponder.runtime import Context
from ponder.runtime.reader import read_with_model
from ponder.runtime.sampling import read_how
from ponder.scoring.answers import equivalent

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "answers"


def key(entry: dict[str, Any]) -> str:
    """A corpus entry's identity, whatever half or line it sits on."""
    said = f"{entry['model']}\0{entry['task']}\0{entry.get('question', '')}\0{entry['reply']}"
    return hashlib.sha256(said.encode()).hexdigest()[:16]


def agree(got: str | None, label: str | None) -> bool:
    if got is None or label is None:
        return got is label
    return equivalent(got, label)


async def read_family(path: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    gguf, _, template = path.partition("::")
    backend = LlamaCppBackend(gguf, chat_template=template or None, n_ctx=2048, n_parallel=8)
    ctx = Context(backend)
    out = []
    try:

        async def one(entry: dict[str, Any]) -> dict[str, Any]:
            spec = AnswerSpec(entry["type"], question=entry["question"])
            answer, why, how = read_how(entry["reply"], entry["finish_reason"], spec)
            candidate = Candidate(
                index=0,
                text=entry["reply"],
                answer=answer,
                completion_tokens=0,
                finish_reason=entry["finish_reason"],
                abstained=why,
                read_by=how,
            )
            problem = Problem(entry["question"], answer=spec)
            before = ctx.ledger.total()
            (model,) = await read_with_model(problem, ctx, [candidate], reader="model")
            spent = ctx.ledger.total()
            tokens = (
                spent.prompt_tokens
                - spent.cached_prompt_tokens
                + spent.completion_tokens
                - (before.prompt_tokens - before.cached_prompt_tokens + before.completion_tokens)
            )
            hybrid = (
                candidate
                if how in ("declared", "boxed")
                else (model if model.answer is not None else candidate)
            )
            return {
                **entry,
                "rules": answer,
                "model_read": model.answer,
                "hybrid": hybrid.answer,
                "read_tokens": tokens,
            }

        for entry in entries:  # one at a time: the ledger's difference is this entry's cost
            out.append(await one(entry))
    finally:
        await backend.aclose()
    return out


def table(rows: list[dict[str, Any]]) -> None:
    """Agreement of each reader with the labels, per half and family (the rules read now)."""
    print(
        f"{'half':7s} {'family':40s} {'n':>4s} {'rules':>7s} {'model':>7s} {'hybrid':>7s}"
        f" {'read tok':>8s}"
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        spec = AnswerSpec(r["type"], question=r["question"])
        rules, _, how = read_how(r["reply"], r["finish_reason"], spec)
        hybrid = (
            rules if how in ("declared", "boxed") or r["model_read"] is None else r["model_read"]
        )
        row = {**r, "rules": rules, "hybrid": hybrid}
        groups[(r["half"], r["model"])].append(row)
        groups[(r["half"], "all read by a model")].append(row)
    for (half, family), rs in sorted(groups.items()):
        share = {
            k: sum(agree(r[k], r["label"]) for r in rs) / len(rs)
            for k in ("rules", "model_read", "hybrid")
        }
        cost = sum(r["read_tokens"] for r in rs) / len(rs)
        print(
            f"{half:7s} {family:40s} {len(rs):4d} {share['rules']:7.1%} {share['model_read']:7.1%}"
            f" {share['hybrid']:7.1%} {cost:8.1f}"
        )


def corpus() -> list[dict[str, Any]]:
    return [
        {**json.loads(line), "half": name, "line": i}
        for name in ("dev", "sealed")
        for i, line in enumerate((CORPUS / f"{name}.jsonl").read_text().splitlines())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="CORPUS_MODEL=GGUF[::T]")
    parser.add_argument("--out", type=Path, help="save the model's readings here")
    parser.add_argument("--readings", type=Path, help="print the table from saved readings")
    parser.add_argument("--reader", help="one GGUF[::TEMPLATE] that reads every entry")
    parser.add_argument("--origin", help="only the entries of this collection (round3, ...)")
    args = parser.parse_args()
    entries = [e for e in corpus() if not args.origin or e.get("origin") == args.origin]
    if args.readings:
        saved = {r["key"]: r for r in map(json.loads, args.readings.read_text().splitlines())}
        rows = [{**e, **saved[key(e)]} for e in entries if key(e) in saved]
        table(rows)
        return
    paths = dict(m.split("=", 1) for m in args.model)
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        if entry.get("question") and (args.reader or entry["model"] in paths):
            by_model[args.reader or paths[entry["model"]]].append(entry)
    rows: list[dict[str, Any]] = []
    for path, chosen in by_model.items():
        rows += asyncio.run(read_family(path, chosen))
    if args.out:
        keep = ("model_read", "read_tokens")
        args.out.write_text(
            "".join(json.dumps({"key": key(r), **{k: r[k] for k in keep}}) + "\n" for r in rows)
        )
    table(rows)


if __name__ == "__main__":
    main()
