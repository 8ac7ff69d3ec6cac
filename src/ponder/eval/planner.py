"""``ponder plan``: from stored evaluations to "what should I run?", and the plan ``auto`` runs.

It reads one or more ``ponder eval`` stores of one model (their latest runs) and measures,
on every problem, what each stored setting scored and what it cost; settings estimated from
a pool (``self_consistency:n=1|2|4|8`` from 8 samples) count too. Temperature is part of a
setting, so plans compare temperatures.

- **Difficulty**: the agreement of the first k samples (k = 4) of the probe pool: the
  ``self_consistency`` pool most accurate at its full size (so auto's probe is the start of
  the best setting it can continue, at that pool's temperature). Its
  first k samples are exactly what ``auto``'s probe draws (same seeds), so the bins the plan
  measures are the bins auto will see, and agreement needs no verifier. Bins: "agree" (at
  least 3 of 4 agree) and "split".
- **Curves**: every setting's accuracy (95% interval) against its mean cost, overall and per
  bin; the Pareto frontier; the best setting within a budget, overall and per bin.
- **Fits**: for each pool, coverage (pass@k) against k fitted as an exponentiated power law,
  log pass@k = a k^b (Brown et al., "Large Language Monkeys"; Schaeffer et al.), with the
  fit's error; predictions past the largest measured k are marked extrapolated.
- **The plan file** holds, per bin, every option auto may take with its measured accuracy
  and cost (the probe's cost included; a self-consistency setting at the probe temperature
  continues the probe instead of paying it twice); ``auto`` chooses among them for its
  budget.

Costs: mean computed tokens per problem (prompt tokens not served from a cache, plus
completion), mean latency (seconds), or the Kinetics cost (``ponder.eval.kinetics``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import ConfigError
from ponder.eval.estimators import interval, maj_at_k, pass_at_k
from ponder.eval.kinetics import intensity_of, record_cost
from ponder.eval.records import ProblemRecord
from ponder.eval.scope import Plan, Setting
from ponder.eval.store import Store
from ponder.scoring.answers import majority_vote
from ponder.strategies.auto import PlanBin, PlanFile, PlanOption, Probe

PROBE_N = 4
BINS = (("agree", 0.75), ("split", 0.0))
UNITS = {"tokens": "computed tokens", "seconds": "s", "eflops": "eFLOPs"}


@dataclasses.dataclass
class Measure:
    """One setting on one problem."""

    value: float
    tokens: float
    seconds: float | None
    eflops: float | None


@dataclasses.dataclass
class Measured:
    """Every setting of the stores on every problem (problem: directory, task, id)."""

    model: str
    sources: list[str]
    settings: dict[str, Setting]
    by_setting: dict[str, dict[tuple[int, str, str], Measure]]
    records: dict[str, dict[tuple[int, str, str], ProblemRecord]]


def parse_budget(text: str) -> tuple[float, str]:
    """``300`` or ``300tok`` (tokens), ``2.5s`` (seconds), ``3e13eflops``."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(tok|tokens|s|sec|seconds|eflops)?\s*", text)
    try:
        value = float(match.group(1)) if match else math.nan
    except ValueError:
        value = math.nan
    if not match or not value > 0:
        raise ConfigError(
            f"--budget {text!r}: give tokens (300), seconds (2.5s) or eFLOPs (3e13eflops)"
        )
    unit = match.group(2) or "tok"
    return value, {"tok": "tokens", "s": "seconds", "sec": "seconds"}.get(unit, unit)


def measure(directories: Sequence[str | Path], hardware: str | float = "b200") -> Measured:
    """Read the stores; refuse stores of different models or with nothing to compare."""
    intensity = intensity_of(hardware)
    model: str | None = None
    settings: dict[str, Setting] = {}
    by_setting: dict[str, dict[tuple[int, str, str], Measure]] = {}
    records: dict[str, dict[tuple[int, str, str], ProblemRecord]] = {}
    sources = []
    for d, directory in enumerate(directories):
        path = Path(directory)
        if not (path / "results.sqlite").is_file():
            raise ConfigError(f"{path} holds no results store (results.sqlite)")
        with Store(path) as store:
            _, data, _, _ = store.run()
            plan = Plan.from_dict(data)
            if model is not None and plan.model != model:
                raise ConfigError(
                    f"{path} holds results of {plan.model}, the others of {model}: a plan is "
                    "for one model"
                )
            model = plan.model
            sources.append(f"{path} (seed {plan.seed}, {', '.join(t.name for t in plan.tasks)})")
            for task in plan.tasks:
                pools = {
                    s.key: store.records(task.key, s.key, plan.model, plan.seed, task.problems)
                    for s in plan.run_settings
                }
                for setting in plan.settings:
                    settings.setdefault(setting.label, setting)
                    pool = pools[setting.pool if setting.estimated else setting.key]  # type: ignore[index]
                    for pid, r in pool.items():
                        m = _measure(r, setting, plan, intensity)
                        if m is not None:
                            key = (d, task.key, pid)
                            by_setting.setdefault(setting.label, {})[key] = m
                            records.setdefault(setting.label, {})[key] = r
    if model is None or len(by_setting) < 2:
        raise ConfigError("these stores hold fewer than two settings: nothing to compare")
    return Measured(model, sources, settings, by_setting, records)


