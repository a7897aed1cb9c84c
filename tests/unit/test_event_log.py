"""The Dagster instance's event log: the connections are kept open, the files stay Dagster's own,
and the instance's dagster.yaml names no path (a copied folder keeps its own history) and
never overwrites an operator's."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage

from orchestration import settings
from orchestration.definitions import instance_for
from orchestration.lib.event_log import PooledSqliteEventLogStorage


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers():
    yield dg.Output([1, 2, 3])
    yield dg.AssetCheckResult(check_name="positive", passed=True, metadata={"rows": 3})


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    # settings.locations takes DAGSTER_HOME when it is set: these tests name their folders
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def where(folder: Path) -> settings.Locations:
    return settings.locations(folder / "landing", folder / "warehouse" / "omni360.duckdb")


def run(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize([numbers], instance=instance)


def test_a_run_is_written_through_kept_connections_into_dagsters_own_files(tmp_path: Path):
    instance = instance_for(where(tmp_path))
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)

    results = [run(instance) for _ in range(2)]

    assert all(result.success for result in results)
    storage = instance.event_log_storage
    assert len(storage._engines) == 3  # the two runs' files and the index, each one engine
    # Dagster's own class reads the same files: the history is the UI's
    plain = SqliteEventLogStorage(storage._base_dir)
    for result in results:
        ours = instance.all_logs(result.run_id)
        assert len(ours) > 10
        assert [e.dagster_event_type for e in plain.get_logs_for_run(result.run_id)] == [
            e.dagster_event_type for e in ours
        ]
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")]
    )
    assert check[dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")].run_id == results[1].run_id
    with storage._engines[results[1].run_id].connect() as conn:
        assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
    instance.dispose()
    assert not storage._engines


def test_a_copied_folder_keeps_its_own_history_and_an_operators_config_is_kept(
    tmp_path: Path, monkeypatch
):
    first = where(tmp_path / "a")
    run(instance_for(first))
    moved = where(tmp_path / "b")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    config = moved.dagster_home / "dagster.yaml"
    assert str(tmp_path) not in config.read_text()  # no path: DAGSTER_HOME

    # `dagster dev` on the copy, before any omni360 command there: its own history
    monkeypatch.setenv("DAGSTER_HOME", str(moved.dagster_home))
    ui = dg.DagsterInstance.get()
    assert isinstance(ui.event_log_storage, PooledSqliteEventLogStorage)
    result = run(ui)
    assert len(ui.get_runs()) == 2  # the copied run and the new one
    assert (moved.dagster_home / "history" / "runs" / f"{result.run_id}.db").exists()
    assert not (first.dagster_home / "history" / "runs" / f"{result.run_id}.db").exists()
    # omni360 uses the folder it is given, whatever DAGSTER_HOME says in its process
    monkeypatch.setenv("DAGSTER_HOME", str(first.dagster_home))
    for folder, runs in ((moved, 2), (first, 1)):
        instance = instance_for(folder)
        assert instance.event_log_storage._base_dir == str(folder.dagster_home / "history" / "runs")
        assert len(instance.get_runs()) == runs
    # `~` as Dagster reads DAGSTER_HOME; a relative folder is refused, never used under the cwd
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", "~/b/warehouse/dagster")
    assert dg.DagsterInstance.get().event_log_storage._base_dir == str(
        moved.dagster_home / "history" / "runs"
    )
    with pytest.raises(ValueError, match="absolute"):
        PooledSqliteEventLogStorage.from_config_value(None, {"dagster_home": "b/warehouse/dagster"})

    # what earlier versions wrote is replaced; an operator's own file is not
    for earlier in ("telemetry:\n  enabled: false\n", "# written by omni360\nbase_dir: /x\n"):
        config.write_text(earlier)
        instance_for(moved)
        assert "dagster_home:\n      env: DAGSTER_HOME" in config.read_text()
    own = "telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n"
    config.write_text(own)
    assert not isinstance(instance_for(moved).event_log_storage, PooledSqliteEventLogStorage)
    assert config.read_text() == own


def test_a_watcher_follows_a_run_written_through_a_kept_connection(tmp_path: Path):
    """Dagster's UI follows a running run by watching its file. With the writer's connection
    kept open, a commit reaches only the write-ahead log (`<run>.db-wal`), which Dagster's own
    watcher does not look at."""
    writer = PooledSqliteEventLogStorage(str(tmp_path))
    reader = PooledSqliteEventLogStorage(str(tmp_path))  # another process's, as the UI's

    def entry(message: str) -> EventLogEntry:
        return EventLogEntry(
            error_info=None,
            level=logging.INFO,
            user_message=message,
            run_id="run-1",
            timestamp=time.time(),
        )

    writer.store_event(entry("before the watch"))
    seen: list[str] = []
    reader.watch("run-1", None, lambda record, cursor: seen.append(record.user_message))
    try:
        for i in range(3):
            writer.store_event(entry(f"step {i}"))
        deadline = time.monotonic() + 15
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen[-3:] == ["step 0", "step 1", "step 2"]
        assert (tmp_path / "run-1.db-wal").stat().st_size > 0  # still open: not checkpointed
    finally:
        reader.dispose()
        writer.dispose()
