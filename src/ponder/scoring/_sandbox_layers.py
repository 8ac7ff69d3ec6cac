"""The sandbox's layers, applied by ``_sandbox_child.py`` (which loads this file by its path;
never imported by ponder). Standard library only: the namespaces and the unprivileged user,
the read-only world with its tmpfs scratch and private /dev, the cgroups, capabilities and
resource limits. See ``_sandbox_child.py`` for what each holds and in which process."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import resource
import signal
import sys
import time

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


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


# -- cgroups (made and removed by the launcher, on the host's side)


def cgroup_dirs(name: str) -> list[tuple[str, str]]:
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


def make_cgroups(limits: dict[str, int], layers: list[str]) -> list[str]:
    """This run's cgroups, limited; [] (and a note) where the host does not allow them."""
    name = f"ponder-sandbox-{os.getpid()}-{random.getrandbits(32):08x}"
    made: list[str] = []
    try:
        targets = cgroup_dirs(name)
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
        remove_cgroups(made)
        layers.append(
            f"no cgroups ({exc.strerror or exc}): memory and processes limited per process"
        )
        return []
    layers.append("cgroups: memory and processes of the whole tree")
    return made


def join_cgroups(directories: list[str], pid: int) -> None:
    for directory in directories:
        with open(f"{directory}/cgroup.procs", "w") as f:
            f.write(str(pid))


def cgroup_pids(directory: str) -> list[int]:
    try:
        with open(f"{directory}/cgroup.procs") as f:
            return [int(line) for line in f if line.strip()]
    except OSError:
        return []


def memory_events(directories: list[str]) -> int:
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


def remove_cgroups(directories: list[str]) -> None:
    for directory in directories:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = cgroup_pids(directory)
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


def unshare(layers: list[str]) -> tuple[bool, bool]:
    """New namespaces: (namespaces made, user namespace among them)."""
    base = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC
    try:
        check(libc.unshare(base | CLONE_NEWUSER), "unshare")
        return True, True
    except OSError as exc:
        if os.geteuid() != 0:
            layers.append(f"no namespaces ({exc})")
            return False, False
        first = exc
    try:
        check(libc.unshare(base), "unshare")  # root without user namespaces
    except OSError as exc:
        layers.append(f"no namespaces ({exc})")
        return False, False
    layers.append(f"no user namespace ({first}): the code runs as root in its namespaces")
    return True, False


def map_user(pid: int, uid: int, gid: int) -> None:
    """Map the jail's root to ``uid``/``gid`` on the host (written from outside, by the
    launcher, which a root launcher may do for any id)."""
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def subordinate_ids() -> tuple[int, int] | None:
    """A user id and a group id of this (normal) user's own subordinate ranges
    (``/etc/subuid``, ``/etc/subgid``), when ``newuidmap`` and ``newgidmap`` are installed to
    map them: the code then runs as an id that owns none of the user's files. None where
    either is missing."""
    import pwd
    import shutil

    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return None
    uid = os.getuid()
    names = {str(uid)}
    with contextlib.suppress(KeyError):
        names.add(pwd.getpwuid(uid).pw_name)
    picked: list[int] = []
    for path in ("/etc/subuid", "/etc/subgid"):
        ranges: list[tuple[int, int]] = []
        with contextlib.suppress(OSError), open(path) as f:
            for line in f:
                owner, _, rest = line.strip().partition(":")
                first, _, size = rest.partition(":")
                if owner in names and first.isdigit() and size.isdigit() and int(size) > 0:
                    ranges.append((int(first), int(size)))
        if not ranges:
            return None
        low, count = random.choice(ranges)
        picked.append(low + random.randrange(count))
    return picked[0], picked[1]


def map_subordinate(pid: int, uid: int, gid: int) -> None:
    """Map the jail's root to a subordinate id through the setuid helpers."""
    import subprocess

    for helper, value in (("newgidmap", gid), ("newuidmap", uid)):
        done = subprocess.run(
            [helper, str(pid), "0", str(value), "1"], capture_output=True, timeout=10
        )
        if done.returncode != 0:
            raise OSError(f"{helper}: {done.stderr.decode(errors='replace').strip()[:200]}")


