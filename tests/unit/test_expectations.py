"""The GE runner on small frames: failures fail with observed and threshold, personal data never
reaches a result or the check pages, and the suites of expectations/ hold together."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict
from pathlib import Path

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.row_conditions import Column

from expectations import all_suites
from expectations._shared import critical, warning
from expectations.ingest_landing_scan import PARAMETERS, deliveries
from expectations.ingest_landing_scan import SUITE as DELIVERIES
from orchestration.lib.contracts import ENTITIES, entity, raw_table
from orchestration.lib.ingest.lake import Lake, ManifestEntry, raw_schema
from orchestration.lib.quality.expectations import (
    SAMPLE_SIZE,
    WHITESPACE,
    Suite,
    SuiteResult,
    duckdb_sql,
    full_match,
    read_frame,
    run_suite,
    scrub,
    spark_sql,
    threshold_text,
    validate,
)
from orchestration.lib.quality.pages import CheckPages

# fake personal data, distinctive enough to find anywhere it leaks
PHONES = ["13912345678", "+86 139 8765 4321", "+8613700001111"]
EMAILS = ["Secret.Person@Example.com", "hidden.user@example.org", "ok@example.com"]


def frame_suite(rules, pii=(), name="small") -> Suite:
    return Suite(
        name=name,
        asset=("test", name),
        description="a small frame",
        rules=tuple(rules),
        frame=lambda lake, parameters: pd.DataFrame(),
        pii=frozenset(pii),
        reads_warehouse=False,
    )


def by_name(result: SuiteResult) -> dict:
    return {r.name: r for r in result.results}


@pytest.fixture
def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ["EO1", "EO2", "EO3", "EO4"],
            "quantity": [1, -2, 3, 0],
            "status": ["paid", "lost", "completed", "paid"],
            "net_amount": [10.0, 5.0, 0.0, 7.5],
            "phone": PHONES + [None],
            "email": EMAILS + [None],
        }
    )


@pytest.fixture
def order_suite() -> Suite:
    return frame_suite(
        [
            critical(
                "quantity_positive",
                gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1),
                "units must be positive.",
            ),
            critical(
                "status_known",
                gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["paid", "completed"]),
                "status is known.",
            ),
            critical(
                "net_amount_not_negative",
                gxe.ExpectColumnValuesToBeBetween(column="net_amount", min_value=0),
                "no negative amounts.",
            ),
            critical(
                "phone_e164",
                gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=r"^\+[1-9][0-9]{6,14}$"),
                "phones are E.164.",
            ),
            warning(
                "email_lower_case",
                gxe.ExpectColumnValuesToMatchRegex(column="email", regex=r"^[^A-Z]+$"),
                "emails are lower case.",
            ),
        ],
        pii={"phone", "email"},
        name="orders",
    )


def test_a_failing_expectation_fails_with_observed_threshold_and_samples(orders, order_suite):
    results = by_name(validate(order_suite, orders))
    quantity = results["quantity_positive"]
    assert not quantity.passed and quantity.severity == "critical"
    assert quantity.observed == "2 of 4 rows unexpected"
    assert quantity.threshold == "quantity >= 1"
    assert quantity.unexpected_count == 2 and quantity.unexpected_percent == 50.0
    assert quantity.samples == (-2, 0) and not quantity.pii
    assert "-2" in quantity.description and "units must be positive." in quantity.description
    status = results["status_known"]
    assert not status.passed and status.samples == ("lost",)
    assert status.threshold == "status in {paid, completed}"


def test_a_passing_expectation_passes_and_still_reports_what_it_saw(orders, order_suite):
    amount = by_name(validate(order_suite, orders))["net_amount_not_negative"]
    assert amount.passed and amount.unexpected_count == 0 and amount.rows == 4
    assert amount.observed == "0 of 4 rows unexpected" and amount.threshold == "net_amount >= 0"
    assert amount.samples is None


def test_pii_values_never_reach_results_or_check_pages(orders, order_suite, tmp_path):
    result = validate(order_suite, orders)
    phone, email = by_name(result)["phone_e164"], by_name(result)["email_lower_case"]
    # they fail, and say so, without the values
    assert not phone.passed and phone.unexpected_count == 2 and phone.pii
    assert not email.passed and email.severity == "warning" and email.samples is None
    assert "withheld: personal data" in phone.description
    typed = json.dumps([asdict(r) for r in result.results], default=str)
    pages = CheckPages(tmp_path / "checks", "run-1").add([result])
    written = _files_text(tmp_path)  # the pages and the summaries the index is built from
    assert pages["orders"].is_file() and (tmp_path / "checks" / "index.html").is_file()
    assert any(tmp_path.rglob("*.json")) and "phone_e164" in written
    for value in PHONES + EMAILS:
        for text in (typed, written):
            assert value not in text and value.lower() not in text
    # the page says the values were withheld, and shows those of columns that are not personal
    page = pages["orders"].read_text(encoding="utf-8")
    assert "withheld (personal data)" in page
    assert "lost" in page and "quantity" in page


def _files_text(root: Path) -> str:
    return "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file()
    )


def _evr(kind: str, column: str, result: dict, error: str | None = None):
    return ExpectationValidationResult(
        success=False,
        expectation_config=ExpectationConfiguration(type=kind, kwargs={"column": column}),
        result=result,
        exception_info={"raised_exception": error is not None, "exception_message": error},
    )


def test_scrub_drops_row_positions_everywhere_and_every_value_of_personal_data():
    values = [f"v{i}" for i in range(SAMPLE_SIZE + 5)]
    positions = {
        "partial_unexpected_index_list": [0, 1],
        "unexpected_index_list": [0, 1],
        "unexpected_index_query": "df.filter(items=[0, 1], axis=0)",
    }
    plain = _evr(
        "expect_column_values_to_be_in_set",
        "status",
        {**positions, "partial_unexpected_list": values, "unexpected_list": values},
    )
    scrub(plain, pii=False)
    assert plain.result == {"partial_unexpected_list": values[:SAMPLE_SIZE]}
    personal = _evr(
        "expect_column_values_to_match_regex",
        "phone",
        {
            **positions,
            "partial_unexpected_list": PHONES,
            "partial_unexpected_counts": [{"value": p, "count": 1} for p in PHONES],
            "observed_value": PHONES[0],
            "unexpected_count": 3,
        },
        error=f"cannot compare: {PHONES[0]}",
    )
    scrub(personal, pii=True)
    assert personal.result == {"unexpected_count": 3}
    assert personal.exception_info["exception_message"] == "cannot compare"
    assert personal.exception_info["exception_traceback"] is None


def test_observed_columns_of_a_one_row_frame_are_the_observed_value():
    suite = frame_suite(
        [
            critical(
                "rows_match",
                gxe.ExpectColumnPairValuesToBeEqual(column_A="staging_rows", column_B="raw_keys"),
                "rows lost.",
                observe=("staging_rows", "raw_keys"),
            )
        ]
    )
    [item] = validate(suite, pd.DataFrame({"staging_rows": [1719], "raw_keys": [1720]})).results
    assert not item.passed
    assert item.observed == "staging_rows=1,719, raw_keys=1,720"
    assert item.threshold == "staging_rows = raw_keys"


def test_a_suite_that_cannot_read_its_data_fails_every_rule_and_says_why(tmp_path):
    suite = Suite(
        name="broken",
        asset=("test", "broken"),
        description="reads a table that is not there",
        rules=(
            critical("a", gxe.ExpectColumnValuesToNotBeNull(column="x"), "x is required."),
            warning("b", gxe.ExpectTableRowCountToBeBetween(min_value=1), "rows expected."),
        ),
        query="select x from marts.not_there",
    )
    warehouse = tmp_path / "wh.duckdb"
    duckdb.connect(str(warehouse)).close()
    result = run_suite(suite, lake=tmp_path, warehouse=warehouse)
    assert [r.passed for r in result.results] == [False, False]
    assert all("not_there" in (r.error or "") for r in result.results)
    assert result.results[0].observed == "not measured"


def test_expectation_parameters_default_and_override():
    suite = Suite(
        name="lag",
        asset=("test", "lag"),
        description="lag",
        rules=(
            warning(
                "lag_small",
                gxe.ExpectColumnValuesToBeBetween(
                    column="lag_days", max_value={"$PARAMETER": "max_lag"}
                ),
                "late.",
            ),
        ),
        frame=lambda lake, parameters: pd.DataFrame(),
        parameters={"max_lag": 5.0},
    )
    frame = pd.DataFrame({"lag_days": [3.0]})
    assert validate(suite, frame).results[0].passed
    [strict] = validate(suite, frame, parameters={"max_lag": 2.0}).results
    assert not strict.passed and strict.threshold == "lag_days <= 2"


def test_thresholds_read_as_rules():
    assert threshold_text("expect_column_values_to_be_between", {"column": "q", "min_value": 1})
    assert (
        threshold_text(
            "expect_column_values_to_be_between",
            {"column": "s", "min_value": 1, "max_value": 5, "mostly": 0.95},
        )
        == "1 <= s <= 5 on at least 95.0% of rows"
    )
    condition = (Column("fulfilment") == "click_and_collect").dict()
    assert (
        threshold_text(
            "expect_column_values_to_not_be_null", {"column": "p", "row_condition": condition}
        )
        == 'p is not null where fulfilment == "click_and_collect"'
    )
    assert (
        threshold_text(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": "a", "column_B": "b", "or_equal": True},
        )
        == "a >= b"
    )


def _write_raw(lake: Path, source: str, name: str, rows: list[dict], file: str) -> None:
    table = raw_table(source, name)
    schema = raw_schema(table)
    folder = lake / "raw" / source / name
    folder.mkdir(parents=True, exist_ok=True)
    full = [{f.name: row.get(f.name) for f in schema} | {"_source_file": file} for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), folder / f"{len(rows)}.parquet")


# a raw CRM member row that keeps the contract
GOOD_MEMBER = {
    "member_id": "M1",
    "card_no": "8800123456",
    "name": "张伟",
    "phone": "13800138000",
    "registered_at": dt.datetime(2026, 3, 1, 10),
    "tier": "gold",
    "updated_at": dt.datetime(2026, 3, 1, 10),
}


def test_the_raw_suite_catches_rows_that_break_the_contract(tmp_path):
    good = dict(GOOD_MEMBER)
    rows = [
        good,
        good,  # an exact duplicate line: allowed
        {**good, "member_id": None, "card_no": "88001"},
        {**good, "member_id": "M3", "tier": "platinum"},
        {**good, "name": "Other"},  # M1 again in the same file, with other content
    ]
    _write_raw(tmp_path, "crm", "members", rows, "crm/members/2026-03-02/members.csv")
    rows_suite, versions_suite = (s for s in all_suites() if s.asset == ("crm", "members"))
    failed = {r.name for r in run_suite(rows_suite, lake=tmp_path).results if not r.passed}
    assert failed == {
        "member_id_not_null",
        "card_no_matches_contract_pattern",
        "tier_in_contract_values",
    }
    card = by_name(run_suite(rows_suite, lake=tmp_path))["card_no_matches_contract_pattern"]
    assert card.pii and card.samples is None  # card numbers are personal data
    [versions] = run_suite(versions_suite, lake=tmp_path).results
    assert not versions.passed and versions.severity == "warning"
    assert versions.observed == "keys_with_two_versions=1, keys_per_file=3"


def test_a_run_checks_the_raw_rows_it_loaded_and_only_those(tmp_path):
    """The raw layer is append-only: a row is checked in the run that loads it. A bad row of an
    earlier load does not fail the checks of a later run's load; a run that loaded nothing for
    the table (load_suffix None) checks every row."""
    good = dict(GOOD_MEMBER)
    earlier = [good | {"_load_id": "20260301T000000Z-aaaaaaaa"}]
    earlier.append({**earlier[0], "member_id": "M2", "tier": "platinum"})
    later = [good | {"member_id": f"M{n}", "_load_id": "20260302T000000Z-bbbbbbbb"}
             for n in (3, 4, 5)]  # fmt: skip
    _write_raw(tmp_path, "crm", "members", earlier, "crm/members/2026-03-01/members.csv")
    folder = tmp_path / "raw" / "crm" / "members"
    (folder / "2.parquet").rename(folder / "earlier.parquet")
    _write_raw(tmp_path, "crm", "members", later, "crm/members/2026-03-02/members.csv")
    rows_suite, versions_suite = (s for s in all_suites() if s.asset == ("crm", "members"))
    assert rows_suite.per_load and versions_suite.per_load

    new = run_suite(rows_suite, lake=tmp_path, load_suffix="bbbbbbbb")
    assert new.new_rows_only and new.rows == 3 and new.passed
    whole = run_suite(rows_suite, lake=tmp_path, load_suffix=None)
    assert not whole.new_rows_only and whole.rows == 5
    assert {r.name for r in whole.results if not r.passed} == {"tier_in_contract_values"}
    [versions] = run_suite(versions_suite, lake=tmp_path, load_suffix="bbbbbbbb").results
    assert versions.observed == "keys_with_two_versions=0, keys_per_file=3"
    with pytest.raises(ValueError, match="not a load id suffix"):
        read_frame(rows_suite, lake=tmp_path, load_suffix="x' or true or '")


def test_a_run_checks_the_model_rows_its_loads_changed(tmp_path):
    """An incremental model's row checks read the rows whose watermark is one of the run's loads:
    a bad line of an earlier load does not fail a later run; a run that loaded nothing checks
    every row."""
    warehouse = tmp_path / "omni360.duckdb"
    earlier, later = dt.datetime(2026, 3, 1, 2), dt.datetime(2026, 3, 2, 2)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema staging; create schema intermediate")
        con.execute(
            "create table staging.stg_ingest__loaded_files as select * from (values "
            "('20260301T020000Z-aaaaaaaa', ?::timestamp), "
            "('20260302T020000Z-bbbbbbbb', ?::timestamp)) as loads(load_id, loaded_at)",
            [earlier, later],
        )
        con.execute(
            "create table intermediate.int_sales__order_lines_joined_to_orders as "
            "select * from (values (1, 10.0, 0.0, 0.0, 10.0, ?::timestamp), "
            "(1, 10.0, 0.0, 20.0, -10.0, ?::timestamp), (2, 5.0, 1.0, 0.0, 9.0, ?::timestamp), "
            "(1, 7.0, 0.0, 0.0, 7.0, ?::timestamp)) as lines(quantity, unit_price, "
            "discount_amount, line_refund_amount, net_amount, _loaded_at)",
            [earlier, earlier, later, later],
        )
    [rows_suite] = (s for s in all_suites() if s.name == "marts_fct_order_lines" and s.per_load)

    new = run_suite(rows_suite, lake=tmp_path, warehouse=warehouse, load_suffix="bbbbbbbb")
    assert new.new_rows_only and new.rows == 2 and new.passed
    whole = run_suite(rows_suite, lake=tmp_path, warehouse=warehouse, load_suffix=None)
    assert not whole.new_rows_only and whole.rows == 4
    assert {r.name for r in whole.results if not r.passed} == {
        "net_amount_not_negative",
        "net_amount_not_negative_every_row",
    }


def _manifest(lake: Path, source: str, name: str, delivered: dict[str, int]) -> None:
    target = entity(source, name)
    folder = Lake(lake).manifest_dir(target)
    folder.mkdir(parents=True, exist_ok=True)
    for date, rows in delivered.items():
        entry = ManifestEntry(
            file_id=f"{name}-{date}",
            source_file=f"{source}/{name}/{date}/f.csv",
            source=source,
            entity=name,
            delivery_date=date,
            size_bytes=1,
            sha256="0",
            load_id="l",
            loaded_at="2026-01-01T00:00:00",
            status="loaded",
            duplicate_of=None,
            rows_read=rows,
            rows_loaded=rows,
            rows_quarantined=0,
            child_rows_loaded=0,
            rows_with_warnings=0,
        )
        (folder / f"{entry.file_id}.json").write_text(json.dumps(asdict(entry)), encoding="utf-8")


def test_deliveries_measure_lag_age_and_volume_per_source(tmp_path):
    today = dt.datetime.now(dt.UTC).date()
    days = [(today - dt.timedelta(days=n)).isoformat() for n in range(10, -1, -1)]
    _manifest(tmp_path, "crm", "members", {d: 100 for d in days[:-3]})  # stopped 3 days ago
    _manifest(tmp_path, "ecommerce", "orders", {d: 100 for d in days[:-1]} | {days[-1]: 500})
    _manifest(tmp_path, "pos", "transactions", {d: 100 for d in days})
    frame = deliveries(tmp_path, PARAMETERS).set_index("source")
    assert frame.loc["crm", "lag_days"] == 3 and frame.loc["crm", "age_days"] == 3
    assert frame.loc["ecommerce", "volume_ratio"] == 5.0 and frame.loc["pos", "volume_ratio"] == 1
    assert pd.isna(frame.loc["social", "latest_delivery"])
    results = by_name(run_suite(DELIVERIES, lake=tmp_path))
    failed = {name for name, r in results.items() if not r.passed}
    assert failed == {"freshness_lag_crm", "volume_ecommerce", "every_source_delivered"}
    assert results["freshness_lag_crm"].observed == f"latest_delivery={days[-4]}, lag_days=3"
    assert results["freshness_lag_crm"].threshold == 'lag_days <= 2 where source == "crm"'
    assert all(r.severity == "warning" for r in results.values())


def test_the_suites_cover_every_raw_table_and_the_layers_named_in_the_issue():
    assets = {s.asset for s in all_suites()}
    for e in ENTITIES:
        for t in e.raw_tables:
            assert (t.source, t.name) in assets
            assert ("staging", f"stg_{t.source}__{t.name}") in assets
    for asset in (
        ("identity", "int_identity__identifiers"),
        ("identity", "customer_xref"),
        ("marts", "fct_orders"),
        ("marts", "fct_order_lines"),
        ("marts", "dim_customer"),
        ("ingest", "landing_scan"),
    ):
        assert asset in assets


def test_checks_are_one_per_rule_and_blocking_exactly_when_critical():
    import dagster as dg

    from orchestration.defs.quality.checks import DeliveryThresholds, build_asset_checks

    suites = all_suites()
    checks = build_asset_checks(suites)
    specs = {spec.key: spec for c in checks for spec in c.check_specs}
    rules = {(s.asset, r.name): r.severity for s in suites for r in s.rules}
    assert len(specs) == len(rules)
    for (asset, name), severity in rules.items():
        spec = specs[dg.AssetCheckKey(dg.AssetKey(list(asset)), "ge_" + name)]
        assert spec.blocking == (severity == "critical")
    assert set(DeliveryThresholds.model_fields) == set(PARAMETERS) == set(DELIVERIES.parameters)


def test_every_suite_query_is_written_for_both_engines(tmp_path: Path):
    """A suite's query is written once: on DuckDB the lake's raw tables are its Parquet files,
    on Spark the session's lake tables, and the rest parses as Spark SQL."""
    queried = [suite for suite in all_suites() if suite.query is not None]
    assert len(queried) > 40
    for suite in queried:
        duck = duckdb_sql(suite, tmp_path, "abcd1234")
        spark = spark_sql(suite, "abcd1234")
        for text in (duck, spark):
            assert "{raw:" not in text and "{loads}" not in text, suite.name
        assert "read_parquet" not in spark, suite.name
        sqlglot.parse_one(spark, read="spark")
        if "{raw:" in (suite.query or ""):
            assert f"read_parquet('{tmp_path}/raw/" in duck, suite.name
            assert re.search(r"\b(crm|ecommerce|pos|social)\.[a-z_]+\b", spark), suite.name
        if suite.per_load:
            assert "_load_id like '%-abcd1234'" in duck and "LIKE '%-abcd1234'" in spark


