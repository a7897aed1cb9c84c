"""The Spark engine gives what DuckDB gives (docs/spark.md).

The committed sample runs through the whole pipeline on a local Spark Connect server (Spark's
local mode, started here as `omni360 spark start` does), and is compared with the DuckDB run of
the same sample: the same customers (record → id, every record), the same marts in Spark's own
tables (rows and money totals) and in the driver's replica (row checksums too), the same check
outcomes. The standalone-cluster variant is in test_spark_cluster.py (slow).
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import great_expectations.expectations as gxe
import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from great_expectations.expectations.row_conditions import Column
from sqlglot import exp

from expectations import all_suites
from expectations._shared import warning
from orchestration import settings
from orchestration.lib.compare import compare_warehouses, figures
from orchestration.lib.identity import benchmarks, normalise
from orchestration.lib.identity.probabilistic import PROFILE_COLUMNS, TrainingReport, score, train
from orchestration.lib.identity.resolve import deterministic_edges
from orchestration.lib.quality.expectations import (
    WHITESPACE,
    Rule,
    Suite,
    full_match,
    run_suite,
)
from orchestration.lib.spark import linking, server
from orchestration.lib.spark.linking import SparkLinks
from orchestration.lib.spark.session import connect, register_functions
from tests.integration.conftest import SampleRun, read_xref, run_sample_on_spark


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SparkRun:
    warehouse: Path
    result: dg.ExecuteInProcessResult
    remote: str


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory) -> SparkRun:
    warehouse = tmp_path_factory.mktemp("spark") / "omni360.duckdb"
    folder = settings.spark_dir(warehouse)
    cluster = server.start(folder, port=free_port(), driver_memory="2g")
    try:
        result = run_sample_on_spark(warehouse, cluster.remote)
        yield SparkRun(warehouse, result, cluster.remote)
    finally:
        server.stop(folder)


def _outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_the_spark_run_succeeds_with_the_check_outcomes_of_duckdb(
    spark_run: SparkRun, sample_run: SampleRun
):
    assert spark_run.result.success
    spark, duck = _outcomes(spark_run.result), _outcomes(sample_run.result)
    assert len(spark) > 500
    assert spark == duck
    # where each Great Expectations suite read and validated its rows
    engines: dict[str, set[tuple[str, str]]] = {}
    for e in spark_run.result.get_asset_check_evaluations():
        if e.check_name.startswith("ge_"):
            where = (e.metadata["read_on"].value, e.metadata["validated_on"].value)
            engines.setdefault(e.metadata["suite"].value, set()).add(where)
    assert all(len(found) == 1 for found in engines.values())
    where = {suite: found.pop() for suite, found in engines.items()}
    assert where["raw_crm_members"] == ("spark", "spark")  # rows: a Spark dataframe
    assert where["marts_fct_orders"] == ("spark", "spark")
    assert where["identity_identifiers"] == ("spark", "spark")
    assert where["marts_fct_orders_reconciliation"] == ("spark", "pandas")  # one row of counts
    assert where["identity_customer_xref"] == ("duckdb", "pandas")  # the driver's id map
    assert where["ingest_deliveries"] == ("python", "pandas")  # the manifest
    on_spark = [suite for suite, found in where.items() if found[0] == "spark"]
    assert len(on_spark) >= len(where) - 3


# rows that break every kind of rule the suites use: nulls in every column, NaN, line ends
# after a value (Java's `$` and Python's each let one through), an ideographic space (written
# as itself: Spark's chr() is ASCII only)
_HOSTILE = """
    select * from (values
        (1, 'a', 'a', 5.0, 'ab1', 'x', 'click_and_collect', 3, 2),
        (2, 'b', null, -1.0, 'zz', 'q', 'delivery', 1, 2),
        (3, null, null, null, null, 'x', 'click_and_collect', null, 1),
        (3, 'c', 'd', 250.0, 'AB', null, 'delivery', 2, null),
        (4, 'e', 'e', 7.5, 'cd9', 'x', 'click_and_collect', 2, 2),
        (5, 'f', 'f', 'NaN'::double, 'ab1' || chr(13), 'x', 'delivery', 3, 3),
        (6, 'g', 'g', 1.0, 'ab1' || chr(10), 'x', 'delivery', 3, 3),
        (7, 'h\u3000', 'h\u3000', 2.0, 'cd2', 'x', 'delivery', 3, 3)
    ) as t(id, a, b, n, code, kind, fulfilment, big, small)
