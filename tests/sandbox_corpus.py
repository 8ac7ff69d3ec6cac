"""The hostile candidate corpus: wrong solutions of ``add(a, b)`` that try to make their tests
pass by reaching the verdict instead of computing the sum. Standard library only, so that the
unprivileged driver (``python sandbox_corpus.py CASES.json``, run under ``setpriv``) can load
it with any interpreter that user can run.

Every case's solution is wrong (no case returns a + b for every test), so every case must
end as a failed run; ``SECRET``, ``SOCKET`` and ``MARKER`` are filled in per run with the
path of a 0600 file of the running user, of a host unix socket that records connections, and
of a file the code must not be able to create outside its scratch directory.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

#: HumanEval's shape: a test module with check(candidate), then check(add)
TESTS = (
    "def check(candidate):\n"
    "    assert candidate(1, 2) == 3\n"
    "    assert candidate(2, 5) == 7\n"
    "    assert candidate(-4, 4) == 0\n"
    "\n"
    "check(add)\n"
)

_FORGE = (
    "import os\n"
    "def forge(line):\n"
    "    for fd in range(3, 256):\n"
    "        try:\n"
    "            os.write(fd, line)\n"
    "        except OSError:\n"
    "            pass\n"
)

CASES: dict[str, str] = {
    # the old harness compiled its test steps in the code's own interpreter
    "patched compile": (
        "import builtins\n_c = builtins.compile\n"
        "builtins.compile = lambda s, f, m, *a, **k: _c('pass', f, m)\n"
        "def add(a, b):\n    return None\n"
    ),
    "patched exec": (
        "import builtins\nbuiltins.exec = lambda *a, **k: None\ndef add(a, b):\n    return None\n"
    ),
    "patched os.write": (
        "import os\n_w = os.write\n"
        "def write(fd, data):\n"
        "    return _w(fd, data.replace(b'\"ok\": false', b'\"ok\": true'))\n"
        "os.write = write\n"
        "def add(a, b):\n    return 0\n"
    ),
    "patched os._exit": (
        "import os\n_e = os._exit\nos._exit = lambda code: _e(0)\ndef add(a, b):\n    return 0\n"
    ),
    "patched json": (
        'import json\njson.dumps = lambda *a, **k: \'{"ok": true, "completed": true}\'\n'
        "json.loads = lambda *a, **k: {'value': 3}\n"
        "def add(a, b):\n    return 0\n"
    ),
    "exit 0 inside the call": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "always-true __eq__": (
        "class Anything:\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n"
        "def add(a, b):\n    return Anything()\n"
    ),
    "int subclass with a true __eq__": (
        "class Int(int):\n"
        "    def __eq__(self, other):\n        return True\n"
        "    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return Int(0)\n"
    ),
    "frame walk for the nonce": _FORGE
    + (
        "import sys, re\n"
        "def add(a, b):\n"
        "    frame = sys._getframe()\n"
        "    found = set()\n"
        "    while frame is not None:\n"
        "        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):\n"
        "            if isinstance(value, str) and re.fullmatch('[0-9a-f]{32}', value):\n"
        "                found.add(value)\n"
        "            if isinstance(value, dict):\n"
        "                found |= {v for v in value.values() if isinstance(v, str)\n"
        "                          and re.fullmatch('[0-9a-f]{32}', v)}\n"
        "        frame = frame.f_back\n"
        "    for nonce in found:\n"
        "        for i in range(8):\n"
        '            line = \'{"step": %d, "ok": true, "nonce": "%s"}\\n\'\n'
        "            forge((line % (i, nonce)).encode())\n"
        '        forge((\'{"completed": true, "nonce": "%s"}\\n\' % nonce).encode())\n'
        "    return 0\n"
    ),
    "answers forged on every descriptor": _FORGE
    + (
        'forge(b\'{"program": "ran"}\\n\')\n'
        "def add(a, b):\n"
        '    forge(b\'{"value": 3}\\n{"value": 7}\\n{"value": 0}\\n\')\n'
        "    return 0\n"
    ),
    "verdict-channel flood": _FORGE
    + ("forge(b'[' * 100000 + b'\\n')\ndef add(a, b):\n    forge(b'{' * 100000)\n    return 0\n"),
    "subinterpreter": (
        "def add(a, b):\n"
        "    try:\n"
        "        import _xxsubinterpreters as interpreters\n"
        "    except ImportError:\n"
        "        import _interpreters as interpreters\n"
        "    interp = interpreters.create()\n"
        "    interpreters.run_string(interp, "
        "'import ctypes; ctypes.CDLL(None).system(b\"touch MARKER\")')\n"
        "    return 0\n"
    ),
    "host unix socket": (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect('SOCKET')\n"
        "s.sendall(b'hello from the sandbox')\n"
        "def add(a, b):\n    return 0\n"
    ),
    "host unix socket from a subinterpreter": (
        "def add(a, b):\n"
        "    import _xxsubinterpreters as interpreters\n"
        "    interp = interpreters.create()\n"
        "    interpreters.run_string(interp, 'import socket; s = socket.socket(socket.AF_UNIX);"
        ' s.connect("SOCKET")\')\n'
        "    return 0\n"
    ),
    "read a 0600 file of the running user": (
        "def add(a, b):\n"
        "    return open('SECRET').read()\n"  # returned: it would show in the verdict's error
    ),
    "write outside scratch": ("def add(a, b):\n    open('MARKER', 'w').write('x')\n    return 0\n"),
    "a thread that answers later": (
        "import threading, time\n"
        "def add(a, b):\n"
        "    threading.Thread(target=lambda: time.sleep(0.1)).start()\n"
        "    return a - b\n"
    ),
}


def fill(code: str, paths: dict[str, str]) -> str:
    for key, value in paths.items():
        code = code.replace(key, value)
    return code


def run_cases(
    cases: dict[str, str], paths: dict[str, str], guard: bool, run_code: Any
) -> dict[str, dict[str, Any]]:
    """Each case (name -> solution) through ``run_code``: the solution, then the tests."""
    outcomes = {}
    for name, code in cases.items():
        execution = run_code(fill(code, paths), then=[TESTS], guard=guard)
        outcomes[name] = {
            "status": execution.status,
            "ok": execution.ok,
            "reason": execution.reason,
            "steps": [step.ok for step in execution.steps],
            "stdout": execution.stdout,
            "stderr": execution.stderr[-2000:],
            "isolation": list(execution.isolation),
        }
    return outcomes


def _load_sandbox(src: Path) -> Any:
    """``ponder.scoring.sandbox`` without ponder's package (standard library only)."""
    for name, path in (("ponder", src / "ponder"), ("ponder.scoring", src / "ponder" / "scoring")):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module
    from ponder.scoring import sandbox

    return sandbox


if __name__ == "__main__":  # the unprivileged driver
    job = json.loads(Path(sys.argv[1]).read_text())
    sandbox = _load_sandbox(Path(job["src"]))
    result = run_cases(job["cases"], job["paths"], job["guard"], sandbox.run_code)
    Path(job["out"]).write_text(json.dumps(result))
