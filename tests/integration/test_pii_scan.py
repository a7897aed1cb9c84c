"""The PII scan on the committed sample: clean marts pass, a planted phone stops the publication."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.publish.assets import SNAPSHOT
from orchestration.defs.transform.assets import MARTS
from orchestration.lib.privacy.scanner import scan_duckdb, scan_parquet
from tests.integration.conftest import SampleRun

AUDIENCE = dg.AssetKey(["marts", "rpt_marketing_audience"])


def test_every_mart_passed_its_pii_check_in_the_sample_run(sample_run: SampleRun):
    evaluations = {
        e.asset_key: e
        for e in sample_run.result.get_asset_check_evaluations()
        if e.check_name == "no_clear_pii"
    }
    assert set(evaluations) == set(MARTS)
    assert all(e.passed and e.metadata["observed"].value == 0 for e in evaluations.values())


def test_the_warehouse_marts_and_the_published_parquet_hold_no_clear_pii(sample_run: SampleRun):
    marts = scan_duckdb(sample_run.warehouse, ["marts"])
    parquet = sample_run.warehouse.parent / "published" / "parquet"
    current = parquet / (parquet / "CURRENT").read_text(encoding="utf-8").strip()
    published = scan_parquet(sorted((current / "marts").glob("*.parquet")))
    assert marts.tables == len(MARTS) and marts.rows > 10_000 and marts.findings == []
    assert published.tables == marts.tables and published.findings == []


def test_a_planted_unmasked_phone_fails_the_check_and_nothing_is_published(
    sample_run: SampleRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    warehouse = tmp_path / "omni360.duckdb"
    shutil.copy(sample_run.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        # a table in the published schema that no model owns: the publication would copy it
        con.execute(
            "create table marts.campaign_export as "
            "select customer_id, '+86 139 0013 9000' as contact from marts.dim_customer limit 5"
        )
    for var, path in (
        ("OMNI360_LANDING", sample_run.landing),
        ("OMNI360_WAREHOUSE", warehouse),
        ("OMNI360_LAKE", sample_run.lake),
        ("OMNI360_PUBLISHED", tmp_path / "published"),
    ):
        monkeypatch.setenv(var, str(path))
    from orchestration.definitions import defs

    result = (
        defs()
        .resolve_implicit_global_asset_job_def()
        .execute_in_process(
            asset_selection=[AUDIENCE, SNAPSHOT],
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    )
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_clear_pii"]
    findings = check.metadata["findings"].value
    assert not check.passed and check.metadata["observed"].value == 1
    assert findings[0]["table"] == "marts.campaign_export"
    assert findings[0]["kind"] == "cn_mobile" and findings[0]["count"] == 5
    assert findings[0]["example"] == "139****9000" and "13900139000" not in str(findings)
    assert not result.success
    published = [m.asset_key for m in result.get_asset_materialization_events()]
    assert AUDIENCE in published and SNAPSHOT not in published
    assert not (tmp_path / "published" / "omni360_marts.duckdb").exists()
