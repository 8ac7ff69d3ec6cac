"""The typed contract of the eval pipeline: what the runner writes for one solved problem,
what the store keeps (as JSON) and what the progress bar and the report read back.

Stores written by this version hold exactly these fields. A record that does not validate
(written by another version of ponder) is a clear error that says to evaluate into a new
``--out``; nothing is guessed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsageRecord(Record):
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0


class CandidateRecord(Record):
    """One candidate, scored by the task on its own."""

    index: int
    text: str
    answer: str | None
    completion_tokens: int
    finish_reason: str
    model: str = "default"
    #: why no answer was read, when none was
    abstained: str | None = None
    #: the model's thought, kept apart from ``text`` (reasoning models)
    reasoning: str | None = None
    #: "reasoning" when the answer was read from the thought (the reply gave none)
    answer_source: str = "content"
    #: which path read the answer (``declared``, ``boxed``, ``fallback``, ``model``); None
    #: when nothing was read, and in stores written before readers were recorded
    read_by: str | None = None
    #: with ``reader=compare``: whether the rules' and the model's readings agreed
    read_check: str | None = None
    score: float
    correct: bool
    reason: str | None = None


class GroupRecord(Record):
    """One answer's vote group: its members (candidate indices), their mean score, and the
    share of them that are correct (stores of earlier versions hold only the first member's
    score: ``correct`` is then None)."""

    answer: str | None
    members: list[int]
    score: float
    correct: float | None = None

    @property
    def right(self) -> float:
        """The chance that the group's answer, when it wins, is scored correct."""
        return self.correct if self.correct is not None else float(self.score >= 1.0)


class ProblemRecord(Record):
    """One solved problem: the final answer scored, every candidate, usage and time."""

    problem: str | None
    question: str
    reference: Any = None
    answer: str | None
    text: str
    score: float
    correct: bool
    reason: str | None = None
    candidates: list[CandidateRecord]
    groups: list[GroupRecord]
    abstained: int
    usage: UsageRecord
    calls: int
    #: the problem's latency; and when it started and finished (seconds since the epoch;
    #: None in stores of earlier versions)
    wall_seconds: float
    started: float | None = None
    finished: float | None = None
    flops: float | None = None
    ledger: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.usage.prompt_tokens + self.usage.completion_tokens

    @property
    def computed_tokens(self) -> int:
        """Tokens the model computed: prompt tokens not served from a cache, and completion."""
        usage = self.usage
        return usage.prompt_tokens - usage.cached_prompt_tokens + usage.completion_tokens
