"""The results store: one SQLite file under the output directory.

Every completed problem is one row, committed at once, keyed by (task, problem, strategy
setting, model, seed); a run killed at any moment (``kill -9`` included) loses at most the
problems in flight, and re-running the same command skips every stored key. SQLite's WAL
journal makes each commit atomic, so a half-written row cannot exist.

Tables: ``results`` (the rows; ``record`` is the JSON of everything measured), ``runs`` (one
row per ``ponder eval`` invocation: its plan, start and end), ``claims`` (which run is solving
which problem now), ``meta`` (schema version).

Several ``ponder eval`` processes may share one store on purpose: each claims a problem before
solving it (``claim``), so two processes on the same ``--out`` split the work and no problem
is solved twice. A claim held by a process that is gone (on this machine: its PID is not
running; elsewhere: claimed over ``STALE_AFTER`` seconds ago) is taken over, so a run killed
with ``kill -9`` leaves nothing locked.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ponder.errors import ConfigError
from ponder.eval.records import ProblemRecord

SCHEMA_VERSION = "1"
FILENAME = "results.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    task TEXT NOT NULL,
    problem TEXT NOT NULL,
    strategy TEXT NOT NULL,
    model TEXT NOT NULL,
    seed INTEGER NOT NULL,
    score REAL NOT NULL,
    correct INTEGER NOT NULL,
    record TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (task, problem, strategy, model, seed)
);
CREATE TABLE IF NOT EXISTS claims (
    task TEXT NOT NULL,
    problem TEXT NOT NULL,
    strategy TEXT NOT NULL,
    model TEXT NOT NULL,
    seed INTEGER NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed REAL NOT NULL,
    PRIMARY KEY (task, problem, strategy, model, seed)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    plan TEXT NOT NULL
);
"""


