"""The text of ``ponder --help`` as typer renders it (``main`` prints it without importing
typer; ``tests/test_cli.py`` checks it against typer's own).
"""

ROOT_HELP = """\
Usage: ponder [OPTIONS] COMMAND [ARGS]...

  Test-time scaling for language models: spend inference compute, measure what
  it buys.

Options:
  --help  Show this message and exit.

Commands:
  eval    Evaluate strategies on tasks: accuracy, tokens, time and FLOPs,...
  report  Redraw the report (table, report.md, summary.json, plots) from...
  plan    What should I run? Accuracy against cost of every stored...
  serve   Serve an OpenAI-compatible API that thinks harder (POST...
  solve   Solve one question with a test-time scaling strategy.
  tune    Measure a model once and write the plan `-s auto:budget=N` then...
"""