def private_dev(scratch: str) -> None:
    stage = os.path.join(scratch, ".ponder-dev")
    os.mkdir(stage)
    mount("/dev", stage, None, MS_BIND | MS_REC)
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        node = f"/dev/{name}"
        open(node, "w").close()
        mount(f"{stage}/{name}", node, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"/dev/{name}")
    os.symlink("/proc/self/fd/1", "/dev/stdout")
    os.symlink("/proc/self/fd/2", "/dev/stderr")
    check(libc.umount2(stage.encode(), MNT_DETACH), "umount staging /dev")
    os.rmdir(stage)


def hidden_ancestor(path: str) -> str | None:
    """The highest directory above ``path`` that other users cannot enter (no o+x)."""
    parts = path.split("/")
    for i in range(2, len(parts)):
        ancestor = "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def interpreter_dirs() -> list[str]:
    wanted = [sys.base_prefix, sys.prefix, sys.exec_prefix, *sys.path]
    return sorted({os.path.realpath(p) for p in wanted if os.path.isdir(p)})


def home_dirs() -> list[str]:
    """The host's home directories: hidden from the code whoever it runs as."""
    import pwd

    homes = {"/root", "/home"}
    with contextlib.suppress(KeyError):
        homes.add(pwd.getpwuid(os.getuid()).pw_dir)
    return sorted(os.path.realpath(h) for h in homes if h != "/" and os.path.isdir(h))


def python_dirs(user: bool) -> dict[str, dict[str, int]]:
    """What to cover with an empty tmpfs, and the interpreter's directories to bind back
    into it: every home directory (the user's dotfiles), and, when the code gets a user of
    its own, each directory that user could not enter (Python installed under /root, say).
    The directories are opened while the launcher's user can still reach them: the directory
    to hide -> {each interpreter directory under it: an open descriptor}."""
    needed = interpreter_dirs()
    covers = set(home_dirs())
    if user:
        covers |= {a for a in map(hidden_ancestor, needed) if a is not None}
    outer = sorted(c for c in covers if not any(c.startswith(o.rstrip("/") + "/") for o in covers))
    hidden: dict[str, dict[str, int]] = {}
    for cover in outer:
        inside = [p for p in needed if p.startswith(cover.rstrip("/") + "/")]
        tops = [p for p in inside if not any(p.startswith(q + "/") for q in inside)]
        hidden[cover] = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in tops}
    return hidden


def expose_python(hidden: dict[str, dict[str, int]], layers: list[str]) -> None:
    """Cover each directory to hide with an empty tmpfs holding only the interpreter's
    directories, bind-mounted back; what else it held stays out of sight."""
    for ancestor, paths in hidden.items():
        mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        for path, fd in paths.items():
            os.makedirs(path, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
    if hidden:
        layers.append(f"hidden but the interpreter's directories: {', '.join(hidden)}")


def read_only_world(
    scratch: str, scratch_bytes: int, python: dict[str, dict[str, int]], layers: list[str]
) -> bool:
    """Every mount read-only; the scratch directory a fresh tmpfs of ``scratch_bytes``
    belonging to the code's user. True when the scratch is that tmpfs."""
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        expose_python(python, layers)
        os.makedirs(scratch, exist_ok=True)  # a fresh one, where its parent was hidden
        options = f"size={scratch_bytes},mode=700,uid=0,gid=0"
        mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, options)
        private_dev(scratch)
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
            mount(None, point, None, flags)
        except OSError:
            failed.append(point)
    if "/" in failed:
        layers.append("filesystem writable (remounting / read-only failed)")
    else:
        note = f" (still writable: {', '.join(failed)})" if failed else ""
        layers.append(f"read-only filesystem but a {scratch_bytes >> 20} MiB tmpfs scratch{note}")
    return True


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_privileges(layers: list[str]) -> None:
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    number = SYS_CAPSET.get(os.uname().machine)
    if number is None:
        layers.append("capabilities kept (unknown architecture)")
        return
    header = CapHeader(0x20080522, 0)
    data = (CapData * 2)()
    check(libc.syscall(number, ctypes.byref(header), data), "capset")
    layers.append("capabilities dropped, no_new_privs")


def count_own_processes() -> int:
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


def limit(limits: dict[str, int], own: int, layers: list[str]) -> None:
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
