"""The auditor's report of one run: figures gathered from the lake and the warehouse, rendered
to one self-contained HTML page (inline CSS, no scripts), checked for personal data before it is
written.

Every figure is an aggregate or a pseudonymous id (customer ids, HMAC subject tokens); the
quarantine's `reason` and `raw_content` columns, which can quote personal data, are never read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from markupsafe import Markup, escape

from orchestration.lib.contracts import ENTITIES
from orchestration.lib.files import make_public, public_dir, write_atomic
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.privacy.patterns import ensure_no_personal_data
from orchestration.lib.quality import rendering
from orchestration.lib.quality.history import CheckResult, RunRecord
from orchestration.lib.sql import connect, literal

PII_CHECK = "no_clear_pii"
LAYER_ORDER = ("raw", "staging", "intermediate", "identity", "value", "marts", "publish")
# fct_customer_consents.purpose → label; "any marketing channel" is the three marketing ones
CONSENT_PURPOSES = (
    ("marketing_sms", "Marketing by SMS"),
    ("marketing_wechat", "Marketing on WeChat"),
    ("marketing_email", "Marketing by email"),
    ("personalisation", "Personalisation"),
    ("analytics", "Analytics"),
)
MARKETING_PURPOSES = ("marketing_sms", "marketing_wechat", "marketing_email")
# identity_links.refused_reason → what refused the link; all but below_threshold are guards
REFUSAL_REASONS = {
    "conflicting_national_id": "two different national IDs",
    "conflicting_birth_date": "clearly different birth dates",
    "two_accounts_on_one_app": "two accounts on one app or shop platform",
    "never_link": "a reviewed never-link pair",
    "max_cluster_size": "the customer would exceed the size limit",
    "conflicting_name": "different names, nothing else agrees",
    "similar_name_only": "names one character apart without the same phone",
    "phone_shared_by_several_persons": "a phone several persons share",
    "below_threshold": "Splink match probability below the threshold (not a guard)",
}
TOP_REASONS = 5
LARGEST_CLUSTERS = 10
RECENT_ERASURES = 20

_TEMPLATES = rendering.environment()


def layer_rank(layer: str) -> tuple[int, str]:
    return (LAYER_ORDER.index(layer), "") if layer in LAYER_ORDER else (len(LAYER_ORDER), layer)


# --------------------------------------------------------------------------- gathering


def row_accounting(lake: Path, run_id: str) -> dict[str, Any]:
    """Files and rows per entity from the lake manifest, in the lake and loaded by this run,
    and the top quarantine rules per source (rule and column only)."""
    store = Lake(lake)
    suffix = f"-{run_id[:8]}"  # load ids are <UTC stamp>-<first 8 characters of the run id>
    entities = []
    for target in ENTITIES:
        entries = store.manifest(target)
        in_run = [e for e in entries if e.load_id.endswith(suffix)]
        entities.append(
            {
                "source": target.source,
                "entity": target.name,
                "lake": _sum_entries(entries),
                "run": _sum_entries(in_run),
            }
        )
    return {**row_accounting_of(entities), "top_reasons": _top_reasons(lake, suffix)}


def row_accounting_of(entities: list[dict[str, Any]]) -> dict[str, Any]:
    scopes = ("lake", "run")
    names = list(_sum_entries([]))
    return {
        "entities": entities,
        "totals": {s: {n: sum(e[s][n] for e in entities) for n in names} for s in scopes},
        "top_reasons": {},
    }


def _sum_entries(entries: Sequence[Any]) -> dict[str, int]:
    return {
        "files": sum(1 for e in entries if e.status == "loaded"),
        "duplicates": sum(1 for e in entries if e.status != "loaded"),
        "rows_read": sum(e.rows_read for e in entries),
        "rows_loaded": sum(e.rows_loaded for e in entries),
        "rows_quarantined": sum(e.rows_quarantined for e in entries),
        # written by erasure requests; absent from older manifest entries
        "rows_suppressed": sum(getattr(e, "rows_suppressed", 0) or 0 for e in entries),
        "rows_erased": sum(getattr(e, "rows_erased", 0) or 0 for e in entries),
    }


def _top_reasons(lake: Path, load_suffix: str) -> dict[str, list[dict[str, Any]]]:
    pattern = lake / "quarantine" / "*" / "*" / "*.parquet"
    if not any(lake.glob("quarantine/*/*/*.parquet")):
        return {}
    with connect() as con:
        rows = con.execute(
            """
            select source, entity, rule, coalesce(column_name, '') as column_name,
                count(*) as rows_in_lake,
                count(*) filter (where load_id like '%' || ?) as rows_in_run
            from read_parquet(?, union_by_name = true)
            group by source, entity, rule, column_name
            qualify row_number() over (
                partition by source order by count(*) desc, entity, rule, column_name) <= ?
            order by source, rows_in_lake desc, entity, rule, column_name
            """,
            [load_suffix, str(pattern), TOP_REASONS],
        ).fetchall()
    reasons: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for source, entity, rule, column, in_lake, in_run in rows:
        reasons[source].append(
            {
                "entity": entity,
                "rule": rule,
                "column": column,
                "rows_in_lake": in_lake,
                "rows_in_run": in_run,
            }
        )
    return dict(reasons)


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
    }


def identity_figures(
    con: duckdb.DuckDBPyConnection, run_id: str, accuracy: dict[str, Any] | None
) -> dict[str, Any]:
    """Resolution figures of this run, guards triggered, largest and oversized clusters."""
    tables = _tables(con, "identity")
    if "resolution_runs" not in tables:
        return {"resolved": False}
    row = con.execute(
        "select figures from identity.resolution_runs where run_id = ?", [run_id]
    ).fetchone()
    if row is None:
        return {"resolved": False}
    figures = json.loads(row[0])
    refused = [
        {
            "reason": reason,
            "meaning": REFUSAL_REASONS.get(reason, ""),
            "is_guard": reason != "below_threshold",
            "links": count,
        }
        for reason, count in sorted(
            figures.get("refused_by_reason", {}).items(), key=lambda item: (-item[1], item[0])
        )
    ]
    largest = []
    if "customer_xref" in tables:
        # customer ids are pseudonymous; only counts per record kind and source are shown
        largest = [
            {
                "customer_id": customer_id,
                "records": records,
                "profiles": profiles,
                "receipts": receipts,
                "sources": sources,
            }
            for customer_id, records, profiles, receipts, sources in con.execute(
                """
                select customer_id, count(*) as records,
                    count(*) filter (where record_kind = 'profile') as profiles,
                    count(*) filter (where record_kind = 'receipt') as receipts,
                    string_agg(distinct source_system, ', ' order by source_system) as sources
                from identity.customer_xref
                where run_id = ?
                group by customer_id
                order by records desc, customer_id
                limit ?
                """,
                [run_id, LARGEST_CLUSTERS],
            ).fetchall()
        ]
    oversized = []
    if "oversized_clusters" in tables and largest:
        oversized = [
            {"customer_id": c, "profile_records": p, "refused_links": r}
            for c, p, r in con.execute(
                "select customer_id, profile_records, refused_links "
                "from identity.oversized_clusters order by profile_records desc, customer_id"
            ).fetchall()
        ]
    return {
        "resolved": True,
        "figures": {
            name: figures.get(name)
            for name in (
                "records",
                "resolved_records",
                "linkable_records",
                "customers",
                "ids_created",
                "ids_merged",
                "ids_split",
                "largest_customer_profiles",
                "largest_customer_records",
            )
        },
        "accepted_by_rule": dict(
            sorted(figures.get("accepted_by_rule", {}).items(), key=lambda item: -item[1])
        ),
        "refused": refused,
        "guards_triggered": sum(r["links"] for r in refused if r["is_guard"]),
        "largest": largest,
        "oversized": oversized,
        "accuracy": accuracy,
    }


def consent_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Customers per purpose whose latest consent is a grant, a withdrawal, or who have never
    been asked (no consent event): marts.dim_customer against marts.fct_customer_consents."""
    if not {"dim_customer", "fct_customer_consents"} <= _tables(con, "marts"):
        return {"available": False}
    purposes = [*CONSENT_PURPOSES, ("any_marketing", "Any marketing channel")]
    marketing = ", ".join(literal(p) for p in MARKETING_PURPOSES)
    rows = con.execute(
        f"""
        with decided as (
            select customer_id, purpose, is_granted from marts.fct_customer_consents
            union all
            select customer_id, 'any_marketing', bool_or(is_granted)
            from marts.fct_customer_consents where purpose in ({marketing})
            group by customer_id
        )
        select purpose, count(*) filter (where is_granted), count(*) filter (where not is_granted)
        from decided
        where customer_id in (select customer_id from marts.dim_customer)
        group by purpose
        """
    ).fetchall()
    decided = {purpose: (given, refused) for purpose, given, refused in rows}
    customers = con.execute("select count(*) from marts.dim_customer").fetchall()[0][0]
    figures = []
    for purpose, label in purposes:
        given, refused = decided.get(purpose, (0, 0))
        figures.append(
            {
                "purpose": label,
                "column": purpose,
                "given": given,
                "refused": refused,
                "never_recorded": customers - given - refused,
                "share_given": given / customers if customers else 0.0,
            }
        )
    return {"available": True, "customers": customers, "purposes": figures}


