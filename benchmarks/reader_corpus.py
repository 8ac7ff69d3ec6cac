"""The three readers (``reader=rules|model|hybrid``) against the labelled answer corpus.

    .venv/bin/python benchmarks/reader_corpus.py \
        --model SmolLM2-135M-Instruct.Q4_1.gguf=PATH \
        --model gemma-3-270m-q4_k_m.gguf=PATH::completion \
        --model qwen2.5-coder-0.5b-instruct-q4_k_m.gguf=PATH \
        --model hand-written=PATH   # the model that reads the hand-written replies

Each corpus entry (``tests/data/answers/{dev,sealed}.jsonl``) that records its question is
read three ways: by the rules alone, by the model that wrote it (``ponder.runtime.reader``:
the reply continued with "Therefore, the final answer (...) is" for 16 tokens at temperature
0), and by the hybrid (the rules' declared forms, the model elsewhere, the rules' fallback
where the model reads nothing). Agreement with the label is printed per half and family, with
the model's reading cost per entry. Entries of the first corpus (collected without their
questions) are read by the rules only and counted apart.
"""

from __future__ import annotations

import argparse
import asyncio
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
            spec = AnswerSpec(entry["type"])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="CORPUS_MODEL=GGUF[::T]")
    parser.add_argument("--out", type=Path, help="write every entry's three readings here")
    args = parser.parse_args()
    paths = dict(m.split("=", 1) for m in args.model)
    rows: list[dict[str, Any]] = []
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in ("dev", "sealed"):
        for line in (CORPUS / f"{name}.jsonl").read_text().splitlines():
            entry = {**json.loads(line), "half": name}
            if entry.get("question") and entry["model"] in paths:
                by_model[entry["model"]].append(entry)
            else:
                answer, _, _ = read_how(
                    entry["reply"], entry["finish_reason"], AnswerSpec(entry["type"])
                )
                rows.append({**entry, "rules": answer, "model_read": None, "hybrid": None})
    for model, entries in by_model.items():
        rows += asyncio.run(read_family(paths[model], entries))
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(
        f"{'half':7s} {'family':40s} {'n':>4s} {'rules':>7s} {'model':>7s} {'hybrid':>7s}"
        f" {'read tok':>8s}"
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if "read_tokens" in r:
            groups[(r["half"], r["model"])].append(r)
            groups[(r["half"], "all read by a model")].append(r)
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


if __name__ == "__main__":
    main()
