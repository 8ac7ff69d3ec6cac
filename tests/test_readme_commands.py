"""Every ``ponder`` command the README shows, checked as the command line would read it: the
command exists, every option and argument parses (a renamed option fails here, not on a user's
machine), and every strategy spec builds (its options validated). The cheap ones also run, on
a scripted OpenAI-compatible server standing in for the model."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from ponder.api import make_strategy
from ponder.cli import app
from ponder.core.spec import expand_spec
from ponder.testing import ScriptedServer

README = Path(__file__).parent.parent / "README.md"


def commands() -> list[str]:
    """The README's ``.venv/bin/ponder ...`` lines in its bash blocks (continuations joined,
    comments cut)."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"^\s*(?:[A-Z_]+=\S+\s+)*", "", line)  # environment variables first
            if line.startswith(".venv/bin/ponder "):
                found.append(line)
    return found


def argv(line: str) -> list[str]:
    words = shlex.split(line, comments=True)[1:]
    return [w for w in words if w != "..."] if words[:1] != ["solve"] else words


COMMANDS = commands()


def test_the_readme_shows_commands() -> None:
    names = {argv(c)[0] for c in COMMANDS}
    assert {"solve", "eval", "report", "plan", "serve", "tune"} <= names, names


@pytest.mark.parametrize("line", COMMANDS)
def test_each_readme_command_parses(line: str) -> None:
    args = argv(line)
    group = typer.main.get_command(app)
    parent = group.make_context("ponder", list(args), resilient_parsing=False)
    command = group.get_command(parent, args[0])  # type: ignore[attr-defined]
    assert command is not None, f"no command {args[0]!r}"
    context = command.make_context(args[0], args[1:], parent=parent)
    for spec in _strategies(context.params):
        for _, name, options in expand_spec(spec):
            if "plan" in options or name == "auto" and "budget" not in options:
                continue  # a plan file the README's reader writes first
            make_strategy(name, **options)


def _strategies(params: dict[str, object]) -> list[str]:
    value = params.get("strategy")
    found = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    found += list(params.get("preset") or [])  # type: ignore[call-overload]
    return [s for s in found if isinstance(s, str)]


def right(question: str, index: int, seed: int | None) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    return f"Answer: {numbers[0] * numbers[1] if len(numbers) >= 2 else 4}"


SOLVES = [c for c in COMMANDS if argv(c)[0] == "solve" and "--model" not in c and "plan=" not in c]
#: what a plain OpenAI-compatible server cannot do: continue a reply (budget forcing), give
#: logprobs to a judge; these run on the embedded model
EMBEDDED = ("budget_forcing", "judge", "auto")
CHEAP = [c for c in SOLVES if not any(word in c for word in EMBEDDED)]


@pytest.mark.live
@pytest.mark.parametrize("line", [c for c in SOLVES if c not in CHEAP])
def test_the_readme_solve_commands_run_on_the_embedded_model(line: str) -> None:
    cheaper = [] if "auto:" in line else ["--max-tokens", "32"]  # auto's plan sets its own
    result = CliRunner().invoke(app, [*argv(line), *cheaper, "--json"])
    if result.exit_code == 1 and "could not score any of" in result.stderr:
        # a verifier's documented refusal: a 135M model's verification chains may all end
        # without a verdict on some CPU's numerics; the command itself ran end to end
        assert result.stderr.startswith("error: scorer "), result.stderr
        return
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "answer" in result.stdout


@pytest.mark.parametrize("line", CHEAP)
def test_the_readme_solve_commands_run(line: str) -> None:
    with ScriptedServer(right) as url:
        result = CliRunner().invoke(app, [*argv(line), "--model", f"{url}#scripted"])
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "answer" in result.stdout