def erasure_requests(
    con: duckdb.DuckDBPyConnection, since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, Any]:
    """Erasure requests handled: totals, those completed in this run's period, the latest."""
    if "erasure_requests" not in _tables(con, "audit"):
        return {"available": False}
    cursor = con.execute(
        """
        select request_id, requested_at, completed_at, identifier_kind,
            left(subject_token, 12) as subject_token, customers, rows_removed, verified
        from audit.erasure_requests
        order by completed_at desc nulls first, requested_at desc
        """
    )
    names = [d[0] for d in cursor.description]
    requests = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for request in requests:
        removed = request.pop("rows_removed")
        removed = json.loads(removed) if isinstance(removed, str) else (removed or {})
        request["rows_removed"] = sum(int(v or 0) for v in removed.values())
        request["tables"] = len(removed)
        completed = request["completed_at"]
        request["in_period"] = completed is not None and (
            (since is None or completed > since) and (until is None or completed <= until)
        )
        for name in ("requested_at", "completed_at"):
            request[name] = _iso(request[name])
    return {
        "available": True,
        "total": len(requests),
        "completed": sum(1 for r in requests if r["completed_at"] is not None),
        "pending": sum(1 for r in requests if r["completed_at"] is None),
        "verified": sum(1 for r in requests if r["verified"]),
        "in_period": sum(1 for r in requests if r["in_period"]),
        "latest": requests[:RECENT_ERASURES],
    }


