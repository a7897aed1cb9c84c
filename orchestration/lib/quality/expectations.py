"""Great Expectations suites run on frames read from DuckDB, with personal data kept out.

A `Suite` (declared in `expectations/`, one module per validated asset) names the asset it checks,
the SQL (or Python) that reads only the columns it needs, its rules, each a GE expectation with a
severity, and its PII columns. `run_suite` reads the frame and validates it with GE's pandas
datasource (GE's SQL datasource returns empty metrics on DuckDB); on the Spark engine it runs
the query on Spark and validates the Spark dataframe with GE's Spark datasource. Every result is
scrubbed before anything keeps it: unexpected values, indices and value counts of PII columns
are dropped, and row indices are dropped everywhere. `pages.CheckPages` renders the scrubbed
results of a run as HTML.

Plain code: no Dagster objects (see orchestration/defs/quality/checks.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import great_expectations as gx
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity
from sqlglot import exp

from orchestration.lib.publish import attach_read_only
from orchestration.lib.sql import connect

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

# GE hashes every value of a frame for a "fingerprint" in the batch markers: as slow as the checks
# themselves on millions of rows, and on a small frame of personal data a guessable digest.
pandas_execution_engine.HASH_THRESHOLD = 0

Severity = Literal["critical", "warning"]
CRITICAL: Severity = "critical"
WARNING: Severity = "warning"

SAMPLE_SIZE = 10  # unexpected values kept per rule (non-PII columns only)
WITHHELD = "withheld: personal data"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RAW = re.compile(r"\{raw:([a-z_]+)\.([a-z_]+)\}")

# GE matches regexes with Python's `re` on pandas and Java's on Spark, which differ at line
# terminators (`$` before a final one, `.`) and at spaces beyond ASCII (`\s`): patterns anchor
# with `full_match` and say ANY and WHITESPACE, which mean the same in both
END = r"(?![\s\S])"  # the end of the text, nothing after
ANY = r"[\s\S]"
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def full_match(pattern: str) -> str:
    """A regex the whole value must match, alike on GE's pandas and Spark engines."""
    return f"^(?:{pattern}){END}"


