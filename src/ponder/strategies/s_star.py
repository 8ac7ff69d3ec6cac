"""``s_star``: code chosen by running it on inputs written to tell the candidates apart.

Li et al. 2025, "S*: Test Time Scaling for Code Generation" (arXiv 2502.14382), its selection
stage: sample ``n`` programs; group them by what they return on the problem's example calls
(the behaviour vote ``self_consistency`` uses); when groups disagree, ask the model for
inputs on which the groups' representatives would differ (role ``test-gen``), run every
program on them in the sandbox and regroup; then compare the leading groups in pairs with a
model that sees both programs and **what each returned on the inputs where they differ**
(role ``verify``; each pair twice, the order alternated), and take the group with the most
wins (ties to the larger group, then the earlier sample).

Model-written inputs are untrusted: each must be one call of the problem's function whose
arguments are Python literals (numbers, strings, lists, tuples, dicts, sets, booleans,
None), re-written from its parse tree; anything else is dropped and counted. They run only
as plain-data calls, the programs only in the sandbox.

Deviations, on purpose: S* also has a generation stage that debugs each sample against the
public tests over several rounds; here the generation is plain sampling (``sampler=`` may
make each candidate with a sequential strategy, e.g. ``self_refine``), so the selection stage
can be measured on its own at matched tokens. The paper generates inputs once per problem
for all pairs, as here.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import itertools
import re
from typing import Any, ClassVar

from pydantic import Field

from ponder.core.problem import AnswerSpec, Candidate, Problem
from ponder.core.trust import fill, operator_only
from ponder.core.types import Message
from ponder.errors import ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, read_behaviours, sample_candidates
from ponder.scoring.answers import Vote, majority_vote
from ponder.scoring.code import extract_code
from ponder.strategies.base import (
    Outcome,
    Strategy,
    chars_around,
    chosen_outcome,
    clipped,
    outcome_of,
    shown_chars,
    vote_details,
)

TEST_GEN = "test-gen"
VERIFY = "verify"

INPUTS = (
    "{question}\n\nThese candidate solutions disagree:\n\n{programs}\n\n"
    "Write {count} calls of `{entry}` on which these solutions would return different "
    "results: edge cases and inputs where they differ. Write each call on its own line, "
    "with literal arguments only, like `{entry}(...)`, and nothing else."
)
COMPARE = (
    "{question}\n\nTwo candidate solutions follow, with what each returned on inputs where "
    "they differ.\n\nSolution A:\n```python\n{first}\n```\n\nSolution B:\n```python\n"
    "{second}\n```\n\nResults:\n{results}\n\nWhich solution is correct? Answer with one "
    "letter: A or B."
)


class SStarConfig(SamplingConfig):
    n: int = Field(8, ge=1, le=256)
    #: distinguishing inputs asked for
    inputs: int = Field(5, ge=1, le=32)
    #: tokens for the inputs' call
    test_gen_tokens: int = Field(256, ge=16)
    #: the leading groups compared in pairs
    max_groups: int = Field(4, ge=2, le=8)
    #: the most characters of each program shown (its end is kept; fewer where the model's
    #: context could not hold the prompt: ``base.shown_chars``)
    max_program_chars: int = Field(2500, ge=100)
    inputs_prompt: str = operator_only(INPUTS, "a prompt template")
    compare_prompt: str = operator_only(COMPARE, "a prompt template")


class SStar(Strategy):
    """Behaviour groups, split further by generated inputs, settled by grounded comparisons."""

    name = "s_star"
    composes = True
    Config: ClassVar[type[SamplingConfig]] = SStarConfig

    @property
    def _config(self) -> SStarConfig:
        assert isinstance(self.config, SStarConfig)
        return self.config

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self._config
        spec = problem.answer
        if spec is None or spec.type != "code" or not spec.entry_point:
            raise ConfigError(
                "s_star selects code: it needs a code problem that names its function "
                "(humaneval, mbpp, livecodebench, or a JSONL task with answer_type code)"
            )
        candidates = await sample_candidates(problem, ctx, config, config.n)
        vote = majority_vote([c.answer for c in candidates])
        details: dict[str, Any] = {"n": config.n, "generated_inputs": [], "dropped_inputs": 0}
        if len(vote.groups) < 2:
            details["why"] = "the programs agree on the examples (or none ran): nothing to split"
            return outcome_of(vote, candidates, details)
        calls, dropped = await self._inputs(problem, ctx, spec, candidates, vote)
        details.update(generated_inputs=calls, dropped_inputs=dropped)
        runs, tried = candidates, spec.examples
        if calls:
            tried = (*spec.examples, *calls)
            runs = await read_behaviours(
                list(candidates), dataclasses.replace(spec, examples=tried)
            )
        regrouped = majority_vote([c.answer for c in runs])
        details["groups_before"] = len(vote.groups)
        details["groups_after"] = len(regrouped.groups)
        leaders = list(regrouped.groups[: config.max_groups])
        if len(leaders) < 2:
            details["why"] = "one behaviour group is left"
            return chosen_outcome(vote, candidates, candidates[leaders[0].members[0]], details)
        heads = [runs[g.members[0]] for g in leaders]
        wins, record = await self._compare(problem, ctx, tried, heads)
        best = max(range(len(heads)), key=lambda i: (wins[i], leaders[i].votes, -heads[i].index))
        details.update(comparisons=record, wins=wins, groups=vote_details(regrouped))
        return chosen_outcome(vote, candidates, candidates[heads[best].index], details)

    async def _inputs(
        self,
        problem: Problem,
        ctx: Context,
        spec: AnswerSpec,
        candidates: list[Candidate],
        vote: Vote,
    ) -> tuple[list[str], int]:
        config = self._config
        heads = [candidates[g.members[0]] for g in vote.groups[: config.max_groups]]
        around = chars_around(problem, config.inputs_prompt, len(heads), heading=30)
        limit = shown_chars(
            ctx,
            ["default"],
            config.max_program_chars,
            len(heads),
            around,
            config.test_gen_tokens,
        )
        programs = "\n\n".join(
            f"Solution {i + 1}:\n```python\n{clipped(extract_code(c.text), limit)}\n```"
            for i, c in enumerate(heads)
        )
        ask = fill(
            config.inputs_prompt,
            question=problem.question,
            programs=programs,
            count=config.inputs,
            entry=spec.entry_point,
        )
        result = await ctx.sample(
            [*problem.preamble(), Message("user", ask)],
            role=TEST_GEN,
            **call_options(config, 500, n=1, temperature=0.0, max_tokens=config.test_gen_tokens),
        )
        text = result.completions[0].text
        lines = [line.strip().strip("`").strip() for line in text.splitlines() if line.strip()]
        calls, dropped = [], 0
        for line in lines:
            found = calls_in(line, spec.entry_point)
            dropped += not found and spec.entry_point in line
            for call in found:
                if call not in calls and call not in spec.examples:
                    calls.append(call)
        return calls[: config.inputs], dropped

    async def _compare(
        self, problem: Problem, ctx: Context, calls: tuple[str, ...], heads: list[Candidate]
    ) -> tuple[list[int], list[dict[str, Any]]]:
        config = self._config
        outputs = [results_of(c.answer, calls) for c in heads]
        pairs = list(itertools.combinations(range(len(heads)), 2))
        orders = [(a, b) if j == 0 else (b, a) for a, b in pairs for j in range(2)]

        def ask(first: int, second: int) -> list[Message]:
            rows = []
            for call, x, y in zip(calls, outputs[first], outputs[second], strict=False):
                if x != y:
                    rows.append(clipped(f"{call}: A returns {x}; B returns {y}", 300))
            results = "\n".join(rows[:12]) or "(they return the same on every input tried)"
            around = chars_around(problem, config.compare_prompt, 2, heading=30) + len(results)
            limit = shown_chars(ctx, ["default"], config.max_program_chars, 2, around, 8)
            text = fill(
                config.compare_prompt,
                question=problem.question,
                first=clipped(extract_code(heads[first].text), limit),
                second=clipped(extract_code(heads[second].text), limit),
                results=results,
            )
            return [*problem.preamble(), Message("user", text)]

        replies = await asyncio.gather(
            *(
                ctx.sample(
                    ask(a, b),
                    role=VERIFY,
                    **call_options(config, 600 + i, n=1, temperature=0.0, max_tokens=8),
                )
                for i, (a, b) in enumerate(orders)
            )
        )
        wins = [0] * len(heads)
        record = []
        for (a, b), reply in zip(orders, replies, strict=True):
            text = reply.completions[0].text.strip()
            letter = text[:1].upper()
            winner = a if letter == "A" else b if letter == "B" else None
            if winner is not None:
                wins[winner] += 1
            record.append({"pair": [heads[a].index, heads[b].index], "reply": text[:40]})
        return wins, record


def calls_in(line: str, entry_point: str) -> list[str]:
    """Every call of ``entry_point`` with literal arguments inside ``line``, as
    ``literal_call`` writes it: the calls a model gives however it frames them ("assert
    f(1) == 2", "print(f([1]))", "1. `f('a')`"); anything not a literal call is left out."""
    found = []
    for start in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\s*\(", line):
        depth = 0
        for end in range(start.end() - 1, min(len(line), start.start() + 500)):
            if line[end] in "([{":
                depth += 1
            elif line[end] in ")]}":
                depth -= 1
                if depth == 0:
                    call = literal_call(line[start.start() : end + 1], entry_point)
                    if call is not None:
                        found.append(call)
                    break
    return found


def literal_call(text: str, entry_point: str) -> str | None:
    """``text`` as one call of ``entry_point`` whose arguments are all literals, re-written
    from its parse tree; None for anything else (names, attributes, comprehensions, ...)."""
    if len(text) > 500:
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if node.func.id != entry_point:
        return None
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(arg, ast.Starred):
            return None
        try:
            ast.literal_eval(arg)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            return None
    if any(k.arg is None for k in node.keywords):
        return None
    return ast.unparse(node)


def results_of(answer: str | None, calls: tuple[str, ...]) -> list[str]:
    """The result of each of ``calls`` in a behaviour answer (``call -> result; ...``, as
    ``behaviour_answer`` writes it for those calls); [] when it is not one."""
    if answer is None:
        return []
    found, at = [], 0
    for i, call in enumerate(calls):
        head = f"{call} -> "
        if not answer.startswith(head, at):
            return []
        start = at + len(head)
        if i + 1 < len(calls):
            end = answer.find(f"; {calls[i + 1]} -> ", start)
            if end < 0:
                return []
            at = end + 2
        else:
            end = len(answer)
        found.append(answer[start:end])
    return found


__all__ = ["TEST_GEN", "SStar", "literal_call", "results_of"]
