"""The seeds' code benchmarks as tasks: MBPP, MBPP+ and LiveCodeBench, scored by running their
tests in the sandbox (``ponder.scoring.sandbox``: the tests run in its judge, calling the
solution with plain data).

- ``mbpp`` (``google-research-datasets/mbpp``, ``full`` or ``sanitized``, test): the task
  text and its asserts as the prompt (as the MBPP paper asks); every assert of ``test_list``
  (and ``challenge_test_list`` with ``challenge=true``) must pass, after ``test_setup_code``
  and ``test_imports``.
- ``mbpp_plus`` (``evalplus/mbppplus``, test): the same prompt; EvalPlus's own ``test`` (many
  more inputs, compared with its ``assertion``) must pass.
- ``livecodebench`` (``livecodebench/code_generation_lite``): ``release`` picks the files of a
  release (``release_v1`` ... ``release_v6``: every problem up to it; ``v1`` ... ``v6``: only
  the problems it added), ``start_date``/``end_date`` a window of contest dates (the point of
  a contamination-free benchmark). Public and private tests both count; ``functional`` tests
  call the starter code's method (LeetCode), ``stdin`` tests run the program on an input and
  compare its output line by line, token by token (AtCoder, Codeforces). Private tests are
  decoded as the dataset stores them (base64, zlib, then a pickled string: unpickled by an
  unpickler that builds nothing but strings).
"""

from __future__ import annotations

import ast
import base64
import builtins
import io
import json
import pickle
import re
import zlib
from collections.abc import Sequence
from typing import Any

from ponder.core.problem import AnswerSpec, Problem
from ponder.errors import ConfigError
from ponder.scoring.code import example_calls, extract_code
from ponder.tasks.base import Score, tests_score
from ponder.tasks.hub import HubConfig, HubTask, data_files, first

FENCE = "Write the whole program in one ```python code block."


class CodeConfig(HubConfig):
    #: seconds the solution and all its tests may take, and its memory
    timeout: float = 30.0
    memory_mb: int = 1024


class CodeBenchmark(HubTask):
    kind = "code"

    def __init__(self, **args: Any) -> None:
        super().__init__(**args)
        self._problems: list[Problem] | None = None

    def make(self, index: int, row: dict[str, Any]) -> Problem:
        raise NotImplementedError

    def problems(self, limit: int | None = None) -> Sequence[Problem]:
        if self._problems is None:
            self._problems = [self.make(i, row) for i, row in enumerate(self.selected())]
        return self._problems[:limit]

    def selected(self) -> list[dict[str, Any]]:
        return self.rows()

    def program(self, problem: Problem, text: str) -> tuple[str, list[str]]:
        """The program to run and its test steps (the first sets up, the rest test)."""
        steps: list[str] = problem.metadata["steps"]
        return extract_code(text), steps

    def score(self, problem: Problem, text: str, answer: str | None) -> Score:
        config = self.config
        assert isinstance(config, CodeConfig)
        program, steps = self.program(problem, text)
        return tests_score(program, steps, config.timeout, config.memory_mb)


def entry_point(tests: Sequence[str]) -> str:
    """The function the asserts test: the first called name that is not a builtin."""
    for test in tests:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and not hasattr(builtins, node.func.id)
            ):
                return node.func.id
    raise ConfigError(f"no function under test in {list(tests)[:1]!r}")


class MBPPConfig(CodeConfig):
    #: also run the harder ``challenge_test_list`` (the full configuration has them)
    challenge: bool = False


class _Asserted(CodeBenchmark):
    """A function's task text and the asserts it must pass, as MBPP asks."""

    def _problem(
        self,
        row: dict[str, Any],
        index: int,
        shown: list[str],
        setup: list[str],
        checks: list[str],
    ) -> Problem:
        config = self.config
        assert isinstance(config, CodeConfig)
        text = str(first(row, "text", "prompt"))
        entry = entry_point(shown)
        listed = "\n".join(shown[:3])
        question = f"{text}\nYour code should pass these tests:\n\n{listed}\n\n{FENCE}"
        spec = AnswerSpec(
            "code", examples=example_calls("\n".join(shown), entry), entry_point=entry
        )
        steps = ["\n".join(setup) or "pass", *checks]
        pid = f"{self.name}-{row.get('task_id', index)}"
        return Problem(question, config.system, pid, {"steps": steps}, spec)


class MBPP(_Asserted):
    name = "mbpp"
    Config = MBPPConfig
    dataset = "google-research-datasets/mbpp"
    subset = "full"

    def make(self, index: int, row: dict[str, Any]) -> Problem:
        config = self.config
        assert isinstance(config, MBPPConfig)
        shown = [str(t) for t in first(row, "test_list")]
        tests = list(shown)
        if config.challenge:
            tests += [str(t) for t in row.get("challenge_test_list") or []]
        setup = [str(row.get("test_setup_code") or ""), *map(str, row.get("test_imports") or [])]
        return self._problem(row, index, shown, [s for s in setup if s.strip()], tests)


class MBPPPlus(_Asserted):
    name = "mbpp_plus"
    Config = CodeConfig
    dataset = "evalplus/mbppplus"

    def make(self, index: int, row: dict[str, Any]) -> Problem:
        shown = [str(t) for t in first(row, "test_list")]
        imports = [str(i) for i in row.get("test_imports") or []]
        return self._problem(row, index, shown, imports, [str(first(row, "test"))])