"""


def _hostile_rules() -> tuple[Rule, ...]:
    collect = {"row_condition": Column("fulfilment") == "click_and_collect"}
    ge = gxe.ExpectColumnPairValuesAToBeGreaterThanB
    between = gxe.ExpectColumnValuesToBeBetween
    return (
        warning(
            "contains",
            gxe.ExpectColumnDistinctValuesToContainSet(column="kind", value_set=["x", "y"]),
            ".",
        ),
        warning(
            "ge_ignored",
            ge(
                column_A="big",
                column_B="small",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            ".",
        ),
        warning(
            "ge_ignored_mostly",
            ge(
                column_A="big",
                column_B="small",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                mostly=0.5,
            ),
            ".",
        ),
        warning("equal", gxe.ExpectColumnPairValuesToBeEqual(column_A="a", column_B="b"), "."),
        warning("at_most", between(column="n", max_value=100), "."),
        warning("within", between(column="n", min_value=0, max_value=100), "."),
        warning("within_where", between(column="n", min_value=0, max_value=6, **collect), "."),
        warning("at_most_where", between(column="n", max_value=6, **collect), "."),
        warning("at_least", between(column="n", min_value=0), "."),
        warning("at_least_mostly", between(column="n", min_value=0, mostly=0.5), "."),
        warning("in_set", gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["x"]), "."),
        warning("unique", gxe.ExpectColumnValuesToBeUnique(column="id"), "."),
        warning(
            "pattern",
            gxe.ExpectColumnValuesToMatchRegex(column="code", regex=full_match("[a-z]+[0-9]")),
            ".",
        ),
        warning(
            "no_space",
            gxe.ExpectColumnValuesToMatchRegex(column="a", regex=full_match(f"[^{WHITESPACE}]+")),
            ".",
        ),
        warning("n_not_null", gxe.ExpectColumnValuesToNotBeNull(column="n"), "."),
        warning("not_null", gxe.ExpectColumnValuesToNotBeNull(column="a"), "."),
        warning("not_null_where", gxe.ExpectColumnValuesToNotBeNull(column="b", **collect), "."),
        warning("rows", gxe.ExpectTableRowCountToBeBetween(min_value=1), "."),
        warning("many_rows", gxe.ExpectTableRowCountToBeBetween(min_value=10), "."),
    )


def test_great_expectations_judges_spark_dataframes_as_pandas_frames(
    spark_run: SparkRun, tmp_path: Path
):
    """Every kind of rule the suites use, on rows that break it: the same verdict, count of
    unexpected rows and rows looked at from GE's Spark datasource as from its pandas one."""
    rules = _hostile_rules()
    used = {
        (
            rule.expectation.expectation_type,
            frozenset(rule.expectation.configuration.kwargs)
            - {"column", "column_A", "column_B", "batch_id"},
        )
        for suite in all_suites()
        if suite.query and not suite.on_driver and not suite.observes  # Spark dataframes
        for rule in suite.rules
    }
    covered = {
        (
            rule.expectation.expectation_type,
            frozenset(rule.expectation.configuration.kwargs)
            - {"column", "column_A", "column_B", "batch_id"},
        )
        for rule in rules
    }
    # not tried, so not allowed: A > B without `ignore_row_if` (GE's Spark engine passes a row
    # with one null that its pandas engine fails; the suites leave nulls to not-null rules)
    assert used <= covered, f"a kind of rule the suites use is not tried here: {used - covered}"
    suite = Suite(
        name="hostile",
        asset=("test", "hostile"),
        description="rows that break every kind of rule",
        rules=rules,
        query=_HOSTILE,
        reads_warehouse=False,
    )
    spark = connect(spark_run.remote)
    on_duckdb = run_suite(suite, lake=tmp_path)
    on_spark = run_suite(suite, lake=tmp_path, spark=lambda: spark)
    assert (on_duckdb.read_on, on_duckdb.validated_on) == ("duckdb", "pandas")
    assert (on_spark.read_on, on_spark.validated_on) == ("spark", "spark")
    assert on_spark.rows == on_duckdb.rows == 8
    failed = set()
    for duck, spark_result in zip(on_duckdb.results, on_spark.results, strict=True):
        assert spark_result.error is None and duck.error is None, (duck.error, spark_result.error)
        got = (spark_result.passed, spark_result.unexpected_count, spark_result.rows)
        assert got == (duck.passed, duck.unexpected_count, duck.rows), duck.name
        failed |= set() if duck.passed else {duck.name}
    # every rule but the ones the rows keep is broken, so the verdicts above mean something
    assert failed == {r.name for r in rules} - {"ge_ignored_mostly", "at_least_mostly", "rows"}
    found = {r.name: r.unexpected_count for r in on_spark.results}
    assert (found["pattern"], found["no_space"], found["n_not_null"]) == (4, 1, 2)
    # personal data stays out on Spark too: no value of a PII column in any result
    private = run_suite(
        dataclasses.replace(suite, pii=frozenset({"code", "a"})), lake=tmp_path, spark=lambda: spark
    )
    shown = json.dumps([dataclasses.asdict(r) for r in private.results], default=str)
    assert not re.search(r"\bzz\b|\bAB\b|ab1|\bcd9\b", shown)
    for result in private.results:
        if {"code", "a"} & set(result.columns):
            assert result.pii and result.samples is None