def _measure(r: ProblemRecord, setting: Setting, plan: Plan, intensity: float) -> Measure | None:
    tokens = [c.completion_tokens for c in r.candidates]
    prompt = r.usage.prompt_tokens - r.usage.cached_prompt_tokens
    if not setting.estimated:
        eflops = record_cost(
            plan.model_shape,
            prompt_tokens=r.usage.prompt_tokens,
            completion_tokens=r.usage.completion_tokens,
            calls=r.calls,
            sample_tokens=tokens,
            intensity=intensity,
        )
        value = 1.0 if r.correct else 0.0
        return Measure(value, float(r.computed_tokens), r.wall_seconds, eflops)
    k, n = setting.k or 1, len(tokens)
    if n < k:
        return None
    groups = r.groups
    value = maj_at_k([len(g.members) for g in groups], [g.right for g in groups], r.abstained, k)
    eflops = record_cost(
        plan.model_shape,
        prompt_tokens=r.usage.prompt_tokens,
        completion_tokens=sum(tokens[:k]),
        calls=r.calls,
        sample_tokens=tokens[:k],
        intensity=intensity,
    )
    completion = r.usage.completion_tokens * k / n
    return Measure(value, prompt + completion, r.wall_seconds * k / n, eflops)


def _agreement(record: ProblemRecord, k: int) -> float:
    answers = [c.answer for c in record.candidates[:k]]
    vote = majority_vote(answers)
    return vote.winner.votes / k if vote.winner else 0.0


def _probe(measured: Measured, k: int) -> tuple[str, float]:
    """The probe pool: the self-consistency pool (n >= k) most accurate at its full n (ties:
    the better majority of k), so that auto's probe is the start of the best setting it can
    continue."""
    best: tuple[float, float, str, float] | None = None
    for label, setting in measured.settings.items():
        if setting.name != "self_consistency" or setting.estimated:
            continue
        if int(setting.config.get("n", 0)) < k:
            continue
        at_k = _label_at(measured, setting, k)
        if at_k is None:
            continue
        full = _mean_value(measured, label)
        first = _mean_value(measured, at_k)
        temperature = float(setting.config.get("temperature", 0.8))
        if best is None or (full, first) > (best[0], best[1]):
            best = (full, first, label, temperature)
    if best is None:
        raise ConfigError(
            f"a plan needs a self_consistency pool of at least {k} samples to probe with; "
            f"run e.g. `ponder eval -s 'self_consistency:n=1|2|4|8'`"
        )
    return best[2], best[3]


def _mean_value(measured: Measured, label: str) -> float:
    values = measured.by_setting[label]
    return sum(m.value for m in values.values()) / len(values)


def _label_at(measured: Measured, pool: Setting, k: int) -> str | None:
    """The label of the setting that is ``pool`` at n=k (estimated or the pool itself)."""
    for label, s in measured.settings.items():
        same = s.name == pool.name and {**s.config, "n": 0} == {**pool.config, "n": 0}
        if same and int(s.config.get("n", 0)) == k:
            return label
    return None


