"""``report.html``: one self-contained file to explore a run (no network, plots embedded).

It holds the table of every task, the plots (PNG, base64), the paired comparisons, and a
per-problem view: filter by task, setting and right/wrong; click a problem to see its
question, reference, every candidate with its answer, tokens and how it ended, the vote,
scores, the search tree where there is one, the tokens spent and what was cancelled. The
data sits in the page as JSON; a small script draws it. It opens from the file system.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from ponder.eval.records import ProblemRecord
from ponder.eval.scope import Plan
from ponder.eval.store import Store

#: longest candidate text kept in the page (the store keeps all of it)
TEXT_LIMIT = 4000


def problem_views(plan: Plan, store: Store) -> list[dict[str, Any]]:
    """One entry per (task, run setting, problem) of the run, for the per-problem view."""
    views = []
    for task in plan.tasks:
        for setting in plan.run_settings:
            records = store.records(task.key, setting.key, plan.model, plan.seed, task.problems)
            for pid in task.problems:
                if pid in records:
                    views.append(_view(task.name, setting.label, records[pid]))
    return views


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"… ({len(text) - TEXT_LIMIT} more characters in the store)"


def _view(task: str, setting: str, r: ProblemRecord) -> dict[str, Any]:
    ledger = r.ledger or {}
    return {
        "task": task,
        "setting": setting,
        "id": r.problem,
        "question": r.question,
        "reference": r.reference,
        "answer": r.answer,
        "correct": r.correct,
        "reason": r.reason,
        "text": _clip(r.text),
        "candidates": [
            {
                "index": c.index,
                "answer": c.answer,
                "correct": c.correct,
                "score": c.score,
                "tokens": c.completion_tokens,
                "finish": c.finish_reason,
                "abstained": c.abstained,
                "text": _clip(c.text),
            }
            for c in r.candidates
        ],
        "votes": [
            {"answer": g.answer, "members": g.members, "correct": g.correct} for g in r.groups
        ],
        "usage": r.usage.model_dump(),
        "seconds": round(r.wall_seconds, 3),
        "cancelled": ledger.get("samples_cancelled", 0),
        "cancelled_tokens": sum(ledger.get("cancelled_tokens", []) or []),
        "scores": (r.details or {}).get("scores"),
        "tree": (r.details or {}).get("tree"),
        "details": {k: v for k, v in (r.details or {}).items() if k not in ("tree",)},
    }


def write_html(
    summary: dict[str, Any],
    problems: list[dict[str, Any]],
    plots: list[Path],
    tables: dict[str, str],
    path: Path,
) -> Path:
    """Write the page; ``tables`` maps each task to its table as HTML rows."""
    images = {
        p.name: "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
        for p in plots
        if p.is_file()
    }
    data = {"summary": summary, "problems": problems, "plots": images, "tables": tables}
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    page = _PAGE.replace("__TITLE__", html.escape(f"ponder report: {summary['model']}"))
    page = page.replace("__DATA__", payload)
    path.write_text(page)
    return path


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#22313f;color:#fff;padding:12px 20px}header h1{margin:0;font-size:18px}
main{padding:12px 20px}section{margin-bottom:24px}
table{border-collapse:collapse;background:#fff;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;font-variant-numeric:tabular-nums}
th{background:#eef1f4}img{max-width:560px;margin:4px 8px 4px 0;border:1px solid #ddd}
#filters select{margin-right:10px}#list{max-height:420px;overflow:auto;background:#fff}
#list tr{cursor:pointer}#list tr:hover{background:#eef6ff}.right{color:#137333}
.wrong{color:#b3261e}pre{white-space:pre-wrap;background:#fff;border:1px solid #ddd;
padding:6px;max-height:240px;overflow:auto}#problem{background:#fff;border:1px solid #ccc;
padding:10px;margin-top:10px}.tree ul{margin:0 0 0 18px;padding:0}.muted{color:#666}
</style></head><body>
<header><h1>__TITLE__</h1><div id="facts"></div></header>
<main>
<section id="tables"></section>
<section id="comparisons"></section>
<section><h2>Problems</h2>
<div id="filters">task <select id="f-task"></select> setting <select id="f-setting"></select>
outcome <select id="f-outcome"><option value="">all</option><option value="right">right
</option><option value="wrong">wrong</option></select> <span id="count" class="muted"></span>
</div>
<table id="list"><thead><tr><th>task</th><th>setting</th><th>problem</th><th>answer</th>
<th>reference</th><th>outcome</th><th>tokens</th></tr></thead><tbody></tbody></table>
<div id="problem" hidden></div>
</section>
</main>
<script id="data" type="application/json">__DATA__</script>
<script>
const DATA = JSON.parse(document.getElementById("data").textContent);
const S = DATA.summary;
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",
  '"':"&quot;"}[c]));
document.getElementById("facts").textContent =
  `seed ${S.seed} · ${S.tasks.length} task(s) · started ${S.started ?? "?"} · ` +
  `${S.elapsed_seconds ?? "?"} s · ${S.command ?? ""}` +
  (S.environment ? ` · ${Object.entries(S.environment).map(([k, v]) =>
    `${k} ${Array.isArray(v) ? v.join(" ") : v}`).join("; ")}` : "");
const tables = document.getElementById("tables");
for (const t of S.tasks) {
  const sec = document.createElement("div");
  sec.innerHTML = `<h2>${esc(t.task)}</h2>
    <table class="results">${DATA.tables[t.key] ?? ""}</table>`;
  for (const [name, src] of Object.entries(DATA.plots)) {
    if (name.startsWith(t.task.replace(/[^A-Za-z0-9]+/g, "_") + "_")) {
      const img = document.createElement("img"); img.src = src; img.alt = name; sec.append(img);
    }
  }
  tables.append(sec);
}
if ((S.comparisons ?? []).length) {
  const rows = S.comparisons.map(c => `<tr><td>${esc(c.task)}</td><td>${esc(c.a)}</td>
    <td>${esc(c.b)}</td><td>${c.problems}</td><td>${c.difference?.toFixed(3) ?? "-"}
    [${c.ci_low.toFixed(3)}, ${c.ci_high.toFixed(3)}]</td>
    <td>${c.p_value?.toFixed(4) ?? "-"}</td></tr>`);
  document.getElementById("comparisons").innerHTML = `<h2>Paired comparisons</h2><table>
    <tr><th>task</th><th>A</th><th>B</th><th>problems</th><th>A - B [95% CI]</th><th>p</th></tr>
    ${rows.join("")}</table>`;
}
const fill = (id, values) => {
  const el = document.getElementById(id);
  el.innerHTML = `<option value="">all</option>` +
    [...new Set(values)].map(v => `<option>${esc(v)}</option>`).join("");
  el.onchange = draw;
};
fill("f-task", DATA.problems.map(p => p.task));
fill("f-setting", DATA.problems.map(p => p.setting));
document.getElementById("f-outcome").onchange = draw;
function draw() {
  const task = document.getElementById("f-task").value;
  const setting = document.getElementById("f-setting").value;
  const outcome = document.getElementById("f-outcome").value;
  const shown = DATA.problems.map((p, i) => [p, i]).filter(([p]) =>
    (!task || p.task === task) && (!setting || p.setting === setting) &&
    (!outcome || (outcome === "right") === p.correct));
  document.querySelector("#list tbody").innerHTML = shown.map(([p, i]) =>
    `<tr data-i="${i}"><td>${esc(p.task)}</td><td>${esc(p.setting)}</td><td>${esc(p.id)}</td>
     <td>${esc(p.answer)}</td><td>${esc(p.reference)}</td>
     <td class="${p.correct ? "right" : "wrong"}">${p.correct ? "right" : "wrong"}</td>
     <td>${p.usage.prompt_tokens + p.usage.completion_tokens}</td></tr>`).join("");
  document.getElementById("count").textContent = `${shown.length} shown`;
  for (const row of document.querySelectorAll("#list tbody tr")) {
    row.onclick = () => show(DATA.problems[+row.dataset.i]);
  }
}
function tree(nodes) {
  if (!nodes || !nodes.length) return "";
  const kids = {};
  for (const n of nodes) (kids[n.parent ?? "root"] ??= []).push(n);
  const walk = id => (kids[id] ?? []).map(n => `<li>#${n.id} ${esc((n.text ?? n.step ?? "")
    .slice(0, 120))} <span class="muted">score ${n.score ?? "-"} · ${n.tokens ?? 0} tok ·
    ${esc(n.ended ?? n.finish_reason ?? "")}${n.pruned ? " · pruned: " + esc(n.pruned) : ""}
    </span><ul>${walk(n.id)}</ul></li>`).join("");
  return `<h3>Search tree</h3><div class="tree"><ul>${walk("root")}</ul></div>`;
}
function show(p) {
  const box = document.getElementById("problem");
  const cands = p.candidates.map(c => `<tr><td>${c.index}</td><td>${esc(c.answer)}</td>
    <td class="${c.correct ? "right" : "wrong"}">${c.correct ? "right" : "wrong"}</td>
    <td>${c.score}</td><td>${c.tokens}</td><td>${esc(c.finish)}</td>
    <td>${esc(c.abstained)}</td><td><details><summary>text</summary><pre>${esc(c.text)}</pre>
    </details></td></tr>`).join("");
  const votes = p.votes.map(v => `<tr><td>${esc(v.answer)}</td><td>${v.members.length}</td>
    <td>${v.members.join(", ")}</td><td>${v.correct}</td></tr>`).join("");
  box.hidden = false;
  box.innerHTML = `<h2 id="problem-title">${esc(p.task)} · ${esc(p.id)} · ${esc(p.setting)}</h2>
    <p><b>Question</b></p><pre id="question">${esc(p.question)}</pre>
    <p><b>Reference</b>: <span id="reference">${esc(p.reference)}</span> · <b>Answer</b>:
    <span id="answer">${esc(p.answer)}</span> ·
    <span class="${p.correct ? "right" : "wrong"}">${p.correct ? "right" : "wrong"}</span>
    ${p.reason ? "(" + esc(p.reason) + ")" : ""}</p>
    <p>Tokens: prompt ${p.usage.prompt_tokens} (cached ${p.usage.cached_prompt_tokens}),
    completion ${p.usage.completion_tokens} · ${p.seconds} s · cancelled samples
    ${p.cancelled} (${p.cancelled_tokens} tokens)</p>
    <h3>Candidates</h3><table id="candidates"><tr><th>#</th><th>answer</th><th>outcome</th>
    <th>score</th><th>tokens</th><th>ended</th><th>no answer because</th><th></th></tr>
    ${cands}</table>
    ${votes ? `<h3>Votes</h3><table><tr><th>answer</th><th>votes</th><th>members</th>
    <th>right</th></tr>${votes}</table>` : ""}
    ${tree(p.tree)}
    <details><summary>strategy details</summary><pre>${esc(JSON.stringify(p.details, null, 1))}
    </pre></details><p><b>Reply</b></p><pre>${esc(p.text)}</pre>`;
  box.scrollIntoView();
}
draw();
</script></body></html>
"""
