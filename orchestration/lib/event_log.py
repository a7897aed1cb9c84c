"""Dagster's SQLite event log, with its connections kept open.

Dagster's `SqliteEventLogStorage` opens a new SQLAlchemy engine and connection for every write
and disposes of it after: three per check result (the run's file, the index, the check's row),
each committed with a full sync. A 1M-person increment writes 2,320 events: storing them and the
run's planned events took 20 s of its 203. Here each file keeps one engine (the last few files
are kept), and SQLite syncs at `synchronous=NORMAL`: with Dagster's write-ahead log every file
stays consistent, and a power cut loses at most the last events (BENCHMARKS.md#incremental-runs).
Everything else, files and tables included, is Dagster's own: `dagster dev` reads the same
history. The instance's `dagster.yaml` names this class (orchestration/definitions.py) with the
instance's folder, `DAGSTER_HOME`, not a path: a copied or moved folder keeps its own history.

Dagster's UI follows a running run by watching its file. With a connection kept open, a commit
writes only the file's write-ahead log (`<run>.db-wal`; the file itself changes at checkpoints),
so the watcher here wakes on either.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import QueuePool
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler
from watchdog.observers import Observer

KEEP_ENGINES = 8  # a run writes its own file and the index; the UI reads a few runs at a time


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose files keep an engine with a connection pool."""

    def __init__(self, base_dir: str, inst_data: Any = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"dagster_home": StringSource}  # Dagster's own layout below it

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteEventLogStorage:
        return cls(str(_runs_folder(config_value["dagster_home"])), inst_data)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as Dagster's, with the engine kept: one writer or reader at a time in this process
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=4,  # Dagster's set-up inspects a file while connected to it
            # used under self._db_lock only, from whichever thread holds it
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _synchronous_normal)
        self._engines[shard] = engine
        while len(self._engines) > KEEP_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def dispose(self) -> None:
        super().dispose()  # the watchers first: they read through the engines
        self._dispose_engines()

    def wipe(self) -> None:
        self._dispose_engines()  # the files are deleted
        super().wipe()

    def watch(self, run_id: str, cursor: str | None, callback: Any) -> None:
        # Dagster's, with the watcher below
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watcher = _RunWatcher(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watcher,
            self._obs.schedule(watcher, self._base_dir, recursive=True),
        )


def _runs_folder(dagster_home: str | Path) -> Path:
    """Where Dagster's SQLite storage keeps the runs' event logs: `history/runs` (its default).
    `~` is expanded as Dagster expands DAGSTER_HOME, so both storages use one folder."""
    home = Path(dagster_home).expanduser()
    if not home.is_absolute():
        raise ValueError(f"DAGSTER_HOME {str(dagster_home)!r} must be an absolute path")
    return home / "history" / "runs"


class _RunWatcher(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of a run's file, woken by its write-ahead log too."""

    def __init__(self, storage: SqliteEventLogStorage, run_id: str, callback: Any, cursor: Any):
        super().__init__(storage, run_id, callback, cursor)
        path = storage.path_for_shard(run_id)
        PatternMatchingEventHandler.__init__(self, patterns=[path, f"{path}-wal"])

    def on_modified(self, event: FileSystemEvent) -> None:
        self._process_log()  # reads from the last event seen


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("pragma synchronous = normal")
