"""What the commands share: the app, the options every command takes, and errors as exit codes.

Heavy modules (llama.cpp, math-verify, the server, the eval harness) are imported inside the
commands, so ``ponder --help`` answers at once.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ponder.core.spec import parse_assignment, parse_assignments

app = typer.Typer(
    name="ponder",
    help="Test-time scaling for language models: spend inference compute, measure what it buys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help text: rich's formatting costs more than the rest of `ponder --help`
    rich_markup_mode=None,
)

#: --backend-option of solve and eval
BackendOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--backend-option",
        "-B",
        help="KEY=VALUE for the model's backend. Embedded: n_ctx (most prompt + completion "
        "tokens a request can use, default 2048), kv_memory (KV cache budget, e.g. 4GiB; "
        "default half the free memory, at most 8GiB), cache_type_k/cache_type_v (f16, q8_0, "
        "q4_0, ...), n_parallel, n_prompt_slots, n_threads, flash_attn, kv_unified "
        "(unset sizes are fitted to kv_memory), logit_jitter (simulated numerics of another CPU), "
        "chat_template (chatml, gemma, llama3, "
        "completion or a Jinja file, for a GGUF without one), stop (more stop strings). "
        "Server: api_key, timeout "
        "(one deadline per call), max_retries, "
        "max_retry_wait, max_body_bytes, stream_idle_timeout, chat_continuation, "
        "priority_scheduling (vLLM with --scheduling-policy priority). Repeatable.",
    ),
]


@app.callback()
def _root() -> None:
    """ponder: better answers for more inference compute, measured honestly."""


def _fail(exc: Exception) -> typer.Exit:
    from ponder.errors import UserError

    typer.echo(f"error: {exc}", err=True)
    for note in getattr(exc, "__notes__", []):
        typer.echo(f"note: {note}", err=True)
    return typer.Exit(2 if isinstance(exc, UserError) else 1)


def _extra_models(pairs: list[str]) -> dict[str, str]:
    """``NAME=SPEC`` pairs of --extra-model."""
    example = "NAME=SPEC (e.g. second=/models/qwen.gguf or judge=http://localhost:8000/v1)"
    return parse_assignments(pairs, "--extra-model", example, typed=False)


def _backend_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of --backend-option (values as in strategy specs: 8, true, 0.5)."""
    return parse_assignments(pairs, "--backend-option", "KEY=VALUE (e.g. n_ctx=8192)")


def _task_args(task: str, pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs for every task, ``TASK.k=v`` for the task named TASK only."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, value = parse_assignment(pair, "--task-arg", "key=value or TASK.key=value")
        scope, dot, name = key.rpartition(".")
        if dot and scope != task and scope != task.rpartition(":")[2]:
            continue
        args[name if dot else key] = value
    return args


#: --data of eval and tune
DataOption = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="A benchmark's own files (parquet or JSONL, or a directory of them) for the tasks "
        "that read a dataset (gsm8k, math500, aime24, aime25, gpqa_diamond, mbpp, mbpp_plus, "
        "livecodebench); without it they use Hugging Face `datasets` (the hub or its cache).",
    ),
]


def _with_data(name: str, args: dict[str, Any], data: str | None) -> dict[str, Any]:
    """``args`` with ``data`` for a task that reads a dataset's files (and not for others)."""
    if data is None or "data" in args:
        return args
    from ponder.tasks.base import task_class

    cls = task_class(name)
    if cls is not None and "data" in getattr(cls.Config, "model_fields", {}):
        return {**args, "data": data}
    return args


def _model_shape(spec: str | None) -> Any:
    if spec is None:
        return None
    from ponder.core.spec import parse_options
    from ponder.core.types import ModelShape
    from ponder.errors import ConfigError

    example = "params=N,layers=L,d_model=D (e.g. params=7.6e9,layers=28,d_model=3584)"
    try:
        fields = parse_options(spec, "--model-shape field")
        return ModelShape(
            int(float(fields["params"])), int(fields["layers"]), int(fields["d_model"])
        )
    except (KeyError, ValueError, TypeError, ConfigError):
        raise ConfigError(f"--model-shape {spec!r} must read {example}") from None


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
