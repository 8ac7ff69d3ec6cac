"""Code in model replies: extracting it, assembling the program to test, splitting unit tests.

Shared by the HumanEval task (pass/fail of a whole test suite) and the ``tests`` scorer
(the fraction of unit tests passed)::

    setup, tests = split_tests(record["test"])       # HumanEval's check(candidate) body
    steps = test_steps(setup, tests, entry_point="has_close_elements")
    run_code(solution, then=steps)                    # ponder.scoring.sandbox

The sandbox runs every test in turn, catches a failing one and goes on, and reports each as
it ends, so a solution that loops forever in test 3 still gets credit for tests 1-2.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Sequence

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def extract_code(text: str) -> str:
    """The last fenced code block of ``text``, or all of it when there is none."""
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else text


def assemble(prompt: str, code: str, entry_point: str) -> str:
    """The solution program: a reply that restates the function ``entry_point`` redefines it
    after ``prompt`` (its imports and signature); a reply with only the body completes it."""
    defines = re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.M)
    return f"{prompt}\n{code}" if defines else prompt + code


def split_tests(source: str, function: str = "check") -> tuple[str, list[str]]:
    """Split a test module into setup code and single tests.

    The module's top level (imports, constants) and the statements of ``function`` that hold
    no ``assert`` are setup; each statement of ``function`` that holds an ``assert`` (a bare
    assert, or a loop of them) is one test. Without ``function``, the module's own top-level
    statements are split the same way. A module that does not parse is a ValueError.
    """
    try:
        module = ast.parse(source)
    except SyntaxError as exc:
        raise ValueError(f"the tests do not parse: {exc}") from exc
    body = module.body
    outer: list[ast.stmt] = []
    inner: list[ast.stmt] | None = None
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == function and inner is None:
            inner = node.body
        else:
            outer.append(node)
    statements = inner if inner is not None else outer
    setup_nodes = outer if inner is not None else []
    tests: list[str] = []
    setup: list[str] = [ast.unparse(n) for n in setup_nodes]
    body_setup: list[str] = []
    for node in statements:
        if any(isinstance(n, ast.Assert) for n in ast.walk(node)):
            tests.append(ast.unparse(node))
        else:
            body_setup.append(ast.unparse(node))
    if inner is None:
        setup = body_setup
        body_setup = []
    return "\n".join(setup + body_setup), tests


def test_steps(setup: str, tests: Sequence[str], *, entry_point: str | None = None) -> list[str]:
    """The sandbox steps that test a solution: first ``setup`` (binding ``candidate`` to
    ``entry_point``, as HumanEval's ``check(candidate)`` expects), then each test on its own.
    The sandbox's judge runs them after the solution, in a process of its own that calls the
    solution's functions with plain data and compares their results itself
    (``run_code(solution, then=steps)``)."""
    binding = f"candidate = {entry_point}" if entry_point else ""
    return ["\n".join(part for part in (setup, binding) if part) or "pass", *tests]


def example_calls(prompt: str, entry_point: str, limit: int = 8) -> tuple[str, ...]:
    """Calls of ``entry_point`` written in ``prompt``'s docstring (``>>> f(1, 2)``, "f(3) ==
    4", ...): the inputs a behaviour vote runs candidates on."""
    calls: list[str] = []
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\s*\(", prompt):
        before = prompt[max(0, match.start() - 4) : match.start()]
        if before.endswith("def "):
            continue
        depth, end = 0, None
        for i in range(match.end() - 1, len(prompt)):
            depth += {"(": 1, ")": -1}.get(prompt[i], 0)
            if depth == 0:
                end = i + 1
                break
        if end is None:
            continue
        call = prompt[match.start() : end].strip()
        try:
            ast.parse(call, mode="eval")
        except SyntaxError:
            continue
        if call not in calls:
            calls.append(call)
    return tuple(calls[:limit])


def behaviour_step(calls: Sequence[str]) -> str:
    """A sandbox step printing what each call returns (or raises), as one JSON line. The
    calls are written into the step as code (each in a lambda), so the judge sees the names
    they use and binds them to the program's functions."""
    lambdas = ", ".join(f"lambda: ({call})" for call in calls)
    return (
        "import json as __ponder_json\n"
        "__ponder_seen = []\n"
        f"for __ponder_call in [{lambdas}]:\n"
        "    try:\n"
        "        __ponder_seen.append(repr(__ponder_call()))\n"
        "    except Exception as __ponder_exc:\n"
        "        __ponder_seen.append('raises ' + type(__ponder_exc).__name__)\n"
        "print('#ponder-behaviour ' + __ponder_json.dumps(__ponder_seen))\n"
    )


def read_behaviour(stdout: str) -> list[str] | None:
    """What ``behaviour_step`` printed (its last line of that kind): the step's own output
    (``Step.output``), which the code under test cannot write."""
    found = None
    for line in stdout.splitlines():
        if line.startswith("#ponder-behaviour "):
            with contextlib.suppress(ValueError):
                value = json.loads(line[len("#ponder-behaviour ") :])
                if isinstance(value, list):
                    found = [str(v)[:200] for v in value]
    return found
