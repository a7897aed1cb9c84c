"""Every path and environment variable omni360 reads, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SAMPLE_DIR = REPO_ROOT / "seeds" / "sample"
DOCS_DIR = REPO_ROOT / "docs"


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def landing_dir() -> Path:
    """Root of the landing zone (`<landing>/<source>/<entity>/<delivery date>/<file>`)."""
    return _path("OMNI360_LANDING", SAMPLE_DIR)


def warehouse_path() -> Path:
    """The DuckDB warehouse file."""
    return _path("OMNI360_WAREHOUSE", REPO_ROOT / "warehouse" / "omni360.duckdb")


def lake_dir() -> Path:
    """The Parquet lake holding the raw and quarantine layers (next to the warehouse file)."""
    return _path("OMNI360_LAKE", warehouse_path().parent / "lake")


def published_dir() -> Path:
    """Where the marts are published for BI: a read-only DuckDB snapshot and Parquet exports."""
    return _path("OMNI360_PUBLISHED", warehouse_path().parent / "published")


def reports_dir() -> Path:
    """Per-run auditor reports (`<reports>/<run id>/index.html`), their check pages and CSV."""
    return _path("OMNI360_REPORTS", warehouse_path().parent / "reports")


@dataclass(frozen=True)
class Locations:
    """Where one run reads and writes."""

    landing: Path
    warehouse: Path
    lake: Path
    published: Path
    reports: Path
    dagster_home: Path  # Dagster's instance: run history, materialisations, check results


def locations(landing: Path | None = None, warehouse: Path | None = None) -> Locations:
    """The locations of one run: the given landing zone and warehouse (the CLI's options), else
    the environment's. The lake belongs to its warehouse: next to a given one, else where
    OMNI360_LAKE says. The published marts, the reports and Dagster's instance (DAGSTER_HOME) go
    where their variables say, else next to the warehouse."""
    if warehouse is None:
        warehouse, lake = warehouse_path(), lake_dir()
    else:
        warehouse = warehouse.resolve()
        lake = warehouse.parent / "lake"
    return Locations(
        landing=landing.resolve() if landing else landing_dir(),
        warehouse=warehouse,
        lake=lake,
        published=_path("OMNI360_PUBLISHED", warehouse.parent / "published"),
        reports=_path("OMNI360_REPORTS", warehouse.parent / "reports"),
        dagster_home=_path("DAGSTER_HOME", warehouse.parent / "dagster"),
    )


def _int(var: str, default: int) -> int:
    value = os.environ.get(var, "").replace("_", "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{var} must be a whole number of bytes, not {value!r}") from None


def max_line_bytes() -> int:
    """A landing line longer than this is quarantined before it is parsed (`line_too_long`)."""
    return _int("OMNI360_MAX_LINE_BYTES", 1 << 20)


def max_field_bytes() -> int:
    """A field longer than this quarantines its record (`field_too_long`)."""
    return _int("OMNI360_MAX_FIELD_BYTES", 1 << 16)


def max_file_bytes() -> int:
    """A landing file larger than this (after decompression) is refused (`file_too_large`)."""
    return _int("OMNI360_MAX_FILE_BYTES", 4 << 30)


def blocking_columns() -> list[str]:
    """Optional contract columns (`<source>.<entity>.<column>`) whose absence from a file's
    header or keys refuses the file, instead of loading the column as null with a warning."""
    return [
        c.strip() for c in os.environ.get("OMNI360_BLOCKING_COLUMNS", "").split(",") if c.strip()
    ]


def region() -> str:
    """ISO 3166 region phone numbers without a country code and postcodes are read in (CN)."""
    return os.environ.get("OMNI360_REGION", "").strip() or "CN"


def national_id_scheme() -> str:
    """cn_ric, us_ssn, generic, none, or auto (the default: cn_ric in CN, else none)."""
    return os.environ.get("OMNI360_NATIONAL_ID_SCHEME", "").strip() or "auto"


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """Where the models are built and identity resolved: duckdb (embedded, the default) or
    spark (docs/spark.md)."""
    value = os.environ.get("OMNI360_ENGINE", "").strip().lower() or "duckdb"
    if value not in ENGINES:
        raise ValueError(f"OMNI360_ENGINE must be one of {', '.join(ENGINES)}, not {value!r}")
    return value


def spark_remote() -> str:
    """The Spark Connect server the Spark engine talks to (`omni360 spark start` starts one)."""
    return os.environ.get("OMNI360_SPARK_REMOTE", "").strip() or "sc://localhost:15002"


def spark_dir(warehouse: Path | None = None) -> Path:
    """The Spark engine's folder: metastore, Parquet tables, logs of the processes started by
    `omni360 spark start` (next to the warehouse)."""
    return _path("OMNI360_SPARK_DIR", (warehouse or warehouse_path()).parent / "spark")


def export_locale(region_code: str | None, scheme: str | None) -> None:
    """Point every component at one locale (the CLI's --region and --national-id-scheme)."""
    if region_code:
        os.environ["OMNI360_REGION"] = region_code
    if scheme:
        os.environ["OMNI360_NATIONAL_ID_SCHEME"] = scheme
