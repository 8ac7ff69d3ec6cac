"""The OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp's server, Ollama, hosted APIs)."""

from ponder.backends.openai.backend import OpenAIBackend

__all__ = ["OpenAIBackend"]
