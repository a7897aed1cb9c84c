"""Quality history: every check result of every run, kept in the warehouse's `audit` schema.

- `audit.check_results`: one row per check evaluation (append-only; recording a run again adds
  only the evaluations not yet recorded)
- `audit.runs`: one row per recorded run, with its counts and the report's figures as JSON, so a
  report can be rendered again later without the run's Dagster instance
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import duckdb

SCHEMA = "audit"


@dataclass(frozen=True)
class CheckResult:
    run_id: str
    evaluated_at: dt.datetime  # UTC, naive
    layer: str
    asset_key: str  # "schema/model"
    check_name: str
    severity: str  # ERROR | WARN
    blocking: bool
    passed: bool
    observed: str | None
    threshold: str | None
    description: str | None

    @property
    def outcome(self) -> str:
        """passed, failed (severity ERROR) or warning (a failed WARN check)."""
        if self.passed:
            return "passed"
        return "failed" if self.severity == "ERROR" else "warning"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job_name: str
    status: str  # SUCCESS | FAILURE | CANCELED | ...
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    landing: str
    warehouse: str
    assets_materialised: int
    checks_evaluated: int
    checks_passed: int
    checks_failed: int  # severity ERROR
    checks_warned: int  # failed with severity WARN
    checks_not_run: int  # planned, never evaluated (an upstream step failed)
    blocking_failures: int
    rows_read: int  # by this run's ingestion
    rows_loaded: int
    rows_quarantined: int
    report: dict[str, Any]  # the report's figures (aggregates only, no personal data)


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"""
        create table if not exists {SCHEMA}.check_results (
            run_id varchar not null, evaluated_at timestamp not null, layer varchar,
            asset_key varchar not null, check_name varchar not null, severity varchar,
            blocking boolean, passed boolean, observed varchar, threshold varchar,
            description varchar)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.runs (
            run_id varchar primary key, job_name varchar, status varchar,
            started_at timestamp, finished_at timestamp, landing varchar, warehouse varchar,
            assets_materialised bigint, checks_evaluated bigint, checks_passed bigint,
            checks_failed bigint, checks_warned bigint, checks_not_run bigint,
            blocking_failures bigint, rows_read bigint, rows_loaded bigint,
            rows_quarantined bigint, report json, recorded_at timestamp)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.erasure_requests (
            request_id varchar primary key, requested_at timestamp, completed_at timestamp,
            identifier_kind varchar, subject_token varchar, customers bigint,
            rows_removed json, verified boolean, detail varchar)
        """
    )


_CHECK_COLUMNS = [f.name for f in fields(CheckResult)]
_RUN_COLUMNS = [f.name for f in fields(RunRecord)]


def record_run(
    con: duckdb.DuckDBPyConnection, run: RunRecord, checks: Sequence[CheckResult]
) -> int:
    """Append the run's check results not yet recorded and upsert its run row; return rows added.

    An evaluation is identified by run, asset, check and time, so the same run recorded twice
    (by the CLI and a sensor, or re-recorded) adds nothing the second time.
    """
    create_tables(con)
    before = _count(con, run.run_id)
    con.execute("begin transaction")
    try:
        if checks:
            rows = [tuple(getattr(c, name) for name in _CHECK_COLUMNS) for c in checks]
            con.execute(
                "create or replace temp table _new_checks as select * from "
                f"{SCHEMA}.check_results limit 0"
            )
            con.executemany(
                f"insert into _new_checks ({', '.join(_CHECK_COLUMNS)}) "
                f"values ({', '.join('?' for _ in _CHECK_COLUMNS)})",
                rows,
            )
            con.execute(
                f"""
                insert into {SCHEMA}.check_results
                select distinct * from _new_checks as new
                where not exists (
                    select 1 from {SCHEMA}.check_results as old
                    where old.run_id = new.run_id and old.asset_key = new.asset_key
                        and old.check_name = new.check_name
                        and old.evaluated_at = new.evaluated_at)
                """
            )
            con.execute("drop table _new_checks")
        values = asdict(run)
        values["report"] = json.dumps(run.report, ensure_ascii=False, default=str)
        con.execute(
            f"insert or replace into {SCHEMA}.runs ({', '.join(_RUN_COLUMNS)}, recorded_at) "
            f"values ({', '.join('?' for _ in _RUN_COLUMNS)}, ?)",
            [*(values[name] for name in _RUN_COLUMNS), _utc_now()],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return _count(con, run.run_id) - before


def _count(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    if not has_history(con):
        return 0
    return con.execute(
        f"select count(*) from {SCHEMA}.check_results where run_id = ?", [run_id]
    ).fetchone()[0]


def has_history(con: duckdb.DuckDBPyConnection) -> bool:
    return (
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name in ('check_results', 'runs')",
            [SCHEMA],
        ).fetchone()[0]
        == 2
    )


def read_checks(con: duckdb.DuckDBPyConnection, run_id: str) -> list[CheckResult]:
    rows = con.execute(
        f"select {', '.join(_CHECK_COLUMNS)} from {SCHEMA}.check_results where run_id = ? "
        "order by evaluated_at, asset_key, check_name",
        [run_id],
    ).fetchall()
    return [CheckResult(*row) for row in rows]


def read_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRecord | None:
    row = con.execute(
        f"select {', '.join(_RUN_COLUMNS)} from {SCHEMA}.runs where run_id = ?", [run_id]
    ).fetchone()
    if row is None:
        return None
    values = dict(zip(_RUN_COLUMNS, row, strict=True))
    values["report"] = json.loads(values["report"]) if values["report"] else {}
    return RunRecord(**values)


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        f"select run_id from {SCHEMA}.runs order by started_at desc nulls last, recorded_at desc "
        "limit 1"
    ).fetchone()
    return row[0] if row else None


def list_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every recorded run, newest first, with its check counts (for the reports index)."""
    cursor = con.execute(
        f"""
        select run_id, job_name, status, started_at, finished_at, checks_evaluated,
            checks_passed, checks_failed, checks_warned, checks_not_run, blocking_failures,
            rows_read, rows_loaded, rows_quarantined
        from {SCHEMA}.runs order by started_at desc nulls last, recorded_at desc
        """
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


TREND_RUNS = 20


def trends(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    """The figures of the last TREND_RUNS runs up to `run_id` (oldest first) that the report
    charts: checks failed and warned, the quarantine rate, customers and identity precision."""
    cursor = con.execute(
        f"""
        with this as (select started_at from {SCHEMA}.runs where run_id = ?)
        select run_id, started_at, checks_failed, checks_warned, checks_not_run, rows_read,
            rows_quarantined,
            cast(json_extract(report, '$.identity.figures.customers') as bigint) as customers,
            cast(json_extract(report, '$.identity.accuracy.precision') as double) as precision
        from {SCHEMA}.runs
        where started_at <= (select started_at from this) or run_id = ?
        order by started_at desc nulls last
        limit {TREND_RUNS}
        """,
        [run_id, run_id],
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        read = row["rows_read"] or 0
        row["quarantine_rate"] = (row["rows_quarantined"] or 0) / read if read else None
    return rows[::-1]


def forget_erased_customers(con: duckdb.DuckDBPyConnection) -> int:
    """Replace the ids of erased customers (identity.customer_ids status 'erased') in the
    recorded figures of earlier runs; return the runs changed. An erasure rebuilds the warehouse
    through a run, which calls this, before it verifies that the ids are found nowhere."""
    if (
        not has_history(con)
        or not con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'identity' and table_name = 'customer_ids'"
        ).fetchone()[0]
    ):
        return 0
    erased = [
        row[0]
        for row in con.execute(
            "select customer_id from identity.customer_ids where status = 'erased'"
        ).fetchall()
    ]
    if not erased:
        return 0
    pattern = re.compile("|".join(re.escape(c) for c in erased))
    changed = 0
    for run_id, text in con.execute(
        f"select run_id, report::varchar from {SCHEMA}.runs where report is not null"
    ).fetchall():
        scrubbed = pattern.sub("[erased]", text)
        if scrubbed != text:
            con.execute(f"update {SCHEMA}.runs set report = ? where run_id = ?", [scrubbed, run_id])
            changed += 1
    return changed


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