def test_spark_gives_the_customers_and_marts_of_duckdb(spark_run: SparkRun, sample_run: SampleRun):
    xref = read_xref(spark_run.warehouse)
    assert len(xref) > 8000
    assert xref == read_xref(sample_run.warehouse)
    comparison = compare_warehouses(sample_run.warehouse, spark_run.warehouse)
    assert comparison.identical, "\n".join(comparison.lines)


def test_the_marts_in_spark_itself_hold_the_rows_and_money_of_duckdb(
    spark_run: SparkRun, sample_run: SampleRun
):
    duck = figures(sample_run.warehouse)
    spark = connect(spark_run.remote)
    tables = {row.tableName for row in spark.sql("show tables in marts").collect()}
    assert tables == set(duck)
    for table, expected in duck.items():
        frame = spark.table(f"marts.{table}")
        money = [f.name for f in frame.schema.fields if f.dataType.typeName() == "decimal"]
        found = frame.selectExpr("count(*) as rows", *(f"sum(`{c}`) as `{c}`" for c in money))
        row = found.collect()[0].asDict()
        assert row.pop("rows") == expected["rows"], table
        for column, total in row.items():
            assert Decimal(total or 0) == Decimal(expected[f"sum({column})"] or 0), (table, column)
    stages = "select lifecycle_stage, count(*) from marts.dim_customer group by 1 order by 1"
    with duckdb.connect(str(sample_run.warehouse), read_only=True) as con:
        assert [tuple(r) for r in spark.sql(stages).collect()] == con.execute(stages).fetchall()


def test_every_function_the_models_call_exists_on_spark(spark_run: SparkRun, tmp_path: Path):
    """A model calling a function Spark lacks (a DuckDB-only one outside a dispatched macro)
    fails here by name, before any build."""
    dbt_vars = {
        "lake_dir": str(spark_run.warehouse.parent / "lake"),
        "spark_remote": spark_run.remote,
    }
    subprocess.run(
        [
            str(Path(sys.executable).parent / "omni360-dbt"),
            "compile",
            "--target",
            "spark",
            "--vars",
            json.dumps(dbt_vars),
            "--target-path",
            str(tmp_path / "target"),
            "--quiet",
        ],
        cwd=settings.DBT_PROJECT_DIR,
        check=True,
    )
    spark = connect(spark_run.remote)
    register_functions(spark)  # the omni360_* functions, as omni360-dbt registers them
    known = {row.function.split(".")[-1].lower() for row in spark.sql("show functions").collect()}
    compiled = sorted((tmp_path / "target" / "compiled").rglob("*.sql"))
    assert len(compiled) > 50
    missing = {
        f"{path.name}: {call.name}"
        for path in compiled
        for call in sqlglot.parse_one(path.read_text(), read="spark").find_all(exp.Anonymous)
        if call.name.lower() not in known
    }
    assert not missing


