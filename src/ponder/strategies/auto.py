"""``auto``: spend a budget the way a plan measured to be best for problems like this one.

Snell et al. ("Scaling LLM Test-Time Compute Optimally...", arXiv 2408.03314) show that the
best test-time strategy depends on a problem's difficulty and the budget, and that choosing
per problem beats any one fixed setting at the same compute. ``auto`` does that with a plan
built by ``ponder plan`` from stored evaluations (``ponder.eval.planner``):

1. **Probe.** It draws the plan's probe: k samples (4 by default) at the probe temperature,
   as ``self_consistency`` would draw its first k (same seeds), and reads their agreement:
   the share of the k that give the most common answer. Agreement is the difficulty
   estimate because it costs only the probe, needs no verifier, and predicts accuracy on
   the measured tasks (the plan reports each bin's accuracy).
2. **Bin.** The agreement picks the plan's bin ("agree": at least 3 of 4 agree; "split":
   the rest).
3. **Choose.** For the budget (mean computed tokens per problem: prompt tokens not served
   from a cache, plus completion), the plan gives every bin the setting that maximises the
   expected accuracy over all bins together while the expected mean cost stays within the
   budget (every combination is tried); the probe's cost is part of every choice.
4. **Run.** A ``self_consistency`` setting at the probe's temperature continues the probe
   (its first k samples are the probe's), so the probe is not paid twice; any other setting
   runs on its own (greedy, a different temperature, another strategy).

The result's ``details`` say what the probe saw, the bin, the choice and why (its expected
accuracy and cost, the budget). Without ``plan=``, auto uses the plan shipped with ponder,
measured on the development suite with the embedded SmolLM2-135M; a plan file made for
another model is refused, naming both.

For any other model, ``ponder tune`` measures a plan once and writes it where auto finds it
for that model (``tuned_plan_path``: keyed by the model's identity, under ``$PONDER_PLANS``
or ``~/.cache/ponder/plans``), so ``-s auto:budget=N`` works after one ``ponder tune``; without
one, auto says the exact command to run.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ponder.core.problem import Problem
from ponder.core.registry import default_registry
from ponder.core.trust import operator_only
from ponder.errors import ConfigError
from ponder.runtime import Context
from ponder.runtime.sampling import SamplingConfig, StrategyConfig, sample_candidates
from ponder.scoring.answers import majority_vote
from ponder.strategies.base import Outcome, Strategy, outcome_of

SHIPPED_PLAN = "smollm2-dev.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanOption(_Frozen):
    """One setting a bin may run, as measured on the bin's problems."""

    label: str
    strategy: str
    options: dict[str, Any]
    #: a self_consistency setting at the probe temperature with n >= the probe's: it
    #: continues the probe's samples
    reuses_probe: bool
    accuracy: float
    ci_low: float
    ci_high: float
    #: mean computed tokens per problem, the probe included
    cost: float
    problems: int


class PlanBin(_Frozen):
    name: str
    #: a problem is in the first bin whose min_agreement its probe reaches
    min_agreement: float
    #: the share of the measured problems in this bin
    share: float
    options: list[PlanOption]


class Probe(_Frozen):
    n: int = Field(ge=1)
    temperature: float = Field(ge=0.0)
    max_tokens: int = Field(ge=1)
    #: its mean computed tokens per problem
    cost: float


class PlanFile(_Frozen):
    """What ``ponder plan`` writes and ``auto`` reads."""

    version: int = 1
    model: str
    measured_on: list[str]
    probe: Probe
    bins: list[PlanBin]

    def choose(self, budget: float) -> tuple[list[PlanOption], str]:
        """The option of every bin that together maximise expected accuracy within the
        budget (expected mean cost); the cheapest of each where nothing fits. And why."""
        best: tuple[float, float, tuple[PlanOption, ...]] | None = None
        for combo in itertools.product(*(b.options for b in self.bins)):
            cost = sum(b.share * o.cost for b, o in zip(self.bins, combo, strict=True))
            if cost > budget + 1e-9:
                continue
            accuracy = sum(b.share * o.accuracy for b, o in zip(self.bins, combo, strict=True))
            if best is None or (accuracy, -cost) > (best[0], -best[1]):
                best = (accuracy, cost, combo)
        if best is None:
            cheapest = [min(b.options, key=lambda o: o.cost) for b in self.bins]
            mean = sum(b.share * o.cost for b, o in zip(self.bins, cheapest, strict=True))
            return cheapest, (
                f"the budget {budget:g} is below every plan's cost; the cheapest costs "
                f"{mean:.0f} tokens a problem on average"
            )
        accuracy, cost, combo = best
        return list(combo), (
            f"expected accuracy {accuracy:.3f} at {cost:.0f} computed tokens a problem on "
            f"average, within the budget of {budget:g}"
        )


#: the largest plan file read
PLAN_BYTES = 16 << 20


