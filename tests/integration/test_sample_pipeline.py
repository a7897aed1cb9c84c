"""The whole graph on the committed sample: nothing lost, exactly the malformed rows quarantined."""

from __future__ import annotations

import csv
import json
import stat

import dagster as dg
import duckdb

from orchestration import settings
from tests.integration.conftest import SampleRun


def _malformed(run: SampleRun) -> set[tuple[str, int, str, str]]:
    with open(run.landing / "_truth" / "malformed.csv", encoding="utf-8") as handle:
        return {(r["file"], int(r["line"]), r["rule"], r["column"]) for r in csv.DictReader(handle)}


def _quarantined(run: SampleRun) -> set[tuple[str, int, str, str]]:
    rows = duckdb.sql(
        f"select source_file, line_no, rule, coalesce(column_name, '') "
        f"from read_parquet('{run.lake}/quarantine/*/*/*.parquet')"
    ).fetchall()
    return set(rows)


def test_the_run_succeeds_and_every_check_passes(sample_run: SampleRun):
    assert sample_run.result.success
    evaluations = sample_run.result.get_asset_check_evaluations()
    # warnings (an old sample, thin last deliveries: tests/integration/test_quality_checks.py)
    failed = [
        (e.asset_key.to_user_string(), e.check_name)
        for e in evaluations
        if not e.passed and e.severity != dg.AssetCheckSeverity.WARN
    ]
    assert len(evaluations) > 100 and failed == []


def test_exactly_the_malformed_records_of_the_answer_key_are_quarantined(sample_run: SampleRun):
    expected = _malformed(sample_run)
    assert len(expected) >= 30
    assert _quarantined(sample_run) == expected


def test_every_quarantined_row_says_why_and_keeps_its_raw_line(sample_run: SampleRun):
    blanks = duckdb.sql(
        f"select count(*) from read_parquet('{sample_run.lake}/quarantine/*/*/*.parquet') "
        "where reason is null or length(reason) < 10 or raw_content is null"
    ).fetchall()[0][0]
    assert blanks == 0


def test_rows_read_equal_loaded_plus_quarantined_for_every_file(sample_run: SampleRun):
    entries = duckdb.sql(
        f"select source_file, status, rows_read, rows_loaded, rows_quarantined "
        f"from read_json('{sample_run.lake}/_ops/manifest/*/*/*.json', union_by_name = true)"
    ).fetchall()
    landing_files = {
        p.relative_to(sample_run.landing).as_posix() for p in sample_run.landing.glob("*/*/*/*")
    }
    assert {e[0] for e in entries} == landing_files
    for source_file, status, read, loaded, quarantined in entries:
        if status == "skipped_duplicate":
            continue
        lines = (sample_run.landing / source_file).read_bytes().rstrip(b"\n").count(b"\n") + 1
        data_lines = lines - 1 if source_file.endswith(".csv") else lines
        assert read == data_lines == loaded + quarantined, source_file


def test_every_well_formed_record_reaches_the_raw_layer(sample_run: SampleRun):
    redelivered = duckdb.sql(
        f"select copy_file from read_csv('{sample_run.landing}/_truth/redelivered_files.csv')"
    ).fetchall()
    skipped = {r[0] for r in redelivered}
    expected = duckdb.sql(
        f"select source || '.' || entity, count(*) "
        f"from '{sample_run.landing}/_truth/records.parquet'"
        f" where not is_malformed and entity <> 'order_lines' and file not in "
        f"(select unnest({sorted(skipped)!r})) group by 1"
    ).fetchall()
    for table, count in expected:
        source, name = table.split(".")
        loaded = duckdb.sql(
            f"select count(*) from read_parquet('{sample_run.lake}/raw/{source}/{name}/*.parquet')"
        ).fetchall()[0][0]
        assert loaded == count, table


def test_a_redelivered_file_is_skipped_and_reported(sample_run: SampleRun):
    rows = duckdb.sql(
        f"select r.copy_file, m.status, m.duplicate_of "
        f"from read_csv('{sample_run.landing}/_truth/redelivered_files.csv') as r "
        f"left join read_json('{sample_run.lake}/_ops/manifest/*/*/*.json', "
        "union_by_name = true) as m "
        "on m.source_file = r.copy_file"
    ).fetchall()
    assert rows and all(status == "skipped_duplicate" and dup for _, status, dup in rows)


