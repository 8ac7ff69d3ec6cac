"""The seeds' benchmarks' data: each dataset's own files, in its own schema.

A benchmark task reads its rows from ``data`` (``--data PATH``: a parquet, JSONL or JSON file,
or a directory of them, as the dataset's repository ships them) or, without it, through
Hugging Face ``datasets`` (``pip install datasets``) from the hub or its local cache. Offline
without either is a ConfigError that says both ways. Nothing here knows a benchmark: the
tasks (``ponder.tasks.benchmarks``, ``ponder.tasks.code_benchmarks``) turn rows into problems.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ponder.errors import ConfigError
from ponder.tasks.base import Task, TaskConfig

#: the files a --data directory may hold
SUFFIXES = (".parquet", ".jsonl", ".json")


class HubConfig(TaskConfig):
    #: the dataset's own files (a file or a directory of them); None: the hub (or its cache)
    data: str | None = None
    #: the split to read from the hub (its files are named by the dataset, not split here)
    split: str | None = None


class HubTask(Task):
    """A benchmark whose rows come from a Hugging Face dataset or from its files."""

    #: the dataset on the hub, its configuration, and the split a benchmark is scored on
    dataset: ClassVar[str]
    subset: ClassVar[str | None] = None
    default_split: ClassVar[str] = "test"

    @property
    def args(self) -> dict[str, Any]:
        args = super().args
        if args.get("data"):
            args["data"] = str(Path(str(args["data"])).expanduser().resolve())
        return args

    def rows(self, files: list[Path] | None = None) -> list[dict[str, Any]]:
        config = self.config
        assert isinstance(config, HubConfig)
        if config.data is not None:
            return read_rows(files if files is not None else data_files(config.data), self.name)
        return hub_rows(self.dataset, self.subset, config.split or self.default_split, self.name)


def data_files(data: str) -> list[Path]:
    path = Path(data).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if found:
            return found
        raise ConfigError(f"--data {data}: the directory holds no {', '.join(SUFFIXES)} files")
    raise ConfigError(f"--data {data}: no such file or directory")


def read_rows(files: list[Path], what: str) -> list[dict[str, Any]]:
    """Every row of ``files``, in order."""
    rows: list[dict[str, Any]] = []
    for path in files:
        if path.suffix == ".parquet":
            rows += _parquet(path, what)
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            loaded = json.loads(text)
            found = loaded if isinstance(loaded, list) else loaded.get("data", loaded.get("rows"))
            if not isinstance(found, list):
                raise ConfigError(f"{path}: a JSON file of {what} must hold a list of rows")
            rows += found
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path} line {number} is not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path} line {number} is not an object")
            rows.append(row)
    if not rows:
        raise ConfigError(f"{', '.join(map(str, files))}: no rows of {what}")
    return rows


def _parquet(path: Path, what: str) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            f"{path}: reading parquet needs pyarrow (pip install pyarrow); or give {what}'s "
            "JSONL files"
        ) from None
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def hub_rows(dataset: str, subset: str | None, split: str, what: str) -> list[dict[str, Any]]:
    """The split's rows through ``datasets`` (the hub, or its cache when offline)."""
    both = (
        f"pass --data PATH with {dataset}'s own files (parquet or JSONL, as its repository "
        "ships them), or reach the Hugging Face hub once so that `datasets` caches it"
    )
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            f"{what}: no --data given, and the `datasets` package that fetches {dataset} is not "
            f"installed (pip install datasets); or {both}"
        ) from None
    try:
        loaded = datasets.load_dataset(dataset, subset, split=split)
    except Exception as exc:  # offline, no cache, a renamed split: the library's own errors
        raise ConfigError(
            f"{what}: {dataset} could not be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
            f"{both}"
        ) from None
    return [dict(row) for row in loaded]


def first(row: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` the row has (datasets that renamed a column between versions)."""
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    raise ConfigError(f"a row has none of the columns {', '.join(names)}: {sorted(row)[:12]}")
