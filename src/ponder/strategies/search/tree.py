"""What the step-level searches share: the tree of partial solutions, growing it a step at a
time through the Context, scoring each node once, and choosing the final answer.

A *step* ends at a delimiter (``delimiter``, default a blank line; several may be given) or,
when none occurs, at ``step_tokens`` tokens (the tree says so: ``ended="token cap"``). A node
is (parent, step text, its tokens, its score, finished?). Continuing a node sends the path's
text as an assistant prefix (or, for ``prompt=raw``, after a plain-text prompt) and, where the
backend returned them, the path's token ids with ``retain``: the embedded engine then keeps
every node's KV and a child decodes from its parent's last token, prefilling nothing (a node
evicted for room is recomputed, and the ledger's cached-prompt count shows how much was
reused). Over HTTP the server's prefix cache does the same where it has one.

The search tells the backend how many prefixes it will hold at once (``keep``: twice its
widest round, the nodes and the checks of them, and the parents), so that the embedded
engine sizes its prompt cache before the first step and keeps every live node's KV; and a
node's candidate carries the exact text the engine holds (``Candidate.cached_text``), so a
judge checks it in its own context (``judge``'s ``context=auto``), prefilling only its question.

Every node is scored at most once (``verify_every=g`` scores only every g-th step, and
finished solutions; the others carry their parent's score, marked ``inherited``), all new
nodes of a round in one scorer call, so the backend batches the verifier.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator

from ponder.core.problem import Candidate, Problem
from ponder.core.trust import component
from ponder.core.types import Completion, TokenLogprob
from ponder.errors import BudgetExhausted, CapabilityError, ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, call_options, read
from ponder.scoring.answers import majority_vote
from ponder.scoring.scorers.base import PARTIAL, Scorer, ScoreValue
from ponder.strategies.base import Outcome
from ponder.strategies.selection import build_scorer

#: how a plain-text prompt presents the problem (``prompt=raw``, or a server that cannot
#: continue a chat)
RAW_PROMPT = "{system}Problem:\n{question}\n\nSolution, step by step:\n"
#: the most prefixes a search asks the backend to keep (``GenerationRequest.keep``)
KEEP_CAP = 32

Ended = Literal["delimiter", "token cap", "end", "cut off", "unknown stop", "root"]


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t")


class SearchConfig(SamplingConfig):
    """Settings every step-level search shares. ``max_tokens`` caps one whole solution."""

    max_tokens: int = Field(512, ge=1)
    #: the verifier of partial solutions (a scorer that can score them)
    scorer: Any = component("judge", "scorer")
    #: what ends a step: a string or several; "" or [] for none (steps end at step_tokens)
    delimiter: str | list[str] = "\n\n"
    #: most tokens of one step
    step_tokens: int = Field(128, ge=1)
    #: steps before a solution must finish (the last step runs to the end of the reply)
    max_steps: int = Field(8, ge=1, le=256)
    #: score every g-th step (and every finished solution) only (VG-Search); others inherit
    verify_every: int = Field(1, ge=1)
    #: how the final answer is chosen among finished solutions
    final: Literal["score", "vote"] = "score"
    #: chat: continue the assistant's reply (needs continuation); raw: a plain-text prompt
    #: (``RAW_PROMPT``) continued as text; auto: chat where the backend can continue one
    prompt: Literal["auto", "chat", "raw"] = "auto"
    #: continue nodes by token ids and keep their KV (the embedded engine); False sends the
    #: path as text only, leaving reuse to the backend's prompt cache (for comparison)
    reuse_kv: bool = True

    @field_validator("delimiter")
    @classmethod
    def _delimiters(cls, value: str | list[str]) -> str | list[str]:
        """``\\n`` and ``\\t`` as typed on a command line are a newline and a tab."""
        if isinstance(value, list) and any(not isinstance(d, str) or not d for d in value):
            raise ValueError("delimiters must be non-empty strings")
        if isinstance(value, str):
            return _unescape(value)
        return [_unescape(d) for d in value]

    @property
    def delimiters(self) -> tuple[str, ...]:
        if isinstance(self.delimiter, str):
            return (self.delimiter,) if self.delimiter else ()
        return tuple(self.delimiter)


@dataclasses.dataclass
class Node:
    """One step of a partial solution. ``text`` includes the delimiter that ended it."""

    id: int
    parent: int | None
    depth: int
    text: str = ""
    tokens: int = 0
    token_ids: tuple[int, ...] | None = ()
    logprobs: tuple[TokenLogprob, ...] | None = ()
    finished: bool = False
    ended: Ended = "root"
    finish_reason: str = ""
    score: float | None = None
    score_error: str | None = None
    scored: Literal["no", "yes", "inherited"] = "no"
    pruned: str | None = None
    children: list[int] = dataclasses.field(default_factory=list)
    #: times a tree search (``mcts``) passed through it
    visits: int = 0
    #: a rollout to the end that valued its parent (``mcts``), not a step of the tree
    rollout: bool = False

    @property
    def value(self) -> float:
        """The score for ranking: a failed or missing score ranks below every real one."""
        return self.score if self.score is not None else float("-inf")

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent,
            "depth": self.depth,
            "text": self.text,
            "tokens": self.tokens,
            "finished": self.finished,
            "ended": self.ended,
            "score": self.score,
            "scored": self.scored,
        }
        if self.score_error:
            record["score_error"] = self.score_error
        if self.pruned:
            record["pruned"] = self.pruned
        if self.visits:
            record["visits"] = self.visits
        if self.rollout:
            record["rollout"] = True
        return record


class StepSearch:
    """One search's tree and the calls that grow and score it (see the module docstring)."""

    def __init__(
        self,
        problem: Problem,
        ctx: Context,
        config: SearchConfig,
        scorer: Scorer,
        *,
        frontier: int = 8,
    ) -> None:
        """``frontier``: the most nodes one round of the search expands (or, for a tree
        search, the nodes it may come back to), which sizes ``keep``."""
        self.problem = problem
        self.ctx = ctx
        self.config = config
        self.scorer = scorer
        self.nodes: list[Node] = [Node(0, None, 0, scored="yes")]
        self.raw = _use_raw(config, ctx)
        self.calls = 0
        self.notes: list[str] = []
        #: prefixes held at once: each node of a round and its check, and the parents
        self.keep = min(KEEP_CAP, 2 * frontier + 4) if config.reuse_kv else 0
        #: the scorer continues the nodes' own text: keep finished solutions' KV for it too
        self.keep_finished = config.reuse_kv and not self.raw and scorer.continues(ctx)

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def path(self, node: Node) -> list[Node]:
        out = []
        current: Node | None = node
        while current is not None and current.parent is not None:
            out.append(current)
            current = self.nodes[current.parent]
        return out[::-1]

    def text_of(self, node: Node) -> str:
        return "".join(n.text for n in self.path(node))

    def tokens_of(self, node: Node) -> int:
        return sum(n.tokens for n in self.path(node))

    def ids_of(self, node: Node) -> tuple[int, ...] | None:
        ids: list[int] = []
        for n in self.path(node):
            if n.token_ids is None:
                return None
            ids.extend(n.token_ids)
        return tuple(ids)

    # -- growing

    async def expand(
        self, parents: Sequence[Node], widths: Sequence[int], *, to_end: bool = False
    ) -> list[Node]:
        """``widths[i]`` children of each parent, one request per parent, all at once
        (``to_end``: each child runs to the end of the reply, a rollout). A parent the budget
        cannot afford gets none (``BudgetExhausted`` only if no parent got any: then the
        search can go no further)."""
        calls = [self._step(p, k, to_end) for p, k in zip(parents, widths, strict=True) if k > 0]
        results = await asyncio.gather(*calls, return_exceptions=True)
        children: list[Node] = []
        refusal: BudgetExhausted | None = None
        for outcome in results:
            if isinstance(outcome, BudgetExhausted):
                refusal = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                children.extend(outcome)
        if refusal is not None and not children:
            raise refusal
        if refusal is not None:
            self.notes.append(f"the budget cut an expansion short: {refusal}")
        return children

    async def _step(self, parent: Node, n: int, to_end: bool = False) -> list[Node]:
        config = self.config
        used = self.tokens_of(parent)
        left = config.max_tokens - used
        last = to_end or parent.depth + 1 >= config.max_steps
        cap = left if last or not config.delimiters else min(config.step_tokens, left)
        if cap <= 0:
            raise BudgetExhausted(f"the solution reached max_tokens={config.max_tokens}")
        options = call_options(config, self.calls)
        self.calls += 1
        ids = self.ids_of(parent) if config.reuse_kv else None
        stop = () if last else config.delimiters
        prompt: Any = RAW_PROMPT.format(
            system=f"{self.problem.system}\n\n" if self.problem.system else "",
            question=self.problem.question,
        )
        result = await self.ctx.sample(
            prompt if self.raw else self.problem.messages(),
            raw=self.raw,
            prefix=self.text_of(parent),
            prefix_ids=ids or (),
            retain=config.reuse_kv and (not last or self.keep_finished),
            retain_ended=self.keep_finished,
            keep=self.keep,
            **{
                **options,
                **self.scorer.sampling_options(),
                "n": n,
                "max_tokens": cap,
                "stop": stop,
            },
        )
        return [self._child(parent, c, last, cap == left) for c in result.completions]

    def _child(self, parent: Node, c: Completion, last: bool, at_limit: bool) -> Node:
        node = Node(len(self.nodes), parent.id, parent.depth + 1, finish_reason=c.finish_reason)
        node.tokens = c.completion_tokens
        node.logprobs = c.logprobs
        node.token_ids = c.token_ids
        text = c.text
        delimiters = self.config.delimiters
        if c.finish_reason == "length":
            node.ended = "cut off" if at_limit else "token cap"
            node.finished = at_limit
        elif c.finish_reason != "stop":
            node.ended, node.finished = "cut off", True  # repetition, cancelled
        elif last or c.stop_reason == "" or (c.stop_reason and c.stop_reason not in delimiters):
            node.ended, node.finished = "end", True
        elif c.stop_reason in delimiters:
            node.ended = "delimiter"
            text += c.stop_reason
        else:  # the backend cannot tell a stop string from the end: go on; the next is empty
            node.ended = "unknown stop"
            if not text.strip() and parent.ended == "unknown stop":
                node.ended, node.finished = "end", True
            elif delimiters:
                text += delimiters[0]
        node.text = text
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    # -- scoring

    def candidate(self, node: Node) -> Candidate:
        """The node's solution so far, as the scorer sees it."""
        text = self.text_of(node)
        logprobs: list[TokenLogprob] | None = []
        for n in self.path(node):
            if n.logprobs is None or logprobs is None:
                logprobs = None
            else:
                logprobs.extend(n.logprobs)
        if node.finished:
            answer, why = read(
                text,
                node.finish_reason,
                self.problem.answer,
                keep_cut_off=self.config.keep_cut_off,
            )
            reason = node.finish_reason
        else:
            answer, why, reason = None, "a partial solution", PARTIAL
        return Candidate(
            index=node.id,
            text=text.strip(),
            # the engine holds the node's KV (or its parent's, for a last step) only when
            # the path went as token ids into a chat continuation
            cached_text=text if self.config.reuse_kv and not self.raw else None,
            answer=answer,
            completion_tokens=self.tokens_of(node),
            finish_reason=reason,
            logprobs=tuple(logprobs) if logprobs is not None else None,
            abstained=why,
        )

    async def score(self, nodes: Sequence[Node]) -> None:
        """Score each node not scored yet, in one scorer call (``verify_every`` spares the
        steps between checkpoints: they inherit their parent's score)."""
        due = []
        for node in nodes:
            if node.scored != "no":
                continue
            if node.finished or node.depth % self.config.verify_every == 0:
                due.append(node)
            else:
                parent = self.nodes[node.parent or 0]
                node.score, node.scored = parent.score, "inherited"
        if not due:
            return
        values = await self.scorer.score(self.problem, [self.candidate(n) for n in due], self.ctx)
        for node, value in zip(due, values, strict=True):
            _apply(node, value)

    # -- the answer

    def outcome(self, details: dict[str, Any], *, chosen: Node | None = None) -> Outcome:
        """The final answer among the finished solutions (``chosen`` where the search picked
        one itself; else by score, or by vote), or the best partial one when none finished;
        the tree goes in ``details["tree"]``."""
        finished = [n for n in self.nodes if n.finished]
        candidates = [self.candidate(n) for n in finished]
        info: dict[str, Any] = {
            "scorer": self.scorer.name,
            "prompt": "raw" if self.raw else "chat",
            "finished": len(finished),
            "nodes": len(self.nodes) - 1,
            **details,
        }
        if self.notes:
            info["notes"] = self.notes
        info["tree"] = [n.as_dict() for n in self.nodes]
        if not finished:
            best = max(self.nodes[1:], key=lambda n: (n.value, -n.id), default=self.root)
            info["chosen"] = best.id
            info["notes"] = [*self.notes, "no solution finished: the best partial one is shown"]
            return Outcome(None, self.text_of(best).strip(), (), info)
        if chosen is not None and chosen.finished:
            pick = finished.index(chosen)
        elif self.config.final == "vote":
            weights = [1.0] * len(candidates)
            vote = majority_vote([c.answer for c in candidates], weights)
            winner = vote.winner
            members = winner.members if winner is not None else [0]
            pick = max(members, key=lambda i: (finished[i].value, -i))
            info["votes"] = [{"answer": g.answer, "votes": g.votes} for g in vote.groups]
        else:
            pick = max(range(len(finished)), key=lambda i: (finished[i].value, -i))
        info["chosen"] = finished[pick].id
        answer = candidates[pick]
        return Outcome(answer.answer, answer.text, tuple(candidates), info)


