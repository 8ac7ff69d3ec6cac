"""Code answers read by what they do: a candidate's "answer" for a vote is its results on the
example calls its problem's prompt gives (``AnswerSpec.examples``), run in the sandbox, so
that candidates that behave alike vote together (as CodeT, S* and MBR-exec do) instead of
voting on numbers pulled out of code. Each candidate is still scored on its own."""

from __future__ import annotations

from ponder.core.problem import AnswerSpec
from ponder.scoring.code import assemble, behaviour_step, extract_code, read_behaviour
from ponder.scoring.sandbox import Limits, run_code

#: one behaviour run: the example calls are small, a candidate that needs longer is looping
LIMITS = Limits(wall_seconds=5, cpu_seconds=3, memory_bytes=512 << 20)


def behaviour_answer(text: str, spec: AnswerSpec) -> tuple[str | None, str | None]:
    """``(answer, None)``: what the code in ``text`` returns on ``spec.examples``, as
    ``call -> result`` pairs; or ``(None, why)`` when it cannot be run on them."""
    if not spec.examples:
        return None, "no example calls to run the code on"
    code = extract_code(text)
    if spec.code_prompt and spec.entry_point:
        code = assemble(spec.code_prompt, code, spec.entry_point)
    execution = run_code(code, then=[behaviour_step(spec.examples)], limits=LIMITS)
    ran = execution.steps[0].output if execution.completed and execution.steps else ""
    seen = read_behaviour(ran)
    if seen is None or len(seen) != len(spec.examples):
        return (
            None,
            f"the code did not run on the examples ({execution.status}: {execution.reason})",
        )
    if all(out.startswith("raises ") for out in seen):  # broken code must not win a vote
        return None, f"the code raises on every example ({seen[0]})"
    return "; ".join(
        f"{call} -> {out}" for call, out in zip(spec.examples, seen, strict=True)
    ), None