def _iso(value: dt.datetime | None) -> str | None:
    # the figures are stored as JSON: times as text, to the second
    return value.isoformat(sep=" ", timespec="seconds") if value else None


# --------------------------------------------------------------------------- rendering


def summarise(run: RunRecord, checks: Sequence[CheckResult]) -> dict[str, Any]:
    outcomes = Counter(c.outcome for c in checks)
    blocking = [c for c in checks if c.blocking and not c.passed]
    failed = outcomes["failed"] or run.checks_not_run or run.status != "SUCCESS"
    return {
        "status": "FAILED"
        if failed
        else ("PASSED WITH WARNINGS" if outcomes["warning"] else "PASSED"),
        "checks": len(checks),
        "passed": outcomes["passed"],
        "failed": outcomes["failed"],
        "warnings": outcomes["warning"],
        "not_run": run.checks_not_run,
        "blocking_failures": blocking,
    }


def checks_by_layer(checks: Sequence[CheckResult]) -> list[dict[str, Any]]:
    layers: dict[str, list[CheckResult]] = defaultdict(list)
    for check in checks:
        layers[check.layer].append(check)
    return [
        {
            "layer": layer,
            "checks": sorted(items, key=lambda c: (c.passed, c.asset_key, c.check_name)),
            "passed": sum(1 for c in items if c.passed),
            "failed": sum(1 for c in items if c.outcome == "failed"),
            "warnings": sum(1 for c in items if c.outcome == "warning"),
        }
        for layer, items in sorted(layers.items(), key=lambda item: layer_rank(item[0]))
    ]


def pii_scan(checks: Sequence[CheckResult]) -> list[CheckResult]:
    return sorted((c for c in checks if c.check_name == PII_CHECK), key=lambda c: c.asset_key)


