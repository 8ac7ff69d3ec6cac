"""``arithmetic``: a step checker that recomputes the arithmetic a solution claims.

Every chain of arithmetic a step writes with equals signs (``12 + 7 = 19``,
``3 \\times 4 = 12``, ``(8 - 2) / 3 = 2``, ``2 + 3 = 5 + 1 = 6``) is evaluated with Python
(a small expression evaluator over numbers and ``+ - * / ^`` and parentheses; nothing else is
ever run), and each claim is right when both sides agree (to the precision the claimed number
is written with: ``10 / 3 = 3.33`` is right). A step's score is 1 when all its claims hold,
0 when any fails, and ``neutral`` when it claims nothing; steps fold into one score by
``aggregate`` (the weakest step by default: one wrong computation sinks a solution).

This is the tool-integrated self-verification of T1 ("Teaching LLMs to Verify their
Arithmetic with Tools"-style checkers, see ``techniques.md`` section C) as a process
verifier: a real signal even with a tiny model, since it needs no model at all. It scores
partial solutions (search nodes) and finished ones alike, costs no tokens, and knows nothing
but arithmetic: a step whose reasoning is wrong but whose sums are right scores 1.
"""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import Candidate, Problem
from ponder.scoring.scorers.base import (
    ScorerConfig,
    ScoreValue,
    ScoringContext,
    StepScorer,
    StepScorerConfig,
)

#: a maximal run of arithmetic characters (equals signs included): one pass, no backtracking
_RUN = re.compile(r"[\d.+\-*/^()\[\] =]+")
#: the most characters of a side kept next to its "=" (a claim is short; a 4,000-digit run
#: of the model's is not one, and must not cost quadratic time to read)
SIDE_CHARS = 80
#: the most characters of one candidate's text read for claims
TEXT_CHARS = 65536
#: the most sides of one chain, and chains of one step, checked
CHAIN_SIDES = 32
STEP_CHAINS = 256
_OPERATOR = re.compile(r"\d\s*[)\]]*\s*(?:[-+*/^])\s*[(\[]*\s*-?\d")
_OPS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


class ArithmeticConfig(StepScorerConfig):
    #: the score of a step that claims no arithmetic
    neutral: float = Field(1.0, ge=0.0, le=1.0)


class ArithmeticChecker(StepScorer):
    """Recomputes each step's arithmetic claims; no model calls."""

    name = "arithmetic"
    Config: ClassVar[type[ScorerConfig]] = ArithmeticConfig
    scores_partial = True

    async def score_steps(
        self, problem: Problem, candidates: Sequence[Candidate], ctx: ScoringContext
    ) -> list[ScoreValue]:
        """Off the event loop (a server keeps answering while it checks)."""
        return await asyncio.to_thread(self.check_all, candidates)

    def check_all(self, candidates: Sequence[Candidate]) -> list[ScoreValue]:
        config = self.config
        assert isinstance(config, ArithmeticConfig)
        scored = []
        for candidate in candidates:
            steps, claims = [], []
            for step in self.split_steps(candidate.text):
                checked = check_claims(step)
                claims.extend(checked)
                if not checked:
                    steps.append(config.neutral)
                else:
                    steps.append(1.0 if all(ok for _, ok in checked) else 0.0)
            wrong = [claim for claim, ok in claims if not ok]
            details: dict[str, Any] = {"claims": len(claims), "wrong": wrong[:5]}
            scored.append(ScoreValue(None, steps=tuple(steps), details=details))
        return scored


