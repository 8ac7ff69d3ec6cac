"""Verdicts a candidate cannot touch: the hostile candidate corpus (``sandbox_corpus.py``) run
through HumanEval-style tests, as root and as an unprivileged user (``setpriv`` to nobody),
with the audit hook on and off. Every wrong solution fails, the runs go on, no host unix
socket is reached, no file outside scratch is made, and no 0600 file of the running user is
read."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ponder.scoring.sandbox import run_code

sys.path.insert(0, str(Path(__file__).parent))
import sandbox_corpus  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
NOBODY = 65534
#: an interpreter the unprivileged user can run (the suite's own may live under /root)
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


class Listener:
    """A host unix socket anyone may connect to, recording every connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connections = 0
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(path))
        os.chmod(path, 0o777)
        self._socket.listen(8)
        self._socket.settimeout(0.2)
        self._closed = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                continue
            self.connections += 1
            self._open.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        for conn in self._open:
            conn.close()
        self._socket.close()


@pytest.fixture
def place() -> Iterator[dict[str, Any]]:
    """A directory any user can enter, with a secret, a listening socket and a marker path."""
    root = Path(tempfile.mkdtemp(prefix="ponder-hostile-", dir="/tmp"))
    root.chmod(0o755)
    listener = Listener(root / "host.sock")
    secret = root / "secret.txt"
    secret.write_text("TOPSECRET-0600")
    secret.chmod(0o600)
    place = {
        "root": root,
        "listener": listener,
        "secret": secret,
        "paths": {
            "SECRET": str(secret),
            "SOCKET": str(root / "host.sock"),
            "MARKER": str(root / "marker"),
        },
    }
    yield place
    listener.close()
    shutil.rmtree(root, ignore_errors=True)


def _unprivileged(
    place: dict[str, Any], guard: bool, cases: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    if os.geteuid() != 0:
        pytest.skip("running as an unprivileged user needs root to switch to it")
    if SYSTEM_PYTHON is None or not shutil.which("setpriv"):
        pytest.skip("needs /usr/bin/python3 and setpriv (util-linux) to run as nobody")
    root: Path = place["root"]
    os.chown(place["secret"], NOBODY, NOBODY)  # the running user's own 0600 file
    job = root / "job.json"
    out = root / "out.json"
    job.write_text(
        json.dumps(
            {
                "src": str(SRC),
                "cases": cases or sandbox_corpus.CASES,
                "paths": place["paths"],
                "guard": guard,
                "out": str(out),
            }
        )
    )
    shutil.copy(Path(sandbox_corpus.__file__), root / "sandbox_corpus.py")
    out.touch()
    os.chown(out, NOBODY, NOBODY)
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        + [SYSTEM_PYTHON, "-I", str(root / "sandbox_corpus.py"), str(job)],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"},
        capture_output=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    outcomes: dict[str, dict[str, Any]] = json.loads(out.read_text())
    return outcomes


@pytest.mark.parametrize("guard", [True, False], ids=["hook", "kernel-only"])
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_no_wrong_solution_passes(place: dict[str, Any], user: str, guard: bool) -> None:
    if user == "root":
        outcomes = sandbox_corpus.run_cases(sandbox_corpus.CASES, place["paths"], guard, run_code)
    else:
        outcomes = _unprivileged(place, guard)
    assert sorted(outcomes) == sorted(sandbox_corpus.CASES)  # every run ended, in turn
    for name, outcome in outcomes.items():
        assert not outcome["ok"] and outcome["status"] != "passed", (name, outcome)
        seen = json.dumps(outcome)
        assert "TOPSECRET" not in seen, (name, outcome)
    assert place["listener"].connections == 0
    assert not Path(place["paths"]["MARKER"]).exists()
    isolation = " ".join(next(iter(outcomes.values()))["isolation"])
    assert "landlock" in isolation and "seccomp" in isolation, isolation
    assert ("audit hook" in isolation) == guard
    report = os.environ.get("PONDER_HOSTILE_REPORT")
    if report:
        _record(Path(report).with_suffix(f".{user}-{'hook' if guard else 'kernel'}.json"), outcomes)


def _record(path: Path, outcomes: dict[str, dict[str, Any]]) -> None:
    path.write_text(
        json.dumps(
            {n: {k: o[k] for k in ("status", "reason", "steps")} for n, o in outcomes.items()},
            indent=1,
        )
    )


def test_the_secret_is_readable_outside_the_sandbox(place: dict[str, Any]) -> None:
    """The corpus's secret and socket are real: the same code outside the sandbox reaches
    them (so the test above fails if the sandbox stops holding)."""
    code = sandbox_corpus.fill(sandbox_corpus.CASES["host unix socket"], place["paths"])
    namespace: dict[str, Any] = {}
    exec(compile(code, "<outside>", "exec"), namespace)
    namespace["s"].close()
    assert place["secret"].read_text() == "TOPSECRET-0600"
    deadline = 50
    while place["listener"].connections == 0 and deadline:
        threading.Event().wait(0.1)
        deadline -= 1
    assert place["listener"].connections == 1
    assert stat.S_IMODE(place["secret"].stat().st_mode) == 0o600


def test_a_right_solution_still_passes_as_nobody(place: dict[str, Any]) -> None:
    """The layers do not fail honest code: the right ``add`` passes as root and as nobody."""
    right = "def add(a, b):\n    return a + b\n"
    assert run_code(right, then=[sandbox_corpus.TESTS]).ok
    outcome = _unprivileged(place, True, {"right": right})["right"]
    assert outcome["ok"], outcome
    assert "landlock" in " ".join(outcome["isolation"])


def test_patched_compile_scores_no_humaneval_problem() -> None:
    """The review's case: every function returning None, with ``compile`` patched, scored
    3/3 on HumanEval; it scores 0/3, and the canonical solutions 3/3."""
    from ponder.tasks import make_task

    task = make_task("humaneval", {"timeout": 10})
    problems = task.problems(limit=3)
    patch = (
        "import builtins\n_c = builtins.compile\n"
        "builtins.compile = lambda s, f, m, *a, **k: _c('pass', f, m)\n"
    )
    scores = []
    for problem in problems:
        record = problem.metadata["record"]
        cheat = f"```python\n{patch}{record['prompt']}    return None\n```"
        scores.append(task.score(problem, cheat, None).correct)
        right = f"```python\n{record['prompt']}{record['canonical_solution']}```"
        assert task.score(problem, right, None).correct, problem.id
    assert scores == [False, False, False]
