"""The sandbox's launcher: run as a script (``python -I _sandbox_child.py``) by
``ponder.scoring.sandbox``; never imported. Standard library only.

It reads its configuration (the program, its test steps, a per-run nonce, the limits) from
stdin, never from its arguments or a file the code could read, and runs the code four
processes down::

    launcher  the host's child; makes the cgroups, maps the user namespace, reports the
      |       namespace's init on the status descriptor (the code never holds it), reaps,
      |       and removes the cgroups
      jail    new user, mount, network, PID and IPC namespaces; becomes an unprivileged user;
      |       every mount read-only but a size-capped tmpfs scratch; a private /dev
      init    PID 1 of the new PID namespace: its own /proc; limits; drops capabilities; reaps.
      |       When it dies, the kernel kills everything left in the namespace.
      runner  the audit hook; runs the program, then each test step, writing nonce-tagged
              verdicts on the verdict descriptor as they happen, and "completed" at the end

Layers, each applied where the kernel allows it and reported on stderr's first line
(``#ponder-sandbox [...]``):

- namespaces: user (the code runs as an unprivileged user id of its own, even when ponder runs
  as root: ``RLIMIT_NPROC`` applies and root-only files are out of reach), network (no
  interface but a downed loopback), PID (with its own /proc: host processes are invisible),
  mount, IPC;
- every mount read-only except the scratch directory, a tmpfs capped at ``scratch_bytes``, and
  a private ``/dev`` holding only null, zero, random and urandom;
- cgroups (v2, or v1's memory and pids controllers) capping the whole process tree's memory
  and process count, where the host lets ponder create them; otherwise only the per-process
  limits below hold (address space per process, processes per user);
- all capabilities dropped and ``no_new_privs`` set, so the code cannot undo the above;
- resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
- a Python audit hook refusing process creation, sockets, ctypes, signals, other threads'
  frames, garbage-collector introspection, and file changes outside the scratch directory,
  with a message.

The verdicts: the nonce reaches the runner through stdin and stays in its memory; the code's
text, files, arguments and environment never hold it, and stdout is not read for results. So
an early exit (``os._exit(0)``, ``sys.exit`` before the tests, a killed process) or printed
lines that look like results cannot pass. Code that deliberately reads the harness's memory
(walking up its own call frames) could still find the nonce: only a verifier in a process of
its own would stop that, which running a test against the code in its own process rules out.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import resource
import signal
import sys
import time
import traceback
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
}
DEVICES = ("null", "zero", "random", "urandom")
#: user ids the code runs as when ponder runs as root: one of its own per run, so that the
#: per-user process limit counts this run's processes alone
SANDBOX_IDS = (1_100_000_000, 1_200_000_000)

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


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


# -- cgroups (made and removed by the launcher, on the host's side)


def _cgroup_dirs(name: str) -> list[tuple[str, str]]:
    """Where to make this run's cgroups: (controller, directory) for cgroup v2 (one directory
    for both controllers) or v1 (memory and pids hierarchies)."""
    with open("/proc/self/cgroup") as f:
        lines = [line.strip().split(":", 2) for line in f if line.strip()]
    found: list[tuple[str, str]] = []
    for _, controllers, path in lines:
        for controller in ("memory", "pids"):
            if controller in controllers.split(","):
                root = f"/sys/fs/cgroup/{controller}{path.rstrip('/')}"
                found.append((controller, f"{root}/{name}"))
    if found:
        return found
    for _, controllers, path in lines:  # cgroup v2 only
        if controllers == "":
            root = f"/sys/fs/cgroup{path.rstrip('/')}"
            with contextlib.suppress(OSError), open(f"{root}/cgroup.controllers") as f:
                if {"memory", "pids"} <= set(f.read().split()):
                    return [("v2", f"{root}/{name}")]
    return []


def _make_cgroups(limits: dict[str, int], layers: list[str]) -> list[str]:
    """This run's cgroups, limited; [] (and a note) where the host does not allow them."""
    name = f"ponder-sandbox-{os.getpid()}-{random.getrandbits(32):08x}"
    made: list[str] = []
    try:
        targets = _cgroup_dirs(name)
        if not targets:
            raise OSError("no memory and pids cgroup controllers available")
        for controller, directory in targets:
            os.mkdir(directory)
            made.append(directory)
            settings = {
                "memory": {"memory.limit_in_bytes": limits["memory_bytes"]},
                "pids": {"pids.max": limits["processes"] + 4},
                "v2": {"memory.max": limits["memory_bytes"], "pids.max": limits["processes"] + 4},
            }[controller]
            if controller == "memory":  # no swap either, where the kernel accounts it
                with contextlib.suppress(OSError), open(f"{directory}/memory.swappiness", "w") as f:
                    f.write("0")
            for key, value in settings.items():
                with open(f"{directory}/{key}", "w") as f:
                    f.write(str(value))
    except OSError as exc:
        _remove_cgroups(made)
        layers.append(
            f"no cgroups ({exc.strerror or exc}): memory and processes limited per process"
        )
        return []
    layers.append("cgroups: memory and processes of the whole tree")
    return made


