"""The quality history and the auditor's report of the two sample runs (see conftest.py), checked
against the warehouse and the lake; and the run-failure sensor on a small failing job."""

from __future__ import annotations

import re
import shutil
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from orchestration.lib.contracts import ENTITIES
from orchestration.lib.ingest.lake import Lake
from tests.browser import browser, render
from tests.integration.conftest import SampleRun

SECTIONS = (
    "summary",
    "checks",
    "row-accounting",
    "identity",
    "pii-scan",
    "consent",
    "personal-data",
    "erasure",
    "trends",
    "lineage",
    "sign-off",
)
TEXT_SUFFIXES = {".html", ".htm", ".json", ".js", ".css", ".txt", ".md"}


class Page(HTMLParser):
    """Section ids, the figures (`data-figure`) and the cells of every row with a data-* key."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.figures: dict[str, str] = {}
        self.rows: list[tuple[dict[str, str | None], list[str]]] = []
        self._figure: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if values.get("data-figure"):
            self._figure = values["data-figure"]
            self.figures[self._figure] = ""
        if tag == "tr" and any(name.startswith("data-") for name in values):
            self.rows.append((values, []))
        if tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag in ("div", "td", "span"):
            self._figure = None

    def handle_data(self, data):
        if self._figure:
            self.figures[self._figure] += data.strip()
        if self._cell is not None:
            self._cell.append(data)

    def rows_with(self, attribute: str) -> dict[str, list[str]]:
        return {attrs[attribute]: cells for attrs, cells in self.rows if attribute in attrs}


def number(text: str) -> int:
    return int(text.replace(",", ""))


def report_page(sample_run: SampleRun, run_id: str) -> str:
    return (sample_run.reports / run_id / "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def con(sample_run: SampleRun):
    with duckdb.connect(str(sample_run.warehouse), read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def runs(sample_run: SampleRun) -> list[dg.ExecuteInProcessResult]:
    return [sample_run.result, sample_run.rerun]


def test_history_and_a_report_were_written_after_each_run(sample_run: SampleRun, runs):
    assert sample_run.audit_errors == []
    for result in runs:
        assert (sample_run.reports / result.run_id / "index.html").is_file()
    index = Page((sample_run.reports / "index.html").read_text(encoding="utf-8"))
    assert list(index.rows_with("data-run-id")) == [runs[1].run_id, runs[0].run_id]


def test_the_history_holds_one_row_per_check_evaluation_of_each_run(con, runs):
    for result in runs:
        evaluations = result.get_asset_check_evaluations()
        recorded = con.execute(
            "select asset_key, check_name, passed from audit.check_results where run_id = ?",
            [result.run_id],
        ).fetchall()
        expected = [(e.asset_key.to_user_string(), e.check_name, e.passed) for e in evaluations]
        assert sorted(recorded) == sorted(expected)
        run_row = con.execute(
            "select status, checks_evaluated, checks_passed from audit.runs where run_id = ?",
            [result.run_id],
        ).fetchone()
        passed = sum(1 for e in evaluations if e.passed)
        assert run_row == (result.dagster_run.status.value, len(evaluations), passed)
    # every row is complete; dbt tests carry their failing rows, ingestion checks their problems
    incomplete = con.execute(
        "select count(*) from audit.check_results where layer is null or severity is null "
        "or blocking is null or evaluated_at is null"
    ).fetchone()[0]
    assert incomplete == 0
    observed = dict(
        con.execute(
            "select check_name, observed from audit.check_results where run_id = ? and "
            "check_name in ('rows_accounted', 'customer_size_within_limit', "
            "'unique_dim_customer_customer_id')",
            [runs[1].run_id],
        ).fetchall()
    )
    assert observed["rows_accounted"] == "0"
    assert observed["unique_dim_customer_customer_id"] == "0"
    assert int(observed["customer_size_within_limit"]) > 0
    layers = {row[0] for row in con.execute("select layer from audit.check_results").fetchall()}
    assert {"raw", "staging", "identity", "marts", "publish"} <= layers


def test_the_report_has_every_section_and_the_checks_of_its_run(sample_run: SampleRun, runs):
    for result in runs:
        page = Page(report_page(sample_run, result.run_id))
        evaluations = result.get_asset_check_evaluations()
        assert set(SECTIONS) <= page.ids
        assert number(page.figures["checks"]) == len(evaluations)
        assert number(page.figures["passed"]) == sum(1 for e in evaluations if e.passed)
        per_layer = page.rows_with("data-layer")
        assert sum(number(cells[1]) for cells in per_layer.values()) == len(evaluations)


def test_row_accounting_matches_the_lake_manifest(sample_run: SampleRun, runs):
    lake = Lake(sample_run.lake)
    page = Page(report_page(sample_run, runs[1].run_id))
    entities = page.rows_with("data-entity")
    totals = {"read": 0, "loaded": 0, "quarantined": 0}
    for target in ENTITIES:
        entries = lake.manifest(target)
        cells = entities[f"{target.source}/{target.name}"]
        read, loaded, quarantined = (number(c) for c in cells[4:7])
        assert read == sum(e.rows_read for e in entries)
        assert loaded == sum(e.rows_loaded for e in entries)
        assert quarantined == sum(e.rows_quarantined for e in entries)
        totals["read"] += read
        totals["loaded"] += loaded
        totals["quarantined"] += quarantined
        # the rerun found every file already loaded
        assert [number(c) for c in cells[7:]] == [0, 0, 0, 0]
    assert number(page.figures["rows-read"]) == totals["read"] > 0
    assert number(page.figures["rows-loaded"]) == totals["loaded"]
    assert number(page.figures["rows-quarantined"]) == totals["quarantined"] > 0
    first = Page(report_page(sample_run, runs[0].run_id)).rows_with("data-entity")["total"]
    assert number(first[7]) == totals["read"]  # the first run loaded all of it


def test_identity_and_consent_figures_match_the_warehouse(sample_run: SampleRun, con, runs):
    page = Page(report_page(sample_run, runs[1].run_id))
    customers = con.execute("select count(distinct customer_id) from identity.customer_xref")
    assert number(page.figures["customers"]) == customers.fetchone()[0]
    accuracy = next(
        e
        for e in runs[1].get_asset_check_evaluations()
        if e.check_name == "accuracy_against_answer_key"
    )
    assert page.figures["precision"] == f"{accuracy.metadata['precision'].value:.4f}"
    refused = con.execute(
        "select count(*) from identity.identity_links where refused_reason is not null "
        "and refused_reason <> 'below_threshold'"
    ).fetchone()[0]
    assert number(page.figures["guards-triggered"]) == refused

    consent = page.rows_with("data-column")
    assert set(consent) == {
        "marketing_sms", "marketing_wechat", "marketing_email", "personalisation", "analytics",
        "any_marketing",
    }  # fmt: skip
    customers = con.execute("select count(*) from marts.dim_customer").fetchone()[0]
    never_asked = 0
    for purpose, cells in consent.items():
        purposes = (
            "'marketing_sms', 'marketing_wechat', 'marketing_email'"
            if purpose == "any_marketing"
            else f"'{purpose}'"
        )
        given, refused = con.execute(
            f"""
            select count(*) filter (where granted), count(*) filter (where not granted)
            from (
                select customer_id, bool_or(is_granted) as granted
                from marts.fct_customer_consents where purpose in ({purposes}) group by 1
            )
            """
        ).fetchone()
        assert [number(c) for c in cells[1:4]] == [given, refused, customers - given - refused]
        never_asked += customers - given - refused
    # the sample has customers never asked: they are not counted as refusals
    assert never_asked > 0


def test_lineage_lists_every_asset_of_the_run_with_what_it_reads(sample_run: SampleRun, runs):
    from orchestration.definitions import defs

    graph = defs().resolve_asset_graph()
    page = Page(report_page(sample_run, runs[1].run_id))
    lineage = page.rows_with("data-asset")
    materialised = {e.asset_key for e in runs[1].get_asset_materialization_events()}
    assert {key.to_user_string() for key in materialised} <= set(lineage)
    dim_customer = dg.AssetKey(["marts", "dim_customer"])
    for parent in graph.get(dim_customer).parent_keys:
        assert parent.to_user_string() in lineage["marts/dim_customer"][2]
    order = list(lineage)
    assert order.index("crm/members") < order.index("staging/stg_crm__members")
    assert order.index("staging/stg_crm__members") < order.index("marts/dim_customer")


def raw_personal_values(lake: Path) -> set[str]:
    """Phones, emails, names and national IDs as delivered, from the raw layer."""
    values: set[str] = set()
    with duckdb.connect() as con:
        for table, columns in (
            ("crm/members", ("phone", "email", "name", "national_id")),
            ("ecommerce/customers", ("phone", "email", "name")),
        ):
            relation = f"read_parquet('{lake}/raw/{table}/*.parquet', union_by_name = true)"
            for column in columns:
                values.update(
                    row[0]
                    for row in con.execute(
                        f"select distinct {column} from {relation} where {column} is not null"
                    ).fetchall()
                )
    return {v.strip() for v in values if len(v.strip()) >= 2}


def test_no_report_nor_check_page_contains_raw_personal_data(sample_run: SampleRun):
    raw = raw_personal_values(sample_run.lake)
    assert len(raw) > 1000  # phones, emails, names and IDs of the sample
    assert any(re.fullmatch(r"1[3-9]\d{9}", v) for v in raw)
    assert any("@" in v for v in raw)
    files = [p for p in sample_run.reports.rglob("*") if p.suffix in TEXT_SUFFIXES]
    assert len(files) >= 3  # the index and a report per run, plus the check pages
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        texts = (text, unicodedata.normalize("NFKC", text))
        found = sum(1 for value in raw if any(value in t for t in texts))
        # counted, not shown: the assertion message must not print the values either
        assert found == 0, f"{path.relative_to(sample_run.reports)}: {found} raw values"


def test_the_report_command_renders_a_recorded_run_again_from_the_audit_tables(
    sample_run: SampleRun, runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from orchestration.cli import app

    warehouse = tmp_path / "omni360.duckdb"
    shutil.copy(sample_run.warehouse, warehouse)
    monkeypatch.delenv("OMNI360_REPORTS", raising=False)
    runner = CliRunner()

    written = runner.invoke(
        app, ["report", "--run-id", runs[0].run_id, "--warehouse", str(warehouse)]
    )
    assert written.exit_code == 0, written.output
    again = Page((tmp_path / "reports" / runs[0].run_id / "index.html").read_text("utf-8"))
    original = Page(report_page(sample_run, runs[0].run_id))
    assert again.figures == original.figures
    assert again.rows_with("data-entity") == original.rows_with("data-entity")

    unknown = runner.invoke(app, ["report", "--run-id", "nope", "--warehouse", str(warehouse)])
    assert unknown.exit_code == 1 and "not recorded" in unknown.output


def test_the_failure_sensor_records_a_failed_run_and_the_checks_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from orchestration.defs.quality.sensors import audit_after_failure
    from orchestration.resources import WarehouseResource

    @dg.asset(
        key=["marts", "tiny"],
        check_specs=[dg.AssetCheckSpec("has_rows", asset=["marts", "tiny"], blocking=True)],
    )
    def tiny():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=False, metadata={"observed": 0, "threshold": 1})

    @dg.asset(
        key=["publish", "tiny_snapshot"],
        deps=[tiny],
        check_specs=[dg.AssetCheckSpec("matches", asset=["publish", "tiny_snapshot"])],
    )
    def snapshot():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=True)

    definitions = dg.Definitions(assets=[tiny, snapshot], jobs=[dg.define_asset_job("tiny")])
    instance = dg.DagsterInstance.ephemeral()
    result = definitions.resolve_job_def("tiny").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not result.success
    monkeypatch.setenv("OMNI360_REPORTS", str(tmp_path / "reports"))
    warehouse = WarehouseResource(
        landing_dir=str(tmp_path / "landing"),
        warehouse_path=str(tmp_path / "omni360.duckdb"),
        lake_dir=str(tmp_path / "lake"),
        published_dir=str(tmp_path / "published"),
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=audit_after_failure.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"warehouse": warehouse},
        repository_def=definitions.get_repository_def(),
    ).for_run_failure()

    audit_after_failure(context)
    audit_after_failure(context)  # a second evaluation adds nothing

    with duckdb.connect(str(tmp_path / "omni360.duckdb"), read_only=True) as con:
        assert con.execute("select layer, check_name, blocking, passed, observed, threshold "
                           "from audit.check_results").fetchall() == [
            ("marts", "has_rows", True, False, "0", "1")
        ]  # fmt: skip
        assert con.execute(
            "select status, checks_not_run, blocking_failures from audit.runs"
        ).fetchall() == [("FAILURE", 1, 1)]
    page = Page((tmp_path / "reports" / result.run_id / "index.html").read_text("utf-8"))
    assert set(SECTIONS) <= page.ids
    assert number(page.figures["blocking-failures"]) == 1
    assert number(page.figures["not-run"]) == 1


def test_the_report_has_the_personal_data_inventory_trends_and_a_csv_of_its_checks(
    sample_run: SampleRun, runs, con
):
    page = Page(report_page(sample_run, runs[1].run_id))
    inventory = page.rows_with("data-table")
    # lake tables from the contract, models from the dbt declarations, with their treatment
    assert "national_id" in inventory["raw/crm/members"][3]  # sensitive
    customer = inventory["marts.dim_customer"]
    assert "phone_token" in customer[2] and "mask_phone" in customer[5]
    assert "analysts" in customer[6] and "analysts" not in inventory["staging.stg_crm__members"][6]
    # two runs recorded: each chart has this run and the one before
    html = report_page(sample_run, runs[1].run_id)
    charts = dict(re.findall(r'data-chart="([^"]+)" data-values="([^"]*)"', html))
    assert {"checks-failed", "quarantine-rate", "customers"} <= set(charts)
    assert len(charts["customers"].split("|")) == 2
    customers = con.execute("select count(*) from marts.dim_customer").fetchone()[0]
    assert charts["customers"].split("|")[-1] == f"{customers:,}"
    rows = (sample_run.reports / runs[1].run_id / "checks.csv").read_text().splitlines()
    recorded = con.execute(
        "select count(*) from audit.check_results where run_id = ?", [runs[1].run_id]
    ).fetchone()[0]
    assert len(rows) == 1 + recorded


def test_every_page_of_the_reports_renders_offline(sample_run: SampleRun):
    """No page under reports/ asks the network for anything (no CDN script, style or image)."""
    pages = list(sample_run.reports.rglob("*.html"))
    assert len(pages) > 3
    external = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*['"]?(?:https?:)?//""")
    found = [
        str(page.relative_to(sample_run.reports))
        for page in pages
        if external.search(page.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []


def test_the_reports_render_in_a_browser_with_the_network_cut_off(sample_run: SampleRun):
    """Headless Chromium loads the report and every check page from disk, refusing any request
    that leaves the folder: nothing is refused, nothing fails, no script error."""
    pages = sorted(sample_run.reports.rglob("*.html"))
    # the runs' reports (reports/<run>/index.html), then the index of runs and check pages
    reports = [p for p in pages if p.name == "index.html" and p.parent.parent == sample_run.reports]
    chosen = reports + [p for p in pages if p not in reports][:8]
    with browser() as launched:
        rendered = [render(launched, page.as_uri()) for page in chosen]
    problems = {r.url: r.problems for r in rendered if r.problems}
    assert problems == {}
    assert reports and all(r.text.strip() for r in rendered)
    assert all("sign-off" in r.text.lower() for r in rendered[: len(reports)])
