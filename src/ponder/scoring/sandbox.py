"""Run model-written code without trusting it.

::

    from ponder.scoring.sandbox import Limits, run_code

    execution = run_code("print(sum(range(10)))", limits=Limits(wall_seconds=5))
    execution.ok, execution.status, execution.stdout  # (True, 'passed', '45\\n')

Each run gets a fresh scratch directory (its only writable place, deleted afterwards), a clean
environment (none of the caller's variables), a wall-clock limit enforced from outside, and the
layers listed in ``ponder.scoring._sandbox_child``: network, PID and mount namespaces, a
read-only view of the file system, no capabilities, resource limits (CPU, memory, file size,
processes) and a Python audit hook. ``Execution.isolation`` says which layers held on this machine.

Whatever the code does (loop forever, fork without end, allocate without end, delete files,
open sockets) ends as an ``Execution`` whose ``status`` and ``reason`` say what happened; the
call never hangs and never raises for the code's misbehaviour.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = Path(__file__).with_name("_sandbox_child.py")
_BANNER = "#ponder-sandbox "


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one run may use. Memory is address space (``RLIMIT_AS``)."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 16
    output_bytes: int = 64 << 10


@dataclasses.dataclass(frozen=True)
class Execution:
    """How a run ended.

    ``status`` is one of ``passed`` (exit 0), ``failed`` (an exception or a non-zero exit),
    ``blocked`` (the sandbox refused an operation), ``timeout`` (wall clock), ``cpu`` (CPU
    limit), ``memory`` (memory limit) or ``killed`` (another signal).
    """

    status: str
    reason: str | None
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    isolation: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def run_code(
    code: str, *, limits: Limits | None = None, isolate: bool = True, guard: bool = True
) -> Execution:
    """Run ``code`` as a Python program in the sandbox and report how it ended.

    ``isolate=False`` skips the namespaces and the read-only view (for machines where they
    are unavailable); ``guard=False`` skips the audit hook (tests use it to check that the
    kernel layers hold on their own).
    """
    limits = limits or Limits()
    scratch = Path(tempfile.mkdtemp(prefix="ponder-sandbox-")).resolve()
    try:
        return _run(code, scratch, limits, isolate=isolate, guard=guard)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(code: str, scratch: Path, limits: Limits, *, isolate: bool, guard: bool) -> Execution:
    program = scratch / "solution.py"
    program.write_text(code, encoding="utf-8")
    config = {
        "scratch": str(scratch),
        "code": str(program),
        "isolate": isolate,
        "guard": guard,
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "processes": limits.processes,
        },
    }
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(scratch)}
    env["TMPDIR"] = str(scratch)
    out_path, err_path = scratch / ".stdout", scratch / ".stderr"
    start = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-I", str(_CHILD), json.dumps(config)],
            cwd=scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        timed_out = False
        try:
            process.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # the launcher's death takes its PID namespace with it (PR_SET_PDEATHSIG)
            _kill_group(process.pid)
            process.wait()
            _wait_gone(scratch / ".ponder-init-pid")
    seconds = time.perf_counter() - start
    stdout = _read(out_path, limits.output_bytes)
    stderr = _read(err_path, limits.output_bytes)
    isolation, stderr = _split_banner(stderr)
    status, reason = _classify(process.returncode, stderr, timed_out, limits)
    return Execution(
        status=status,
        reason=reason,
        exit_code=None if timed_out else process.returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        isolation=isolation,
    )


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _wait_gone(pid_file: Path, patience: float = 10.0) -> None:
    """Wait until the namespace's init has exited (and with it every process it held)."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return  # the launcher never started a namespace init
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return  # exited; only its reaping is left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


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


def _classify(code: int | None, stderr: str, timed_out: bool, limits: Limits) -> tuple[str, str]:
    last = _last_line(stderr)
    if timed_out:
        return "timeout", f"wall-clock limit of {limits.wall_seconds:g} s reached"
    if code == 0:
        return "passed", ""
    refused = re.findall(r"^PermissionError: (ponder sandbox: blocked .*)$", stderr, re.M)
    if refused:
        return "blocked", refused[-1]
    if "MemoryError" in stderr:
        return "memory", f"memory limit of {limits.memory_bytes >> 20} MiB reached"
    if code is not None and code > 128:
        sig = code - 128
        if sig == signal.SIGXCPU:
            return "cpu", f"CPU limit of {limits.cpu_seconds} s reached"
        if sig == signal.SIGXFSZ:
            return "failed", f"file size limit of {limits.file_bytes >> 20} MiB reached"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        return "killed", f"killed by signal {name}"
    if "BlockingIOError" in stderr and "fork" in stderr.lower():
        return "blocked", f"process limit reached: {last}"
    return "failed", last or f"exit status {code}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""