def _join_cgroups(directories: list[str], pid: int) -> None:
    for directory in directories:
        with open(f"{directory}/cgroup.procs", "w") as f:
            f.write(str(pid))


def _cgroup_pids(directory: str) -> list[int]:
    try:
        with open(f"{directory}/cgroup.procs") as f:
            return [int(line) for line in f if line.strip()]
    except OSError:
        return []


def _memory_events(directories: list[str]) -> int:
    """How often a cgroup's memory limit was hit (OOM kills or failed charges)."""
    count = 0
    for directory in directories:
        for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            with contextlib.suppress(OSError, ValueError), open(f"{directory}/{name}") as f:
                for line in f:
                    field, _, value = line.partition(" ")
                    if field == key:
                        count += int(value)
    return count


def _remove_cgroups(directories: list[str]) -> None:
    for directory in directories:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = _cgroup_pids(directory)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)


# -- the jail: namespaces, an unprivileged user, a read-only world


def _unshare(layers: list[str]) -> tuple[bool, bool]:
    """New namespaces: (namespaces made, user namespace among them)."""
    base = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC
    try:
        _check(libc.unshare(base | CLONE_NEWUSER), "unshare")
        return True, True
    except OSError as exc:
        if os.geteuid() != 0:
            layers.append(f"no namespaces ({exc})")
            return False, False
        first = exc
    try:
        _check(libc.unshare(base), "unshare")  # root without user namespaces
    except OSError as exc:
        layers.append(f"no namespaces ({exc})")
        return False, False
    layers.append(f"no user namespace ({first}): the code runs as root in its namespaces")
    return True, False


def _map_user(pid: int, uid: int, gid: int) -> None:
    """Map the jail's root to ``uid``/``gid`` on the host (written from outside, by the
    launcher, which a root launcher may do for any id)."""
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def _private_dev(scratch: str) -> None:
    stage = os.path.join(scratch, ".ponder-dev")
    os.mkdir(stage)
    _mount("/dev", stage, None, MS_BIND | MS_REC)
    _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        node = f"/dev/{name}"
        open(node, "w").close()
        _mount(f"{stage}/{name}", node, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"/dev/{name}")
    os.symlink("/proc/self/fd/1", "/dev/stdout")
    os.symlink("/proc/self/fd/2", "/dev/stderr")
    _check(libc.umount2(stage.encode(), MNT_DETACH), "umount staging /dev")
    os.rmdir(stage)


def _hidden_ancestor(path: str) -> str | None:
    """The highest directory above ``path`` that other users cannot enter (no o+x)."""
    parts = path.split("/")
    for i in range(2, len(parts)):
        ancestor = "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _python_dirs() -> dict[str, dict[str, int]]:
    """The interpreter's directories that the code's user could not reach (Python installed
    under /root, say), opened while the launcher's user still can: the directory that user
    cannot enter -> {each directory of the interpreter under it: an open descriptor}."""
    wanted = [sys.base_prefix, sys.prefix, sys.exec_prefix, *sys.path]
    needed = sorted({os.path.realpath(p) for p in wanted if os.path.isdir(p)})
    hidden: dict[str, dict[str, int]] = {}
    for path in needed:
        ancestor = _hidden_ancestor(path)
        if ancestor is None or any(path.startswith(q + "/") for q in hidden.get(ancestor, {})):
            continue
        hidden.setdefault(ancestor, {})[path] = os.open(path, os.O_PATH | os.O_DIRECTORY)
    return hidden