@functools.cache
def load_plan(path: str | None) -> PlanFile:
    """A plan file (None: the one shipped with ponder), validated. Only a regular file of at
    most ``PLAN_BYTES`` is read, and no error quotes what the file holds."""
    name = path or SHIPPED_PLAN
    try:
        if path is None:
            text = resources.files("ponder.strategies.plans").joinpath(SHIPPED_PLAN).read_text()
        else:
            file = Path(path).expanduser()
            if not file.is_file():
                raise FileNotFoundError(path)
            with open(file, "rb") as f:
                data = f.read(PLAN_BYTES + 1)
            if len(data) > PLAN_BYTES:
                raise ConfigError(f"{path} is over {PLAN_BYTES >> 20} MiB: not a ponder plan file")
            text = data.decode("utf-8")
        plan = PlanFile.model_validate(json.loads(text))
    except FileNotFoundError:
        message = f"no plan file at {path}; write one with `ponder plan DIR --out FILE`"
        raise ConfigError(message) from None
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the file'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise ConfigError(f"{name} is not a ponder plan file ({where})") from None
    except (ValueError, OSError) as exc:
        kind = type(exc).__name__
        raise ConfigError(
            f"{name} is not a ponder plan file (it does not read as JSON: {kind})"
        ) from None
    if not plan.bins or any(not b.options for b in plan.bins):
        raise ConfigError(f"{name} has a bin without settings")
    return plan


def plans_dir() -> Path:
    """Where ``ponder tune`` writes plans: ``$PONDER_PLANS``, else ``$XDG_CACHE_HOME/ponder/
    plans`` or ``~/.cache/ponder/plans``."""
    if os.environ.get("PONDER_PLANS"):
        return Path(os.environ["PONDER_PLANS"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "ponder" / "plans"


def tuned_plan_path(identity: str) -> Path:
    """The plan file of the model whose identity is ``identity`` (``Backend.identity``)."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", identity.split("@")[0].split("#")[-1])[-60:]
    return plans_dir() / f"{name.strip('-') or 'model'}-{digest}.json"


class AutoConfig(StrategyConfig):
    #: mean computed tokens per problem to aim for (the plan's cost axis)
    budget: float = Field(gt=0)
    #: a plan file from ``ponder plan`` (None: the plan shipped with ponder)
    plan: str | None = operator_only(None, "a file path", named="plan")
    seed: int | None = None


class Auto(Strategy):
    """Probe the problem, then run what the plan says is best for its difficulty and budget."""

    name = "auto"
    Config: ClassVar[type[StrategyConfig]] = AutoConfig

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        config = self.config
        assert isinstance(config, AutoConfig)
        # a plan file given is loaded now (a bad one fails before any work); without one,
        # the model's own plan is found when the model is known
        self.plan = load_plan(config.plan) if config.plan is not None else None

    async def plan_for(self, backend: Any) -> tuple[PlanFile, str]:
        """The plan to run on ``backend``'s model, and where it came from: the file given,
        else the one ``ponder tune`` wrote for this model, else the shipped one if it was
        measured on this model; otherwise a ConfigError with the command that makes one."""
        config = self.config
        assert isinstance(config, AutoConfig)
        model = await backend.identity()
        if self.plan is not None:
            if self.plan.model != model:
                raise ConfigError(
                    f"the plan {config.plan} was measured on {self.plan.model}, not on {model}: "
                    "build one for this model with `ponder tune` (or `ponder plan`)"
                )
            return self.plan, str(config.plan)
        tuned = tuned_plan_path(model)
        if tuned.is_file():
            return load_plan(str(tuned)), str(tuned)
        shipped = load_plan(None)
        if shipped.model == model:
            return shipped, SHIPPED_PLAN
        spec = backend.spec() or "MODEL"
        raise ConfigError(
            f"auto has no plan for {model}: measure one once with `ponder tune --model {spec} "
            "-t TASK -t TASK --limit 20` (tasks like the problems you will ask; it writes "
            f"{tuned}), or give plan=FILE"
        )

    async def solve(self, problem: Problem, ctx: Context) -> Outcome:
        config = self.config
        assert isinstance(config, AutoConfig)
        plan, source = await self.plan_for(ctx.backend)
        choices, why = plan.choose(config.budget)
        probe = plan.probe
        sampling = SamplingConfig.model_validate(
            {"temperature": probe.temperature, "max_tokens": probe.max_tokens, "seed": config.seed}
        )
        candidates = await sample_candidates(problem, ctx, sampling, probe.n)
        vote = majority_vote([c.answer for c in candidates])
        agreement = vote.winner.votes / probe.n if vote.winner else 0.0
        index = next(
            (i for i, b in enumerate(plan.bins) if agreement >= b.min_agreement - 1e-9),
            len(plan.bins) - 1,
        )
        chosen = choices[index]
        details: dict[str, Any] = {
            "probe": {
                "n": probe.n,
                "temperature": probe.temperature,
                "answers": [c.answer for c in candidates],
                "agreement": agreement,
            },
            "bin": plan.bins[index].name,
            "chosen": chosen.label,
            "why": f"{why}; in bin {plan.bins[index].name!r} it measured {chosen.accuracy:.3f} "
            f"at {chosen.cost:.0f} tokens",
            "plan": source,
        }
        if chosen.reuses_probe:
            more = int(chosen.options.get("n", probe.n)) - probe.n
            if more > 0:
                candidates += await sample_candidates(
                    problem, ctx, sampling, more, first_index=probe.n, seed_offset=probe.n
                )
            final = majority_vote([c.answer for c in candidates])
            return outcome_of(final, candidates, details)
        cls = default_registry().get("strategy", chosen.strategy)
        options = dict(chosen.options)
        if "seed" in cls.Config.model_fields:
            options["seed"] = config.seed
        strategy: Strategy = cls(**options)
        outcome = await strategy.solve(problem, ctx.scope())
        return Outcome(
            outcome.answer,
            outcome.text,
            (*candidates, *outcome.candidates),
            {**details, "chosen_details": outcome.details},
        )