def _options(
    measured: Measured, problems: list[tuple[int, str, str]], probe_label: str, k: int
) -> list[PlanOption]:
    pool = measured.settings[probe_label]
    probe_at = _label_at(measured, pool, k)
    assert probe_at is not None
    probe_cost = measured.by_setting[probe_at]
    options = []
    for label, setting in measured.settings.items():
        values = measured.by_setting.get(label, {})
        shared = [p for p in problems if p in values and p in probe_cost]
        if not shared:
            continue
        same_pool = setting.name == pool.name and (
            {**setting.config, "n": 0} == {**pool.config, "n": 0}
        )
        n = int(setting.config.get("n", 0))
        if same_pool and n < k:
            continue  # the probe already drew more than it would
        reuses = same_pool and n >= k
        costs = [values[p].tokens + (0.0 if reuses else probe_cost[p].tokens) for p in shared]
        accuracies = [values[p].value for p in shared]
        low, high, _ = interval(accuracies)
        options.append(
            PlanOption(
                label=label,
                strategy=setting.name,
                options={k_: v for k_, v in setting.config.items() if v is not None},
                reuses_probe=reuses,
                accuracy=sum(accuracies) / len(accuracies),
                ci_low=low,
                ci_high=high,
                cost=sum(costs) / len(costs),
                problems=len(shared),
            )
        )
    return options


def build(measured: Measured, k: int = PROBE_N) -> PlanFile:
    """The plan ``auto`` loads."""
    probe_label, temperature = _probe(measured, k)
    pool = measured.records[probe_label]
    agreement = {p: _agreement(r, k) for p, r in pool.items()}
    at_k = _label_at(measured, measured.settings[probe_label], k)
    assert at_k is not None
    bins = []
    assigned: set[tuple[int, str, str]] = set()
    for name, floor in BINS:
        members = [p for p, a in agreement.items() if a >= floor - 1e-9 and p not in assigned]
        assigned |= set(members)
        if members:
            options = _options(measured, members, probe_label, k)
            bins.append(PlanBin(name=name, min_agreement=floor, share=0.0, options=options))
    total = len(assigned)
    sizes = {b.name: sum(1 for p in assigned if _bin_of(agreement[p]) == b.name) for b in bins}
    bins = [b.model_copy(update={"share": sizes[b.name] / total}) for b in bins]
    max_tokens = int(measured.settings[probe_label].config.get("max_tokens", 256))
    probe_costs = measured.by_setting[at_k]
    return PlanFile(
        model=measured.model,
        measured_on=measured.sources,
        probe=Probe(
            n=k,
            temperature=temperature,
            max_tokens=max_tokens,
            cost=sum(m.tokens for m in probe_costs.values()) / len(probe_costs),
        ),
        bins=bins,
    )


def _bin_of(agreement: float) -> str:
    return next(name for name, floor in BINS if agreement >= floor - 1e-9)


def _rows_text(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in rows:
        cost = "-" if r["cost"] is None else f"{r['cost']:,.4g}"
        lines.append(
            f"  {'*' if r['frontier'] else ' '} {r['setting']:<48} {r['accuracy']:.3f} "
            f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]  {cost:>10}  ({r['problems']} problems)"
        )
    return lines


def overall(measured: Measured, unit: str, task: str | None = None) -> list[dict[str, Any]]:
    """Every setting on the problems all settings ran (of one task, or all): accuracy,
    interval, mean cost, and whether it is on the frontier."""
    scoped = {
        label: {p: m for p, m in values.items() if task is None or p[1] == task}
        for label, values in measured.by_setting.items()
    }
    scoped = {label: values for label, values in scoped.items() if values}
    common = set.intersection(*(set(v) for v in scoped.values()))
    rows: list[dict[str, Any]] = []
    for label, values in scoped.items():
        problems = sorted(p for p in values if p in common) or sorted(values)
        costs = [getattr(values[p], unit) for p in problems]
        accuracies = [values[p].value for p in problems]
        low, high, _ = interval(accuracies)
        rows.append(
            {
                "setting": label,
                "problems": len(problems),
                "accuracy": sum(accuracies) / len(accuracies),
                "ci_low": low,
                "ci_high": high,
                "cost": None if None in costs else sum(costs) / len(costs),
            }
        )
    for row in rows:
        row["frontier"] = row["cost"] is not None and not any(
            o["cost"] is not None
            and (
                (o["cost"] <= row["cost"] and o["accuracy"] > row["accuracy"])
                or (o["cost"] < row["cost"] and o["accuracy"] >= row["accuracy"])
            )
            for o in rows
        )
    return sorted(rows, key=lambda r: (r["cost"] is None, r["cost"] or 0.0))


