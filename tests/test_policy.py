"""The request policy's own rules (``ponder.server.policy``) and safe templates
(``ponder.core.trust.fill``); the live corpus is ``test_server_hostile.py``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.core.trust import fill
from ponder.errors import ConfigError
from ponder.server.policy import Policy, PolicyError, token_field


def test_fill_replaces_plain_fields_and_refuses_the_rest() -> None:
    assert fill("Q: {question} {{literal}}", question="2+2") == "Q: 2+2 {literal}"
    for template in (
        "{question:>50000000}",
        "{question!r}",
        "{question.__class__}",
        "{x}",
        "{",
        "{0}",
        "{question[0]}",
    ):
        with pytest.raises(ConfigError):
            fill(template, question="q")


def test_the_default_offers_shipped_strategies_and_safe_scorers() -> None:
    policy = Policy.default()
    assert {"self_consistency", "best_of_n", "auto", "mcts"} <= policy.strategies
    assert policy.scorers == {"judge", "confidence", "arithmetic", "gen_verify"}
    wider = policy.widened(["tests", "python"], ["mcts"])
    assert {"tests", "python"} <= wider.scorers and "mcts" not in wider.strategies
    assert "reward_model" in policy.widened(["all"], []).scorers
    with pytest.raises(ConfigError, match="no strategy or scorer"):
        policy.widened(["nope"], [])
    with pytest.raises(ConfigError, match="not allowed to begin with"):
        policy.widened([], ["python"])


def test_operator_options_pass_only_from_the_operator() -> None:
    policy = Policy.default(
        named_scorers={"strict": {"name": "judge", "pointwise_prompt": "{question} {solution}"}}
    )
    trusted = policy.admit("best_of_n", {"scorer": "judge(pointwise_prompt=x)"}, {}, {"default"})
    assert trusted["scorer"] == {"name": "judge", "pointwise_prompt": "x"}
    with pytest.raises(PolicyError, match="prompt template"):
        policy.admit("best_of_n", {}, {"scorer": "judge(pointwise_prompt=x)"}, {"default"})
    named = policy.admit("best_of_n", {}, {"scorer": "strict(mode=text)"}, {"default"})
    assert named["scorer"] == {
        "name": "judge",
        "pointwise_prompt": "{question} {solution}",
        "mode": "text",
    }
    with pytest.raises(PolicyError, match="over this server's limit"):
        policy.admit("best_of_n", {}, {"sampler": "think_twice(max_tokens=99999)"}, {"default"})
    with pytest.raises(PolicyError, match="does not serve"):
        policy.admit("model_switch", {}, {"models": ["default", "big"]}, {"default"})
    assert policy.admit("model_switch", {}, {"models": ["default", "big"]}, {"default", "big"})


def test_token_fields() -> None:
    assert all(map(token_field, ["max_tokens", "answer_tokens", "max_thinking", "step_tokens"]))
    assert not any(map(token_field, ["tokens_per_problem", "budget", "n"]))


def test_an_api_key_on_the_command_line_warns() -> None:
    result = CliRunner().invoke(app, ["serve", "--api-key", "k", "--strategy", "nope"])
    assert result.exit_code != 0
    assert "shows in the process list" in result.output and "PONDER_API_KEYS" in result.output