# result keys that can hold row values or row positions
_VALUE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list", "details")
_INDEX_KEYS = (
    "partial_unexpected_index_list",
    "unexpected_index_list",
    "unexpected_index_query",
    "unexpected_index_column_names",
    "unexpected_rows",
)
# expectations whose observed value is a count or a share, never a value of a row
_AGGREGATE_TYPES = {
    "expect_table_row_count_to_be_between",
    "expect_table_row_count_to_equal",
    "expect_column_unique_value_count_to_be_between",
    "expect_column_proportion_of_unique_values_to_be_between",
    "expect_column_proportion_of_non_null_values_to_be_between",
}


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite; `name` becomes the Dagster check name (`ge_<name>`)."""

    name: str
    expectation: Expectation
    severity: Severity
    why: str  # one sentence: what a failure means
    # columns of a small frame (a few rows, e.g. counts) whose values are the observed value
    observe: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    name: str
    asset: tuple[str, ...]  # the Dagster asset key the results attach to
    description: str
    rules: tuple[Rule, ...]
    # SQL in DuckDB's dialect (on Spark, translated by sqlglot); `{raw:<source>.<table>}` is a
    # raw table of the lake (`raw_relation`). With `reads_warehouse` the warehouse is attached
    # read-only and is the default database.
    query: str | None = None
    # or a Python function of (lake root, parameters) for what is not in DuckDB (the manifest)
    frame: Callable[[Path, Mapping[str, float]], pd.DataFrame] | None = None
    pii: frozenset[str] = frozenset()
    reads_warehouse: bool = True
    # other assets whose data the suite reads, beyond the checked one and its upstream
    reads: tuple[tuple[str, ...], ...] = ()
    # defaults of the `$PARAMETER`s its expectations use; a run may override them
    parameters: Mapping[str, float] = field(default_factory=dict)
    # rows are checked once, in the run that loads them (the raw layer is append-only): the query
    # filters on `{loads}`, which is the run's loads when it loaded rows, else every row. A
    # warehouse table kept up to date by load filters with `loaded_by_the_run()`
    per_load: bool = False
    # reads tables the driver writes and Spark does not hold (the resolver's id map): read from
    # the driver's DuckDB file on either engine
    on_driver: bool = False

    @property
    def observes(self) -> bool:
        """Whether a rule reports the values of its frame (a few rows of counts)."""
        return any(rule.observe for rule in self.rules)

    def __post_init__(self) -> None:
        if (self.query is None) == (self.frame is None):
            raise ValueError(f"suite {self.name}: give either a query or a frame function")
        if self.per_load and (self.query is None or "{loads}" not in self.query):
            raise ValueError(f"suite {self.name}: a per-load suite's query filters on {{loads}}")
        names = [rule.name for rule in self.rules]
        bad = [name for name in names if not _NAME.match(name)]
        if bad or len(set(names)) != len(names):
            raise ValueError(
                f"suite {self.name}: rule names must be unique lowercase identifiers; "
                f"bad: {bad}, duplicated: {sorted({n for n in names if names.count(n) > 1})}"
            )


@dataclass(frozen=True)
class ExpectationResult:
    suite: str
    name: str  # the rule's name
    expectation: str  # GE expectation type
    columns: tuple[str, ...]
    passed: bool
    severity: Severity
    observed: str | int | float
    threshold: str
    rows: int | None  # rows the rule looked at
    unexpected_count: int | None
    unexpected_percent: float | None
    samples: tuple[Any, ...] | None  # None: withheld (PII) or not applicable
    pii: bool
    description: str
    error: str | None = None

    @property
    def column(self) -> str | None:
        return self.columns[0] if self.columns else None


@dataclass(frozen=True)
class SuiteResult:
    suite: Suite
    rows: int
    read_seconds: float
    validate_seconds: float
    results: tuple[ExpectationResult, ...]
    error: str | None = None  # why the suite could not run (then every rule failed)
    new_rows_only: bool = False  # a per-load suite that read only the rows this run loaded
    read_on: str = "duckdb"  # where its query ran: duckdb, spark, or python (a frame function)
    validated_on: str = "pandas"  # GE's datasource: pandas, or spark (a Spark dataframe)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def raw_relation(source: str, name: str) -> str:
    """A raw table of the lake in a suite's query, as the dbt sources read it on either engine."""
    return f"{{raw:{source}.{name}}}"


def loaded_by_the_run(watermark: str = "_loaded_at") -> str:
    """A per-load suite's filter on an incremental model whose `watermark` is the newest load of
    each row's inputs: the rows a load of this run added or changed. A row the run changed
    otherwise keeps its watermark (an order given another customer by identity resolution): such
    a suite checks only values its row's loads decide."""
    return (
        f"{watermark} in (select loads.loaded_at from (select load_id as _load_id, loaded_at "
        "from staging.stg_ingest__loaded_files) as loads where {loads})"
    )


def _loads(suite: Suite, load_suffix: str | None) -> str:
    if not (suite.per_load and load_suffix):
        return "true"
    if not re.fullmatch(r"[0-9a-zA-Z-]+", load_suffix):
        raise ValueError(f"not a load id suffix: {load_suffix!r}")
    return f"_load_id like '%-{load_suffix}'"


def duckdb_sql(suite: Suite, lake: Path, load_suffix: str | None = None) -> str:
    """The suite's query for DuckDB: raw tables read from the lake's Parquet files."""
    assert suite.query is not None
    query = _RAW.sub(
        lambda m: f"read_parquet('{lake}/raw/{m[1]}/{m[2]}/*.parquet', union_by_name = true)",
        suite.query,
    )
    return query.replace("{loads}", _loads(suite, load_suffix))


