from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.core.spec import parse_spec as parse_strategy_spec
from ponder.errors import ConfigError

runner = CliRunner()


def test_strategy_spec_parsing() -> None:
    assert parse_strategy_spec("self_consistency:n=8,temperature=0.7,seed=null") == (
        "self_consistency",
        {"n": 8, "temperature": 0.7, "seed": None},
    )
    assert parse_strategy_spec("greedy") == ("greedy", {})
    with pytest.raises(ConfigError, match="key=value"):
        parse_strategy_spec("greedy:oops")


@pytest.mark.live
def test_solve_json_on_the_embedded_model() -> None:
    result = runner.invoke(
        app, ["solve", "What is 2 + 2?", "-n", "3", "--max-tokens", "24", "--seed", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["strategy"] == "self_consistency"
    assert len(data["candidates"]) == 3
    for c in data["candidates"]:
        assert {"text", "answer", "completion_tokens"} <= set(c)
        assert 1 <= c["completion_tokens"] <= 24
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == sum(c["completion_tokens"] for c in data["candidates"])
    assert "cached_prompt_tokens" in usage
    winners = [v for v in data["details"]["votes"] if v["answer"] == data["answer"]]
    assert data["answer"] is None or winners


@pytest.mark.live
def test_solve_human_output() -> None:
    result = runner.invoke(app, ["solve", "Say hi.", "-s", "greedy", "--max-tokens", "8"])
    assert result.exit_code == 0, result.output
    assert "answer:" in result.output and "cost:" in result.output and "tokens" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["solve", "q", "--strategy", "magic"], "choose one of: ab_mcts, adaptive_consistency"),
        (["solve", "q", "-n", "0"], "n: Input should be greater than or equal to 1"),
        (["solve", "q", "--temperature", "-1"], "temperature"),
        (
            ["solve", "q", "--model", "/no/such/model.gguf"],
            "no model file at '/no/such/model.gguf'",
        ),
        (["solve", "q", "-s", "greedy", "-n", "3"], "its options: max_tokens"),
        (["solve", "q", "--extra-model", "second"], "is not of the form NAME=SPEC"),
        (["eval", "-s", "greedy", "--extra-model", "=x"], "is not of the form NAME=SPEC"),
    ],
)
def test_bad_input_is_a_clear_error_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.live
def test_context_overflow_is_exit_2() -> None:
    result = runner.invoke(app, ["solve", "q", "-s", "greedy", "--max-tokens", "100000"])
    assert result.exit_code == 2 and "lower max_tokens" in result.stderr


@pytest.mark.live
def test_backend_options_reach_the_engine() -> None:
    args = ["solve", "What is 2 + 3?", "-s", "greedy", "--max-tokens", "300"]
    assert runner.invoke(app, [*args, "--json"]).exit_code == 0  # fits the default 2048
    small = runner.invoke(app, [*args, "-B", "n_ctx=256", "-B", "n_parallel=2"])
    assert small.exit_code == 2
    assert "exceeds the context of 256 tokens" in small.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("n_ctx", "not of the form KEY=VALUE"),
        ("n_ctxx=512", "unknown llamacpp option"),
        ("n_ctx=big", "n_ctx must be an integer"),
        ("kv_unified=2", "kv_unified must be true or false"),
    ],
)
def test_bad_backend_options_are_exit_2(option: str, message: str) -> None:
    result = runner.invoke(app, ["solve", "q", "-s", "greedy", "-B", option])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_unknown_server_option_is_exit_2() -> None:
    result = runner.invoke(app, ["solve", "q", "-m", "http://127.0.0.1:9/v1#m", "-B", "n_ctx=1"])
    assert result.exit_code == 2 and "unknown openai backend option" in result.stderr


