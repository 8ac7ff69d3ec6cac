"""The evaluation harness: accuracy against compute on real tasks, honestly measured.

See ``ponder.eval.harness`` for the entry points, ``runner`` for how problems are run and
stored, ``estimators`` for pass@k, maj@k and the intervals, ``report`` for what is reported.
"""

from ponder.eval.harness import EvalOutcome, aevaluate, evaluate, report

__all__ = ["EvalOutcome", "aevaluate", "evaluate", "report"]
