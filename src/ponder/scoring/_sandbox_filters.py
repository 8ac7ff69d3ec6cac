"""The sandbox's filters, applied by ``_sandbox_child.py`` in the namespace's init (which
loads this file by its path; never imported by ponder). Standard library only: landlock (what
the code may read and write, whatever its user id) and a seccomp filter (system calls it has
no business making). See ``_sandbox_child.py`` for what each holds."""

from __future__ import annotations

import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def interpreter_dirs() -> list[str]:
    wanted = [sys.base_prefix, sys.prefix, sys.exec_prefix, *sys.path]
    return sorted({os.path.realpath(p) for p in wanted if os.path.isdir(p)})


# -- landlock: what the code may read and write, whatever its user id


LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self (every arch)
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
#: every filesystem right of each landlock ABI (1: 13 rights; 2: refer; 3: truncate; 5: ioctl)
FS_ALL = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_ALL = 3  # bind and connect TCP (ABI 4)
SCOPE_ALL = 3  # abstract unix sockets and signals outside the domain (ABI 6)
#: read-only places every program needs (the interpreter's own directories are added)
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc")


class RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def restrict_files(scratch: str, layers: list[str]) -> None:
    """Landlock (Linux 5.13+, no privilege needed): the code may read the system's and the
    interpreter's directories and ``/dev``, and write only its scratch directory; every other
    file on the host (the user's own, whatever their mode) is out of reach, also when the
    code runs under the user's own id. Where the ABI has them: no TCP, and no abstract unix
    socket or signal outside the sandbox."""
    abi = libc.syscall(SYS_LANDLOCK[0], None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        layers.append("no landlock (kernel without it): files limited by user id only")
        return
    fs = FS_ALL[max(k for k in FS_ALL if k <= abi)]
    attr = RulesetAttr(fs, NET_ALL if abi >= 4 else 0, SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(SYS_LANDLOCK[0], ctypes.byref(attr), size, 0)
    if ruleset < 0:
        errno = ctypes.get_errno()
        layers.append(f"no landlock ({os.strerror(errno)})")
        return
    read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    places = [(p, read) for p in (*SYSTEM_DIRS, *interpreter_dirs())]
    places += [("/dev", read | FS_WRITE_FILE), (scratch, fs)]
    try:
        for path, access in places:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = PathBeneath(access if os.path.isdir(path) else access & 0x7, fd)
                check(
                    libc.syscall(
                        SYS_LANDLOCK[1], ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
                    ),
                    f"landlock rule for {path}",
                )
            finally:
                os.close(fd)
        check(libc.syscall(SYS_LANDLOCK[2], ruleset, 0), "landlock_restrict_self")
    except OSError as exc:
        layers.append(f"no landlock ({exc})")
        return
    finally:
        os.close(ruleset)
    scoped = ", no abstract unix sockets or signals outside" if abi >= 6 else ""
    layers.append(
        f"landlock (ABI {abi}): reads only system and interpreter files, writes "
        f"only scratch{scoped}"
    )


# -- seccomp: system calls the code has no business making


AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
#: socket (every family: an AF_UNIX path reaches host services through a read-only mount and
#: any network namespace), debugging other processes, namespaces and mounts, kernel keys,
#: BPF, perf, userfaultfd, io_uring, modules, kexec
DENIED_SYSCALLS = {
    "x86_64": (
        41,
        101,
        310,
        311,
        272,
        308,
        165,
        166,
        155,
        161,
        321,
        298,
        250,
        248,
        249,
        323,
        425,
        426,
        427,
        246,
        175,
        313,
        428,
        429,
        430,
        431,
        432,
        442,
    ),
    "aarch64": (
        198,
        117,
        270,
        271,
        97,
        268,
        40,
        39,
        41,
        51,
        280,
        241,
        219,
        217,
        218,
        282,
        425,
        426,
        427,
        104,
        105,
        273,
        428,
        429,
        430,
        431,
        432,
        442,
    ),
}
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM = 1


class SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """A classic-BPF filter: another architecture (or x32's numbers) kills the process, each
    denied call fails with EPERM, everything else is allowed."""
    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    denied = DENIED_SYSCALLS[machine]
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, AUDIT_ARCH[machine]),
        (ret, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (load, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        program += [(jge, 0, 1, 0x40000000), (ret, 0, 0, SECCOMP_RET_KILL_PROCESS)]
    for i, number in enumerate(denied):
        # to the EPERM return after the last comparison, or on to the next
        program.append((jeq, len(denied) - i, 0, number))
    program += [(ret, 0, 0, SECCOMP_RET_ALLOW), (ret, 0, 0, SECCOMP_RET_ERRNO | EPERM)]
    return program


def deny_syscalls(layers: list[str]) -> None:
    machine = os.uname().machine
    if machine not in DENIED_SYSCALLS:
        layers.append(f"no seccomp filter (unknown architecture {machine})")
        return
    program = seccomp_program(machine)
    filters = (SockFilter * len(program))(*(SockFilter(*op) for op in program))
    fprog = SockFprog(len(program), filters)
    try:
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
    except OSError as exc:
        layers.append(f"no seccomp filter ({exc})")
        return
    layers.append("seccomp: no sockets, ptrace, namespaces, mounts, bpf or io_uring")
