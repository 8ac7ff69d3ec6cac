"""How a sandbox run ended, read from what it left: the judge's verdicts (trusted), the
launcher's exit and the code's stderr (for the reason and the layer that stopped it). Used by
``ponder.scoring.sandbox``."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

from ponder.scoring.sandbox_types import Execution, Limits, Step

_BANNER = "#ponder-sandbox "


def _read(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return ""
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n[output truncated]" if len(data) > limit else "")


def _split_banner(stderr: str) -> tuple[tuple[str, ...], str]:
    first, _, rest = stderr.partition("\n")
    if first.startswith(_BANNER):
        try:
            return tuple(json.loads(first[len(_BANNER) :])), rest
        except json.JSONDecodeError:
            pass
    return (), stderr


def _execution(
    code: int | None,
    stdout: str,
    stderr: str,
    seconds: float,
    isolation: tuple[str, ...],
    verdicts: list[dict[str, Any]],
    steps: list[str],
    limits: Limits,
    *,
    timed_out: bool,
    memory_hits: int,
) -> Execution:
    """How the run ended, from the harness's verdicts (trusted: nonce-tagged) and the exit."""
    results = {
        int(v["step"]): Step(
            v.get("ok") is True, _text(v.get("error")) or None, _text(v.get("output"))
        )
        for v in verdicts
        if type(v.get("step")) is int and 0 <= v["step"] < len(steps)
    }
    ran = tuple(results[i] for i in sorted(results))
    completed = any(v.get("completed") is True for v in verdicts)
    status, reason, layer = _classify(code, stderr, timed_out, limits, memory_hits)
    failed = next((i for i, step in enumerate(ran) if not step.ok), None)
    if status == "failed" and failed is not None:  # a failed test, not the program
        status, reason, layer = "failed", f"test step {failed}: {ran[failed].error}", None
    elif status == "passed":
        if not completed:
            why = (
                f"test step {failed}: {ran[failed].error}"
                if failed is not None
                else "the program ended before it finished (os._exit, or its channel to the "
                "judge closed)"
            )
            status, reason, layer = (
                "failed",
                f"{why}: no verdict came"
                + (f"; {len(ran)} of {len(steps)} test step(s) ran" if steps else ""),
                "harness verdict",
            )
        elif failed is not None:
            status, reason, layer = "failed", f"test step {failed}: {ran[failed].error}", None
    return Execution(
        status=status,
        reason=reason,
        exit_code=None if timed_out else code,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        isolation=isolation,
        steps=ran,
        completed=completed,
        stopped_by=layer,
    )


#: errors the kernel layers raise, and the layer each stands for
_KERNEL_REFUSALS = (
    ("No space left on device", "scratch size (tmpfs)"),
    ("Read-only file system", "read-only mounts"),
    ("Network is unreachable", "network namespace"),
    ("Cannot assign requested address", "network namespace"),
    ("Permission denied", "unprivileged user (user namespace)"),
    ("Operation not permitted", "unprivileged user (user namespace)"),
    ("No such process", "PID namespace"),
)


def _classify(
    code: int | None, stderr: str, timed_out: bool, limits: Limits, memory_hits: int
) -> tuple[str, str, str | None]:
    """(status, reason, the layer that stopped the code) from the exit and stderr."""
    last = _last_line(stderr)
    if timed_out:
        return "timeout", f"wall-clock limit of {limits.wall_seconds:g} s reached", "wall clock"
    if memory_hits:
        mib = limits.memory_bytes >> 20
        return "memory", f"memory limit of {mib} MiB reached (all processes together)", "cgroup"
    if code == 0:
        return "passed", "", None
    refused = re.findall(r"(ponder sandbox: blocked .*)$", stderr, re.M)
    if refused:
        return "blocked", refused[-1], "audit hook"
    if "MemoryError" in stderr:
        mib = limits.memory_bytes >> 20
        return "memory", f"memory limit of {mib} MiB reached", "rlimit (address space)"
    if code is not None and code > 128:
        sig = code - 128
        if sig == signal.SIGXCPU:
            return "cpu", f"CPU limit of {limits.cpu_seconds} s reached", "rlimit (cpu)"
        if sig == signal.SIGXFSZ:
            size = limits.file_bytes >> 20
            return "failed", f"file size limit of {size} MiB reached", "rlimit (file size)"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        return "killed", f"killed by signal {name}", None
    if ("BlockingIOError" in stderr and "fork" in stderr.lower()) or "Resource temporarily" in last:
        return "blocked", f"process limit reached: {last}", "process limit"
    layer = next((layer for text, layer in _KERNEL_REFUSALS if text in last), None)
    return "failed", last or f"exit status {code}", layer


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""
