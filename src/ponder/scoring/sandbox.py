"""Run model-written code without trusting it.

::

    from ponder.scoring.sandbox import Limits, run_code

    execution = run_code("print(sum(range(10)))", limits=Limits(wall_seconds=5))
    execution.ok, execution.status, execution.stdout  # (True, 'passed', '45\\n')

    execution = run_code(solution, then=["assert add(1, 2) == 3", "assert add(0, 0) == 0"])
    [step.ok for step in execution.steps]             # each test step's verdict

Each run gets a fresh scratch directory (its only writable place: a size-capped tmpfs,
deleted afterwards), a clean environment (none of the caller's variables), a wall-clock limit
enforced from outside, and the layers listed in ``ponder.scoring._sandbox_child``: user,
network, PID and mount namespaces (the code runs as an unprivileged user of its own when
ponder runs as root), a read-only view of the file system with every home directory hidden,
landlock (the code reads only the system's and the interpreter's files and writes only its
scratch, whatever its user id: the layer that keeps a normal user's own files out of reach),
a seccomp filter (no sockets of any family: a host unix socket is unreachable; no ptrace,
namespaces, mounts, bpf, io_uring), cgroups capping the whole process tree's memory and
processes where the host allows them, no capabilities, resource limits and a Python audit
hook (which also refuses subinterpreters). ``Execution.isolation`` says which layers held on
this machine and ``Execution.stopped_by`` which one stopped the code.

**Verdicts the code cannot touch.** The test steps (``then``) run in the *judge*
(``_sandbox_judge.py``), a process of its own outside the code's namespaces: it calls the
program's functions in the sandbox with plain data, gets their results back as plain data
(``_sandbox_wire``: builtin types only, size and nesting capped) and compares them itself.
So patching ``compile``, ``exec``, ``os.write`` or ``json`` in the code's interpreter, an
always-true ``__eq__``, walking frames, or writing on every descriptor changes no verdict:
the code holds neither the verdict descriptor nor anything the judge reads as a verdict.
A run passes only when the judge says every step passed and it completed, so an early
``exit(0)`` is a failure. The host reads the judge's verdicts skipping every line without
the run's nonce, and drops (never raises on) anything malformed. Whatever the code does (loop
forever, fork without end, allocate without end, delete files, open sockets, kill processes)
ends as an ``Execution`` whose ``status`` and ``reason`` say what happened; the call never
hangs and never raises for the code's misbehaviour.

A step sees the program's definitions of the names it uses: functions (any callable) as
proxies that call into the sandbox, plain-data values as copies. A test that passes an
object the wire cannot carry (a lambda, an instance of a class of the program's) fails with
a TypeError that says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.scoring import _sandbox_wire as wire
from ponder.scoring.sandbox_outcome import _execution, _read, _split_banner
from ponder.scoring.sandbox_types import Execution, Limits, Step

_CHILD = Path(__file__).with_name("_sandbox_child.py")
_JUDGE = Path(__file__).with_name("_sandbox_judge.py")


def run_code(
    code: str,
    *,
    then: Sequence[str] = (),
    limits: Limits | None = None,
    isolate: bool = True,
    guard: bool = True,
) -> Execution:
    """Run ``code`` as a Python program in the sandbox, then each of ``then`` (test steps) in
    its namespace, and report how it ended.

    ``isolate=False`` skips the namespaces, cgroups and the read-only view (for machines where
    they are unavailable); ``guard=False`` skips the audit hook (tests use it to check that
    the kernel layers hold on their own).
    """
    limits = limits or Limits()
    # the scratch directory (the code's, reachable by its user id) and the host's own
    # directory for the code's output apart
    scratch = Path(tempfile.mkdtemp(prefix="ponder-sandbox-")).resolve()
    work = Path(tempfile.mkdtemp(prefix="ponder-sandbox-out-")).resolve()
    try:
        return _run(code, list(then), scratch, work, limits, isolate=isolate, guard=guard)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def _run(
    code: str,
    steps: list[str],
    scratch: Path,
    work: Path,
    limits: Limits,
    *,
    isolate: bool,
    guard: bool,
) -> Execution:
    nonce = secrets.token_hex(16)
    verdict_r, verdict_w = os.pipe()
    status_r, status_w = os.pipe()
    to_program_r, to_program_w = os.pipe()  # the judge's requests
    from_program_r, from_program_w = os.pipe()  # the program's answers
    kernel_limits = {
        "cpu_seconds": limits.cpu_seconds,
        "memory_bytes": limits.memory_bytes,
        "file_bytes": limits.file_bytes,
        "processes": limits.processes,
        "scratch_bytes": limits.scratch_bytes,
    }
    program = {
        "scratch": str(scratch),
        "code": code,
        "steps": len(steps),
        "isolate": isolate,
        "guard": guard,
        "status_fd": status_w,
        "to_judge": from_program_w,
        "from_judge": to_program_r,
        "limits": kernel_limits,
    }
    judge = {
        "steps": steps,
        "nonce": nonce,
        "verdict_fd": verdict_w,
        "to_program": to_program_w,
        "from_program": from_program_r,
        "limits": kernel_limits,
    }
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(scratch)}
    env["TMPDIR"] = str(scratch)
    start = time.perf_counter()
    processes: list[subprocess.Popen[bytes]] = []
    with (
        open(work / "stdout", "wb") as out,
        open(work / "stderr", "wb") as err,
        open(work / "judge", "wb") as judge_err,
    ):
        try:
            processes.append(
                _start(
                    [str(_CHILD)],
                    program,
                    scratch,
                    env,
                    out,
                    err,
                    (status_w, from_program_w, to_program_r),
                )
            )
            processes.append(
                _start(
                    [str(_JUDGE)],
                    judge,
                    work,
                    env,
                    judge_err,
                    judge_err,
                    (verdict_w, to_program_w, from_program_r),
                )
            )
        finally:
            for fd in (
                verdict_w,
                status_w,
                to_program_r,
                to_program_w,
                from_program_r,
                from_program_w,
            ):
                os.close(fd)
        verdicts = _Reader(verdict_r, limit=1 << 20, nonce=nonce)
        status = _Reader(status_r, limit=1 << 16)
        process, judging = processes[0], processes[-1]
        timed_out = False
        deadline = time.monotonic() + limits.wall_seconds
        try:
            judging.wait(timeout=limits.wall_seconds)
            process.wait(timeout=max(0.5, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = judging.poll() is None or not _completed(verdicts)
            _stop(process, status)
        finally:
            for started in processes:
                _kill_group(started.pid)
                started.wait()
            status.join()
            verdicts.join()
            _clean_up(status.messages())
    seconds = time.perf_counter() - start
    stdout = _read(work / "stdout", limits.output_bytes)
    isolation, stderr = _split_banner(_read(work / "stderr", limits.output_bytes))
    memory_hits = sum(int(m.get("memory_limit_hits") or 0) for m in status.messages())
    return _execution(
        process.returncode,
        stdout,
        stderr,
        seconds,
        isolation,
        verdicts.messages(),
        steps,
        limits,
        timed_out=timed_out,
        memory_hits=memory_hits,
    )


def _start(
    args: list[str],
    config: dict[str, Any],
    cwd: Path,
    env: dict[str, str],
    out: Any,
    err: Any,
    fds: tuple[int, ...],
) -> subprocess.Popen[bytes]:
    """A helper script (``python -I``), its configuration written to its stdin."""
    process = subprocess.Popen(
        [sys.executable, "-I", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=err,
        pass_fds=fds,
        start_new_session=True,
    )
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(json.dumps(config).encode())
        process.stdin.close()
    return process


def _completed(verdicts: _Reader) -> bool:
    return any(m.get("completed") is True for m in verdicts.messages())


class _Reader:
    """Reads a pipe to its end on a thread of its own (so the writer never blocks), keeping
    at most ``limit`` bytes; its lines are JSON messages. With a ``nonce``, only lines that
    carry it are parsed (the rest are skipped unread), and whatever bytes arrive, a line that
    is too long, too deeply nested or not JSON is dropped, never raised."""

    def __init__(self, fd: int, *, limit: int, nonce: str | None = None) -> None:
        self._fd = fd
        self._limit = limit
        self._nonce = nonce
        self._data = bytearray()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with os.fdopen(self._fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                if len(self._data) < self._limit:
                    self._data += chunk[: self._limit - len(self._data)]

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)

    def messages(self) -> list[dict[str, Any]]:
        found = []
        tag = f'"nonce": "{self._nonce}"'.encode() if self._nonce else b""
        for line in bytes(self._data).split(b"\n"):
            if tag not in line:
                continue
            with contextlib.suppress(wire.WireError):
                message = wire.loads(line)
                if isinstance(message, dict) and (
                    self._nonce is None or message.pop("nonce", None) == self._nonce
                ):
                    found.append(message)
        return found


def _stop(process: subprocess.Popen[bytes], status: _Reader) -> None:
    """The wall clock ran out: kill the namespace's init (by a pidfd, so that a recycled PID
    is never hit), which takes every process of the namespace with it; the launcher then
    removes the cgroups and exits. Without an init yet, kill the launcher's group."""
    inits = [m["init"] for m in status.messages() if isinstance(m.get("init"), int)]
    for pid in inits:
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(pid)
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            finally:
                os.close(fd)
    if inits:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _clean_up(messages: list[dict[str, Any]]) -> None:
    """Remove cgroups a killed launcher left behind (killing what is still in them)."""
    for message in messages:
        for directory in message.get("cgroups") or []:
            path = Path(str(directory))
            if not path.name.startswith("ponder-sandbox-"):
                continue  # only ever what the launcher made
            for _ in range(100):
                with contextlib.suppress(OSError, ValueError):
                    for pid in (path / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


__all__ = ["Execution", "Limits", "Step", "run_code"]
