"""The Great Expectations checks in the real job on the committed sample: every one ran and passed
or warns with a reason, the check pages of the run hold no personal data, and a failed critical
check on a mart stops the publication while the previous snapshot stays readable."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.publish.assets import SNAPSHOT
from orchestration.defs.quality.checks import PREFIX, SUITES, check_key
from orchestration.lib.publish import read_manifest, snapshot_path, verify_snapshot
from tests.integration.conftest import SampleRun

LINES = dg.AssetKey(["marts", "fct_order_lines"])
LINES_TABLE = "intermediate.int_sales__order_lines_joined_to_orders"  # fct_order_lines reads it


def ge_evaluations(result: dg.ExecuteInProcessResult) -> dict[dg.AssetCheckKey, object]:
    return {
        dg.AssetCheckKey(e.asset_key, e.check_name): e
        for e in result.get_asset_check_evaluations()
        if e.check_name.startswith(PREFIX)
    }


def test_every_ge_check_ran_and_passed_or_warns_with_a_reason(sample_run: SampleRun):
    evaluations = ge_evaluations(sample_run.result)
    expected = {check_key(suite, rule.name) for suite in SUITES for rule in suite.rules}
    assert set(evaluations) == expected and len(expected) > 200
    for key, evaluation in evaluations.items():
        metadata = evaluation.metadata
        assert {"observed", "threshold", "severity"} <= set(metadata), key
        if not evaluation.passed:
            assert evaluation.severity == dg.AssetCheckSeverity.WARN, key
            assert metadata["severity"].value == "warning" and evaluation.description, key
    # what the committed sample is known to hold: an old sample, thin last deliveries, and
    # till lines whose receipt was quarantined
    warned = {k.name for k, e in evaluations.items() if not e.passed}
    assert {"ge_freshness_age_pos", "ge_volume_pos", "ge_every_line_has_its_order"} <= warned
    # a rule on single rows blocks only a systemic fault; every breaking row is a warning
    quantity = evaluations[dg.AssetCheckKey(LINES, "ge_quantity_positive")]
    assert quantity.passed and quantity.severity == dg.AssetCheckSeverity.ERROR
    assert quantity.metadata["threshold"].value == "quantity >= 1 on at least 99.0% of rows"
    assert quantity.metadata["observed"].value.startswith("0 of ")
    every_row = evaluations[dg.AssetCheckKey(LINES, "ge_quantity_positive_every_row")]
    assert every_row.passed and every_row.severity == dg.AssetCheckSeverity.WARN
    assert every_row.metadata["threshold"].value == "quantity >= 1"


def test_the_check_pages_of_the_run_cover_every_suite_and_hold_no_personal_data(
    sample_run: SampleRun,
):
    evaluations = ge_evaluations(sample_run.result).values()
    pages = {Path(e.metadata["page"].value) for e in evaluations}
    root = next(iter(pages)).parent
    assert root.name == "checks" and root.parent.name == sample_run.result.run_id
    # every suite of the run has its page, and the index links them all
    assert pages == {root / f"{suite.name}.html" for suite in SUITES}
    assert all(page.is_file() for page in pages)
    index = (root / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"]+)"', index))
    assert {page.name for page in pages} <= links
    files = [p for p in root.iterdir() if p.is_file() and p.suffix in (".html", ".json")]
    texts = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in files}
    # self-contained: nothing loaded or linked from outside the reports
    for name, text in texts.items():
        if name.endswith(".html"):
            found = re.findall(r"https?://|(?:src|href)=[\"']//|url\(", text)
            assert found == [], name
    # nothing on the sample looks like personal data: no page had to withhold its values
    summaries = [json.loads(t) for name, t in texts.items() if name.endswith(".json")]
    assert len(summaries) == len(SUITES) and [s for s in summaries if s["withheld"]] == []
    # the HTML, and the summaries the index is built from
    values = personal_values(sample_run)
    assert len(values) > 1000
    written = "".join(texts.values())
    assert [v for v in set(values) if v in written] == []


def personal_values(run: SampleRun) -> list[str]:
    """Phones, emails, national IDs, card numbers and openids of the sample, raw and normalised."""
    raw = f"'{run.lake}/raw/{{}}/*.parquet'"
    query = " union all ".join(
        f"select cast({column} as varchar) from read_parquet({raw.format(table)})"
        for table, columns in (
            ("crm/members", ("phone", "email", "national_id", "card_no")),
            ("ecommerce/customers", ("phone", "email")),
            ("social/accounts", ("openid", "unionid", "phone")),
        )
        for column in columns
    )
    with duckdb.connect() as con:
        values = [row[0] for row in con.execute(query).fetchall()]
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        values += [
            row[0]
            for row in con.execute(
                "select identifier_value from identity.int_identity__identifiers"
            ).fetchall()
        ]
    return sorted({v for v in values if v and len(v) >= 8})


@pytest.fixture
def warehouse_copy(sample_run: SampleRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The sample run's warehouse and published snapshot, copied: the session's stay untouched.
    The staging views read the session's lake (read-only)."""
    warehouse = tmp_path / "warehouse" / "omni360.duckdb"
    warehouse.parent.mkdir()
    shutil.copy2(sample_run.warehouse, warehouse)
    published = tmp_path / "published"
    shutil.copytree(sample_run.warehouse.parent / "published", published, symlinks=True)
    for var, path in (
        ("OMNI360_LANDING", sample_run.landing),
        ("OMNI360_WAREHOUSE", warehouse),
        ("OMNI360_LAKE", sample_run.lake),
        ("OMNI360_PUBLISHED", published),
        ("OMNI360_REPORTS", tmp_path / "reports"),
    ):
        monkeypatch.setenv(var, str(path))
    return warehouse, published