def trend_charts(trends: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's charts across runs (oldest first, this run last), each an inline SVG."""
    series = [
        ("checks-failed", "Checks failed (error)", "checks_failed", "{:,.0f}"),
        ("checks-warned", "Warnings", "checks_warned", "{:,.0f}"),
        ("quarantine-rate", "Quarantine rate of rows read", "quarantine_rate", "{:.2%}"),
        ("customers", "Customers after identity resolution", "customers", "{:,.0f}"),
        ("precision", "Identity precision (answer key)", "precision", "{:.4f}"),
    ]
    charts = []
    for name, title, column, fmt in series:
        values = [row.get(column) for row in trends]
        if all(v is None for v in values):
            continue
        charts.append(
            {
                "name": name,
                "title": title,
                "svg": _bars(values, [row["run_id"][:8] for row in trends], fmt),
                "latest": "—" if values[-1] is None else fmt.format(values[-1]),
                "values": ["" if v is None else fmt.format(v) for v in values],
            }
        )
    return charts


def _bars(values: Sequence[float | None], labels: Sequence[str], fmt: str) -> Markup:
    """A small bar chart as inline SVG (no script, no external file): one bar per run, the
    latest (this run) darker; a run without the figure leaves a gap."""
    width, height, gap = 16, 60, 4
    top = max((v for v in values if v is not None), default=0) or 1
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        if value is None:
            continue
        tall = max(1.0, height * value / top)
        latest = " latest" if index == len(values) - 1 else ""
        bars.append(
            f'<rect class="tbar{latest}" x="{index * (width + gap)}" y="{height - tall:.1f}" '
            f'width="{width}" height="{tall:.1f}"><title>run {escape(label)}: '
            f"{escape(fmt.format(value))}</title></rect>"
        )
    total = max(1, len(values)) * (width + gap)
    return Markup(
        f'<svg class="trend" role="img" viewBox="0 0 {total} {height}" width="{total}" '
        f'height="{height}">{"".join(bars)}</svg>'
    )


CSV_COLUMNS = (
    "layer", "asset_key", "check_name", "outcome", "severity", "blocking", "observed",
    "threshold", "description", "evaluated_at",
)  # fmt: skip


def checks_csv(checks: Sequence[CheckResult]) -> str:
    """The run's check results as CSV (for spreadsheets and audit evidence)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for check in sorted(checks, key=lambda c: (layer_rank(c.layer), c.asset_key, c.check_name)):
        writer.writerow(
            [check.outcome if name == "outcome" else getattr(check, name) for name in CSV_COLUMNS]
        )
    return out.getvalue()


def render_report(
    run: RunRecord,
    checks: Sequence[CheckResult],
    *,
    check_pages: str | None = None,
    trends: Sequence[dict[str, Any]] = (),
    rendered_at: dt.datetime | None = None,
) -> str:
    """The report page; `run.report` holds the gathered figures, `checks` the run's results,
    `trends` the figures of earlier runs (history.trends)."""
    figures = run.report
    return _TEMPLATES.get_template("report.html.j2").render(
        run=run,
        summary=summarise(run, checks),
        layers=checks_by_layer(checks),
        not_run=figures.get("not_run", []),
        rows=figures.get("row_accounting") or row_accounting_of([]),
        identity=figures.get("identity", {"resolved": False}),
        pii=pii_scan(checks),
        consent=figures.get("consent", {"available": False}),
        erasure=figures.get("erasure", {"available": False}),
        lineage=figures.get("lineage", []),
        materialised_in_run=figures.get("materialised", []),
        check_pages=check_pages,
        inventory=figures.get("inventory", []),
        charts=trend_charts(trends or [_this_run_trend(run)]),
        trend_runs=len(trends) or 1,
        rendered_at=rendered_at or dt.datetime.now(dt.UTC).replace(tzinfo=None),
        duration=_duration(run),
    )


def render_index(runs: Sequence[dict[str, Any]]) -> str:
    return _TEMPLATES.get_template("index.html.j2").render(runs=runs)


def _duration(run: RunRecord) -> str | None:
    if not (run.started_at and run.finished_at):
        return None
    seconds = int((run.finished_at - run.started_at).total_seconds())
    return f"{seconds // 60} min {seconds % 60:02d} s"


def _this_run_trend(run: RunRecord) -> dict[str, Any]:
    identity = run.report.get("identity") or {}
    return {
        "run_id": run.run_id,
        "checks_failed": run.checks_failed,
        "checks_warned": run.checks_warned,
        "quarantine_rate": run.rows_quarantined / run.rows_read if run.rows_read else None,
        "customers": (identity.get("figures") or {}).get("customers"),
        "precision": (identity.get("accuracy") or {}).get("precision"),
    }


def write_report(
    reports: Path,
    run: RunRecord,
    checks: Sequence[CheckResult],
    *,
    trends: Sequence[dict[str, Any]] = (),
) -> Path:
    """Render and write `<reports>/<run id>/index.html` and its `checks.csv`; refuse if either
    holds personal data."""
    folder = reports / run.run_id
    pages = folder / "checks" / "index.html"
    html = render_report(
        run,
        checks,
        check_pages="checks/index.html" if pages.is_file() else None,
        trends=trends,
    )
    path = folder / "index.html"
    table = checks_csv(checks)
    ensure_no_personal_data(html, str(path))
    ensure_no_personal_data(table, str(folder / "checks.csv"))
    write_atomic(folder / "checks.csv", table, durable=False)
    write_atomic(path, html, durable=False)
    # auditors read the reports under their own accounts: they hold no personal data
    public_dir(reports)
    make_public(folder)
    return path


def write_index(reports: Path, runs: Sequence[dict[str, Any]]) -> Path:
    html = render_index(runs)
    path = reports / "index.html"
    ensure_no_personal_data(html, str(path))
    write_atomic(path, html, durable=False)
    make_public(path)
    return path