def test_unreachable_server_is_exit_1() -> None:
    result = runner.invoke(app, ["solve", "q", "--model", "http://127.0.0.1:9/v1#m"])
    assert result.exit_code == 1 and "cannot connect to http://127.0.0.1:9/v1" in result.stderr


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys, ponder.cli\n"
        "heavy = [m for m in ('llama_cpp', 'math_verify', 'sympy', 'numpy') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_root_help_is_typers_own_and_needs_no_typer() -> None:
    """``ponder --help`` prints the kept text without importing typer (or the commands);
    the text is what typer renders for the app, so a new command or option shows there or
    this fails (regenerate ``ponder/cli/roothelp.py`` from typer's output)."""
    fast = (
        "import sys; sys.argv = ['ponder', '--help']\n"
        "from ponder.cli import main; main()\n"
        "heavy = [m for m in ('typer', 'pydantic', 'ponder.cli.common') if m in sys.modules]\n"
        "print(heavy)"
    )
    slow = (
        "import sys; sys.argv = ['ponder', '--help']\n"
        "from ponder.cli import app; app(prog_name='ponder')"
    )
    env = {**os.environ, "COLUMNS": "80"}
    got = subprocess.run([sys.executable, "-c", fast], capture_output=True, text=True, env=env)
    want = subprocess.run([sys.executable, "-c", slow], capture_output=True, text=True, env=env)
    assert got.returncode == 0 and want.returncode == 0, (got.stderr, want.stderr)
    text, _, heavy = got.stdout.rpartition("[")
    assert "[" + heavy.strip() == "[]"
    assert text == want.stdout and "Commands:" in text


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["solve", "--help"], ["ponder.cli.common", "ponder.cli.solve"]),
        (["report", "--help"], ["ponder.cli.common", "ponder.cli.evaluate"]),
        (["nosuch"], ["ponder.cli.common", "ponder.cli.evaluate", "ponder.cli.serve",
                      "ponder.cli.solve", "ponder.cli.tune"]),
    ],
)  # fmt: skip
def test_a_command_imports_its_own_module_alone(argv: list[str], loaded: list[str]) -> None:
    """``ponder solve`` registers solve alone (the other commands' modules are not
    imported); a line that names no known command registers them all, as before."""
    code = (
        f"import sys; sys.argv = ['ponder', *{argv!r}]\n"
        "from ponder.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('ponder.cli.') and "
        "m != 'ponder.cli.roothelp'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    *_, last = out.stdout.strip().splitlines()
    assert last == repr(loaded), (out.stdout, out.stderr)


@pytest.mark.live
def test_extra_models_reach_the_strategy() -> None:
    from ponder.backends.llamacpp import default_model_path

    spec = 'model_switch:n=2,models=["second"]'  # only the extra model samples
    args = ["solve", "What is 2 + 3?", "-s", spec, "--max-tokens", "16"]
    missing = runner.invoke(app, args)
    assert missing.exit_code == 2
    assert "unknown model 'second'" in missing.stderr and "--extra-model" in missing.stderr
    result = runner.invoke(
        app, [*args, "--seed", "1", "--extra-model", f"second={default_model_path()}", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [step["model"] for step in data["details"]["models"]] == ["second"]
    assert {c["model"] for c in data["candidates"]} == {"second"}


@pytest.mark.live
def test_solve_tree_prints_the_search() -> None:
    spec = "beam_search:n=2,beam_width=1,scorer=arithmetic,delimiter=\\n,max_steps=2,step_tokens=12"
    args = ["solve", "What is 2 + 3?", "-s", spec, "--max-tokens", "32", "--seed", "1"]
    result = runner.invoke(app, [*args, "--tree"])
    assert result.exit_code == 0, result.output
    assert "beam_search (" in result.output and "score " in result.output
    assert "answer:" in result.output
    as_json = json.loads(runner.invoke(app, [*args, "--json"]).stdout)  # warnings go to stderr
    tree = as_json["details"]["tree"]
    assert tree[0]["parent"] is None and all(n["parent"] is not None for n in tree[1:])
    assert {n["ended"] for n in tree[1:]} <= {"delimiter", "token cap", "end", "cut off"}
    assert all(n["text"].endswith("\n") for n in tree[1:] if n["ended"] == "delimiter")
