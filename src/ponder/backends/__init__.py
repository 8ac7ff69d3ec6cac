"""Backends do I/O only: they turn a GenerationRequest into completions and know nothing of
strategies. Each advertises its Capabilities; see ``ponder.backends.base``.

The names below load on first use (PEP 562), so that the command line can reach
``ponder.backends.llamacpp.loading`` before the types and pydantic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ponder.backends.base import Backend, resolve_backend

__all__ = ["Backend", "resolve_backend"]


def __getattr__(name: str) -> Any:  # PEP 562
    if name in __all__:
        from ponder.backends import base

        return getattr(base, name)
    raise AttributeError(f"module 'ponder.backends' has no attribute {name!r}")
