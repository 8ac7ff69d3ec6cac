"""Reading an answer with the model's help: two-stage answer extraction.

Kojima et al. 2022 ("Large Language Models are Zero-Shot Reasoners", arXiv 2205.11916):
after the reasoning, the same model is asked to complete "Therefore, the answer (arabic
numerals) is" and the answer is read from those few tokens. Here, after a reply, the model
that wrote it continues ``<reply>`` + "Therefore, the final answer (<the task's type>) is"
for ``reader_tokens`` tokens at temperature 0, and the continuation is read as a declared
``Answer: ...`` line of the task's type.

- ``reader=rules`` (the default): the rules of ``ponder.scoring.extraction`` alone.
- ``reader=model``: every finished reply is read by the model; a reply the model reads no
  answer from abstains.
- ``reader=hybrid``: the rules' declared forms (``Answer: X``, ``\\boxed{X}``) stand; where the
  rules fell back to reading prose, or found nothing, the model reads, and where the model
  reads nothing the rules' fallback stands.
- ``reader=compare``: hybrid's answer, with the model asked to read every finished reply so
  the two readings can be compared: ``Candidate.read_check`` says whether they agree
  ("agree": the same answer, or neither reads one) or "differ"; reports give the share that
  differ. It costs ``model``'s tokens.

Each candidate records which path read it (``Candidate.read_by``: ``declared``, ``boxed``,
``fallback``, ``model``); the model's calls are charged to the role ``read``. On a backend that
continues replies (the embedded engine) the reading is a continuation of the reply itself,
whose tokens are still in the prompt cache (the samples are drawn with ``retain``), so it
costs a handful of decoded tokens; elsewhere it is one more short turn: the reply as the
assistant's, then a user turn asking to complete the sentence. Replies cut off at
``max_tokens`` keep abstaining unless ``keep_cut_off``; code answers are run, never read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from ponder.core.problem import AnswerSpec, Candidate, Problem
from ponder.core.types import Message
from ponder.runtime.context import Context
from ponder.scoring.answers import equivalent
from ponder.scoring.extraction import read_answer

READ = "read"

#: what the cue names, by answer type (Kojima et al.'s "(arabic numerals)")
KINDS = {
    "number": " (a number)",
    "yes_no": " (Yes or No)",
    "choice": " (the letter of one option)",
    "expression": " (a mathematical expression)",
    "text": "",
}
CUE = "Therefore, the final answer{kind} is"
ASK = 'Complete this sentence with your final answer and nothing else: "{cue}"'


def cue_for(spec: AnswerSpec | None) -> str:
    return CUE.format(kind=KINDS.get(spec.type if spec else "text", ""))


def wants_model(candidate: Candidate, reader: str, keep_cut_off: bool) -> bool:
    """Whether ``reader`` asks the model to read this candidate."""
    if reader == "rules" or candidate.tool_calls or not candidate.text.strip():
        return False
    if candidate.finish_reason not in ("stop", "length") or candidate.answer_source != "content":
        return False
    if candidate.finish_reason == "length" and not keep_cut_off:
        return False
    return reader in ("model", "compare") or candidate.read_by not in ("declared", "boxed")


async def read_with_model(
    problem: Problem,
    ctx: Context,
    candidates: Sequence[Candidate],
    *,
    reader: str,
    tokens: int = 16,
    keep_cut_off: bool = False,
    model: str | None = None,
) -> list[Candidate]:
    """``candidates`` with the answers ``reader`` gives them (see the module); the model's
    reading takes at most ``tokens`` tokens."""
    spec = problem.answer
    if reader == "rules" or (spec is not None and spec.type == "code"):
        return list(candidates)
    targets = [i for i, c in enumerate(candidates) if wants_model(c, reader, keep_cut_off)]
    if not targets:
        return list(candidates)
    backend = ctx.model(model)
    cue = cue_for(spec)

    async def one(candidate: Candidate) -> str:
        options: dict[str, Any] = {
            "n": 1,
            "temperature": 0.0,
            "max_tokens": tokens,
            "stop": ("\n",),
        }
        if backend.capabilities.continuation:
            result = await ctx.sample(
                problem.messages(),
                role=READ,
                model=model,
                prefix=candidate.text.rstrip() + "\n\n" + cue,
                **options,
            )
        else:
            turn = [
                *problem.messages(),
                Message("assistant", candidate.text),
                Message("user", ASK.format(cue=cue)),
            ]
            result = await ctx.sample(turn, role=READ, model=model, **options)
        return result.completions[0].text

    said = await asyncio.gather(*(one(candidates[i]) for i in targets))
    read = list(candidates)
    for i, text in zip(targets, said, strict=True):
        read[i] = _merge(candidates[i], text, spec, reader)
    return read


def _merge(candidate: Candidate, said: str, spec: AnswerSpec | None, reader: str) -> Candidate:
    """The candidate with the model's reading of it, as ``reader`` combines the two."""
    # the continuation of "... the final answer is": ": Rome", " **14**.", " that 6"
    text = re.sub(r"^[\s:=*_\-–—]*(?:that\s+)?", "", said).strip().strip('"').strip()
    reading = read_answer(f"Answer: {text}", spec) if text else None
    answer = reading.answer if reading is not None else None
    if reader == "compare":
        rules = candidate.answer
        same = (rules is None and answer is None) or (
            rules is not None and answer is not None and equivalent(rules, answer)
        )
        check = "agree" if same else "differ"
        if candidate.read_by in ("declared", "boxed") or answer is None:
            return dataclasses.replace(candidate, read_check=check)
        return dataclasses.replace(
            candidate, answer=answer, abstained=None, read_by="model", read_check=check
        )
    if answer is not None:
        return dataclasses.replace(candidate, answer=answer, abstained=None, read_by="model")
    if reader == "hybrid":
        return candidate
    return dataclasses.replace(
        candidate, answer=None, abstained="the model read no answer", read_by=None
    )


__all__ = ["READ", "cue_for", "read_with_model", "wants_model"]
