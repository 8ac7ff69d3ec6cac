"""Answer equivalence and the majority vote (reading answers out of replies is
``ponder.scoring.extraction``).

Equivalence (``equivalent``): when both answers read as mathematics, ``math-verify`` decides
(so ``1/2``, ``0.5`` and ``\\frac{1}{2}`` agree); otherwise the normalised texts must be equal
(lower case, surrounding punctuation and markdown stripped, runs of spaces collapsed). Code
answers read by their behaviour (``f(1) -> 2; ...``) are equal only when identical.

The vote (``majority_vote``) groups equivalent answers; the group with the most votes wins.
Ties are broken deterministically: the tied group whose first member came earliest (lowest
sample index) wins, which for i.i.d. samples is a fair coin and makes runs reproducible.
Samples with no extractable answer do not vote.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any


def normalize_text(answer: str) -> str:
    """Lower case, markdown and surrounding punctuation stripped, whitespace collapsed."""
    answer = answer.lower().strip().strip("*_`\"'").strip()
    answer = answer.rstrip(".!?;:,").strip()
    answer = re.sub(r"^(?:the|a|an)\s+", "", answer)
    return re.sub(r"\s+", " ", answer)


class _DropTimeoutNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


def _timeout() -> int | None:
    """math-verify's timeouts use SIGALRM, which only the main thread has. Elsewhere they are
    off (and math-verify's notice about it silenced); answers are capped at 200 characters,
    which keeps sympy's worst cases short."""
    if threading.current_thread() is threading.main_thread():
        return 5
    for name in ("math_verify.parser", "math_verify.grader"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropTimeoutNotice) for f in log.filters):
            log.addFilter(_DropTimeoutNotice())
    return None


@functools.lru_cache(maxsize=4096)
def _parse_math(answer: str) -> tuple[Any, ...]:
    """math-verify's parse of one answer (cached: votes compare the same strings often)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    text = answer if "$" in answer or "\\" not in answer else f"${answer}$"
    try:
        parsed = parse(
            text,
            extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
            parsing_timeout=_timeout(),
        )
    except Exception:  # math-verify raises many kinds on odd input: treat as "not math"
        return ()
    return tuple(parsed)


def _looks_mathematical(answer: str) -> bool:
    return bool(re.search(r"\d|\\frac|\\sqrt|\\pi|\^", answer)) and not re.search(
        r"[a-zA-Z]{4,}", re.sub(r"\\[a-zA-Z]+", "", answer)
    )


#: a code answer read by what it does (``ponder.scoring.behaviour``): ``call -> result; ...``
_BEHAVIOUR = re.compile(r"[A-Za-z_]\w*\(.*?\) -> ", re.DOTALL)


def is_behaviour(answer: str) -> bool:
    """Whether ``answer`` is a code behaviour (``f(1) -> 2; f(3) -> 4``), which is compared
    exactly: a result's case, spacing and every number matter, and math-verify must not read
    one result of it as the whole."""
    return _BEHAVIOUR.match(answer) is not None


@functools.lru_cache(maxsize=8192)
def equivalent(a: str, b: str) -> bool:
    """Whether two extracted answers say the same thing (see the module docstring)."""
    if is_behaviour(a) or is_behaviour(b):
        return a == b
    if normalize_text(a) == normalize_text(b):
        return True
    if not (_looks_mathematical(a) and _looks_mathematical(b)):
        return False
    pa, pb = _parse_math(a), _parse_math(b)
    if not pa or not pb:
        return False
    from math_verify import verify

    try:
        return bool(verify(list(pa), list(pb), timeout_seconds=_timeout()))
    except Exception:  # a comparison math-verify cannot make is not an equivalence
        return False


@dataclasses.dataclass(frozen=True)
class VoteGroup:
    answer: str
    members: tuple[int, ...]  # sample indices, ascending
    weight: float

    @property
    def votes(self) -> int:
        return len(self.members)


@dataclasses.dataclass(frozen=True)
class Vote:
    groups: tuple[VoteGroup, ...]  # ranked: winner first

    @property
    def winner(self) -> VoteGroup | None:
        return self.groups[0] if self.groups else None

    @property
    def answer(self) -> str | None:
        return self.winner.answer if self.winner else None


def group_answers(answers: Sequence[str | None]) -> list[list[int]]:
    """Indices of ``answers`` grouped by equivalence, in order of first appearance."""
    groups: list[list[int]] = []
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            representative = answers[group[0]]
            assert representative is not None
            if equivalent(representative, answer):
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


def majority_vote(answers: Sequence[str | None], weights: Sequence[float] | None = None) -> Vote:
    """Group equivalent answers and rank the groups by (weighted) votes, ties to the earliest.
    A group answers in its most common written form ("6" over "6 + 0 = 6"; ties: the
    earliest), since a task's scorer may accept one form and not another."""
    if weights is not None and len(weights) != len(answers):
        raise ValueError("one weight per answer is needed")
    w = list(weights) if weights is not None else [1.0] * len(answers)
    ranked = []
    for members in group_answers(answers):
        forms = Counter(answers[i] for i in members)  # in order of first appearance
        representative = max(forms, key=lambda form: forms[form])  # ties: the earliest
        assert representative is not None
        ranked.append(VoteGroup(representative, tuple(members), float(sum(w[i] for i in members))))
    ranked.sort(key=lambda g: (-g.weight, g.members[0]))
    return Vote(tuple(ranked))
