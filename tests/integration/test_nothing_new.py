"""A run with nothing new since the last complete run (no landing file to load, the same code
and settings) runs only ingestion and its delivery checks; anything new builds everything."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from orchestration import settings
from orchestration.cli import app
from orchestration.definitions import build_defs, instance_for
from orchestration.lib import run_state
from orchestration.lib.contracts import entity
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import scan_landing
from orchestration.lib.ingest.withdraw import withdraw
from orchestration.lib.publish import read_manifest, snapshot_path
from orchestration.resources import WarehouseResource
from tests.integration.conftest import SampleRun


def _unchanged(where: settings.Locations) -> run_state.CompleteRun | None:
    graph = build_defs(WarehouseResource.at(where)).resolve_asset_graph()
    return run_state.plan_run(
        graph,
        landing=where.landing,
        lake=where.lake,
        warehouse=where.warehouse,
        published=where.published,
    ).unchanged


def _schedule_request(where: settings.Locations) -> dg.RunRequest:
    warehouse = WarehouseResource.at(where)
    definitions = build_defs(warehouse)
    schedule = definitions.resolve_schedule_def("omni360_daily")
    with dg.build_schedule_context(
        instance=instance_for(where),
        resources={"warehouse": warehouse},
        repository_def=definitions.get_repository_def(),
    ) as context:
        return schedule.evaluate_tick(context).run_requests[0]


def test_a_run_with_nothing_new_only_ingests_and_keeps_the_snapshot(
    sample_run: SampleRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    landing = tmp_path / "landing"
    shutil.copytree(sample_run.landing, landing)  # times kept: the answer key is the same
    shutil.copytree(sample_run.warehouse.parent, tmp_path / "wh")
    where = settings.locations(landing, tmp_path / "wh" / sample_run.warehouse.name)
    snapshot = snapshot_path(where.published)
    built = snapshot.stat().st_mtime_ns
    complete = _unchanged(where)
    assert complete is not None and complete.run_id == sample_run.rerun.run_id

    result = CliRunner().invoke(
        app, ["run", "--landing", str(landing), "--warehouse", str(where.warehouse)]
    )
    assert result.exit_code == 0, result.output
    assert f"nothing new since run {sample_run.rerun.run_id}" in result.output
    [latest] = instance_for(where).get_runs(limit=1)
    everything = build_defs(WarehouseResource.at(where)).resolve_asset_graph()
    only = set(run_state.ingestion_keys(everything.materializable_asset_keys))
    assert set(latest.asset_selection) == only
    assert latest.run_id != sample_run.rerun.run_id
    # the delivery checks ran (freshness reads the wall clock); the snapshot was not touched
    assert "checks passed" in result.output and "landing_scan" in str(only)
    assert snapshot.stat().st_mtime_ns == built
    assert read_manifest(snapshot).run_id == sample_run.rerun.run_id
    # the daily schedule decides the same
    assert set(_schedule_request(where).asset_selection) == only

    # another setting means building everything
    monkeypatch.setenv("OMNI360_MAX_FIELD_BYTES", "99999")
    assert _unchanged(where) is None
    assert set(_schedule_request(where).asset_selection) == everything.materializable_asset_keys
    monkeypatch.delenv("OMNI360_MAX_FIELD_BYTES")
    # a new landing file (a copy is recorded as one): everything but the assets computed from
    # the code alone, which is the last complete run's
    [first] = scan_landing(landing).files_for(entity("pos", "stores"))
    shutil.copy(first.path, first.path.with_name("stores_again.csv"))
    assert _unchanged(where) is None
    code_only = everything.materializable_asset_keys - set(_schedule_request(where).asset_selection)
    assert {k.to_user_string() for k in code_only} == {
        "identity/identity_blocked_values",
        "identity/identity_force_links",
        "identity/identity_never_links",
        "marts/dim_date",
    }
    # so does an answer key extended with the delivery (generate --extend): the accuracy checks
    # read it, the seeds and the calendar do not
    truth = landing / "_truth" / "config.json"
    recorded = truth.stat()
    os.utime(truth, ns=(recorded.st_atime_ns, recorded.st_mtime_ns + 10**9))
    first.path.with_name("stores_again.csv").unlink()
    assert _unchanged(where) is None
    assert (
        everything.materializable_asset_keys - set(_schedule_request(where).asset_selection)
        == code_only
    )
    os.utime(truth, ns=(recorded.st_atime_ns, recorded.st_mtime_ns))
    # a warehouse deleted to be rebuilt from the lake is no longer that run's
    assert _unchanged(where) is not None
    where.warehouse.unlink()
    assert run_state.last_complete_run(where.lake, where.warehouse, where.published) is None
    assert set(_schedule_request(where).asset_selection) == everything.materializable_asset_keys


def test_an_ingestion_only_run_leaves_a_withdrawal_for_the_next_full_run(
    sample_run: SampleRun, tmp_path: Path
):
    landing = tmp_path / "landing"
    shutil.copytree(sample_run.landing, landing)
    shutil.copytree(sample_run.warehouse.parent, tmp_path / "wh")
    where = settings.locations(landing, tmp_path / "wh" / sample_run.warehouse.name)
    lake = Lake(where.lake)
    entry = lake.manifest(entity("crm", "tickets"))[0]
    withdraw(lake, entry.source_file, "wrong export", load_id="W1")
    assert _unchanged(where) is None

    result = CliRunner().invoke(
        app, ["ingest", "--landing", str(landing), "--warehouse", str(where.warehouse)]
    )
    assert result.exit_code == 0, result.output
    # nothing was rebuilt: the request stays for the next `omni360 run`, which rebuilds
    assert lake.full_refresh_reasons() == [f"{entry.source_file} withdrawn"]
