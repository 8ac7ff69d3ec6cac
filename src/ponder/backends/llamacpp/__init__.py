"""The embedded backend: llama.cpp in-process (see ``backend`` for the public face, ``engine``
for the continuous-batching engine)."""

from ponder.backends.llamacpp.backend import LlamaCppBackend, default_model_path

__all__ = ["LlamaCppBackend", "default_model_path"]