def test_a_rerun_loads_nothing_twice(sample_run: SampleRun):
    assert sample_run.rerun.success
    for event in sample_run.rerun.get_asset_materialization_events():
        metadata = event.event_specific_data.materialization.metadata
        if "files_loaded" in metadata:
            assert metadata["files_loaded"].value == 0
            assert metadata["files_already_loaded"].value > 0 or metadata["rows_read"].value == 0
    raw = duckdb.sql(
        f"select count(*), count(distinct _source_file || ':' || _line_no) "
        f"from read_parquet('{sample_run.lake}/raw/crm/members/*.parquet')"
    ).fetchall()[0]
    assert raw[0] == raw[1] > 0


def test_staging_keeps_one_row_per_key(sample_run: SampleRun):
    con = duckdb.connect(str(sample_run.warehouse), read_only=True)
    members, distinct = con.sql(
        "select count(*), count(distinct member_id) from staging.stg_crm__members"
    ).fetchall()[0]
    assert members == distinct > 1000
    audit_statuses = {
        r[0]
        for r in con.sql("select distinct status from staging.stg_ingest__load_audit").fetchall()
    }
    assert {"loaded", "skipped_duplicate"} <= audit_statuses


def test_restricted_files_are_owner_only_and_what_is_published_is_readable(
    sample_run: SampleRun,
):
    def mode(path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    # raw personal data: the lake and the warehouse file
    assert mode(sample_run.lake) == 0o700
    assert mode(sample_run.warehouse) & 0o077 == 0
    assert all(mode(path) & 0o077 == 0 for path in sample_run.lake.rglob("*.parquet"))
    # masked marts and scrubbed reports: readable by BI users and auditors
    published = sample_run.warehouse.parent / "published"
    assert mode(published) == 0o755
    assert mode(published / "omni360_marts.duckdb") == 0o444
    current = (published / "parquet" / "current").resolve()
    assert mode(current) == 0o755
    assert all(mode(p) == 0o644 for p in current.rglob("*.parquet"))
    assert mode(sample_run.reports / "index.html") == 0o644


def test_the_published_snapshot_describes_its_tables_and_columns(sample_run: SampleRun):
    """The marts' YAML descriptions reach the snapshot as comments: the BI data dictionary."""
    manifest_path = settings.REPO_ROOT / "dbt_project" / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    documented = {
        node["name"]: {c: v["description"] for c, v in node["columns"].items() if v["description"]}
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    snapshot = sample_run.warehouse.parent / "published" / "omni360_marts.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        )
        columns = {
            (t, c): comment
            for t, c, comment in con.execute(
                "select table_name, column_name, comment from duckdb_columns() "
                "where schema_name = 'marts'"
            ).fetchall()
        }
    assert set(tables) == set(documented)
    assert [t for t, comment in tables.items() if not comment] == []
    missing = [
        f"{table}.{column}"
        for table, described in documented.items()
        for column, text in described.items()
        if columns.get((table, column)) != text
    ]
    assert missing == []
    # every published column is documented
    assert [f"{t}.{c}" for (t, c), comment in columns.items() if not comment] == []


def test_a_runs_later_dbt_builds_parse_only_what_changed(sample_run: SampleRun):
    # dagster-dbt gives each build its own target folder; the run keeps the parse state of one
    # build for the next, so only a run's first build may parse the whole project (another dbt
    # command run meanwhile in this checkout with other vars would replace that state)
    target = settings.DBT_PROJECT_DIR / "target"
    for run in (sample_run.result, sample_run.rerun):
        logs = sorted(target.glob(f"omni360_dbt_models*-{run.run_id[:7]}-*/dbt.log"))
        assert len(logs) >= 4
        texts = [log.read_text(encoding="utf-8") for log in logs]
        partial = [text for text in texts if '"name": "PartialParsingEnabled"' in text]
        assert len(partial) >= len(logs) - 1, [log.parent.name for log in logs]
