"""Questions from a JSONL file the user supplies.

One JSON object per line: ``question`` (text) and ``answer`` (text or number) are required;
``id`` (text or number; default: the line number) and ``metadata`` (an object) are optional.
Blank lines are skipped; any other line that is not such an object is an error naming its
line number, and the whole file is refused, so that nothing is skipped silently. Ids must be
unique.

A reply is correct when its extracted answer is equivalent to the reference
(``ponder.scoring.answers.equivalent``: ``math-verify`` for mathematical answers, normalised exact
match otherwise).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.core.problem import Problem
from ponder.errors import ConfigError
from ponder.scoring.answers import equivalent
from ponder.tasks.base import Score, Task, TaskConfig, ask, declared_answer

_MAX_LISTED = 10


class JsonlConfig(TaskConfig):
    path: str


class JsonlTask(Task):
    name = "jsonl"
    Config = JsonlConfig

    def __init__(self, **args: Any) -> None:
        super().__init__(**args)
        assert isinstance(self.config, JsonlConfig)
        self.path = Path(self.config.path).expanduser()
        read = _read(self.path, self.config.system)
        references = [str(p.metadata["reference"]) for p in read]
        self.spec = declared_answer(self.config.answer_type, self.config.instruction, references)
        self._problems = [
            dataclasses.replace(p, question=ask(p.question, self.spec), answer=self.spec)
            for p in read
        ]

    @property
    def args(self) -> dict[str, Any]:
        # the file's identity is its resolved path (its content may change: say so in ids)
        return {
            **super().args,
            "path": str(self.path.resolve()),
            "answer_type": self.spec.type,
            "instruction": self.spec.prompt,
        }

    @property
    def label(self) -> str:
        return self.path.stem

    @classmethod
    def claims(cls, spec: str) -> bool:
        """A ``.jsonl`` name, or any file that exists (whatever its name)."""
        return spec.endswith(".jsonl") or Path(spec).expanduser().is_file()

    @classmethod
    def from_spec(cls, spec: str, **args: Any) -> Task:
        return cls(path=spec, **args)

    def problems(self, limit: int | None = None) -> Sequence[Problem]:
        return self._problems[:limit]

    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        if answer is None:
            return Score(0.0, False, "no answer found in the reply")
        correct = equivalent(answer, problem.metadata["reference"])
        return Score(float(correct), correct)


def _read(path: Path, system: str | None) -> list[Problem]:
    if not path.is_file():
        raise ConfigError(f"JSONL task file {str(path)!r} does not exist or is not a file")
    errors: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"JSONL task file {str(path)!r} is not UTF-8: byte {exc.start} (line {where}) is "
            f"{raw[exc.start : exc.start + 1]!r}; re-encode it as UTF-8 (e.g. `iconv -f latin1 "
            "-t utf-8`)"
        ) from exc
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        if not line.strip():
            continue
        try:
            problem = _parse(line, number, system)
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        assert problem.id is not None
        if problem.id in seen:
            errors.append(
                f"line {number}: id {problem.id!r} already used on line {seen[problem.id]}"
            )
            continue
        seen[problem.id] = number
        problems.append(problem)
    if errors:
        listed = "; ".join(errors[:_MAX_LISTED])
        more = f" (and {len(errors) - _MAX_LISTED} more)" if len(errors) > _MAX_LISTED else ""
        raise ConfigError(
            f"{path}: {len(errors)} invalid line(s), nothing was loaded: {listed}{more}. Each "
            'line must be an object like {"question": "...", "answer": "..."}'
        )
    if not problems:
        raise ConfigError(f"{path} holds no problems")
    return problems


def _parse(line: str, number: int, system: str | None) -> Problem:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('"question" must be a non-empty string')
    answer = record.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        raise ValueError('"answer" must be a string or a number')
    raw_id = record.get("id", number)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise ValueError('"id" must be a string or an integer')
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError('"metadata" must be an object')
    unknown = sorted(set(record) - {"question", "answer", "id", "metadata"})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; put extras under metadata")
    return Problem(
        question,
        system=system,
        id=str(raw_id),
        metadata={**metadata, "reference": str(answer)},
    )