def coverage_fits(measured: Measured) -> list[dict[str, Any]]:
    """log pass@k = a k^b fitted per pool over k = 1..N (least squares on log(-log pass@k));
    the fit's RMSE on pass@k, and its prediction at 2N, extrapolated."""
    fits = []
    for label, setting in measured.settings.items():
        if setting.estimated or "n" not in setting.config:
            continue
        records = list(measured.records.get(label, {}).values())
        if not records:
            continue
        n = min(len(r.candidates) for r in records)
        if n < 3:
            continue
        ks = np.arange(1, n + 1)
        coverage = np.array(
            [
                np.mean(
                    [pass_at_k(n, sum(c.correct for c in r.candidates[:n]), k) for r in records]
                )
                for k in range(1, n + 1)
            ]
        )
        usable = (coverage > 0) & (coverage < 1)
        if usable.sum() < 2:
            continue
        x, y = np.log(ks[usable]), np.log(-np.log(coverage[usable]))
        slope, intercept = np.polyfit(x, y, 1)
        fitted = np.exp(-np.exp(intercept) * ks.astype(float) ** slope)
        rmse = float(np.sqrt(np.mean((fitted - coverage) ** 2)))
        predicted = float(np.exp(-np.exp(intercept) * (2.0 * n) ** slope))
        fits.append(
            {
                "setting": label,
                "n": n,
                "a": -float(np.exp(intercept)),
                "b": float(slope),
                "rmse": rmse,
                "pass_at_n": float(coverage[-1]),
                "predicted_pass_at_2n": predicted,
                "extrapolated": True,
            }
        )
    return fits


def best_within(rows: list[dict[str, Any]], budget: float) -> dict[str, Any] | None:
    fits = [r for r in rows if r["cost"] is not None and r["cost"] <= budget]
    return max(fits, key=lambda r: (r["accuracy"], -r["cost"])) if fits else None


def describe(measured: Measured, plan: PlanFile, budget: tuple[float, str] | None) -> str:
    """What ``ponder plan`` prints."""
    unit = budget[1] if budget else "tokens"
    lines = [f"plan for {measured.model}", *(f"  from {s}" for s in measured.sources)]
    probe = plan.probe
    lines.append(
        f"probe: the first {probe.n} samples of self_consistency at temperature "
        f"{probe.temperature:g} ({probe.cost:.0f} computed tokens a problem)"
    )
    lines += ["", f"every setting, all tasks (mean {UNITS[unit]} a problem; * frontier):"]
    rows = overall(measured, unit)
    lines += _rows_text(rows)
    for task in sorted({p[1] for v in measured.by_setting.values() for p in v}):
        lines += ["", f"task {task.split(':')[0]} ({UNITS[unit]} a problem; * frontier):"]
        lines += _rows_text(overall(measured, unit, task=task))
    lines += ["", "difficulty bins (the probe's agreement; tokens include the probe's):"]
    for b in plan.bins:
        lines.append(f"  {b.name}: agreement >= {b.min_agreement:.2f}, {b.share:.0%} of problems")
        for o in sorted(b.options, key=lambda o: o.cost):
            lines.append(
                f"    {o.label:<48} {o.accuracy:.3f} [{o.ci_low:.3f}, {o.ci_high:.3f}]  "
                f"{o.cost:>8.1f}{'  (continues the probe)' if o.reuses_probe else ''}"
            )
    if budget is not None:
        value, unit = budget
        lines += ["", f"within a budget of {value:g} {UNITS[unit]} a problem:"]
        best = best_within(rows, value)
        cheapest = min((r for r in rows if r["cost"] is not None), key=lambda r: r["cost"])
        if best is None:
            lines.append(
                f"  no setting fits: the cheapest is {cheapest['setting']} at "
                f"{cheapest['cost']:,.4g} {UNITS[unit]}"
            )
        else:
            lines.append(
                f"  best single setting: {best['setting']} {best['accuracy']:.3f} "
                f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] at {best['cost']:,.4g}"
            )
        if unit == "tokens":
            choices, why = plan.choose(value)
            picks = ", ".join(
                f"{b.name} -> {o.label}" for b, o in zip(plan.bins, choices, strict=True)
            )
            lines.append(f"  auto: {picks}; {why}")
    fits = coverage_fits(measured)
    if fits:
        lines += ["", "coverage fits, log pass@k = a k^b (prediction at 2N is extrapolated):"]
        for f in fits:
            lines.append(
                f"  {f['setting']:<48} a={f['a']:.3f} b={f['b']:.3f} rmse={f['rmse']:.3f}  "
                f"pass@{f['n']}={f['pass_at_n']:.3f}  "
                f"pass@{2 * f['n']}~{f['predicted_pass_at_2n']:.3f}"
            )
    return "\n".join(lines)
