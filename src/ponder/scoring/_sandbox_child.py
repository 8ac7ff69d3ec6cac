"""The sandbox's launcher: run as a script (``python -I _sandbox_child.py``) by
``ponder.scoring.sandbox``; never imported. Standard library only.

It reads its configuration (the program, the number of test steps, the limits) from stdin,
never from its arguments or a file the code could read, and runs the code four processes
down::

    launcher  the host's child; makes the cgroups, maps the user namespace, reports the
      |       namespace's init on the status descriptor (the code never holds it), reaps,
      |       and removes the cgroups
      jail    new user, mount, network, PID and IPC namespaces; becomes an unprivileged user;
      |       every mount read-only but a size-capped tmpfs scratch; homes hidden; a private
      |       /dev
      init    PID 1 of the new PID namespace: its own /proc; limits; drops capabilities;
      |       landlock; seccomp; reaps. When it dies, the kernel kills everything left in the
      |       namespace.
      runner  the audit hook; runs the program, tells the judge how that went, then answers
              the judge's requests (names, calls) with plain data

The verdicts are the judge's (``_sandbox_judge.py``), a process outside all of this.

Layers, each applied where the kernel allows it and reported on stderr's first line
(``#ponder-sandbox [...]``):

- namespaces: user (the code runs as an unprivileged user id of its own when ponder runs as
  root: ``RLIMIT_NPROC`` applies and root-only files are out of reach; when ponder runs as a
  normal user the namespace maps that user's own id, and landlock keeps its files out of
  reach), network (no interface but a downed loopback), PID (with its own /proc: host
  processes are invisible), mount, IPC;
- every mount read-only except the scratch directory, a tmpfs capped at ``scratch_bytes``;
  every home directory (``/root``, ``/home``, the user's own) covered by an empty tmpfs
  holding only the interpreter's directories; a private ``/dev`` holding only null, zero,
  random and urandom;
- landlock: reads only under the system's and the interpreter's directories, ``/proc`` and
  ``/dev``, writes only in scratch; no TCP, and (ABI 6) no abstract unix socket or signal
  outside the sandbox;
- seccomp: ``socket`` of every family (an ``AF_UNIX`` path reaches host services through
  any read-only mount and any network namespace), ptrace and process_vm, unshare/setns,
  mounts, bpf, perf, keys, userfaultfd, io_uring, modules, kexec fail with EPERM; another
  architecture's (or x32's) calls kill the process;
- cgroups (v2, or v1's memory and pids controllers) capping the whole process tree's memory
  and process count, where the host lets ponder create them; otherwise only the per-process
  limits below hold (address space per process, processes per user);
- all capabilities dropped and ``no_new_privs`` set, so the code cannot undo the above;
- resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
- a Python audit hook refusing process creation, sockets, ctypes, signals, other threads'
  frames, garbage-collector introspection, new subinterpreters (which have no hook of their
  own), and file changes outside the scratch directory, with a message.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import traceback
from pathlib import Path
from typing import Any


def _load_kernel_layers(name: str = "_sandbox_layers") -> Any:
    """``_sandbox_layers.py`` (or another module) beside this file, loaded by its path (this
    file runs as a script, so it has no package to import from)."""
    import importlib.util

    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"ponder_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kernel = _load_kernel_layers()
filters = _load_kernel_layers("_sandbox_filters")
wire = _load_kernel_layers("_sandbox_wire")


def _send(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def _receive(fd: int) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            raise OSError("the other side of the sandbox closed its pipe")
        data += chunk
    message: dict[str, Any] = json.loads(data)
    return message


# -- the runner: the audit hook, the program, its steps, the verdicts


def _guard(scratch: str) -> None:
    """An audit hook: refuse what untrusted code has no business doing, saying what it was."""
    blocked_prefixes = (
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.exec",
        "os.system",
        "subprocess.Popen",
        "_posixsubprocess",
        "socket.",
        "ctypes.",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "sys._current_frames",
        "gc.get_",
        "sys.addaudithook",
        # a subinterpreter has no audit hook of its own: none may be made
        "cpython.PyInterpreterState_New",
    )
    subinterpreters = (
        "_xxsubinterpreters",
        "_interpreters",
        "_xxinterpchannels",
        "_interpchannels",
        "_xxinterpqueues",
        "_interpqueues",
    )
    path_events = {
        "os.remove": 1,
        "os.rmdir": 1,
        "os.rename": 2,
        "os.truncate": 1,
        "os.chmod": 1,
        "os.chown": 1,
        "os.mkdir": 1,
        "os.symlink": 2,
        "os.link": 2,
        "os.utime": 1,
        "shutil.rmtree": 1,
    }
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    root = os.path.realpath(scratch)

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True  # an fd already opened
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        real = os.path.realpath(str(path))
        return real == root or real.startswith(root + os.sep) or real == "/dev/null"

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event.startswith(blocked_prefixes) and event != "socket.gethostname":
            raise PermissionError(f"ponder sandbox: blocked {event}")
        if event == "import" and str(args[0]).startswith(subinterpreters):
            raise PermissionError(f"ponder sandbox: blocked importing {args[0]}")
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags
            )
            if writes and not inside(path):
                raise PermissionError(f"ponder sandbox: blocked writing {path!r} (outside scratch)")
        elif event in path_events:
            for path in args[: path_events[event]]:
                if not inside(path):
                    raise PermissionError(f"ponder sandbox: blocked {event} on {path!r}")

    sys.addaudithook(hook)


def _runner(config: dict[str, Any], to_judge: int, from_judge: int) -> None:
    """Run the program, tell the judge how it went, then answer the judge's requests (the
    names a test step uses, calls of the program's functions) until it says the end. The
    runner holds no verdict: whatever the code does to this process, the judge compares the
    plain data it gets back."""
    has_steps = bool(config.pop("steps"))
    code: str = config.pop("code")
    path = os.path.join(str(config["scratch"]), "solution.py")
    if config["guard"]:
        _guard(str(config["scratch"]))
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": path}
    try:
        exec(compile(code, path, "exec"), namespace)
    except SystemExit as exc:
        status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)  # as the interpreter would
        _tell(to_judge, {"program": "exited", "exit": status})
        _finish((status or 1) if has_steps else status)  # with tests, they never ran
    except BaseException:
        traceback.print_exc()
        _tell(to_judge, {"program": "raised"})
        _finish(1)
    _tell(to_judge, {"program": "ran"})
    _serve(namespace, to_judge, from_judge)
    _finish(0)


def _tell(fd: int, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        data = wire.dumps(message)
        while data:
            data = data[os.write(fd, data) :]


def _serve(namespace: dict[str, Any], to_judge: int, from_judge: int) -> None:
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = os.read(from_judge, 1 << 16)
            if not chunk:
                return  # the judge is gone
            buffer += chunk
        line, _, buffer = buffer.partition(b"\n")
        request = wire.loads(line)
        if request.get("op") == "end":
            return
        if request.get("op") == "names":
            _tell(to_judge, {"names": _describe(namespace, request.get("names") or [])})
        elif request.get("op") == "call":
            _tell(to_judge, _call(namespace, request))


def _describe(namespace: dict[str, Any], names: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        if callable(value):
            found[name] = {"kind": "callable"}
            continue
        with contextlib.suppress(Exception):
            found[name] = {"kind": "value", "value": wire.encode(value)}
    return found


def _call(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    name = str(request.get("name"))
    try:
        args = wire.decode(request.get("args"))
        kwargs = wire.decode(request.get("kwargs"))
        result = namespace[name](*args, **kwargs)
        try:
            return {"value": wire.encode(result)}
        except wire.WireError as exc:
            return {"raised": "TypeError", "message": f"{name} returned {exc}"}
    except BaseException as exc:  # the function's own exception, SystemExit included
        try:
            message = str(exc)[:1000]
        except BaseException:
            message = "(its message could not be read)"
        return {"raised": type(exc).__name__, "message": message}


def _finish(status: int) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _reap(pid: int) -> int:
    """Wait for ``pid``, reaping orphans meanwhile; its exit status (128 + signal if killed)."""
    while True:
        done, status = os.wait()
        if done == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def _init(config: dict[str, Any], layers: list[str]) -> None:
    """PID 1 of the new namespace: its own /proc, limits, no privileges; then the runner in
    a child of its own (PID 1 ignores signals it has no handler for, CPU-limit ones too)."""
    status = 1
    try:
        kernel.libc.prctl(kernel.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if config["namespaces"]:
            try:
                kernel.mount(
                    "proc", "/proc", "proc", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
                )
                layers.append("own /proc: host processes invisible")
            except OSError as exc:
                layers.append(f"host /proc visible ({exc})")
        kernel.limit(config["limits"], config["own_processes"], layers)
        kernel.drop_privileges(layers)
        if config["isolate"]:
            filters.restrict_files(str(config["scratch"]), layers)
            filters.deny_syscalls(layers)
        os.chdir(str(config["scratch"]))  # the scratch mount, not the directory beneath it
        if config["guard"]:
            layers.append("audit hook")
        sys.stderr.write("#ponder-sandbox " + json.dumps(layers) + "\n")
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _runner(config, config["to_judge"], config["from_judge"])
        os.close(config["to_judge"])
        os.close(config["from_judge"])
        status = _reap(pid)
    except BaseException:
        traceback.print_exc()
    finally:
        _finish(status)


def _jail(config: dict[str, Any], layers: list[str], to_jail: int, from_jail: int) -> None:
    """Namespaces, an unprivileged user, the read-only world; then init."""
    status = 1
    try:
        kernel.libc.prctl(kernel.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        scratch = str(config["scratch"])
        made, user = (False, False)
        if config["isolate"]:
            made, user = kernel.unshare(layers)
        _send(from_jail, {"unshared": made, "user": user})
        # the launcher has mapped the user namespace and joined the cgroups
        whose = _receive(to_jail).get("ids")
        if user:
            layers.append(
                {
                    "own": "namespaces: user (an unprivileged id of its own), net, pid, mount, ipc",
                    "subordinate": "namespaces: user (a subordinate id of its own, newuidmap), "
                    "net, pid, mount, ipc",
                }.get(
                    str(whose),
                    "namespaces: user (ponder's own user id: no subordinate ids to map, so "
                    "landlock alone keeps that user's files out of reach), net, pid, mount, ipc",
                )
            )
        elif made:
            layers.append("namespaces: net, pid, mount, ipc")
        else:
            layers.append("no namespaces")
        python = kernel.python_dirs(user) if made else {}  # opened with the launcher's access
        if user:  # from here on, the unprivileged user the namespace's root maps to
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        if made:
            kernel.read_only_world(scratch, config["limits"]["scratch_bytes"], python, layers)
        with open(os.path.join(scratch, "solution.py"), "w", encoding="utf-8") as f:
            f.write(config["code"])
        config["namespaces"] = made
        pid = os.fork()
        if pid == 0:
            os.close(from_jail)
            _init(config, layers)
        os.close(config["to_judge"])
        os.close(config["from_judge"])
        _send(from_jail, {"init": pid})
        os.close(from_jail)
        status = _reap(pid)
    except BaseException:
        sys.stderr.write("#ponder-sandbox " + json.dumps(layers) + "\n")
        traceback.print_exc()
    finally:
        _finish(status)


def main() -> None:
    sys.dont_write_bytecode = True
    config = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)  # the code reads nothing of the config
    os.dup2(devnull, 0)
    os.close(devnull)
    status_fd = int(config["status_fd"])
    layers: list[str] = []
    root = os.geteuid() == 0
    cgroups = kernel.make_cgroups(config["limits"], layers) if root and config["isolate"] else []
    uid = gid = os.geteuid()
    # processes the code's user already runs (the per-user limit counts them): the launcher,
    # jail and init when ponder runs as root (the code gets a user id of its own), else all
    config["own_processes"] = 3 if root else kernel.count_own_processes()
    subordinate = None
    if root:
        uid = gid = random.randrange(*kernel.SANDBOX_IDS)
    elif config["isolate"]:
        subordinate = kernel.subordinate_ids()  # a normal user's own range, where it has one
    to_jail_r, to_jail_w = os.pipe()
    from_jail_r, from_jail_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)  # the code never holds the status descriptor
        os.close(to_jail_w)
        os.close(from_jail_r)
        _jail(config, layers, to_jail_r, from_jail_w)
    os.close(config["to_judge"])
    os.close(config["from_judge"])
    os.close(to_jail_r)
    os.close(from_jail_w)
    status = 1
    report: dict[str, Any] = {"cgroups": cgroups}
    try:
        unshared = _receive(from_jail_r)
        whose = "own" if root else "same"
        if unshared["user"] and subordinate is not None:
            try:
                kernel.map_subordinate(pid, *subordinate)
                whose = "subordinate"
            except OSError as exc:
                print(f"ponder sandbox: newuidmap failed ({exc})", file=sys.stderr)
                kernel.map_user(pid, uid, gid)
        elif unshared["user"]:
            kernel.map_user(pid, uid, gid)
        if unshared["user"]:
            with contextlib.suppress(OSError):  # where the tmpfs cannot be mounted
                os.chown(config["scratch"], uid, gid)
        kernel.join_cgroups(cgroups, pid)
        _send(to_jail_w, {"go": True, "ids": whose})
        with contextlib.suppress(OSError, ValueError):
            report["init"] = _receive(from_jail_r)["init"]
        _send(status_fd, report)
    except OSError:
        traceback.print_exc()
    finally:
        _, raw = os.waitpid(pid, 0)
        status = 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
        report["memory_limit_hits"] = kernel.memory_events(cgroups)
        kernel.remove_cgroups(cgroups)
        with contextlib.suppress(OSError):
            _send(status_fd, {"done": True, "memory_limit_hits": report["memory_limit_hits"]})
        os._exit(status)


if __name__ == "__main__":
    main()