def test_splink_scores_the_public_febrl_records_on_spark_as_on_duckdb(
    spark_run: SparkRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The Spark engine blocks and scores candidate pairs with Splink's Spark backend: on data
    we did not generate (FEBRL1, Australian), the same model finds the same pairs as on DuckDB,
    whole and for a focus (an increment's changed records). Splink's Jaro-Winkler on Spark is
    its jar's, not DuckDB's, so a weight near a level's threshold may differ."""
    records, true_pairs = benchmarks.febrl_records("febrl1")
    rows = benchmarks.member_rows(records, with_national_id=True)
    profiles = pa.table(
        {
            "unique_id": pa.array(range(len(rows)), pa.int64()),
            "person_name": [normalise.person_name(r["name"]) for r in rows],
            "name_key": [normalise.name_key(r["name"]) for r in rows],
            "surname_key": [normalise.surname_key(r["name"]) for r in rows],
            "given_key": [normalise.given_key(r["name"]) for r in rows],
            **{column: [r[column] or None for r in rows] for column in PROFILE_COLUMNS[5:]},
        }
    )
    record_of = [r["_rec_id"] for r in rows]
    model = train(profiles)
    assert not isinstance(model, TrainingReport)
    on_duckdb = score(profiles, model, threshold=0.5)
    on_the_cluster = SparkLinks(lambda: connect(spark_run.remote), tmp_path / "handoff")
    on_spark = on_the_cluster.score(profiles, model, threshold=0.5)
    assert list(on_spark.columns) == list(on_duckdb.columns)

    def pairs(found: pd.DataFrame) -> set[tuple[int, int]]:
        return set(zip(found["unique_id_l"], found["unique_id_r"], strict=True))

    def f1(found: pd.DataFrame) -> float:
        predicted = {frozenset((record_of[a], record_of[b])) for a, b in pairs(found)}
        hits = len(predicted & true_pairs)
        return 2 * hits / (len(predicted) + len(true_pairs))

    assert len(pairs(on_duckdb)) > 450
    assert len(pairs(on_spark) ^ pairs(on_duckdb)) <= 0.002 * len(pairs(on_duckdb))
    assert abs(f1(on_spark) - f1(on_duckdb)) <= 0.001 and f1(on_spark) > 0.99
    weights = on_duckdb.merge(on_spark, on=["unique_id_l", "unique_id_r"])
    assert (abs(weights["match_weight_x"] - weights["match_weight_y"]) < 0.01).mean() > 0.99
    focus = pa.array(range(0, len(rows), 7), pa.int64())
    around = on_the_cluster.score(profiles, model, threshold=0.5, focus=focus)
    expected = {p for p in pairs(on_spark) if p[0] % 7 == 0 or p[1] % 7 == 0}
    assert pairs(around) == expected and len(expected) > 100
    # the deterministic links of the same records' identifiers (FEBRL's social security
    # numbers, which most duplicates share; the postcode stands in for a second, less trusted
    # identifier, so a pair sharing both links once, by the first): the same links, same order
    con = duckdb.connect()
    con.register("profiles", profiles)
    kinds = ("national_id", "postal_code")
    con.execute(
        "create temp table _ids as "
        + " union all ".join(
            f"select unique_id as node, '{kind}' as identifier_type, {kind} as identifier_value "
            f"from profiles where {kind} is not null"
            for kind in kinds
        )
    )
    stars = on_the_cluster.stars(con, kinds)
    assert stars == deterministic_edges(con, kinds)
    assert stars["rule"].count("same_national_id") > 400
    assert stars["rule"].count("same_postal_code") > 100
    # nothing left behind: hand-off files, Splink's views and ours
    assert not [p for p in (tmp_path / "handoff").rglob("*") if p.is_file()]
    views = [t.name for t in on_the_cluster.spark.catalog.listTables() if t.isTemporary]
    assert not [name for name in views if "splink" in name or name.startswith("omni360_ids")]

    # a scoring that fails after the profiles went to Spark removes them, and says why it failed
    def fails(*args, **kwargs):
        raise RuntimeError("the cluster went away")

    monkeypatch.setattr(linking, "Linker", fails)
    with pytest.raises(RuntimeError, match="went away"):
        on_the_cluster.score(profiles, model, threshold=0.5)
    assert not list((tmp_path / "handoff").rglob("*.parquet"))