def spark_sql(suite: Suite, load_suffix: str | None = None) -> str:
    """The suite's query in Spark SQL: raw tables are the session's lake tables
    (`<source>.<table>`, orchestration/lib/spark/session.py), the rest translated by sqlglot."""
    assert suite.query is not None
    query = _RAW.sub(lambda m: f"{m[1]}.{m[2]}", suite.query)
    query = query.replace("{loads}", _loads(suite, load_suffix))
    return sqlglot.parse_one(query, read="duckdb").transform(_spark_hash).sql("spark")


def _spark_hash(node: exp.Expression) -> exp.Expression:
    # Spark's hash() is 32 bits and skips nulls, so (x, null) and (null, x) collide; the JSON of
    # the values keeps each in its column
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        values = exp.func("struct", *node.expressions)
        return exp.func("xxhash64", exp.func("to_json", values))
    return node


def new_context() -> AbstractDataContext:
    """An ephemeral GE context: suites and results in memory, no docs site, no network calls."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,  # no network calls from a pipeline step
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def read_frame(
    suite: Suite,
    *,
    lake: Path,
    warehouse: Path | None = None,
    parameters: Mapping[str, float] | None = None,
    lock_timeout_s: float = 300.0,
    load_suffix: str | None = None,
) -> pd.DataFrame:
    """The suite's frame: only the columns it needs, numbers as float64, times as ns.

    `load_suffix`: a per-load suite reads only the rows whose load id ends with it (one run's)."""
    if suite.frame is not None:
        return suite.frame(lake, {**suite.parameters, **(parameters or {})})
    query = duckdb_sql(suite, lake, load_suffix)
    con = connect()
    try:
        if suite.reads_warehouse:
            if warehouse is None:
                raise ValueError(f"suite {suite.name} reads the warehouse: give its path")
            # read-only, waiting while another process writes it; closed before validating
            attach_read_only(con, warehouse, "wh", lock_timeout_s)
            con.execute("use wh")
        table = con.sql(query).to_arrow_table()
    finally:
        con.close()
    return _to_pandas(table)


# datetime64[ns] spans 1677-09-22 to 2262-04-11; a date outside it (a year 9999 that reached the
# warehouse before ingestion checked dates) is clamped to the edge: it still reads as far off,
# and one record cannot make a whole suite unreadable
_NS_RANGE = (
    pa.scalar(-(2**63) // 1000 + 1, pa.timestamp("us")),
    pa.scalar((2**63 - 1) // 1000, pa.timestamp("us")),
)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # GE's pandas metrics are vectorised only for float/int and datetime64[ns] columns; decimals
    # would arrive as Python objects and dates as datetime.date
    columns = []
    for item in table.schema:
        column = table.column(item.name)
        if pa.types.is_decimal(item.type):
            column = column.cast(pa.float64())
        elif pa.types.is_timestamp(item.type) or pa.types.is_date(item.type):
            micros = column.cast(pa.timestamp("us"))
            low = pc.max_element_wise(micros, _NS_RANGE[0], skip_nulls=False)
            clamped = pc.min_element_wise(low, _NS_RANGE[1], skip_nulls=False)
            column = clamped.cast(pa.timestamp("ns"), safe=False)
        columns.append(column)
    return pa.table(columns, names=table.column_names).to_pandas()


def validate(
    suite: Suite,
    frame: pd.DataFrame | SparkFrame,
    *,
    parameters: Mapping[str, float] | None = None,
    read_seconds: float = 0.0,
) -> SuiteResult:
    """Validate a frame (pandas, or Spark: GE's datasource of that kind) against the suite;
    every result comes back scrubbed."""
    started = time.perf_counter()
    on_spark = not isinstance(frame, pd.DataFrame)
    if on_spark and suite.observes:
        raise ValueError(f"suite {suite.name} observes values: validate its frame as pandas")
    # a context of its own: GE's execution engine keeps every frame it validated
    context = new_context()
    values = {**suite.parameters, **(parameters or {})}
    expectations = []
    for rule in suite.rules:
        expectation = rule.expectation.copy(deep=True)
        expectation.id = None
        expectation.severity = FailureSeverity(rule.severity)
        expectation.meta = {**(expectation.meta or {}), "check": rule.name}
        expectation.notes = rule.why
        expectation.catch_exceptions = True  # one broken rule does not hide the others
        expectations.append(expectation)
    gx_suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=suite.name, expectations=expectations)
    )
    # GE's Spark engine persists the frame while its metrics run (the caller unpersists it)
    source = (
        context.data_sources.add_spark("omni360")
        if on_spark
        else context.data_sources.add_pandas("omni360")
    )
    asset = source.add_dataframe_asset(suite.name)
    definition = asset.add_batch_definition_whole_dataframe("frame")
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(
        gx_suite,
        result_format={"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE},
        expectation_parameters=values or None,
    )
    rules = {rule.name: rule for rule in suite.rules}
    results = []
    for evr in validation.results:
        rule = rules[evr.expectation_config.meta["check"]]
        pii = bool(set(_columns(evr.expectation_config.kwargs, rule)) & suite.pii)
        scrub(evr, pii)
        results.append(_result(suite, rule, evr, frame, pii))
    order = {rule.name: i for i, rule in enumerate(suite.rules)}
    return SuiteResult(
        suite=suite,
        rows=frame.count() if on_spark else len(frame),
        read_seconds=round(read_seconds, 3),
        validate_seconds=round(time.perf_counter() - started, 3),
        results=tuple(sorted(results, key=lambda r: order[r.name])),
        validated_on="spark" if on_spark else "pandas",
    )


def run_suite(
    suite: Suite,
    *,
    lake: Path,
    warehouse: Path | None = None,
    parameters: Mapping[str, float] | None = None,
    load_suffix: str | None = None,
    spark: Callable[[], SparkSession] | None = None,
) -> SuiteResult:
    """Read and validate; a suite that cannot run fails every one of its rules, saying why.

    `load_suffix`: see `read_frame` (per-load suites only). `spark`: on the Spark engine, the
    session the suite's query runs in (but for `on_driver` suites and Python frames); its rows
    are validated on Spark, a suite's few rows of aggregates (`Suite.observes`) at the driver."""
    started = time.perf_counter()
    new_rows_only = suite.per_load and bool(load_suffix)
    on_spark = spark is not None and suite.query is not None and not suite.on_driver
    where = {
        "new_rows_only": new_rows_only,
        "read_on": "spark" if on_spark else "python" if suite.frame is not None else "duckdb",
        "validated_on": "spark" if on_spark and not suite.observes else "pandas",
    }
    frame: pd.DataFrame | SparkFrame | None = None
    try:
        try:
            if on_spark:
                assert spark is not None
                frame = spark_frame(spark(), spark_sql(suite, load_suffix))
                if suite.observes:
                    frame = _to_pandas(frame.toArrow())
                else:
                    # run the query here, once: its errors are the read's (withheld for PII)
                    frame.persist()
                    frame.count()
            else:
                frame = read_frame(
                    suite,
                    lake=lake,
                    warehouse=warehouse,
                    parameters=parameters,
                    load_suffix=load_suffix,
                )
        except Exception as error:  # reported as failed checks, not as a crashed step
            failed = failed_suite(suite, f"could not read the data: {_error_text(suite, error)}")
            return dataclasses.replace(failed, **where)
        read_seconds = time.perf_counter() - started
        try:
            result = validate(suite, frame, parameters=parameters, read_seconds=read_seconds)
        except Exception as error:
            failed = failed_suite(suite, f"could not validate: {_error_text(suite, error)}")
            return dataclasses.replace(failed, **where)
    finally:
        if frame is not None and not isinstance(frame, pd.DataFrame):
            with contextlib.suppress(Exception):  # a lost session must not hide the results
                frame.unpersist()
    return dataclasses.replace(result, **where)


def spark_frame(spark: SparkSession, query: str) -> SparkFrame:
    """The query's rows on Spark, NaN as null: GE's pandas engine counts NaN as missing, its
    Spark engine as a value (a not-null rule would pass it, a maximum would fail it)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    frame = spark.sql(query)
    return frame.select(
        *(
            F.when(F.isnan(F.col(field.name)), None).otherwise(F.col(field.name)).alias(field.name)
            if isinstance(field.dataType, DoubleType | FloatType)
            else F.col(field.name)
            for field in frame.schema.fields
        )
    )


def _error_text(suite: Suite, error: Exception) -> str:
    # a conversion error quotes the value it could not convert
    return type(error).__name__ if suite.pii else f"{type(error).__name__}: {error}"[:1000]


def failed_suite(suite: Suite, error: str) -> SuiteResult:
    results = tuple(
        ExpectationResult(
            suite=suite.name,
            name=rule.name,
            expectation=rule.expectation.expectation_type,
            columns=_columns(rule.expectation.configuration.kwargs, rule),
            passed=False,
            severity=rule.severity,
            observed="not measured",
            threshold=threshold_text(
                rule.expectation.expectation_type, rule.expectation.configuration.kwargs
            ),
            rows=None,
            unexpected_count=None,
            unexpected_percent=None,
            samples=None,
            pii=bool(set(_columns(rule.expectation.configuration.kwargs, rule)) & suite.pii),
            description=f"not measured: {error}",
            error=error,
        )
        for rule in suite.rules
    )
    return SuiteResult(suite, 0, 0.0, 0.0, results, error)


def scrub(evr: ExpectationValidationResult, pii: bool) -> None:
    """Remove row positions everywhere and, on PII columns, every value taken from a row."""
    result = evr.result or {}
    for key in _INDEX_KEYS:
        result.pop(key, None)
    if pii:
        for key in _VALUE_KEYS:
            result.pop(key, None)
        if evr.expectation_config.type not in _AGGREGATE_TYPES:
            result.pop("observed_value", None)
    else:
        result.pop("unexpected_list", None)
        if "partial_unexpected_list" in result:
            result["partial_unexpected_list"] = _plain(
                result["partial_unexpected_list"][:SAMPLE_SIZE]
            )
    messages = exception_messages(evr.exception_info)
    # a message can quote the value that broke a comparison (tracebacks hold no more): on PII,
    # each keeps its error class only (Spark's: `[CAST_INVALID_INPUT] The value '…' …`) or
    # what precedes its first colon
    kept = [_withheld(text) if pii else text for text in messages]
    message = "; ".join(kept)[:500] if kept else None
    evr.exception_info = {
        "raised_exception": message is not None,
        "exception_message": message,
        "exception_traceback": None,
    }
    evr.result = result


def exception_messages(info: Any) -> list[str]:
    """The errors of an expectation: GE keeps one flat, or one per metric that failed."""
    if not isinstance(info, dict):
        return []
    if info.get("raised_exception"):
        return [str(info.get("exception_message") or "error")]
    nested = [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    return [str(v.get("exception_message") or "error") for v in nested]


def exception_message(info: Any) -> str | None:
    return "; ".join(exception_messages(info)) or None


def _withheld(message: str) -> str:
    spark_class = re.match(r"\[[A-Z0-9_.]+\]", message)
    return spark_class[0] if spark_class else message.split(":")[0]


def _columns(kwargs: Mapping[str, Any], rule: Rule) -> tuple[str, ...]:
    columns: list[str] = []
    for key in ("column", "column_A", "column_B"):
        if kwargs.get(key):
            columns.append(kwargs[key])
    columns.extend(kwargs.get("column_list") or [])
    columns.extend(c for c in rule.observe if c not in columns)
    return tuple(columns)


def _plain(value: Any) -> Any:
    """JSON-safe: dates and decimals as text, NaN as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):  # Spark's decimals, as the pandas frames' floats
        value = float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return str(value)


def _result(
    suite: Suite,
    rule: Rule,
    evr: ExpectationValidationResult,
    frame: pd.DataFrame | SparkFrame,
    pii: bool,
) -> ExpectationResult:
    config = evr.expectation_config
    kwargs = dict(config.kwargs)
    result = evr.result or {}
    error = exception_message(evr.exception_info)
    threshold = threshold_text(config.type, kwargs)
    rows = result.get("element_count")
    unexpected = result.get("unexpected_count")
    percent = result.get("unexpected_percent")
    if rule.observe:
        observed: str | int | float = (
            WITHHELD if pii else _observe(frame, rule.observe, kwargs.get("row_condition"))
        )
    elif "observed_value" in result:
        observed = _observed_value(result["observed_value"])
    elif unexpected is not None:
        observed = f"{unexpected:,} of {rows:,} rows unexpected"
    else:
        observed = WITHHELD if pii else "not measured"
    samples = None
    if not pii and result.get("partial_unexpected_list"):
        samples = tuple(result["partial_unexpected_list"])
    passed = bool(evr.success) and not error
    if error:
        description = f"could not evaluate: {error}"
    elif passed:
        description = f"{observed}; expected {threshold}"
    else:
        description = f"{observed}; expected {threshold}. {rule.why}"
        if samples:
            shown = f"[{', '.join(sample_text(value) for value in samples)}]"
            description += f" Unexpected values (up to {SAMPLE_SIZE}): {_short(shown)}"
        elif pii and unexpected:
            description += " Unexpected values withheld: personal data."
    return ExpectationResult(
        suite=suite.name,
        name=rule.name,
        expectation=config.type,
        columns=_columns(kwargs, rule),
        passed=passed,
        severity=rule.severity,
        observed=observed,
        threshold=threshold,
        rows=rows,
        unexpected_count=unexpected,
        unexpected_percent=None if percent is None else round(float(percent), 4),
        samples=samples,
        pii=pii,
        description=description,
        error=error,
    )


def _observe(frame: pd.DataFrame, columns: Sequence[str], row_condition: Any) -> str:
    rows = frame[_condition_mask(frame, row_condition)] if row_condition else frame
    if rows.empty:
        return "no rows"
    lines = []
    for _, row in rows.head(3).iterrows():
        lines.append(", ".join(f"{c}={_fmt(row[c])}" for c in columns))
    return "; ".join(lines)


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _condition_mask(frame: pd.DataFrame, condition: Any) -> pd.Series:
    """The rows a GE row condition (as serialised in the result) selects."""
    if isinstance(condition, str):
        return frame.eval(condition)
    kind = condition.get("type")
    if kind == "pass_through":
        return frame.eval(condition["pass_through_filter"])
    if kind == "comparison":
        column = frame[condition["column"]["name"]]
        return _COMPARE[condition["operator"]](column, condition["parameter"]).fillna(False)
    if kind in ("and", "or"):
        masks = [_condition_mask(frame, c) for c in condition["conditions"]]
        combined = masks[0]
        for mask in masks[1:]:
            combined = combined & mask if kind == "and" else combined | mask
        return combined
    raise ValueError(f"row condition not understood: {condition}")


def _observed_value(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value if not (isinstance(value, float) and math.isnan(value)) else "NaN"
    return _short(_plain(value))


def _fmt(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}"
    return str(value)


def sample_text(value: Any) -> str:
    """An unexpected value as JSON, a float to the digits a reader needs: the 17 digits of a
    ratio's full precision read like a card number to the personal-data scan of the pages."""
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        whole = len(str(int(abs(value)))) if abs(value) >= 1 else 0
        return f"{value:.{max(8, whole + 2)}g}"
    return json.dumps(value, ensure_ascii=False, default=str)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _condition_text(condition: Any) -> str | None:
    if not condition:
        return None
    if isinstance(condition, str):
        return condition
    if hasattr(condition, "to_dict"):
        condition = condition.to_dict()
    elif hasattr(condition, "dict"):
        condition = condition.dict()
    kind = condition.get("type")
    if kind == "pass_through":
        return condition["pass_through_filter"]
    if kind == "comparison":
        value = condition["parameter"]
        value = f'"{value}"' if isinstance(value, str) else value
        return f"{condition['column']['name']} {condition['operator']} {value}"
    if kind in ("and", "or"):
        return f" {kind} ".join(f"({_condition_text(c)})" for c in condition["conditions"])
    return str(condition)


def threshold_text(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    """The rule in words, from the expectation's (parameter-substituted) arguments."""
    col = kwargs.get("column")
    a, b = kwargs.get("column_A"), kwargs.get("column_B")
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    kind = expectation_type.removeprefix("expect_")
    if kind == "column_values_to_not_be_null":
        text = f"{col} is not null"
    elif kind == "column_values_to_be_unique":
        text = f"{col} is unique"
    elif kind in (
        "compound_columns_to_be_unique",
        "select_column_values_to_be_unique_within_record",
    ):
        text = f"({', '.join(kwargs.get('column_list') or [])}) is unique"
    elif kind == "column_values_to_be_in_set":
        text = f"{col} in {{{', '.join(map(str, kwargs.get('value_set') or []))}}}"
    elif kind == "column_values_to_not_be_in_set":
        text = f"{col} not in {{{', '.join(map(str, kwargs.get('value_set') or []))}}}"
    elif kind == "column_values_to_match_regex":
        text = f"{col} matches {kwargs.get('regex')}"
    elif kind == "column_values_to_be_between":
        text = _between(col, low, high, kwargs)
    elif kind == "column_pair_values_to_be_equal":
        text = f"{a} = {b}"
    elif kind == "column_pair_values_a_to_be_greater_than_b":
        text = f"{a} {'>=' if kwargs.get('or_equal') else '>'} {b}"
    elif kind == "column_pair_values_to_be_in_set":
        pairs = ", ".join(f"({x}, {y})" for x, y in kwargs.get("value_pairs_set") or [])
        text = f"({a}, {b}) in {{{pairs}}}"
    elif kind == "column_distinct_values_to_contain_set":
        text = f"{col} includes {{{', '.join(map(str, kwargs.get('value_set') or []))}}}"
    elif kind.startswith("table_row_count"):
        text = (
            _between("rows", low, high, kwargs)
            if "value" not in kwargs
            else f"rows = {kwargs['value']}"
        )
    elif kind.startswith("column_") and kind.endswith("_to_be_between"):
        stat = kind.removeprefix("column_").removesuffix("_to_be_between")
        text = _between(f"{stat}({col})", low, high, kwargs)
    else:
        shown = {k: v for k, v in kwargs.items() if k not in ("batch_id", "row_condition")}
        text = f"{kind} {_short(_plain(shown))}"
    condition = _condition_text(kwargs.get("row_condition"))
    if condition:
        text += f" where {condition}"
    mostly = kwargs.get("mostly")
    if mostly is not None and mostly < 1:
        text += f" on at least {mostly:.1%} of rows"
    return text


def _between(name: str, low: Any, high: Any, kwargs: Mapping[str, Any]) -> str:
    lower = "<" if kwargs.get("strict_min") else "<="
    upper = "<" if kwargs.get("strict_max") else "<="
    if low is not None and high is not None:
        return f"{_fmt(low)} {lower} {name} {upper} {_fmt(high)}"
    if low is not None:
        return f"{name} {'>' if kwargs.get('strict_min') else '>='} {_fmt(low)}"
    return f"{name} {upper} {_fmt(high)}"
