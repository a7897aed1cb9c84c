"""After a run: its check results into the quality history, and the auditor's report written.

Runs outside the job on purpose: a failed blocking check skips what is downstream of it, and the
history and report are wanted most for exactly those runs. Everything is read from the run's
events in a Dagster instance (the persistent one beside the warehouse, which the CLI and the UI
share), so the CLI, the run-status sensors and the tests share one path: `finish_run`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orchestration import settings
from orchestration.lib import run_state
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.privacy.inventory import personal_data_inventory
from orchestration.lib.privacy.patterns import mask_text
from orchestration.lib.quality import history, report
from orchestration.lib.quality.history import CheckResult, RunRecord
from orchestration.lib.sql import connect

ACCURACY_CHECK = "accuracy_against_answer_key"
DBT_FAILED_ROWS = "dagster_dbt/failed_row_count"
MAX_TEXT = 1000


@dataclass
class RunEvents:
    """What one run did, read from its event log."""

    evaluations: list[tuple[float, dg.AssetCheckEvaluation]] = field(default_factory=list)
    planned_checks: list[dg.AssetCheckKey] = field(default_factory=list)
    planned_assets: list[dg.AssetKey] = field(default_factory=list)
    materialised: list[dg.AssetKey] = field(default_factory=list)


def read_run_events(instance: dg.DagsterInstance, run_id: str) -> RunEvents:
    found = RunEvents()
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        data = event.event_specific_data
        if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            found.evaluations.append((entry.timestamp, data))
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            found.planned_checks.append(dg.AssetCheckKey(data.asset_key, data.check_name))
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            found.planned_assets.append(event.asset_key)
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            found.materialised.append(event.asset_key)
    return found


def layer_of(key: dg.AssetKey, graph: Any | None) -> str:
    """The asset's `layer` tag (dbt schema, raw, identity, value, publish), else its prefix."""
    if graph is not None and graph.has(key):
        layer = (graph.get(key).tags or {}).get("layer")
        if layer:
            return layer
    return "raw" if key.path[0] == "ingest" else key.path[0]


def _utc(timestamp: float | None) -> dt.datetime | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