def test_a_spark_error_on_personal_data_keeps_only_its_class():
    """Spark's messages quote the value that failed; GE may join one message per metric."""
    nested = ExpectationValidationResult(
        success=False,
        expectation_config=ExpectationConfiguration(
            type="expect_column_values_to_match_regex", kwargs={"column": "phone"}
        ),
        result={},
        exception_info={
            "metric_a": {"raised_exception": True, "exception_message": None},
            "metric_b": {
                "raised_exception": True,
                "exception_message": f"[CAST_INVALID_INPUT] The value '{PHONES[0]}' of the type "
                '"STRING" cannot be cast to "BIGINT". SQLSTATE: 22018',
            },
        },
    )
    scrub(nested, pii=True)
    assert nested.exception_info["exception_message"] == "error; [CAST_INVALID_INPUT]"


def test_the_regex_helpers_mean_the_same_in_python_and_java():
    """WHITESPACE is Python's `\\s` spelt out (Java's `\\s` is ASCII only); a full match
    lets nothing follow, a final line end included (both engines' `$` let one through)."""
    spaces = "".join(chr(i) for i in range(0x110000) if chr(i).isspace())
    spelt = "".join(chr(i) for i in range(0x110000) if re.match(f"[{WHITESPACE}]", chr(i)))
    assert spelt == spaces
    assert re.search(full_match("[0-9]{3}"), "123")
    for value in ("123\n", "123\r", "1234", "12"):
        assert not re.search(full_match("[0-9]{3}"), value)


def test_spark_hashes_the_values_with_their_columns():
    """Spark's hash() skips nulls: (x, null) and (null, x) would hash alike there."""
    suite = Suite(
        name="hashed",
        asset=("test", "hashed"),
        description="",
        rules=(),
        query="select min(hash(a, b)) as first_version from t",
        reads_warehouse=False,
    )
    assert "XXHASH64(TO_JSON(STRUCT(a, b)))" in spark_sql(suite)
    assert "hash(a, b)" in duckdb_sql(suite, Path("/lake"))
