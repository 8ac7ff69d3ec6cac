"""Backends do I/O only: they turn a GenerationRequest into completions and know nothing of
strategies. Each advertises its Capabilities; see ``ponder.backends.base``."""

from ponder.backends.base import Backend, resolve_backend

__all__ = ["Backend", "resolve_backend"]
