"""The extractor against real replies read by a person (``tests/data/answers/``).

The corpus: replies of three model families (SmolLM2-135M-Instruct, Gemma-3-270M,
Qwen2.5-Coder-0.5B-Instruct) to reasoning-gym tasks and short-text questions, collected by
``benchmarks/answers_corpus.py``, and replies written by hand in the way capable models
answer; ``label`` is the answer a careful reader takes from the reply, or null. Everything
was labelled first, then split by a seeded hash (``benchmarks/answers_split.py``) into a
development half, which the rules are written against, and a sealed test half, whose hash
was committed before any rule changed and whose disagreements are not read while writing
rules. A sealed half is measured once and then opened: round 1's (899 replies, sealed at
59b8dde) measured 93.6% with the rules of 194efed, round 2's (178 replies to eight other
tasks, sealed at 50358c3) 86.0% with the rules of df8c907; both are development data since.
The sealed half now is round 3's (169 of 303 replies to six new tasks and eight earlier ones
at a new seed, labelled before any were read by the rules). Replies are read
as the pipeline reads them (with their question, where the corpus recorded it): a reply cut
off at max_tokens abstains. Every disagreement of both halves is listed in the output.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from ponder.core.problem import AnswerSpec
from ponder.runtime.sampling import read
from ponder.scoring.answers import equivalent

CORPUS = Path(__file__).parent / "data" / "answers"
#: the sealed half's sha256, as committed before any rule was changed
SEALED_SHA256 = (CORPUS / "sealed.sha256").read_text().strip()
FAMILIES = ("SmolLM2", "gemma", "qwen", "hand-written")
#: issue 32's targets, not met: development 96.4%, sealed 87.0% (round 3, measured once with
#: the rules of 5138096; round 2's sealed half: 86.0%, round 1's: 93.6%);
#: FLOOR keeps the reading from getting worse while the targets stay open
#: (``benchmarks/results/answers/README.md`` says where it falls short)
TARGET = {"dev": 0.98, "sealed": 0.96}
FLOOR = {"dev": 0.963, "sealed": 0.869}


def _split() -> Any:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "answers_split.py"
    spec = importlib.util.spec_from_file_location("answers_split", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(half: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CORPUS / f"{half}.jsonl").read_text().splitlines()]


def family(entry: dict[str, Any]) -> str:
    return next(f for f in FAMILIES if entry["model"].lower().startswith(f.lower()))


def agree(got: str | None, label: str | None) -> bool:
    if got is None or label is None:
        return got is label
    return equivalent(got, label)


def measure(entries: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    disagreements = []
    for i, entry in enumerate(entries):
        got, _ = read(
            entry["reply"],
            entry["finish_reason"],
            AnswerSpec(entry["type"], question=entry.get("question", "")),
        )
        ok = agree(got, entry["label"])
        for key in (family(entry), "all"):
            counts[key][0] += ok
            counts[key][1] += 1
        if not ok:
            disagreements.append(
                f"  {i} {entry['model'][:14]} {entry['task']}: label {entry['label']!r}, "
                f"read {got!r}: {entry['reply'][-160:]!r}"
            )
    return {k: (v[0], v[1]) for k, v in counts.items()}, disagreements


def test_the_sealed_half_is_the_one_committed_and_the_split_is_the_hash() -> None:
    digest = hashlib.sha256((CORPUS / "sealed.jsonl").read_bytes()).hexdigest()
    assert digest == SEALED_SHA256
    half = _split().half
    for name in ("dev", "sealed"):
        assert all(half(entry) == name for entry in load(name))


def test_the_corpus_covers_three_families_and_hand_written_replies() -> None:
    entries = load("dev") + load("sealed")
    assert len(entries) >= 600
    by_family: dict[str, int] = defaultdict(int)
    for entry in entries:
        by_family[family(entry)] += 1
    assert by_family["hand-written"] >= 100
    assert all(by_family[f] >= 150 for f in FAMILIES[:3]), by_family


@pytest.mark.parametrize("half", ["dev", "sealed"])
def test_the_extractor_agrees_with_a_careful_reader(half: str) -> None:
    counts, disagreements = measure(load(half))
    lines = [f"{half}: {key} {ok}/{n} = {ok / n:.1%}" for key, (ok, n) in sorted(counts.items())]
    listed = "\n".join(lines + [f"{len(disagreements)} disagreements:"] + disagreements)
    print(listed)
    ok, n = counts["all"]
    print(f"{half}: target {TARGET[half]:.0%} {'met' if ok / n >= TARGET[half] else 'not met'}")
    assert ok / n >= FLOOR[half], listed
