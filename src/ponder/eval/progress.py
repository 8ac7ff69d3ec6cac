"""The eval progress bar (rich): problems done, accuracy so far, tokens spent, time left.

On a terminal, rich draws a live bar. Elsewhere (a log file, CI) a plain line is printed at
every tenth of the way and at least every 30 seconds, so logs stay readable.
"""

from __future__ import annotations

import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from ponder.eval.records import ProblemRecord


class Progress:
    """Problems done of ``total``; silent when ``stream`` is None."""

    def __init__(self, total: int, *, stream: TextIO | None) -> None:
        self.total = total
        self.done = 0
        self.correct = 0
        self.tokens = 0
        self.started = time.perf_counter()
        self._console = Console(file=stream, highlight=False) if stream else None
        self._last_print = self.started
        self._last_decile = 0
        self._bar: RichProgress | None = None
        if not total or self._console is None:
            return
        if self._console.is_terminal:
            self._bar = RichProgress(
                TextColumn("[eval]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("problems | accuracy so far {task.fields[accuracy]}"),
                TextColumn("| {task.fields[tokens]} tokens |"),
                TimeElapsedColumn(),
                TextColumn("elapsed,"),
                TimeRemainingColumn(),
                TextColumn("left"),
                console=self._console,
                transient=False,
            )
            self._task = self._bar.add_task("eval", total=total, accuracy="-", tokens="0")
            self._bar.start()
        else:
            self._print()

    def skip(self) -> None:
        """A problem another run took: one fewer to wait for."""
        self.total -= 1
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    def update(self, record: ProblemRecord) -> None:
        self.done += 1
        self.correct += record.correct
        self.tokens += record.tokens
        if self._console is None:
            return
        if self._bar is not None:
            self._bar.update(
                self._task, advance=1, accuracy=self._accuracy(), tokens=f"{self.tokens:,}"
            )
            return
        now = time.perf_counter()
        decile = (10 * self.done) // max(self.total, 1)
        if decile > self._last_decile or now - self._last_print >= 30:
            self._last_decile = decile
            self._print()

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        if self.done and self.done < self.total:
            left = f"~{_clock(elapsed / self.done * (self.total - self.done))} left"
        elif self.done >= self.total:
            left = "done"
        else:
            left = "estimating"
        return (
            f"[eval] {self.done}/{self.total} problems | accuracy so far {self._accuracy()} | "
            f"{self.tokens:,} tokens | {_clock(elapsed)} elapsed, {left}"
        )

    def _accuracy(self) -> str:
        return f"{self.correct / self.done:.3f}" if self.done else "-"

    def _print(self) -> None:
        self._last_print = time.perf_counter()
        if self._console is not None:
            self._console.print(self.line(), markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
