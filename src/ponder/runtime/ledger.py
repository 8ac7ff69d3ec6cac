"""What a run spends and may spend: the ledger (tokens and time by role) and the budget."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ponder.core.types import Usage
from ponder.errors import ConfigError


@dataclasses.dataclass
class RoleUsage:
    """What one role spent: calls, tokens, and the summed wall time of its calls."""

    calls: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    wall_seconds: float = 0.0

    def add(self, usage: Usage, seconds: float) -> None:
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.cached_prompt_tokens += usage.cached_prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.wall_seconds += seconds

    @property
    def usage(self) -> Usage:
        return Usage(
            self.prompt_tokens,
            self.cached_prompt_tokens,
            self.completion_tokens,
            self.reasoning_tokens,
        )


class Ledger:
    """Token and time accounting by role. Concurrent calls' wall times add up, so a role's
    ``wall_seconds`` is busy time; ``elapsed`` is the wall clock since the ledger began."""

    def __init__(self) -> None:
        self.roles: dict[str, RoleUsage] = {}
        #: completion tokens each cancelled sample had produced when it was cancelled
        self.cancelled: list[int] = []
        self._started = time.perf_counter()

    def record(self, role: str, usage: Usage, seconds: float) -> None:
        self.roles.setdefault(role, RoleUsage()).add(usage, seconds)

    def note_cancelled(self, tokens: int) -> None:
        """A sample was cancelled after producing ``tokens`` (already charged by its call)."""
        self.cancelled.append(tokens)

    def total(self) -> Usage:
        total = Usage()
        for role in self.roles.values():
            total = total + role.usage
        return total

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def as_dict(self) -> dict[str, Any]:
        total = self.total()
        return {
            **total.as_dict(),
            "wall_seconds": round(self.elapsed, 4),
            "samples_cancelled": len(self.cancelled),
            "cancelled_tokens": list(self.cancelled),
            "by_role": {
                name: {**dataclasses.asdict(r), "wall_seconds": round(r.wall_seconds, 4)}
                for name, r in sorted(self.roles.items())
            },
        }


@dataclasses.dataclass(frozen=True)
class Budget:
    """Limits on what one run may spend. ``None`` means no limit of that kind.

    ``total_tokens`` counts prompt and completion tokens (cached prompt tokens included, as
    APIs bill them); ``completion_tokens`` counts generated tokens only.
    """

    total_tokens: int | None = None
    completion_tokens: int | None = None
    #: the most tokens any one sample may generate (every call's ``max_tokens``), the most
    #: stop strings a call may give and the longest of them: limits on each call, however
    #: deep in a composition of strategies it is made (``ponder serve`` sets them)
    sample_tokens: int | None = None
    stop_strings: int | None = None
    stop_chars: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "total_tokens",
            "completion_tokens",
            "sample_tokens",
            "stop_strings",
            "stop_chars",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"budget {name} must be at least 1, got {value}")
