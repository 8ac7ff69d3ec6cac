"""What a sandbox run may use (``Limits``) and how it ended (``Execution``, ``Step``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one run may use. ``memory_bytes`` caps the whole process tree where cgroups are
    available (and each process's address space always); ``processes`` likewise."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 16
    output_bytes: int = 64 << 10
    #: the scratch directory's size (a tmpfs, where mount namespaces are available)
    scratch_bytes: int = 64 << 20

    @classmethod
    def for_tests(cls, timeout: float, memory_mb: int) -> Limits:
        """The limits of a test run given as a task's or scorer's options: ``timeout``
        seconds of wall clock (and as many of CPU), ``memory_mb`` of memory."""
        return cls(
            wall_seconds=timeout, cpu_seconds=max(1, int(timeout)), memory_bytes=memory_mb << 20
        )


@dataclasses.dataclass(frozen=True)
class Step:
    """One test step run after the program: whether it passed, and its error if not."""

    ok: bool
    error: str | None = None
    #: what the step printed (the judge's side: the code's own prints go to stdout)
    output: str = ""


@dataclasses.dataclass(frozen=True)
class Execution:
    """How a run ended.

    ``status`` is one of ``passed`` (the program, and every step, ran to the end: the harness
    said so on a channel the code cannot write to), ``failed`` (an exception, a failed step,
    a non-zero exit, or an exit before the end), ``blocked`` (the sandbox refused an
    operation), ``timeout`` (wall clock), ``cpu`` (CPU limit), ``memory`` (memory limit) or
    ``killed`` (another signal). ``stopped_by`` names the layer that stopped the code, where
    one did; ``steps`` holds the verdict of each step that ran, in order.
    """

    status: str
    reason: str | None
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    isolation: tuple[str, ...]
    steps: tuple[Step, ...] = ()
    completed: bool = False
    stopped_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "passed"
