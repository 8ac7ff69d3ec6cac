"""``ponder serve`` fuzzed from its own OpenAPI schema (schemathesis): no generated request,
valid or not, gets a 5xx. Valid bodies have their ``model`` replaced, some of the time, by a
served one with a strategy, so that they reach the strategies instead of stopping at 404."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from ponder.server import ServeConfig, Served, create_app
from ponder.testing import FunctionBackend

MODELS = ["m", "m@greedy", "m@self_consistency:n=2", "m@best_of_n:n=2,scorer=judge(mode=text)"]
#: cases per (operation, mode): more than 1,000 in all
CASES = {
    ("POST /v1/chat/completions", "positive"): 450,
    ("POST /v1/chat/completions", "negative"): 250,
    ("POST /v1/completions", "positive"): 250,
    ("POST /v1/completions", "negative"): 150,
}
COMMON = {"model", "messages", "prompt", "n", "temperature", "top_p", "max_tokens", "seed"}
COMMON |= {"stream", "stream_options", "max_completion_tokens", "user"}
ran: dict[tuple[str, str], int] = {}
codes: dict[int, int] = {}


def _reply(request: Any, index: int) -> str:
    asked = request.messages[-1].content if request.messages else ""
    return "Rating: 6" if "rating" in asked.lower() else "The answer is 4."


APP = create_app(
    Served("m", {"m": FunctionBackend(_reply)}), ServeConfig(max_tokens=64, run_tokens=2048)
)
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = {op.label: op for op in (r.ok() for r in SCHEMA.get_all_operations())}


@pytest.mark.parametrize(("label", "mode"), list(CASES))
def test_no_generated_request_gets_a_server_error(label: str, mode: str) -> None:
    operation = OPERATIONS[label]
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @settings(
        max_examples=CASES[label, mode],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=strategy, model=st.sampled_from([None, *MODELS]), plain=st.booleans())
    def check(case: Any, model: str | None, plain: bool) -> None:
        if model is not None and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = model
            if plain:  # only the common fields, so that more requests reach a strategy
                case.body = {k: v for k, v in case.body.items() if k in COMMON}
        response = case.call()
        ran[label, mode] = ran.get((label, mode), 0) + 1
        codes[response.status_code] = codes.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.body, response.text)
        if response.status_code != 200:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    check()
    assert ran[label, mode] >= CASES[label, mode] * 0.9


def test_the_other_routes_answer() -> None:
    for label in ("GET /health", "GET /v1/models"):
        assert OPERATIONS[label].Case().call().status_code == 200


def test_over_a_thousand_cases_ran() -> None:
    """Runs last (file order): the fuzz above generated more than 1,000 requests, and some
    of them reached a strategy and were answered."""
    print(f"fuzz: {sum(ran.values())} cases, status codes {sorted(codes.items())}")
    assert sum(ran.values()) >= 1000, ran
    assert codes.get(200, 0) >= 20, codes
