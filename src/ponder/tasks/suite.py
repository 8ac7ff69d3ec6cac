"""The development suite: the tasks ``ponder eval`` runs when given none."""

from __future__ import annotations

from typing import Any

#: The development suite: three reasoning-gym tasks on which even the embedded 135M model has
#: measurable signal (greedy, one sample, majority and coverage all differ), so that changes
#: to strategies show up in minutes on a laptop CPU.
DEV_SUITE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("products", {"max_digits": 1}),
    (
        "basic_arithmetic",
        {
            "min_terms": 2,
            "max_terms": 2,
            "min_digits": 1,
            "max_digits": 1,
            "operators": ["+", "-"],
            "allow_parentheses": False,
            "allow_negation": False,
        },
    ),
    ("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}),
)
#: the main job compares strategy families at matched compute: greedy, self-consistency
#: (n = 1, 2, 4, 8 from one pool), an adaptive one, a verifier one, and ``auto`` at two
#: budgets (mean computed tokens a problem, around self-consistency's n=4 and n=8)
DEV_STRATEGIES: tuple[str, ...] = (
    "greedy",
    "self_consistency:n=1|2|4|8",
    "adaptive_consistency:n=8",
    "best_of_n:n=4,scorer=arithmetic",
    "auto:budget=150|300",
)
DEV_LIMIT = 20