class Store:
    """Results of evaluations, persisted as they complete."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory {str(directory)!r}: {exc}") from exc
        self.path = self.directory / FILENAME
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            _retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            _retry_locked(lambda: self._db.executescript(_SCHEMA))
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"{self.path} is not a ponder results store ({exc}); choose another --out"
            ) from exc
        version = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif version[0] != SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has results schema {version[0]}, this ponder writes "
                f"{SCHEMA_VERSION}; use another --out"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- results

    def done(self, task: str, strategy: str, model: str, seed: int) -> set[str]:
        """Problem ids already stored for this (task, setting, model, seed)."""
        rows = self._db.execute(
            "SELECT problem FROM results WHERE task=? AND strategy=? AND model=? AND seed=?",
            (task, strategy, model, seed),
        )
        return {row[0] for row in rows}

    def put(
        self, task: str, problem: str, strategy: str, model: str, seed: int, record: ProblemRecord
    ) -> bool:
        """Store one completed problem (committed before returning); False if it was there."""
        row = _row(task, problem, strategy, model, seed, record, time.time())
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
        )
        return cursor.rowcount == 1

    def put_many(
        self, task: str, strategy: str, model: str, seed: int, records: Sequence[ProblemRecord]
    ) -> int:
        """Store several problems' records in one transaction: all or none survive a crash
        (a whole-task allocation is one unit of work). Returns how many were new."""
        now = time.time()
        rows = [_row(task, r.problem or "", strategy, model, seed, r, now) for r in records]
        before = self._db.total_changes
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return self._db.total_changes - before

    def records(
        self, task: str, strategy: str, model: str, seed: int, problems: Iterable[str] | None = None
    ) -> dict[str, ProblemRecord]:
        """Stored records by problem id (only ``problems`` when given)."""
        rows = self._db.execute(
            "SELECT problem, record FROM results "
            "WHERE task=? AND strategy=? AND model=? AND seed=?",
            (task, strategy, model, seed),
        )
        wanted = set(problems) if problems is not None else None
        return {p: self._read(p, r) for p, r in rows if wanted is None or p in wanted}

    def _read(self, problem: str, raw: str) -> ProblemRecord:
        try:
            return ProblemRecord.model_validate_json(raw)
        except ValidationError as exc:
            raise ConfigError(
                f"{self.path} holds a record of problem {problem!r} that this version of "
                f"ponder cannot read ({exc.error_count()} field error(s), first: "
                f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}); it was written by "
                "another version: evaluate into a new --out, or redraw its report with the "
                "version that wrote it"
            ) from exc

    def keys(self) -> set[tuple[str, str, str, str, int]]:
        """Every stored key (task, problem, strategy, model, seed)."""
        rows = self._db.execute("SELECT task, problem, strategy, model, seed FROM results")
        return {tuple(row) for row in rows}

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def models(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT DISTINCT model FROM results")}

    def settings(self) -> set[tuple[str, str, str, int]]:
        """Distinct (task, strategy, model, seed) stored."""
        rows = self._db.execute("SELECT DISTINCT task, strategy, model, seed FROM results")
        return {tuple(row) for row in rows}

    # -- claims: several processes sharing one store

    def claim(
        self, task: str, problem: str, strategy: str, model: str, seed: int, owner: str
    ) -> bool:
        """Take the problem for ``owner`` (a run's id): False when it is stored already or a
        live run holds it. Atomic across processes."""
        key = (task, problem, strategy, model, seed)
        where = "task=? AND problem=? AND strategy=? AND model=? AND seed=?"
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute(f"SELECT 1 FROM results WHERE {where}", key).fetchone():
                taken = False
            else:
                held = self._db.execute(
                    f"SELECT owner, host, pid, claimed FROM claims WHERE {where}", key
                ).fetchone()
                taken = held is None or held[0] == owner or not _alive(*held[1:])
                if taken:
                    self._db.execute(
                        "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*key, owner, socket.gethostname(), os.getpid(), time.time()),
                    )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return taken

    def release(self, owner: str) -> None:
        """Drop every claim of ``owner`` (its run is over, finished or not)."""
        self._db.execute("DELETE FROM claims WHERE owner=?", (owner,))

    def claimed_by_others(self, owner: str) -> int:
        """Problems live runs other than ``owner`` are solving now."""
        rows = self._db.execute(
            "SELECT host, pid, claimed FROM claims WHERE owner != ?", (owner,)
        ).fetchall()
        return sum(_alive(*row) for row in rows)

    # -- runs

    def start_run(self, plan: dict[str, Any]) -> int:
        cursor = self._db.execute(
            "INSERT INTO runs (started, plan) VALUES (?, ?)", (time.time(), json.dumps(plan))
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(self, run_id: int) -> None:
        self._db.execute("UPDATE runs SET finished=? WHERE id=?", (time.time(), run_id))

    def run(self, run_id: int | None = None) -> tuple[int, dict[str, Any], float, float | None]:
        """A recorded run (the latest by default): id, plan, started, finished."""
        if run_id is None:
            row = self._db.execute(
                "SELECT id, plan, started, finished FROM runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT id, plan, started, finished FROM runs WHERE id=?", (run_id,)
            ).fetchone()
        if row is None:
            which = "no runs" if run_id is None else f"no run {run_id}"
            raise ConfigError(f"{self.path} holds {which}; run `ponder eval --out DIR` first")
        return row[0], json.loads(row[1]), row[2], row[3]


def _row(
    task: str,
    problem: str,
    strategy: str,
    model: str,
    seed: int,
    record: ProblemRecord,
    created: float,
) -> tuple[Any, ...]:
    return (
        task,
        problem,
        strategy,
        model,
        seed,
        float(record.score),
        int(record.correct),
        record.model_dump_json(),
        created,
    )


#: a claim from another machine older than this is taken to be abandoned
STALE_AFTER = 3600.0


def _alive(host: str, pid: int, claimed: float) -> bool:
    """Whether the run that made a claim still runs: on this machine, whether its process
    does; elsewhere, whether the claim is recent."""
    if host != socket.gethostname():
        return time.time() - claimed < STALE_AFTER
    if pid == os.getpid():
        return True  # a run of this very process (finished runs release their claims)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _retry_locked(action: Callable[[], object], patience: float = 60.0) -> None:
    """Run ``action``, retrying while another process holds the lock (SQLite answers some
    statements, switching to WAL among them, at once with "locked" instead of waiting)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