def publish_after_line_checks(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The publication and the GE checks of fct_order_lines, as a run selects them."""
    from orchestration.definitions import defs

    line_checks = [
        check_key(s, r.name) for s in SUITES if s.asset == tuple(LINES.path) for r in s.rules
    ]
    job = dg.define_asset_job(
        "publish_after_line_checks",
        selection=dg.AssetSelection.assets(SNAPSHOT) | dg.AssetSelection.checks(*line_checks),
    )
    definitions = dg.Definitions.merge(defs(), dg.Definitions(jobs=[job]))
    return definitions.resolve_job_def(job.name).execute_in_process(
        instance=instance, raise_on_error=False
    )


def test_one_bad_row_warns_and_a_systemic_fault_stops_publication_and_keeps_the_snapshot(
    warehouse_copy,
):
    warehouse, published = warehouse_copy
    snapshot = snapshot_path(published)
    instance = dg.DagsterInstance.ephemeral()

    # control: with sound marts the same selection publishes
    clean = publish_after_line_checks(instance)
    assert clean.success
    assert read_manifest(snapshot).run_id == clean.run_id
    assert verify_snapshot(snapshot, warehouse) == []

    # one bad row: a warning naming it, and everyone else's marts are published
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"update {LINES_TABLE} set quantity = -1 "
            f"where order_line_id = (select min(order_line_id) from {LINES_TABLE})"
        )
    one = publish_after_line_checks(instance)
    evaluations = ge_evaluations(one)
    row = evaluations[dg.AssetCheckKey(LINES, "ge_quantity_positive_every_row")]
    assert not row.passed and row.severity == dg.AssetCheckSeverity.WARN
    assert row.metadata["observed"].value.startswith("1 of ")
    assert row.metadata["unexpected_samples"].value == [-1]
    assert evaluations[dg.AssetCheckKey(LINES, "ge_quantity_positive")].passed
    assert one.success and read_manifest(snapshot).run_id == one.run_id

    # a systemic fault (5 % of the lines): the blocking check fails, nothing is published
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {LINES_TABLE} set quantity = -1 where hash(order_line_id) % 20 = 0")
    planted = publish_after_line_checks(instance)
    failed = ge_evaluations(planted)[dg.AssetCheckKey(LINES, "ge_quantity_positive")]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert not planted.success
    # Dagster never started the publication: the blocking check's step failed before it
    started = {e.step_key for e in planted.all_events if e.event_type_value == "STEP_START"}
    assert "ge_marts__fct_order_lines" in started and "publish__marts_snapshot" not in started
    assert SNAPSHOT not in {e.asset_key for e in planted.get_asset_materialization_events()}
    # the snapshot of the previous run is still the published one, whole and readable
    assert read_manifest(snapshot).run_id == one.run_id
    assert verify_snapshot(snapshot) == []
