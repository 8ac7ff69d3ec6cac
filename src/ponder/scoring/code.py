"""Code in model replies: extracting it, assembling the program to test, splitting unit tests.

Shared by the HumanEval task (pass/fail of a whole test suite) and the ``tests`` scorer
(the fraction of unit tests passed)::

    setup, tests = split_tests(record["test"])       # HumanEval's check(candidate) body
    program = test_program(solution, setup, tests, entry_point="has_close_elements")

The program runs every test in turn, catches a failing one and goes on, and prints one marker
line per test, so a solution that loops forever in test 3 still gets credit for tests 1-2.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
TEST_MARKER = "#ponder-test "


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


def test_program(
    solution: str, setup: str, tests: Sequence[str], *, entry_point: str | None = None
) -> str:
    """A program that runs ``solution``, then ``setup``, then each test on its own.

    Tests see ``candidate`` bound to ``entry_point`` (as HumanEval's ``check(candidate)``
    does). Each test prints ``#ponder-test {"i": i, "ok": bool}``; an error in ``setup`` ends
    the program with ``#ponder-test {"setup_error": ...}``: the harness, not the solution,
    failed.
    """
    lines = [
        solution,
        "",
        "def __ponder_report(record):",
        f"    print({TEST_MARKER!r} + __import__('json').dumps(record), flush=True)",
        "",
        "try:",
        _indent(setup or "pass"),
        f"    candidate = {entry_point}" if entry_point else "    pass",
        "except BaseException as __ponder_exc:",
        "    __ponder_report({'setup_error': type(__ponder_exc).__name__ + ': ' + "
        "str(__ponder_exc)[:300]})",
        "    raise SystemExit(3)",
    ]
    for i, test in enumerate(tests):
        lines += [
            "try:",
            _indent(test),
            f"    __ponder_report({{'i': {i}, 'ok': True}})",
            "except Exception as __ponder_exc:",
            f"    __ponder_report({{'i': {i}, 'ok': False, 'error': type(__ponder_exc).__name__}})",
        ]
    return "\n".join(lines) + "\n"


def read_test_report(stdout: str) -> tuple[dict[int, bool], str | None]:
    """Which tests passed, from a ``test_program``'s output, and the setup error if any."""
    results: dict[int, bool] = {}
    setup_error = None
    for line in stdout.splitlines():
        if not line.startswith(TEST_MARKER):
            continue
        try:
            record = json.loads(line[len(TEST_MARKER) :])
        except json.JSONDecodeError:
            continue  # the solution printed something that looks like ours; ignore it
        if not isinstance(record, dict):
            continue
        if "setup_error" in record:
            setup_error = str(record["setup_error"])
        elif isinstance(record.get("i"), int):
            results[record["i"]] = bool(record.get("ok"))
    return results, setup_error


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.splitlines()) or "    pass"
