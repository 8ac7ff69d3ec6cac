"""The hostile corpus: what a review found to get through the sandbox, each case run with the
audit hook and without it (``guard=False``: the kernel layers alone). Every case must end as a
failed run with its reason and the layer that stopped it, with no host process killed, no
file changed outside the scratch directory, and nothing of the run left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ponder.scoring.sandbox import Execution, Limits, run_code

LIMITS = Limits(wall_seconds=8, cpu_seconds=4, memory_bytes=1 << 30)
GUARDS = pytest.mark.parametrize("guard", [True, False], ids=["hook", "kernel-only"])


@pytest.fixture
def sentinel() -> Iterator[subprocess.Popen[bytes]]:
    """A host process of the same user the code will try to kill."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def host_file(tmp_path: Path) -> Iterator[Path]:
    victim = tmp_path / "precious.txt"
    victim.write_text("precious")
    yield victim
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def leftovers() -> list[str]:
    """Processes of a sandbox run still alive on the host."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"_sandbox_child" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def contained(execution: Execution, sentinel: subprocess.Popen[bytes]) -> None:
    assert sentinel.poll() is None, "a host process was killed"
    assert not leftovers()
    assert execution.reason, "a failed run says why"


@GUARDS
def test_a_pid_written_into_scratch_is_never_killed(
    guard: bool, sentinel: subprocess.Popen[bytes], host_file: Path
) -> None:
    # the old launcher kept the namespace's init PID in scratch and killed whatever it read
    code = (
        "import os\n"
        f"for name in ('.ponder-init-pid', 'pid', '.pid'):\n"
        f"    open(name, 'w').write('{sentinel.pid}')\n"
        f"open('.ponder-init-pid', 'w').write('{os.getpid()}')\n"
    )
    execution = run_code(code, limits=LIMITS, guard=guard)
    assert execution.ok  # writing files in scratch is allowed; nothing reads them
    contained(Execution(**{**execution.__dict__, "reason": "ran"}), sentinel)
    assert os.getpid() and sentinel.poll() is None


@GUARDS
def test_signals_to_host_processes_do_not_arrive(
    guard: bool, sentinel: subprocess.Popen[bytes], host_file: Path
) -> None:
    for target in (sentinel.pid, os.getpid(), -1):
        code = f"import os, signal\nos.kill({target}, signal.SIGKILL)\nprint('sent')"
        execution = run_code(code, limits=LIMITS, guard=guard)
        assert not execution.ok
        contained(execution, sentinel)
        expected = {"audit hook"} if guard else {"PID namespace", None}
        assert execution.stopped_by in expected, execution


@GUARDS
def test_an_early_exit_zero_fails_the_tests(guard: bool) -> None:
    solution = "import os\ndef add(a, b):\n    return a + b\nos._exit(0)\n"
    execution = run_code(solution, then=["assert add(1, 2) == 3"], limits=LIMITS, guard=guard)
    assert execution.exit_code == 0 and not execution.ok
    assert execution.status == "failed" and "no verdict" in (execution.reason or "")
    assert execution.stopped_by == "harness verdict"
    exits_in_test = "import sys\ndef add(a, b):\n    sys.exit(0)\n"
    execution = run_code(exits_in_test, then=["assert add(1, 2) == 3"], guard=guard)
    assert not execution.ok and "SystemExit" in (execution.reason or "")


def test_an_early_exit_zero_in_a_humaneval_completion_scores_wrong() -> None:
    from ponder.tasks import make_task

    task = make_task("humaneval", {"timeout": 5})
    problem = task.problems(limit=1)[0]
    record = problem.metadata["record"]
    cheat = f"```python\nimport os\n{record['prompt']}    return True\nos._exit(0)\n```"
    score = task.score(problem, cheat, None)
    assert not score.correct and "no verdict" in (score.reason or "")


@GUARDS
def test_printed_results_are_not_read_as_verdicts(guard: bool) -> None:
    forged = (
        'print(\'#ponder-test {"i": 0, "ok": true}\')\n'
        'print(\'{"step": 0, "ok": true, "completed": true}\')\n'
        "def add(a, b):\n    return 0\n"
    )
    execution = run_code(forged, then=["assert add(1, 2) == 3"], limits=LIMITS, guard=guard)
    assert not execution.ok and execution.steps and not execution.steps[0].ok


@GUARDS
def test_a_fork_bomb_is_capped_for_the_whole_tree(guard: bool) -> None:
    code = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as exc:\n"
        "    raise SystemExit(f'stopped after {children} children: {exc}')\n"
    )
    execution = run_code(code, limits=Limits(wall_seconds=8, processes=16), guard=guard)
    assert not execution.ok
    assert not leftovers()
    if guard:
        assert execution.stopped_by == "audit hook"
    else:
        stopped = int((execution.reason or "").split("after ")[1].split()[0])
        assert stopped <= 16, execution.reason


@GUARDS
def test_memory_is_capped_for_the_whole_tree(guard: bool) -> None:
    # four children of 600 MiB each against 1 GiB: each fits the per-process limit, together
    # they do not
    code = (
        "import os, time\n"
        "pids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = bytearray(600 << 20)\n"
        "        time.sleep(2)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "statuses = [os.waitpid(p, 0)[1] for p in pids]\n"
        "print(statuses)\n"
    )
    execution = run_code(code, limits=Limits(wall_seconds=20, memory_bytes=1 << 30), guard=guard)
    assert not execution.ok
    assert not leftovers()
    if guard:
        assert execution.stopped_by == "audit hook"
    elif any(layer.startswith("cgroups") for layer in execution.isolation):
        assert execution.status == "memory" and execution.stopped_by == "cgroup"
    else:  # the stated fallback: per-process limits only
        assert any(layer.startswith("no cgroups") for layer in execution.isolation)


@GUARDS
def test_root_only_files_are_out_of_reach(guard: bool) -> None:
    if os.geteuid() != 0 or not Path("/etc/shadow").exists():
        pytest.skip("needs a host where ponder runs as root and /etc/shadow exists")
    execution = run_code("print(open('/etc/shadow').read())", limits=LIMITS, guard=guard)
    assert not execution.ok and "root:" not in execution.stdout
    assert execution.stopped_by == "unprivileged user (user namespace)"


@GUARDS
def test_the_scratch_directory_has_a_size_cap(guard: bool) -> None:
    code = (
        "for i in range(64):\n"
        "    with open(f'big{i}', 'wb') as f:\n"
        "        f.write(b'x' * (15 << 20))\n"
    )
    limits = Limits(wall_seconds=20, scratch_bytes=64 << 20, file_bytes=16 << 20)
    execution = run_code(code, limits=limits, guard=guard)
    assert not execution.ok
    assert execution.stopped_by == "scratch size (tmpfs)", execution.reason


@GUARDS
def test_writes_outside_scratch_fail_without_the_hook_too(guard: bool, host_file: Path) -> None:
    for code in (
        f"open({str(host_file)!r}, 'w').write('overwritten')",
        f"import os\nos.remove({str(host_file)!r})",
        f"open({str(host_file.parent / 'new.txt')!r}, 'w').write('x')",
    ):
        execution = run_code(code, limits=LIMITS, guard=guard)
        assert not execution.ok and execution.stopped_by, (code, execution)


def test_the_hook_cannot_be_reached_through_the_garbage_collector() -> None:
    # a known bypass: find the hook's closure through gc and rewrite its cells
    code = "import gc\nhooks = [o for o in gc.get_objects() if callable(o)]\nprint(len(hooks))"
    execution = run_code(code, limits=LIMITS)
    assert execution.status == "blocked" and "gc.get_objects" in (execution.reason or "")
    assert execution.stopped_by == "audit hook"
