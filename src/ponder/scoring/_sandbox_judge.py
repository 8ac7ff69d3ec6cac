"""The sandbox's judge: run as a script (``python -I _sandbox_judge.py``) by
``ponder.scoring.sandbox``; never imported. Standard library only.

The judge runs a run's test steps and writes their verdicts, in a process of its own that the
code under test never reaches: it is not in the code's namespaces, holds the only copy of the
verdict descriptor, is not dumpable (no ptrace, no ``/proc/PID/mem``), and reads its steps
from stdin. The code runs in the sandbox's runner, which answers the judge's requests over
two pipes:

- ``names``: which of the names a step uses the program defines: a function (or any other
  callable) becomes a proxy here, plain data (numbers, strings, lists, ...) is copied;
- ``call``: call one of them with plain-data arguments; the result (or the exception's type
  and message) comes back as plain data (``_sandbox_wire``), and the test compares it here.

So a step such as ``assert add(1, 2) == 3`` calls ``add`` in the sandbox and compares its
result in the judge: a patched ``compile``, ``exec``, ``os.write`` or ``json`` in the code's
interpreter changes nothing here, an object whose ``__eq__`` is always true cannot cross, and
an early exit of the code fails the call it was in (and so the step). What the code prints
goes to the run's stdout; what a step prints is kept with its verdict (``output``).
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import io
import json
import os
import resource
import sys
import traceback
import types
from pathlib import Path
from typing import Any


def _load(name: str) -> Any:
    import importlib.util

    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"ponder_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wire = _load("_sandbox_wire")
PR_SET_DUMPABLE = 4
#: what a step may print, kept with its verdict
OUTPUT_LIMIT = 64 << 10
#: names a step may look up in the program's namespace
NAMES_LIMIT = 512


class ProgramGone(BaseException):  # noqa: N818 - not an error of the step's own making
    """The code's process ended (or broke the protocol) while the judge waited on it: no
    ``except Exception`` in a test can swallow it."""


class Channel:
    """Requests to the runner and its answers, one JSON line each way."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.buffer = bytearray()

    def send(self, message: dict[str, Any]) -> None:
        data = wire.dumps(message)
        try:
            while data:
                data = data[os.write(self.write_fd, data) :]
        except OSError as exc:
            raise ProgramGone(f"the program's process is gone ({exc.strerror})") from None

    def receive(self) -> Any:
        while b"\n" not in self.buffer:
            if len(self.buffer) > wire.MAX_LINE:
                raise ProgramGone(f"the program sent a message over {wire.MAX_LINE} bytes")
            try:
                chunk = os.read(self.read_fd, 1 << 16)
            except OSError as exc:
                raise ProgramGone(f"the program's process is gone ({exc.strerror})") from None
            if not chunk:
                raise ProgramGone("the program's process ended before it answered")
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        try:
            message = wire.loads(line)
        except wire.WireError as exc:
            raise ProgramGone(f"the program sent a malformed message ({exc})") from None
        if not isinstance(message, dict):
            raise ProgramGone("the program sent a malformed message (not an object)")
        return message


class Remote:
    """A callable of the program's, called in the sandbox with plain data."""

    def __init__(self, channel: Channel, name: str) -> None:
        self._channel = channel
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<the program's {self.__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            payload = {"args": wire.encode(list(args)), "kwargs": wire.encode(dict(kwargs))}
        except wire.WireError as exc:
            raise TypeError(f"cannot pass to {self.__name__} in the sandbox: {exc}") from None
        self._channel.send({"op": "call", "name": self.__name__, **payload})
        answer = self._channel.receive()
        if "value" in answer:
            try:
                return wire.decode(answer["value"])
            except wire.WireError as exc:
                raise TypeError(f"{self.__name__} returned what is not plain data: {exc}") from None
        raised = answer.get("raised")
        message = str(answer.get("message", ""))[:1000]
        if isinstance(raised, str):
            kind = getattr(builtins, raised, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                if kind in (KeyboardInterrupt, GeneratorExit, ProgramGone):
                    kind = RuntimeError
                raise _exception(kind, message)
            raise RuntimeError(f"{raised[:100]}: {message}")
        raise ProgramGone("the program sent a malformed answer")


def _exception(kind: type[BaseException], message: str) -> BaseException:
    try:
        return kind(message)
    except Exception:  # an exception type whose constructor wants more (UnicodeError's)
        return RuntimeError(f"{kind.__name__}: {message}")


def global_names(code: types.CodeType) -> set[str]:
    """The names ``code`` (and every function in it) may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def bind(channel: Channel, code: types.CodeType, namespace: dict[str, Any]) -> None:
    """The program's definitions of the names ``code`` uses that it does not define: proxies
    for callables, copies of plain data."""
    wanted = sorted(
        n for n in global_names(code) if n not in namespace and not hasattr(builtins, n)
    )[:NAMES_LIMIT]
    if not wanted:
        return
    channel.send({"op": "names", "names": wanted})
    answer = channel.receive().get("names")
    if not isinstance(answer, dict):
        raise ProgramGone("the program sent a malformed answer")
    for name in wanted:
        found = answer.get(name)
        if not isinstance(found, dict):
            continue
        if found.get("kind") == "callable":
            namespace[name] = Remote(channel, name)
        elif found.get("kind") == "value":
            with contextlib.suppress(wire.WireError):
                namespace[name] = wire.decode(found.get("value"))


def run_steps(config: dict[str, Any], channel: Channel, report: Any) -> bool:
    """Each step in turn, its verdict reported as it ends; False if the program's process
    went away (the run cannot complete)."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    for i, step in enumerate(config["steps"]):
        captured = io.StringIO()
        record: dict[str, Any] = {"step": i}
        try:
            code = compile(step, f"<test {i}>", "exec")
            bind(channel, code, namespace)
            with contextlib.redirect_stdout(captured):
                exec(code, namespace)
        except ProgramGone as exc:
            report({**record, "ok": False, "error": f"the program stopped answering: {exc}"})
            return False
        except BaseException as exc:  # a failing test, SystemExit included
            record |= {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            print(f"test step {i}:", file=sys.stderr)
            traceback.print_exc()
        else:
            record["ok"] = True
        output = captured.getvalue()
        if output:
            record["output"] = output[:OUTPUT_LIMIT]
        report(record)
    return True


def main() -> None:
    sys.dont_write_bytecode = True
    config = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    limits = config["limits"]
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    verdict_fd, nonce = int(config["verdict_fd"]), config["nonce"]

    def report(record: dict[str, Any]) -> None:
        data = json.dumps({**record, "nonce": nonce}).encode() + b"\n"
        while data:
            data = data[os.write(verdict_fd, data) :]

    channel = Channel(int(config["from_program"]), int(config["to_program"]))
    status = 0
    try:
        first = channel.receive()
    except ProgramGone as exc:
        report({"program": "gone", "error": str(exc)})
        os._exit(0)
    program = first.get("program")
    exit_code = first.get("exit")
    report({"program": program if program in ("ran", "raised", "exited") else "malformed"})
    if program == "ran":
        if run_steps(config, channel, report):
            with contextlib.suppress(ProgramGone):
                channel.send({"op": "end"})
            report({"completed": True})
    elif program == "exited" and not config["steps"] and exit_code == 0:
        report({"completed": True})  # a program without tests may end with sys.exit()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
