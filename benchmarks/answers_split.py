"""Split the labelled answer corpus into a development half and a sealed test half.

    .venv/bin/python benchmarks/answers_split.py LABELLED.jsonl [...]

Every line of the given files (labelled already: ``label`` is the answer a careful reader
takes, or null) goes to ``tests/data/answers/dev.jsonl`` or ``sealed.jsonl`` by a seeded hash
of its model, task and reply (``half``), so the split depends on nothing a rule writer
chooses; ``sealed.sha256`` records the sealed half's hash, committed before any rule is
changed, and ``tests/test_extraction_corpus.py`` checks it. Rules are written against the
development half only; the sealed half's disagreements are not read while writing them.

Rounds: a sealed half is measured once, then opened. Round 1 (the first 899 replies, seed
``SEED``) was sealed at 59b8dde and measured once with the rules of 194efed (93.6%); its
entries carry ``round1_half`` and are all development data since. Round 2 (``origin:
round2``: replies to eight other tasks, split by ``SEED2``) was sealed at 50358c3 and
measured once with the rules of df8c907 (86.0%); its entries carry ``round2_half`` and are
development data since. Round 3 (``origin: round3``: replies to six new tasks and eight
earlier ones at a new seed) is split by ``SEED3``; its sealed half is the test's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tests" / "data" / "answers"
SEED = "ponder-answers-2026-12-07"
SEED2 = "ponder-answers-2026-12-07-round2"
SEED3 = "ponder-answers-2026-12-07-round3"


def seeded_half(entry: dict[str, object], seed: str) -> str:
    """``dev`` or ``sealed`` by a seeded hash of the entry's model, task and reply."""
    key = f"{seed}\0{entry['model']}\0{entry['task']}\0{entry['reply']}".encode()
    return "sealed" if hashlib.sha256(key).digest()[0] % 2 else "dev"


def half(entry: dict[str, object]) -> str:
    """``dev`` or ``sealed``: round-3 entries by their seeded hash; rounds 1 and 2 are
    development data (each sealed half was measured once, then opened)."""
    if entry.get("origin") != "round3":
        return "dev"
    return seeded_half(entry, SEED3)


def round1_half(entry: dict[str, object]) -> str:
    """The half a round-1 entry had while round 1 was sealed."""
    return seeded_half(entry, SEED)


def round2_half(entry: dict[str, object]) -> str:
    """The half a round-2 entry had while round 2 was sealed."""
    return seeded_half(entry, SEED2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args()
    halves: dict[str, list[str]] = {"dev": [], "sealed": []}
    for path in args.files:
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("origin") == "round2":
                entry["round2_half"] = round2_half(entry)
            elif entry.get("origin") != "round3":
                entry["round1_half"] = round1_half(entry)
            if "label" not in entry:
                raise SystemExit(f"{path}: an entry without a label: {line[:80]}")
            halves[half(entry)].append(json.dumps(entry, ensure_ascii=False) + "\n")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, lines in halves.items():
        (args.out / f"{name}.jsonl").write_text("".join(lines))
    digest = hashlib.sha256((args.out / "sealed.jsonl").read_bytes()).hexdigest()
    (args.out / "sealed.sha256").write_text(digest + "\n")
    print({name: len(lines) for name, lines in halves.items()}, "sealed sha256", digest)


if __name__ == "__main__":
    main()
