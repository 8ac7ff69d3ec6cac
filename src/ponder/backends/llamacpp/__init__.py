"""The embedded backend: llama.cpp in-process (see ``backend`` for the public face, ``engine``
for the continuous-batching engine). The names below load on first use (PEP 562), so that
``loading`` can begin loading a model before the rest is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ponder.backends.llamacpp.backend import LlamaCppBackend
    from ponder.backends.llamacpp.loading import default_model_path

__all__ = ["LlamaCppBackend", "default_model_path"]


def __getattr__(name: str) -> Any:  # PEP 562
    if name == "default_model_path":
        from ponder.backends.llamacpp.loading import default_model_path

        return default_model_path
    if name == "LlamaCppBackend":
        from ponder.backends.llamacpp.backend import LlamaCppBackend

        return LlamaCppBackend
    raise AttributeError(f"module 'ponder.backends.llamacpp' has no attribute {name!r}")
