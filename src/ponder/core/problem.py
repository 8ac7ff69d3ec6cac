"""What a strategy works on and hands back: the problem, its candidates, the result.

These are plain values with no behaviour that needs a model, a scorer or a backend, so that
every layer (scoring, the runtime, strategies, tasks, the eval harness) can share them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ponder.core.types import Message, TokenLogprob, ToolCall, Usage
from ponder.errors import ConfigError

#: the name of the model a Context calls when a strategy names none
DEFAULT_MODEL = "default"

#: the kinds of answer a task may ask for (see ``ponder.scoring.extraction``)
AnswerType = Literal["number", "expression", "yes_no", "choice", "text", "code"]

#: the instruction each answer type asks for by default: a final line the reader looks for
INSTRUCTIONS: Mapping[str, str] = {
    "number": "End your reply with a final line of the form `Answer: <number>`.",
    "expression": "End your reply with a final line of the form `Answer: <your answer>`.",
    "yes_no": "End your reply with a final line of the form `Answer: Yes` or `Answer: No`.",
    "choice": "End your reply with a final line of the form `Answer: <letter>`.",
    "text": "End your reply with a final line of the form `Answer: <your answer>`.",
    "code": "",
}


@dataclasses.dataclass(frozen=True)
class AnswerSpec:
    """What kind of answer a problem asks for, and how the question asks for it."""

    type: AnswerType = "expression"
    #: appended to the question by the task (None: the type's default instruction)
    instruction: str | None = None
    #: code answers: calls of the function under test whose results tell candidates apart
    #: (votes group candidates that behave alike on them), the code that precedes a reply
    #: (the function's signature and imports) and the function's name
    examples: tuple[str, ...] = ()
    code_prompt: str = ""
    entry_point: str = ""
    #: the question the answer is to (set by ``Problem``): the reader skips sentences that
    #: restate it and finds the sentence that speaks of its subject
    question: str = dataclasses.field(default="", compare=False, repr=False)

    @property
    def prompt(self) -> str:
        """The instruction the question ends with ("" for none)."""
        return INSTRUCTIONS[self.type] if self.instruction is None else self.instruction


@dataclasses.dataclass(frozen=True)
class Problem:
    """A question to solve, with an optional system prompt, and the kind of answer it asks
    for (None: read generically). ``history`` holds a conversation's earlier turns (between
    the system prompt and the question), as a chat client sends them; judges and reward
    models read the question alone."""

    question: str
    system: str | None = None
    id: str | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    answer: AnswerSpec | None = None
    history: tuple[Message, ...] = ()
    #: turns after the question that the model answers next: its own tool calls and their
    #: results, in an agent's loop
    after: tuple[Message, ...] = ()

    def __post_init__(self) -> None:
        if self.answer is not None and not self.answer.question:
            # the reader reads a reply against its question (``AnswerSpec.question``)
            object.__setattr__(
                self, "answer", dataclasses.replace(self.answer, question=self.question)
            )

    def messages(self) -> list[Message]:
        return [*self.preamble(), Message("user", self.question), *self.after]

    def preamble(self) -> list[Message]:
        """What comes before the question: the system prompt and the earlier turns."""
        system = [Message("system", self.system)] if self.system else []
        return [*system, *self.history]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One sampled solution and the answer read from it."""

    index: int
    text: str
    answer: str | None
    completion_tokens: int
    finish_reason: str
    #: the name of the Context model that wrote it
    model: str = DEFAULT_MODEL
    #: per-token logprobs, when sampling asked for them (scorers such as ``confidence``
    #: read them); left out of ``as_dict`` to keep stored records small
    logprobs: tuple[TokenLogprob, ...] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    #: why no answer was read, when ``answer`` is None
    abstained: str | None = None
    #: the model's thought, apart from ``text`` (the reply: what answers, votes and judges
    #: read); None for a model that does not think apart
    reasoning: str | None = None
    #: "reasoning" when the reply gave no answer and it was read from the thought instead
    answer_source: Literal["content", "reasoning"] = "content"
    #: the functions the reply calls; its answer is then the calls, normalised
    tool_calls: tuple[ToolCall, ...] = ()
    #: which path read the answer: the rules' ``declared`` form, ``boxed``, their
    #: ``fallback`` reading of prose, or the ``model`` (``ponder.runtime.reader``); None when
    #: nothing was read
    read_by: str | None = None
    #: with ``reader=compare``: whether the rules' reading and the model's agree ("agree",
    #: "differ"); None when the two were not compared
    read_check: str | None = None
    #: the exact text the backend went on from, when it holds that text's KV (a search's node,
    #: continued by token ids): a check that continues it in its own context (``judge``'s
    #: ``context=own``) prefills only its question; None elsewhere. Not stored
    cached_text: str | None = dataclasses.field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        record = {
            "index": self.index,
            "text": self.text,
            "answer": self.answer,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "abstained": self.abstained,
        }
        if self.reasoning is not None:
            record["reasoning"] = self.reasoning
            record["answer_source"] = self.answer_source
        if self.read_by is not None:
            record["read_by"] = self.read_by
        if self.read_check is not None:
            record["read_check"] = self.read_check
        if self.tool_calls:
            record["tool_calls"] = [dataclasses.asdict(call) for call in self.tool_calls]
        return record


@dataclasses.dataclass(frozen=True)
class Result:
    """What a strategy returns: the answer, the candidates behind it, and what it cost."""

    strategy: str
    answer: str | None
    text: str
    candidates: tuple[Candidate, ...]
    usage: Usage
    ledger: dict[str, Any]
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    backend: dict[str, Any] = dataclasses.field(default_factory=dict)  # Backend.info()

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "answer": self.answer,
            "text": self.text,
            "candidates": [c.as_dict() for c in self.candidates],
            "usage": self.usage.as_dict(),
            "ledger": self.ledger,
            "details": self.details,
            **({"backend": self.backend} if self.backend else {}),
        }


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def validate_options(config: type[ConfigT], options: Mapping[str, Any], what: str) -> ConfigT:
    """``options`` validated as ``config``; a ConfigError naming each bad field and the
    fields ``what`` (a strategy, a task) has, if they are not valid."""
    try:
        return config.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        known = ", ".join(config.model_fields)
        raise ConfigError(f"invalid options for {what}: {problems} (its options: {known})") from exc
