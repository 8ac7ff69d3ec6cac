"""A progress bar on a text stream: problems done, accuracy so far, tokens spent, time left.

On a terminal the line is redrawn in place; elsewhere (a log file, CI) a line is printed at
every tenth of the way and at least every 30 seconds.
"""

from __future__ import annotations

import time
from typing import Any, TextIO


class Progress:
    def __init__(self, total: int, *, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.correct = 0
        self.tokens = 0
        self.started = time.perf_counter()
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_print = self.started
        self._last_decile = 0
        if total:
            self._render(force=True)

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.correct += bool(record["correct"])
        usage = record["usage"]
        self.tokens += usage["prompt_tokens"] + usage["completion_tokens"]
        self._render()

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        accuracy = f"{self.correct / self.done:.3f}" if self.done else "-"
        if self.done and self.done < self.total:
            left = f"~{_clock(elapsed / self.done * (self.total - self.done))} left"
        elif self.done >= self.total:
            left = "done"
        else:
            left = "estimating"
        return (
            f"[eval] {self.done}/{self.total} problems | accuracy so far {accuracy} | "
            f"{self.tokens:,} tokens | {_clock(elapsed)} elapsed, {left}"
        )

    def _render(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self._tty:
            self.stream.write("\r\x1b[2K" + self.line())
            self.stream.flush()
            return
        decile = (10 * self.done) // max(self.total, 1)
        if force or decile > self._last_decile or now - self._last_print >= 30:
            self._last_decile = decile
            self._last_print = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._tty and self.total:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