class LiveCodeBenchConfig(CodeConfig):
    #: release_vN (every problem up to release N) or vN (only those release N added)
    release: str = "release_v6"
    #: contest dates to keep, inclusive (YYYY-MM-DD): a window past a model's training data
    start_date: str | None = None
    end_date: str | None = None


class LiveCodeBench(CodeBenchmark):
    name = "livecodebench"
    Config = LiveCodeBenchConfig
    dataset = "livecodebench/code_generation_lite"

    def selected(self) -> list[dict[str, Any]]:
        config = self.config
        assert isinstance(config, LiveCodeBenchConfig)
        match = re.fullmatch(r"(release_)?v(\d+)", config.release)
        if not match:
            raise ConfigError(f"release {config.release!r}: give release_vN or vN (N = 1, 2, ...)")
        number, cumulative = int(match.group(2)), bool(match.group(1))
        if config.data is None:
            rows = self.rows()  # the hub's copy is one release; filter by date only
        else:
            files = data_files(config.data)
            if len(files) > 1:
                wanted = (
                    {_release_file(n) for n in range(1, number + 1)}
                    if cumulative
                    else {_release_file(number)}
                )
                files = [f for f in files if f.name in wanted]
                if not files:
                    raise ConfigError(
                        f"--data {config.data}: no file of {config.release} "
                        f"({', '.join(sorted(wanted))})"
                    )
            rows = self.rows(files)
        start, end = config.start_date or "0000", config.end_date or "9999"
        return [r for r in rows if start <= str(r.get("contest_date", ""))[:10] <= end]

    def make(self, index: int, row: dict[str, Any]) -> Problem:
        config = self.config
        assert isinstance(config, CodeConfig)
        content = str(first(row, "question_content"))
        starter = str(row.get("starter_code") or "")
        metadata = json.loads(row.get("metadata") or "{}")
        tests = _tests(row.get("public_test_cases")) + _tests(row.get("private_test_cases"))
        if starter.strip():
            ask = (
                f"{content}\n\nComplete this starter code (the class and method it names "
                f"are what the tests call):\n```python\n{starter}\n```\n{FENCE}"
            )
        else:
            ask = (
                f"{content}\n\nRead the input from standard input and write the answer to "
                f"standard output.\n{FENCE}"
            )
        func = str(metadata.get("func_name") or "")
        steps = ["pass"]
        for test in tests:
            given, expected = str(test["input"]), str(test["output"])
            if test.get("testtype") == "functional":
                args = [json.loads(line) for line in given.split("\n") if line.strip()]
                want = json.loads(expected)
                steps.append(f"assert __ponder_call__({func!r}, *{args!r}) == {want!r}")
            else:
                steps.append(
                    f"assert __ponder_lines__(__ponder_stdio__({given!r})) == "
                    f"__ponder_lines__({expected!r})"
                )
        steps[0] = _LINES
        pid = f"{self.name}-{row.get('question_id', index)}"
        meta = {
            "steps": steps,
            "functional": bool(starter.strip()),
            "date": row.get("contest_date"),
        }
        return Problem(ask, config.system, pid, meta, AnswerSpec("code"))

    def program(self, problem: Problem, text: str) -> tuple[str, list[str]]:
        code = extract_code(text)
        if problem.metadata["functional"]:
            return code + _CALL, problem.metadata["steps"]
        return _STDIO.format(source=repr(code)), problem.metadata["steps"]


def _release_file(number: int) -> str:
    return "test.jsonl" if number == 1 else f"test{number}.jsonl"


class _StringsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the test cases name {module}.{name}: refused")


def _tests(raw: Any) -> list[dict[str, Any]]:
    """Test cases as the dataset stores them: a JSON list, or that JSON pickled, compressed
    and base64-encoded (private tests)."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return raw
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError:
        packed = zlib.decompress(base64.b64decode(str(raw).encode()))
        loaded = json.loads(_StringsOnly(io.BytesIO(packed)).load())
    if not isinstance(loaded, list):
        raise ConfigError("test cases must be a list")
    return loaded


#: the first step: how outputs are compared (in the judge: trusted code)
_LINES = (
    "def __ponder_lines__(text):\n"
    "    return [line.split() for line in str(text).strip().splitlines() if line.strip()]\n"
)
#: appended to a LeetCode-style solution (in the sandbox): a method call the judge can make
_CALL = "\n\ndef __ponder_call__(name, *args):\n    return getattr(Solution(), name)(*args)\n"
#: a stdin program, wrapped so that the judge can run it on each input (in the sandbox)
_STDIO = """
import io as __ponder_io
import sys as __ponder_sys

__PONDER_SOURCE = {source}


def __ponder_stdio__(given):
    out = __ponder_io.StringIO()
    old = __ponder_sys.stdin, __ponder_sys.stdout
    __ponder_sys.stdin, __ponder_sys.stdout = __ponder_io.StringIO(given), out
    try:
        exec(compile(__PONDER_SOURCE, "solution.py", "exec"), {{"__name__": "__main__"}})
    except SystemExit:
        pass
    finally:
        __ponder_sys.stdin, __ponder_sys.stdout = old
    return out.getvalue()
"""


__all__ = ["MBPP", "MBPPPlus", "LiveCodeBench"]
