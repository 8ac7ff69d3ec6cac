"""What a thought looks like in a model's output, and telling thought from reply.

Reasoning models (DeepSeek-R1, Qwen3, QwQ) write their thinking between ``<think>`` and
``</think>``, then the reply. Some chat templates open the thought themselves (the generation
prompt ends with ``<think>``), so the output holds only its end. ``split_thought`` reads both;
a server that returns ``reasoning_content`` apart needs no splitting at all.
"""

from __future__ import annotations

import dataclasses

from ponder.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ThinkingFormat:
    """The delimiters of a thought."""

    open: str = "<think>"
    close: str = "</think>"

    def __post_init__(self) -> None:
        if not self.open or not self.close or self.open == self.close:
            raise ConfigError(
                f"thinking delimiters must be two different non-empty strings, got "
                f"{self.open!r} and {self.close!r}"
            )


DEFAULT_THINKING = ThinkingFormat()


@dataclasses.dataclass(frozen=True)
class Thought:
    """A reply split in two: the thought (None when there was none) and the reply."""

    reasoning: str | None
    content: str
    #: how the split went: "delimited", "unclosed" (the thought never closed: all of it is
    #: thought, no reply), "none" (no delimiter: the whole output is the reply)
    how: str


def split_thought(text: str, fmt: ThinkingFormat = DEFAULT_THINKING) -> Thought:
    """The thought and the reply in ``text``. The opening delimiter may be missing (a template
    opened the thought); without either delimiter the whole output is the reply."""
    start = text.find(fmt.open)
    end = text.find(fmt.close, start + len(fmt.open) if start >= 0 else 0)
    if end >= 0 and (start < 0 or start < end):
        begin = start + len(fmt.open) if start >= 0 else 0
        return Thought(text[begin:end].strip(), text[end + len(fmt.close) :].strip(), "delimited")
    if start >= 0:
        return Thought(text[start + len(fmt.open) :].strip(), text[:start].strip(), "unclosed")
    return Thought(None, text, "none")
