"""One registry for backends, strategies, scorers and tasks, built on entry points.

Built-ins are declared in ponder's own ``pyproject.toml`` under the groups ``ponder.backends``
and ``ponder.strategies``, exactly as a third-party plugin declares its own::

    [project.entry-points."ponder.strategies"]
    my_strategy = "my_package.module:MyStrategy"

Entry points are loaded only when a name is asked for, so listing names imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ponder.errors import UnknownNameError

GROUPS: Mapping[str, str] = {
    "backend": "ponder.backends",
    "strategy": "ponder.strategies",
    "batch_strategy": "ponder.batch_strategies",
    "task": "ponder.tasks",
    "scorer": "ponder.scorers",
}


@dataclasses.dataclass(frozen=True)
class Registry:
    """Names to components, by kind. Immutable: ``with_component`` returns a new registry."""

    entries: Mapping[str, Mapping[str, EntryPoint | Any]]

    @classmethod
    def from_entry_points(cls) -> Registry:
        found: dict[str, dict[str, EntryPoint | Any]] = {}
        for kind, group in GROUPS.items():
            found[kind] = {ep.name: ep for ep in entry_points(group=group)}
        return cls(found)

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries.get(kind, {}))

    def get(self, kind: str, name: str) -> Any:
        """The component registered as ``name``; UnknownNameError (listing the known) if none."""
        table = self.entries.get(kind, {})
        if name not in table:
            raise UnknownNameError(kind, name, table)
        entry = table[name]
        return entry.load() if isinstance(entry, EntryPoint) else entry

    def with_component(self, kind: str, name: str, component: Any) -> Registry:
        """A new registry with ``component`` added (for tests and embedding applications)."""
        entries = {k: dict(v) for k, v in self.entries.items()}
        entries.setdefault(kind, {})[name] = component
        return Registry(entries)


@functools.cache
def default_registry() -> Registry:
    """The registry of everything installed: ponder's built-ins and every plugin. Read once
    per process (scanning the installed distributions' entry points takes ~20 ms, which a
    server pays per request otherwise); ``default_registry.cache_clear()`` reads it again
    after installing a plugin into a running process."""
    return Registry.from_entry_points()