def _apply(node: Node, value: ScoreValue) -> None:
    node.scored = "yes"
    if value.ok:
        node.score = value.value
    else:
        node.score, node.score_error = None, value.error


def _use_raw(config: SearchConfig, ctx: Context) -> bool:
    if config.prompt == "raw":
        return True
    can = ctx.backend.capabilities.continuation
    if config.prompt == "chat" and not can:
        raise CapabilityError(
            f"a step-level search continues the assistant's reply a step at a time, which "
            f"needs continuation, and backend {ctx.backend.name!r} ({ctx.backend.model_name}) "
            "does not offer it; pass prompt=raw (a plain-text prompt continued as text, which "
            "every completions endpoint can do) or, for a vLLM or SGLang server, "
            "-B chat_continuation=true"
        )
    return not can


def search_scorer(spec: Any, what: str) -> Scorer:
    """The search's verifier, refused at once if it cannot score partial solutions."""
    scorer = build_scorer(spec, what=what)
    if not scorer.scores_partial:
        raise ConfigError(
            f"{what} scores partial solutions a step at a time, and scorer {scorer.name!r} "
            "can only score finished ones; scorers that can: arithmetic, judge, confidence, "
            "reward_model (with step_token), python"
        )
    return scorer


def first_round(exc: BudgetExhausted, what: str) -> BudgetExhausted:
    """The error of a search whose budget cannot pay for its first step."""
    return BudgetExhausted(f"{what}: the budget cannot pay for one step ({exc})")