def _expose_python(hidden: dict[str, dict[str, int]], layers: list[str]) -> None:
    """Cover each directory the code's user cannot enter with an empty tmpfs holding only
    the interpreter's directories, bind-mounted back; what else it held stays out of sight."""
    for ancestor, paths in hidden.items():
        _mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        for path, fd in paths.items():
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
        layers.append(f"{ancestor} hidden but the interpreter's directories")


def _read_only_world(
    scratch: str, scratch_bytes: int, python: dict[str, dict[str, int]], layers: list[str]
) -> bool:
    """Every mount read-only; the scratch directory a fresh tmpfs of ``scratch_bytes``
    belonging to the code's user. True when the scratch is that tmpfs."""
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        options = f"size={scratch_bytes},mode=700,uid=0,gid=0"
        _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, options)
        _private_dev(scratch)
        _expose_python(python, layers)
    except OSError as exc:
        layers.append(f"filesystem writable ({exc})")
        return False
    failed = []
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        point = fields[4].replace("\\040", " ")
        if point == scratch or point.startswith((scratch + "/", "/dev/")):
            continue  # the scratch stays writable; /dev's old submounts lie hidden
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in fields[5].split(","):
            flags |= MOUNT_FLAGS.get(option, 0)
        try:
            _mount(None, point, None, flags)
        except OSError:
            failed.append(point)
    if "/" in failed:
        layers.append("filesystem writable (remounting / read-only failed)")
    else:
        note = f" (still writable: {', '.join(failed)})" if failed else ""
        layers.append(f"read-only filesystem but a {scratch_bytes >> 20} MiB tmpfs scratch{note}")
    return True


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_privileges(layers: list[str]) -> None:
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    number = SYS_CAPSET.get(os.uname().machine)
    if number is None:
        layers.append("capabilities kept (unknown architecture)")
        return
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(libc.syscall(number, ctypes.byref(header), data), "capset")
    layers.append("capabilities dropped, no_new_privs")


def _count_own_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def _limit(limits: dict[str, int], own: int, layers: list[str]) -> None:
    cpu = limits["cpu_seconds"]
    # processes count per (host) user: allow this many beyond the ``own`` the user already runs
    nproc = own + limits["processes"]
    settings = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (limits["memory_bytes"],) * 2,
        resource.RLIMIT_FSIZE: (limits["file_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (256, 256),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_CORE: (0, 0),
    }
    for kind, value in settings.items():
        resource.setrlimit(kind, value)
    layers.append("rlimits: cpu, memory, file size, files, processes")


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


def _runner(config: dict[str, Any], verdict_fd: int) -> None:
    """Run the program, then each step in its namespace, reporting each on ``verdict_fd``
    tagged with the run's nonce; "completed" only once everything has run. An early exit of
    any kind leaves the verdicts incomplete, which the host counts as a failure."""
    nonce = config.pop("nonce")
    steps: list[str] = config.pop("steps")
    code: str = config.pop("code")
    path = os.path.join(str(config["scratch"]), "solution.py")

    def report(record: dict[str, Any]) -> None:
        _send(verdict_fd, {**record, "nonce": nonce})

    if config["guard"]:
        _guard(str(config["scratch"]))
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": path}
    status = 0
    try:
        exec(compile(code, path, "exec"), namespace)
    except SystemExit as exc:
        status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)  # as the interpreter would
        report({"program": "exited", "exit": status})
        if not steps:  # a program without tests may end with sys.exit()
            report({"completed": True})
            _finish(status)
        _finish(status or 1)  # its tests never ran
    except BaseException:
        traceback.print_exc()
        report({"program": "raised"})
        _finish(1)
    report({"program": "ran"})
    for i, step in enumerate(steps):
        try:
            exec(compile(step, f"<test {i}>", "exec"), namespace)
        except BaseException as exc:  # a failing test, SystemExit included
            traceback.print_exc()
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            report({"step": i, "ok": False, "error": error})
            status = 1
        else:
            report({"step": i, "ok": True})
    report({"completed": True})
    _finish(status)


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