def normalise(text: str) -> str:
    """Plain ASCII arithmetic: LaTeX and Unicode operators, thousands separators and math
    delimiters rewritten or dropped."""
    for old, new in (
        ("\\times", "*"),
        ("\\cdot", "*"),
        ("×", "*"),
        ("·", "*"),
        ("÷", "/"),
        ("\\div", "/"),
        ("−", "-"),
        ("\\left", ""),
        ("\\right", ""),
        ("$", " "),
        ("\\(", " "),
        ("\\)", " "),
        ("\\[", " "),
        ("\\]", " "),
    ):
        text = text.replace(old, new)
    text = re.sub(r"\\frac\{([^{}]+)\}\{([^{}]+)\}", r"((\1)/(\2))", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,200 -> 1200
    return re.sub(r"(?<=\d)\s*[xX]\s*(?=\d)", " * ", text)  # 3 x 4 -> 3 * 4


def check_claims(step: str) -> list[tuple[str, bool]]:
    """Each arithmetic claim in ``step`` (sides joined by ``=``, one of them computing
    something) and whether it holds. The outer sides are trimmed to what evaluates (``1. 3 +
    4 = 7 -`` reads ``3 + 4 = 7``); a chain such as ``2 + 3 = 5 + 1 = 6`` is read as the
    running computation it is meant as (each side equal to the next, or to its first number)."""
    found = []
    for sides in chains(normalise(step[:TEXT_CHARS])):
        sides[0] = _longest(sides[0], suffix=True)
        sides[-1] = _longest(sides[-1], suffix=False)
        values = [evaluate(s) if s else None for s in sides]
        if any(v is None for v in values) or not any(_OPERATOR.search(s) for s in sides):
            continue  # not arithmetic, or nothing computed ("x = 5 = 5")
        ok = all(
            _agrees(values[i], values[i + 1], sides[i + 1])  # type: ignore[arg-type]
            or _agrees(values[i], evaluate(_longest(sides[i + 1], suffix=False, first=True)), "")  # type: ignore[arg-type]
            for i in range(len(sides) - 1)
        )
        found.append((" = ".join(sides), ok))
    return found


def chains(text: str) -> list[list[str]]:
    """Every chain of sides joined by "=" in ``text``, each side holding a digit: linear in
    the text's length (one regex pass over runs of arithmetic characters, then splits), each
    side cut to its ``SIDE_CHARS`` characters nearest an "="."""
    found = []
    for match in _RUN.finditer(text):
        run = match.group(0)
        if "=" not in run:
            continue
        current: list[str] = []
        for side in run.split("="):
            if any(c.isdigit() for c in side):
                current.append(side.strip())
                continue
            if len(current) > 1:
                found.append(current)
            current = []
        if len(current) > 1:
            found.append(current)
    found = [sides[:CHAIN_SIDES] for sides in found[:STEP_CHAINS]]
    for sides in found:
        sides[0] = sides[0][-SIDE_CHARS:]
        sides[-1] = sides[-1][:SIDE_CHARS]
        for i in range(1, len(sides) - 1):
            if len(sides[i]) > SIDE_CHARS:
                sides[i] = sides[i][:SIDE_CHARS]
    return found


def _longest(side: str, *, suffix: bool, first: bool = False) -> str:
    """The longest suffix (or prefix) of ``side``, cut at spaces, that evaluates ("" if
    none); ``first``: the shortest prefix that does (the leading number)."""
    words = side.split(" ")
    cuts = range(len(words)) if suffix else range(len(words), 0, -1)
    if first:
        cuts = range(1, len(words) + 1)
    for cut in cuts:
        part = " ".join(words[cut:] if suffix else words[:cut]).strip()
        if part and evaluate(part) is not None:
            return part
    return ""


def evaluate(expression: str) -> float | None:
    """The value of an arithmetic expression, or None if it is not one (or divides by 0, or
    is too big to be a claim worth checking)."""
    text = expression.replace("[", "(").replace("]", ")").replace("^", "**")
    try:
        tree = ast.parse(text, mode="eval")
        value = _eval(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    return value if math.isfinite(value) else None


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
            raise ValueError("power too large to check")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError(f"not arithmetic: {ast.dump(node)}")


def _agrees(computed: float, claimed: float | None, claimed_text: str) -> bool:
    """Whether two sides agree: exactly (relative 1e-9), or to the decimals a plain claimed
    number is written with (a rounded result is not a wrong one)."""
    if claimed is None:
        return False
    if math.isclose(computed, claimed, rel_tol=1e-9, abs_tol=1e-9):
        return True
    plain = re.fullmatch(r"-?\s*\d+\.(\d+)", claimed_text)
    if plain:
        decimals = len(plain.group(1))
        return bool(abs(computed - claimed) <= 0.5 * 10.0**-decimals + 1e-9)
    return False
