"""The code sandbox: each kind of misbehaviour ends as a classified failure, and nothing
outside the scratch directory is harmed. The kernel layers are also checked on their own
(``guard=False``), so the audit hook is not the only thing standing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ponder.scoring.sandbox import Limits, run_code

FAST = Limits(wall_seconds=4, cpu_seconds=2, memory_bytes=512 << 20)


def test_a_good_program_passes_with_a_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PONDER_SECRET", "hunter2")
    execution = run_code(
        "import os\nprint(sum(range(10)))\nprint(os.environ.get('PONDER_SECRET'))", limits=FAST
    )
    assert execution.ok, execution
    assert execution.stdout.split() == ["45", "None"]
    assert execution.isolation  # the layers that held are reported


def test_a_failing_program_reports_its_error() -> None:
    execution = run_code("assert 1 == 2, 'nope'", limits=FAST)
    assert execution.status == "failed"
    assert execution.reason == "AssertionError: nope"


def test_the_scratch_directory_is_writable() -> None:
    execution = run_code("open('a.txt', 'w').write('x')\nprint(open('a.txt').read())", limits=FAST)
    assert execution.ok, execution
    assert execution.stdout.strip() == "x"


@pytest.mark.parametrize("guard", [True, False])
def test_an_infinite_loop_hits_the_cpu_limit(guard: bool) -> None:
    execution = run_code("while True: pass", limits=FAST, guard=guard)
    assert execution.status == "cpu"
    assert "CPU limit" in (execution.reason or "")


def test_sleeping_forever_hits_the_wall_clock() -> None:
    execution = run_code("import time\ntime.sleep(60)", limits=Limits(wall_seconds=1.5))
    assert execution.status == "timeout"
    assert execution.seconds < 10


@pytest.mark.parametrize("guard", [True, False])
def test_a_memory_hog_hits_the_memory_limit(guard: bool) -> None:
    # CPU and wall time to spare, so that on a loaded machine the memory limit still comes
    # first (with FAST's 2 CPU seconds a busy CI machine once hit the CPU limit first)
    roomy = Limits(wall_seconds=30, cpu_seconds=20, memory_bytes=512 << 20)
    execution = run_code("x = []\nwhile True: x.append(' ' * 10**7)", limits=roomy, guard=guard)
    assert execution.status == "memory"


@pytest.mark.parametrize("guard", [True, False])
def test_a_fork_bomb_ends_and_leaves_nothing_behind(guard: bool) -> None:
    marker = "ponder-forkbomb-marker"
    code = f"import os\n# {marker}\nwhile True:\n    os.fork()\n"
    execution = run_code(code, limits=Limits(wall_seconds=3, cpu_seconds=2), guard=guard)
    assert not execution.ok
    assert execution.status in {"blocked", "timeout", "cpu"}
    if guard:
        assert execution.status == "blocked" and "os.fork" in (execution.reason or "")
    survivors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"_sandbox_child" in cmdline:
            survivors.append(pid)
    assert not survivors


@pytest.mark.parametrize("guard", [True, False])
def test_files_outside_the_scratch_directory_are_safe(tmp_path: Path, guard: bool) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    for code in (
        f"import os\nos.remove({str(victim)!r})",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
        f"open({str(victim)!r}, 'w').write('overwritten')",
        f"open({str(tmp_path / 'new.txt')!r}, 'w').write('x')",
    ):
        execution = run_code(code, limits=FAST, guard=guard)
        assert not execution.ok, code
        assert execution.status in {"blocked", "failed"}
        assert execution.reason
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("guard", [True, False])
def test_no_network(guard: bool) -> None:
    # a listening socket on this machine: the sandbox must not reach even that
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        execution = run_code(code, limits=FAST, guard=guard)
    finally:
        server.close()
    assert not execution.ok
    assert execution.status in {"blocked", "failed"}
    if guard:
        assert execution.status == "blocked" and "socket" in (execution.reason or "")


def test_endless_output_is_cut() -> None:
    execution = run_code(
        "while True: print('x' * 1000)", limits=Limits(wall_seconds=3, file_bytes=1 << 20)
    )
    assert not execution.ok
    assert len(execution.stdout) < 100_000
