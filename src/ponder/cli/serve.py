"""``ponder serve``: the OpenAI-compatible server, and what its operator lets requests reach."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ponder.cli.common import BackendOptions, _backend_options, _extra_models, _fail, app
from ponder.core.spec import parse_assignments, parse_spec


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="A GGUF path, an OpenAI-compatible URL (#MODEL picks one), or BACKEND:SPEC. "
            "Default: the bundled SmolLM2-135M-Instruct.",
        ),
    ] = None,
    extra_model: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-model",
            help="NAME=SPEC: another served model, also reachable by strategies that use "
            "several (model_switch, judge(model=NAME)). Repeatable.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The id clients use for --model (default: the model's own name)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="A key clients must send (Authorization: Bearer KEY). Repeatable; "
            "PONDER_API_KEYS (comma-separated) adds more. None: no check.",
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            help="The strategy of requests that name none (MODEL@SPEC or ponder.strategy).",
        ),
    ] = "self_consistency",
    preset: Annotated[
        list[str] | None,
        typer.Option(help="A strategy spec listed in /v1/models as MODEL@SPEC. Repeatable."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(help="A strategy or scorer requests may also use ('all': every one)."),
    ] = None,
    deny: Annotated[
        list[str] | None, typer.Option(help="A strategy or scorer requests may not use.")
    ] = None,
    scorer: Annotated[
        list[str] | None,
        typer.Option(
            "--scorer",
            help="NAME=SPEC: a scorer requests name (scorer=NAME), e.g. "
            "rm=reward_model(url=http://gpu:8001/pooling). Repeatable.",
        ),
    ] = None,
    plan_file: Annotated[
        list[str] | None,
        typer.Option("--plan", help="NAME=FILE: a plan requests name (auto:plan=NAME)."),
    ] = None,
    max_n: Annotated[int, typer.Option(help="Most choices (n) per request.")] = 8,
    max_tokens: Annotated[int, typer.Option(help="Most max_tokens per sample.")] = 4096,
    run_tokens: Annotated[
        int, typer.Option(help="Most completion tokens one strategy run may spend.")
    ] = 65536,
    max_concurrent: Annotated[int, typer.Option(help="Requests worked on at once.")] = 16,
    max_queue: Annotated[int, typer.Option(help="Requests waiting beyond those (429).")] = 64,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 4 * 1024 * 1024,
    timeout: Annotated[
        float, typer.Option(help="Seconds a request may take before a 504 (0: no limit).")
    ] = 600.0,
    backend_option: BackendOptions = None,
) -> None:
    """Serve an OpenAI-compatible API that thinks harder (POST /v1/chat/completions)."""
    import asyncio
    import os

    from ponder.errors import ConfigError, PonderError
    from ponder.server import ServeConfig
    from ponder.server import serve as run_server

    keys = [*(api_key or []), *os.environ.get("PONDER_API_KEYS", "").split(",")]
    if api_key:
        typer.echo(
            "warning: --api-key shows in the process list (ps) to every user of this machine; "
            "set PONDER_API_KEYS instead",
            err=True,
        )
    try:
        limits = {"--max-n": max_n, "--max-tokens": max_tokens, "--run-tokens": run_tokens}
        limits |= {"--max-concurrent": max_concurrent, "--max-body-bytes": max_body_bytes}
        for flag, value in limits.items():
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, not {value}")
        if max_queue < 0 or timeout < 0:
            raise ConfigError("--max-queue and --timeout must not be negative")
        config = ServeConfig(
            strategy=strategy,
            presets=tuple(preset or ()),
            api_keys=frozenset(k.strip() for k in keys if k.strip()),
            max_n=max_n,
            max_tokens=max_tokens,
            run_tokens=run_tokens,
            max_concurrent=max_concurrent,
            max_queue=max_queue,
            max_body_bytes=max_body_bytes,
            timeout=timeout or None,
            policy=_policy(allow or [], deny or [], scorer or [], plan_file or []),
        )
        _check_strategies([strategy, *config.presets], config.admission())
        asyncio.run(
            run_server(
                model,
                _extra_models(extra_model or []),
                config,
                host=host,
                port=port,
                name=name,
                backend_options=_backend_options(backend_option or []),
            )
        )
    except PonderError as exc:
        raise _fail(exc) from None


def _policy(allow: list[str], deny: list[str], scorers: list[str], plans: list[str]) -> Any:
    """What requests may reach: ``ponder.server.policy.Policy`` from the flags."""
    from pathlib import Path

    from ponder.errors import ConfigError
    from ponder.scoring.scorers.base import make_scorer, parse_scorer_spec
    from ponder.server.policy import Policy

    named = {}
    for name, spec in parse_assignments(scorers, "--scorer", "NAME=SPEC", typed=False).items():
        scorer_name, options = parse_scorer_spec(spec)
        make_scorer({"name": scorer_name, **options})  # checked now, before serving
        named[name] = {"name": scorer_name, **options}
    files = parse_assignments(plans, "--plan", "NAME=FILE", typed=False)
    for name, path in files.items():
        if not Path(path).is_file():
            raise ConfigError(f"--plan {name}={path}: no such file")
    policy = Policy.default(named_scorers=named, plans=files)
    return policy.widened(allow, deny)


def _check_strategies(specs: list[str], policy: Any = None) -> None:
    """Each spec names a strategy with valid options (before any model is loaded); with the
    server's policy, its named scorers and plans resolved."""
    from ponder.api import make_strategy

    for spec in specs:
        name, options = parse_spec(spec)
        if policy is not None:
            options = policy.admit(name, options, {}, None)
        make_strategy(name, **options)
