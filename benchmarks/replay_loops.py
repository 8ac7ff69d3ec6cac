"""Replay a loop rule over stored self-consistency runs: what it would have cut, and the vote.

    .venv/bin/python benchmarks/replay_loops.py STORE_DIR [STORE_DIR ...] [--repeats 4 6 8]
        [--show 5]

For every stored ``self_consistency`` problem at ``n=8`` with the loop stop off, each
candidate's reply is tokenised with the embedded model's vocabulary and read token by token
as the engine checks it (every 4 tokens): where the template rule (``ponder.backends.loops.
template_loops``, number runs as one placeholder) fires at ``--repeats`` repeats, the
candidate would have ended there with ``finish_reason="repetition"`` and abstained. The vote
is re-run over the candidates' answers (the stored problem's scorer is the same: the group's
answer against the reference, via the stored per-candidate ``correct``). Prints, per task and
rule: candidates cut and how many of those had ended on their own (with an answer, and with a
right one), completion tokens before and after, and SC@8 accuracy before and after.

A replay, not a rerun: a sample cut early also changes what shares its batch, and tokenising
a reply's text may not give back the exact token ids. ``benchmarks/results/loops/`` reruns
the chosen rule for real.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from ponder.backends.loops import template_loops
from ponder.eval.records import ProblemRecord
from ponder.eval.store import Store
from ponder.scoring.answers import majority_vote


def number_tokens(llm: object) -> set[int]:
    vocab = llm.n_vocab()  # type: ignore[attr-defined]
    found = set()
    for token in range(vocab):
        text = llm.detokenize([token]).decode("utf-8", "replace").strip()  # type: ignore[attr-defined]
        if text and text.isdigit():
            found.add(token)
    return found


def fires(tokens: list[int], repeats: int, numbers: set[int]) -> int | None:
    """The token count at which the engine would end the sample, or None."""
    for n in range(4, len(tokens) + 1, 4):
        if template_loops(tokens[:n], repeats, numbers.__contains__) is not None:
            return n
    return None


def sc_records(store_dir: Path) -> tuple[list[tuple[str, ProblemRecord]], set[float]]:
    """Every stored ``self_consistency`` n=8 problem with both loop stops off, with its task;
    and the temperatures they ran at."""
    rows: list[tuple[str, ProblemRecord]] = []
    temperatures = set()
    with Store(store_dir) as store:
        for task, strategy, model, seed in sorted(store.settings()):
            name, _, raw = strategy.partition(":")
            options = json.loads(raw or "{}")
            if name != "self_consistency" or options.get("n") != 8:
                continue
            if options.get("loop_repeats") or options.get("loop_template"):
                continue
            temperatures.add(options["temperature"])
            rows += [(task, r) for r in store.records(task, strategy, model, seed).values()]
    return rows, temperatures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, nargs="+", default=[4, 6, 8])
    parser.add_argument("--show", type=int, default=3, help="cut replies that had ended, shown")
    args = parser.parse_args()
    from llama_cpp import Llama

    from ponder.backends.llamacpp import default_model_path

    llm = Llama(str(default_model_path()), vocab_only=True, verbose=False)
    numbers = number_tokens(llm)
    for store in args.stores:
        rows, temperatures = sc_records(store)
        print(f"\n{store} ({len(rows)} problems, SC n=8, temperature {sorted(temperatures)})")
        tokenised = {
            (i, c.index): llm.tokenize(c.text.encode(), add_bos=False, special=False)
            for i, (_, record) in enumerate(rows)
            for c in record.candidates
        }
        for repeats in args.repeats:
            stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            shown = 0
            for i, (task, record) in enumerate(rows):
                s = stats[task]
                answers, stored, correct = [], [], {}
                for c in record.candidates:
                    tokens = tokenised[(i, c.index)]
                    stored.append(None if c.abstained else c.answer)
                    cut = fires(tokens, repeats, numbers)
                    s["tokens before"] += c.completion_tokens
                    s["candidates"] += 1
                    if cut is None or cut >= c.completion_tokens:
                        s["tokens after"] += c.completion_tokens
                        answers.append(stored[-1])
                    else:
                        s["tokens after"] += cut
                        s["cut"] += 1
                        answers.append(None)
                        if c.finish_reason == "stop":
                            s["cut that had ended"] += 1
                            s["cut that had an answer"] += not c.abstained
                            s["cut that had a right answer"] += c.correct
                            if shown < args.show:
                                shown += 1
                                print(
                                    f"  --- cut at {cut} of {c.completion_tokens} tokens "
                                    f"(answer {c.answer!r}, correct {c.correct}):"
                                )
                                print("  " + c.text[:300].replace("\n", "\n  "))
                    if c.answer is not None:
                        correct[c.answer] = c.correct
                s["problems"] += 1
                for key, pool in (("accuracy before", stored), ("accuracy after", answers)):
                    vote = majority_vote(pool)
                    top = vote.groups[0].answer if vote.groups else None
                    s[key] += bool(top is not None and correct.get(top, False))
            print(f" template rule, {repeats} repeats:")
            for task, s in sorted(stats.items()):
                p = s["problems"]
                cut = {k: int(s[k]) for k in s if k.startswith("cut")}
                print(
                    f"  {task.split(':')[0]:17s} cut {cut.get('cut', 0):3d}/{int(s['candidates'])} "
                    f"(had ended {cut.get('cut that had ended', 0)}, with an answer "
                    f"{cut.get('cut that had an answer', 0)}, "
                    f"right {cut.get('cut that had a right answer', 0)}); "
                    f"tokens/problem {s['tokens before'] / p:6.1f} -> "
                    f"{s['tokens after'] / p:6.1f}; "
                    f"SC@8 {s['accuracy before'] / p:.3f} -> {s['accuracy after'] / p:.3f}"
                )


if __name__ == "__main__":
    main()
