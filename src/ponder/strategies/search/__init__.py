"""Step-level search over partial solutions: beam search, DVTS, particle filtering, MCTS and
best-first search, all on one tree (``tree.StepSearch``)."""
