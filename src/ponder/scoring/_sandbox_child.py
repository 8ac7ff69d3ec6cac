"""The sandbox's launcher: run as a script (``python -I _sandbox_child.py CONFIG``) by
``ponder.scoring.sandbox``; never imported. Standard library only.

It isolates itself, then runs the untrusted code in a child that is PID 1 of a new PID
namespace, so that killing that child ends everything the code started. Layers, each applied
where the kernel allows it and reported on stderr's first line (``#ponder-sandbox {...}``):

- namespaces: network (no interface but a downed loopback), PID, mount, IPC; a user namespace
  too when not started as root;
- a read-only view of every mount except the scratch directory, a private ``/dev`` holding only
  null, zero, random and urandom;
- all capabilities dropped and ``no_new_privs`` set, so the code cannot undo the above;
- resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
- a Python audit hook refusing process creation, sockets, ctypes, signals to other processes,
  and file changes outside the scratch directory, with a message saying what was refused.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
import traceback

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
MS_STRICTATIME = 1 << 24
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


def _unshare(layers: list[str]) -> bool:
    """New namespaces; True when the PID namespace (and so the kill-all guarantee) holds."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        flags |= CLONE_NEWUSER
    try:
        _check(libc.unshare(flags), "unshare")
    except OSError as exc:
        layers.append(f"no namespaces ({exc})")
        return False
    if uid != 0:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    layers.append("namespaces: net, pid, mount, ipc" + (", user" if uid != 0 else ""))
    return True


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


def _read_only_world(scratch: str, layers: list[str]) -> None:
    """Every mount read-only except the scratch directory (bind-mounted onto itself)."""
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount(scratch, scratch, None, MS_BIND | MS_REC)
        _private_dev(scratch)
    except OSError as exc:
        layers.append(f"filesystem writable ({exc})")
        return
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
        layers.append(f"read-only filesystem but scratch{note}")


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


def _limit(config: dict[str, int], layers: list[str]) -> None:
    cpu = config["cpu_seconds"]
    # processes count per user: allow this many beyond those the user already runs
    nproc = _count_own_processes() + config["processes"]
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (config["memory_bytes"],) * 2,
        resource.RLIMIT_FSIZE: (config["file_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (256, 256),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_CORE: (0, 0),
    }
    for kind, value in limits.items():
        resource.setrlimit(kind, value)
    layers.append("rlimits: cpu, memory, file size, files, processes")


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
        "socket.",
        "ctypes.",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
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


def _run_code(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec")
        exec(code, {"__name__": "__main__", "__file__": path})
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _child(config: dict[str, object], layers: list[str]) -> None:
    """PID 1 of the new namespace: limit, drop privileges, then run the code in a child of
    its own (PID 1 ignores signals it has no handler for, CPU-limit signals included) and
    reap. When this process dies, the kernel kills everything left in the namespace."""
    status = 1
    try:
        _limit(config["limits"], layers)  # type: ignore[arg-type]
        _drop_privileges(layers)
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # the launcher dies: so does everything here
        os.chdir(str(config["scratch"]))  # the scratch mount, not the directory beneath it
        if config["guard"]:
            layers.append("audit hook")
        sys.stderr.write("#ponder-sandbox " + json.dumps(layers) + "\n")
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            if config["guard"]:
                _guard(str(config["scratch"]))
            code = _run_code(str(config["code"]))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        status = _reap(pid)
    except BaseException:
        traceback.print_exc()
    finally:
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


def main() -> None:
    config = json.loads(sys.argv[1])
    scratch = str(config["scratch"])
    sys.dont_write_bytecode = True
    layers: list[str] = []
    if config["isolate"] and _unshare(layers):
        _read_only_world(scratch, layers)
    else:
        layers.append("no namespaces")
    pid = os.fork()
    if pid == 0:
        _child(config, layers)
    # the caller waits for this process to vanish: when the namespace's init is gone, the
    # kernel has already killed and reaped everything else in the namespace
    with open(os.path.join(scratch, ".ponder-init-pid"), "w") as f:
        f.write(str(pid))
    os._exit(_reap(pid))


if __name__ == "__main__":
    main()
