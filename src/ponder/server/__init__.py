"""``ponder serve``: the OpenAI-compatible endpoint (see ``ponder.server.app``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ponder.server.app import create_app
from ponder.server.guards import with_body_limit
from ponder.server.run import ServeConfig, Served

__all__ = ["Running", "ServeConfig", "Served", "create_app", "serve", "with_body_limit"]


async def serve(
    model: str | None,
    extra_models: Mapping[str, str],
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str | None = None,
    backend_options: Mapping[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Open the models, then serve until interrupted; the models are closed on the way out."""
    import uvicorn

    from ponder.api import open_models
    from ponder.core.problem import DEFAULT_MODEL
    from ponder.core.registry import default_registry
    from ponder.errors import ConfigError

    async with open_models(model, extra_models, default_registry(), backend_options) as opened:
        main = opened.pop(DEFAULT_MODEL)
        main_id = name or main.model_name
        if "@" in main_id or main_id in opened:
            raise ConfigError(
                f"the served model name {main_id!r} holds '@' or is an --extra-model's name: "
                "choose another with --name"
            )
        served = Served(main_id, {main_id: main, **opened})
        app = with_body_limit(create_app(served, config), config)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off")
        )
        await server.serve()


class Running:
    """A server in a thread of this process, on a free loopback port, for tests, benchmarks
    and notebooks::

        with Running(Served("m", {"m": backend})) as base_url:
            OpenAI(base_url=base_url, api_key="-").chat.completions.create(...)

    The backends are the caller's (they are not closed here)."""

    def __init__(self, served: Served, config: ServeConfig | None = None) -> None:
        import uvicorn

        self.config = config or ServeConfig()
        app = with_body_limit(create_app(served, self.config), self.config)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        self.url = ""

    def __enter__(self) -> str:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