@lru_cache(maxsize=1)
def dbt_test_thresholds() -> Mapping[str, str]:
    """dbt test unique_id → the failing-row count it tolerates, from the dbt manifest."""
    path = settings.DBT_PROJECT_DIR / "target" / "manifest.json"
    try:
        nodes = json.loads(path.read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    thresholds = {}
    for unique_id, node in nodes.items():
        if node.get("resource_type") != "test":
            continue
        config = node.get("config") or {}
        severity = str(config.get("severity", "error")).lower()
        condition = config.get("error_if" if severity == "error" else "warn_if", "!= 0")
        thresholds[unique_id] = tolerated_failures(str(condition))
    return thresholds


def tolerated_failures(condition: str) -> str:
    """dbt's `error_if` condition as the largest failing-row count that still passes."""
    operator, _, number = condition.strip().partition(" ")
    if number.strip().isdigit():
        limit = int(number)
        if operator == "!=" and limit == 0:
            return "0"
        if operator == ">":
            return str(limit)
        if operator == ">=":
            return str(limit - 1)
    return condition.strip()


def observed_and_threshold(evaluation: dg.AssetCheckEvaluation) -> tuple[str | None, str | None]:
    """`observed`/`threshold` metadata when the check reports them; failing rows of a dbt test;
    else the number of items a check listed as problems."""
    metadata = {name: _plain(value) for name, value in evaluation.metadata.items()}
    if "observed" in metadata:
        threshold = metadata.get("threshold")
        return _text(metadata["observed"]), None if threshold is None else _text(threshold)
    if DBT_FAILED_ROWS in metadata:
        unique_id = metadata.get("unique_id")
        return str(metadata[DBT_FAILED_ROWS]), dbt_test_thresholds().get(unique_id, "0")
    listed = [value for value in metadata.values() if isinstance(value, list)]
    if len(listed) == 1:  # rows_accounted, files_accepted, …: a list of what is wrong
        return str(len(listed[0])), "0"
    return None, None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def check_results(
    run_id: str, events: RunEvents, graph: Any | None
) -> tuple[list[CheckResult], dict[str, Any] | None]:
    """One row per evaluation, and the identity accuracy figures when measured."""
    results = []
    accuracy = None
    for timestamp, evaluation in events.evaluations:
        key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
        blocking = (
            graph is not None
            and key in graph.asset_check_keys
            and (graph.get_check_spec(key).blocking)
        )
        observed, threshold = observed_and_threshold(evaluation)
        results.append(
            CheckResult(
                run_id=run_id,
                evaluated_at=_utc(timestamp),
                layer=layer_of(evaluation.asset_key, graph),
                asset_key=evaluation.asset_key.to_user_string(),
                check_name=evaluation.check_name,
                severity=evaluation.severity.value,
                blocking=bool(blocking),
                passed=bool(evaluation.passed),
                # descriptions can quote values (a refused file's line, an unexpected value)
                observed=_short(mask_text(observed)),
                threshold=_short(mask_text(threshold)),
                description=_short(mask_text(evaluation.description)),
            )
        )
        metadata = {name: _plain(value) for name, value in evaluation.metadata.items()}
        if evaluation.check_name == ACCURACY_CHECK and metadata.get("measured"):
            accuracy = {
                name: value
                for name, value in metadata.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
    return results, accuracy


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 1] + "…"


def lineage(events: RunEvents, graph: Any | None) -> list[dict[str, Any]]:
    """The run's assets in data-flow order, grouped by layer, with what each reads."""
    in_run = set(events.planned_assets) | set(events.materialised)
    done = set(events.materialised)
    order = {key: i for i, key in enumerate(_toposorted(in_run, graph))}
    groups: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(in_run, key=order.__getitem__):
        parents = graph.get(key).parent_keys if graph is not None and graph.has(key) else set()
        groups.setdefault(layer_of(key, graph), []).append(
            {
                "asset": key.to_user_string(),
                "status": "materialised" if key in done else "failed or skipped",
                "upstream": sorted(p.to_user_string() for p in parents),
            }
        )
    return [
        {"layer": layer, "assets": groups[layer]} for layer in sorted(groups, key=report.layer_rank)
    ]


def _toposorted(keys: Iterable[dg.AssetKey], graph: Any | None) -> list[dg.AssetKey]:
    wanted = set(keys)
    if graph is None:
        return sorted(wanted, key=lambda k: k.to_user_string())
    by_level = [
        sorted((k for k in level if k in wanted), key=lambda k: k.to_user_string())
        for level in graph.toposorted_asset_keys_by_level
    ]
    ordered = [key for level in by_level for key in level]
    return ordered + sorted(wanted - set(ordered), key=lambda k: k.to_user_string())


def gather_run(
    instance: dg.DagsterInstance,
    run_id: str,
    *,
    graph: Any | None,
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    warehouse: Path,
    lake: Path,
) -> tuple[RunRecord, list[CheckResult]]:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise ValueError(f"run {run_id} is not in this Dagster instance")
    run = record.dagster_run
    events = read_run_events(instance, run_id)
    checks, accuracy = check_results(run_id, events, graph)
    evaluated = {dg.AssetCheckKey(e.asset_key, e.check_name) for _, e in events.evaluations}
    not_run = sorted(set(events.planned_checks) - evaluated, key=lambda k: k.to_user_string())
    started, finished = _utc(record.start_time), _utc(record.end_time)
    previous = _previous_finish(con, run_id, started)
    rows = report.row_accounting(lake, run_id)
    figures = {
        "row_accounting": rows,
        "identity": report.identity_figures(con, run_id, accuracy),
        "consent": report.consent_coverage(con),
        "inventory": personal_data_inventory(settings.DBT_PROJECT_DIR / "target" / "manifest.json"),
        "erasure": report.erasure_requests(con, previous, finished),
        "lineage": lineage(events, graph),
        "materialised": sorted({k.to_user_string() for k in events.materialised}),
        "not_run": [
            {"asset_key": k.asset_key.to_user_string(), "check_name": k.name} for k in not_run
        ],
    }
    outcomes = [c.outcome for c in checks]
    run_row = RunRecord(
        run_id=run_id,
        job_name=run.job_name,
        status=run.status.value,
        started_at=started,
        finished_at=finished,
        landing=str(landing),
        warehouse=str(warehouse),
        assets_materialised=len(set(events.materialised)),
        checks_evaluated=len(checks),
        checks_passed=outcomes.count("passed"),
        checks_failed=outcomes.count("failed"),
        checks_warned=outcomes.count("warning"),
        checks_not_run=len(not_run),
        blocking_failures=sum(1 for c in checks if c.blocking and not c.passed),
        rows_read=rows["totals"]["run"]["rows_read"],
        rows_loaded=rows["totals"]["run"]["rows_loaded"],
        rows_quarantined=rows["totals"]["run"]["rows_quarantined"],
        report=figures,
    )
    return run_row, checks


def _previous_finish(
    con: duckdb.DuckDBPyConnection, run_id: str, started: dt.datetime | None
) -> dt.datetime | None:
    if not history.has_history(con):
        return None
    finished = [
        row[0]
        for row in con.execute(
            f"select finished_at from {history.SCHEMA}.runs "
            "where run_id <> ? and finished_at is not null",
            [run_id],
        ).fetchall()
        if started is None or row[0] <= started
    ]
    return max(finished, default=None)


def finish_run(
    instance: dg.DagsterInstance,
    run_id: str,
    *,
    asset_graph: Any,
    landing: Path,
    warehouse: Path,
    lake: Path,
    reports: Path,
) -> Path:
    """Record the run's check results in `audit.check_results` and write its report; return the
    report's path. Raises `PersonalDataFound` (after recording) if the page would hold any."""
    with connect(str(warehouse)) as con:
        run, checks = gather_run(
            instance,
            run_id,
            graph=asset_graph,
            con=con,
            landing=landing,
            warehouse=warehouse,
            lake=lake,
        )
        history.record_run(con, run, checks)
        history.forget_erased_customers(con)
        runs = history.list_runs(con)
        trends = history.trends(con, run_id)
    dagster_run = instance.get_run_by_id(run_id)
    built = run.status == "SUCCESS" and _built_everything(dagster_run, asset_graph)
    if built:
        # the run rebuilt what withdrawals and erasures before it asked for (an ingestion-only
        # run did not: the requests stay)
        Lake(lake).clear_full_refresh(before=run.started_at)
    path = report.write_report(reports, run, checks, trends=trends)
    report.write_index(reports, runs)
    try:
        if built and run.checks_failed == 0:
            run_state.record_complete_run(
                lake, landing, run_id, dagster_run.tags.get(run_state.INPUTS_TAG)
            )
    except Exception:  # a cache of what was built: without it the next run builds everything
        run_state.forget_complete_run(lake)
    return path


def _built_everything(dagster_run: dg.DagsterRun, asset_graph: Any) -> bool:
    """Every asset was selected (the assets computed from the code alone may be left out: they
    are the last complete run's, docs/operations.md#a-run-with-nothing-new), in a run of its own
    (a re-execution of some steps keeps its parent's selection)."""
    if dagster_run.parent_run_id is not None:
        return False
    selected = dagster_run.asset_selection
    if not selected:  # none chosen: the whole job
        return True
    if asset_graph is None:
        return False
    needed = set(asset_graph.materializable_asset_keys) - run_state.code_only_keys(asset_graph)
    return needed <= set(selected)


def rerender(warehouse: Path, reports: Path, run_id: str | None = None) -> Path:
    """Write a recorded run's report again from the audit tables (default: the latest run)."""
    with connect(str(warehouse), read_only=True) as con:
        if not history.has_history(con):
            raise LookupError(f"{warehouse} has no audit history yet; run `omni360 run` first")
        run_id = run_id or history.latest_run_id(con)
        run = history.read_run(con, run_id) if run_id else None
        if run is None:
            raise LookupError(f"run {run_id} is not recorded in {warehouse} (audit.runs)")
        checks = history.read_checks(con, run.run_id)
        runs = history.list_runs(con)
        trends = history.trends(con, run.run_id)
    path = report.write_report(reports, run, checks, trends=trends)
    report.write_index(reports, runs)
    return path