def _init(config: dict[str, Any], layers: list[str], verdict_fd: int) -> None:
    """PID 1 of the new namespace: its own /proc, limits, no privileges; then the runner in
    a child of its own (PID 1 ignores signals it has no handler for, CPU-limit ones too)."""
    status = 1
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if config["namespaces"]:
            try:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                layers.append("own /proc: host processes invisible")
            except OSError as exc:
                layers.append(f"host /proc visible ({exc})")
        _limit(config["limits"], config["own_processes"], layers)
        _drop_privileges(layers)
        os.chdir(str(config["scratch"]))  # the scratch mount, not the directory beneath it
        if config["guard"]:
            layers.append("audit hook")
        sys.stderr.write("#ponder-sandbox " + json.dumps(layers) + "\n")
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _runner(config, verdict_fd)
        os.close(verdict_fd)
        status = _reap(pid)
    except BaseException:
        traceback.print_exc()
    finally:
        _finish(status)


def _jail(config: dict[str, Any], layers: list[str], to_jail: int, from_jail: int) -> None:
    """Namespaces, an unprivileged user, the read-only world; then init."""
    status = 1
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        scratch = str(config["scratch"])
        made, user = (False, False)
        if config["isolate"]:
            made, user = _unshare(layers)
        _send(from_jail, {"unshared": made, "user": user})
        _receive(to_jail)  # the launcher has mapped the user namespace and joined the cgroups
        if user:
            layers.append("namespaces: user (an unprivileged id), net, pid, mount, ipc")
        elif made:
            layers.append("namespaces: net, pid, mount, ipc")
        else:
            layers.append("no namespaces")
        python = _python_dirs() if user else {}  # opened with the launcher's access
        if user:  # from here on, the unprivileged user the namespace's root maps to
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        if made:
            _read_only_world(scratch, config["limits"]["scratch_bytes"], python, layers)
        with open(os.path.join(scratch, "solution.py"), "w", encoding="utf-8") as f:
            f.write(config["code"])
        config["namespaces"] = made
        pid = os.fork()
        if pid == 0:
            os.close(from_jail)
            _init(config, layers, config["verdict_fd"])
        os.close(config["verdict_fd"])
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
    status_fd, verdict_fd = int(config["status_fd"]), int(config["verdict_fd"])
    layers: list[str] = []
    root = os.geteuid() == 0
    cgroups = _make_cgroups(config["limits"], layers) if root and config["isolate"] else []
    uid = gid = os.geteuid()
    # processes the code's user already runs (the per-user limit counts them): the launcher,
    # jail and init when ponder runs as root (the code gets a user id of its own), else all
    config["own_processes"] = 3 if root else _count_own_processes()
    if root:
        uid = gid = random.randrange(*SANDBOX_IDS)
    to_jail_r, to_jail_w = os.pipe()
    from_jail_r, from_jail_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)  # the code never holds the status descriptor
        os.close(to_jail_w)
        os.close(from_jail_r)
        _jail(config, layers, to_jail_r, from_jail_w)
    os.close(verdict_fd)
    os.close(to_jail_r)
    os.close(from_jail_w)
    status = 1
    report: dict[str, Any] = {"cgroups": cgroups}
    try:
        unshared = _receive(from_jail_r)
        if unshared["user"]:
            _map_user(pid, uid, gid)
            os.chown(config["scratch"], uid, gid)  # where the tmpfs cannot be mounted
        _join_cgroups(cgroups, pid)
        _send(to_jail_w, {"go": True})
        with contextlib.suppress(OSError, ValueError):
            report["init"] = _receive(from_jail_r)["init"]
        _send(status_fd, report)
    except OSError:
        traceback.print_exc()
    finally:
        _, raw = os.waitpid(pid, 0)
        status = 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
        report["memory_limit_hits"] = _memory_events(cgroups)
        _remove_cgroups(cgroups)
        with contextlib.suppress(OSError):
            _send(status_fd, {"done": True, "memory_limit_hits": report["memory_limit_hits"]})
        os._exit(status)


if __name__ == "__main__":
    main()
