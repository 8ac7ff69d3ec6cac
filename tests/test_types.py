from __future__ import annotations

import pytest

from ponder.core.types import (
    GenerationRequest,
    Message,
    SamplingParams,
    Usage,
    make_params,
    sample_seed,
)
from ponder.errors import ConfigError


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"n": 0}, "n"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"top_logprobs": 3}, "top_logprobs > 0 needs logprobs=True"),
        ({"stop": [""]}, "stop"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_params_are_config_errors_naming_the_field(fields: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match="invalid sampling parameters") as info:
        make_params(**fields)
    assert fragment in str(info.value)


def test_params_defaults_and_stop_normalisation() -> None:
    params = make_params(stop="\n", n=4, seed=3)
    assert params.stop == ("\n",)
    assert params.n == 4 and params.temperature == 1.0 and not params.greedy
    assert make_params(temperature=0).greedy
    changed = params.replace(n=2)
    assert changed.n == 2 and changed.seed == 3 and params.n == 4
    with pytest.raises(ConfigError):
        params.replace(n=-1)


def test_params_are_immutable() -> None:
    params = SamplingParams()
    with pytest.raises(Exception, match="frozen"):
        params.n = 3  # type: ignore[misc]


def test_request_needs_exactly_one_of_messages_or_prompt() -> None:
    params = SamplingParams()
    with pytest.raises(ConfigError):
        GenerationRequest(params=params)
    with pytest.raises(ConfigError):
        GenerationRequest(params=params, prompt="a", messages=(Message("user", "b"),))
    with pytest.raises(ConfigError):
        GenerationRequest(params=params, messages=())
    chat = GenerationRequest.chat([{"role": "user", "content": "hi"}], params, prefix="So")
    assert chat.messages == (Message("user", "hi"),) and chat.prefix == "So"


def test_usage_adds_up() -> None:
    total = Usage(10, 4, 5) + Usage(1, 0, 2)
    assert total == Usage(11, 4, 7)
    assert total.total_tokens == 18
    assert total.as_dict()["cached_prompt_tokens"] == 4


def test_sample_seeds_of_neighbouring_requests_do_not_overlap() -> None:
    seeds = {base: [sample_seed(base, i) for i in range(64)] for base in range(4)}
    for base, own in seeds.items():
        assert own[0] == base  # one sample seeded s is the first of many seeded s
        assert len(set(own)) == 64 and all(0 <= s < 2**31 for s in own)
        assert own == [sample_seed(base, i) for i in range(64)]  # reproducible
    assert not set(seeds[0]) & set(seeds[1])  # with base + i they shared 63 of 64
    assert sample_seed(2**40 + 5, 0) == (2**40 + 5) & 0x7FFFFFFF
