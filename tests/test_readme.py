"""The README's example strategy, run as written."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from ponder.api import make_strategy
from ponder.core.registry import default_registry
from ponder.core.types import GenerationRequest
from ponder.runtime import Context
from ponder.server import Running, Served
from ponder.testing import FunctionBackend

README = Path(__file__).parent.parent / "README.md"


def example_module() -> types.ModuleType:
    text = README.read_text()
    section = text[text.index("### Writing a strategy") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's 'Writing a strategy' section has no python block"
    module = types.ModuleType("readme_example")
    exec(compile(match.group(1), str(README), "exec"), module.__dict__)
    return module


async def test_the_readme_example_strategy_runs_and_breaks_ties() -> None:
    cls = example_module().SCGreedyTieBreak
    registry = default_registry().with_component("strategy", cls.name, cls)

    def model(request: GenerationRequest, index: int) -> str:
        if request.params.temperature == 0.0:
            return "The answer is 5."
        return f"The answer is {4 + index % 2}."  # 4, 5, 4, 5: a tie

    backend = FunctionBackend(model)
    strategy = make_strategy("sc_greedy_tiebreak", registry=registry, n=4, seed=1)
    result = await strategy.run("What is 2 + 3?", Context(backend))
    assert result.answer == "5" and result.details["tie_broken"] is True
    assert len(result.candidates) == 5 and [r.params.n for r in backend.history] == [4, 1]

    def agreeing(request: GenerationRequest, index: int) -> str:
        return "The answer is 7."

    settled = await make_strategy("sc_greedy_tiebreak", registry=registry, n=3).run(
        "q", Context(FunctionBackend(agreeing))
    )
    assert settled.answer == "7" and settled.details["tie_broken"] is False
    assert len(settled.candidates) == 3


def test_the_readme_client_example_runs_against_ponder_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = README.read_text()
    section = text[text.index("### Serving an OpenAI-compatible API") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's serving section has no python block"
    model = re.search(r'model="([^"@]+)@', match.group(1))
    assert model is not None
    backend = FunctionBackend(lambda request, index: "17 * 3 = 51, so the answer is 51.")
    with Running(Served(model.group(1), {model.group(1): backend})) as url:
        code = match.group(1).replace("http://127.0.0.1:8000/v1", url)
        exec(compile(code, str(README), "exec"), {})
    assert "the answer is 51" in capsys.readouterr().out
    assert backend.history[0].params.n == 8
