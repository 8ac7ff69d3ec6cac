"""The hostile corpora's outcomes, case by case, as one text file: the request corpus against
a live ``ponder serve`` (``tests/test_server_hostile.py``) and the candidate corpus through the
sandbox as root and as nobody, with the audit hook on and off
(``tests/test_sandbox_verdicts.py``). It runs those tests (they assert the outcomes; this
only writes them down) and prints the table.

    .venv/bin/python benchmarks/hostile_report.py > benchmarks/results/serve/hostile.txt
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_server_hostile.py", "tests/test_sandbox_verdicts.py"]


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "hostile.txt"
        env = {**os.environ, "PONDER_HOSTILE_REPORT": str(report)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        tail = [line for line in done.stdout.splitlines() if " passed" in line or "failed" in line]
        print("$ .venv/bin/python benchmarks/hostile_report.py")
        print(f"pytest {' '.join(TESTS)}: {tail[-1] if tail else done.stdout[-500:]}")
        print()
        serve = json.loads(report.with_suffix(".serve.json").read_text())
        print(f"## Requests against a live ponder serve ({len(serve)} cases)")
        print("Each case with a valid key; /health probed every 50 ms during it and once after;")
        print("'upstream' counts the generation calls the case caused (0: refused before work).")
        print()
        print(f"{'status':>6} {'code':16} {'upstream':>8} {'health s':>8}  case / message")
        for o in sorted(serve, key=lambda o: o["case"]):
            error = o.get("error", {})
            print(
                f"{o['status']:>6} {str(error.get('code')):16} {o['upstream_calls']:>8} "
                f"{o['health_seconds']:>8.3f}  {o['case']}"
            )
            if error:
                print(f"{'':43}{error['message'][:150]}")
        for path in sorted(Path(scratch).glob("hostile.*-*.json")):
            run = path.stem.split(".", 1)[1]
            cases = json.loads(path.read_text())
            print()
            print(f"## Candidates through the sandbox: {run} ({len(cases)} wrong solutions)")
            for name, o in sorted(cases.items()):
                steps = "".join("p" if ok else "F" for ok in o["steps"]) or "-"
                print(f"  {o['status']:8} steps {steps:3} {name}: {(o['reason'] or '')[:110]}")


if __name__ == "__main__":
    main()
