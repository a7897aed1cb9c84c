"""Resources bound once in definitions.py."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from pydantic import Field

from orchestration import settings
from orchestration.lib import sql
from orchestration.lib.files import restrict_new_files
from orchestration.lib.identity.locale import Locale
from orchestration.lib.identity.resolve import CandidateLinks
from orchestration.lib.ingest.lake import Lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class WarehouseResource(dg.ConfigurableResource):
    """Locations: landing zone, Parquet lake, DuckDB warehouse, published marts (for BI),
    auditor's reports."""

    landing_dir: str = Field(default_factory=lambda: str(settings.landing_dir()))
    warehouse_path: str = Field(default_factory=lambda: str(settings.warehouse_path()))
    lake_dir: str = Field(default_factory=lambda: str(settings.lake_dir()))
    published_dir: str = Field(default_factory=lambda: str(settings.published_dir()))
    reports_dir: str = Field(default_factory=lambda: str(settings.reports_dir()))

    @classmethod
    def at(cls, where: settings.Locations) -> WarehouseResource:
        return cls(
            landing_dir=str(where.landing),
            warehouse_path=str(where.warehouse),
            lake_dir=str(where.lake),
            published_dir=str(where.published),
            reports_dir=str(where.reports),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # the lake, the warehouse and the logs hold raw personal data: whatever a run creates
        # is owner-only, but for what is published on purpose (docs/compliance.md)
        restrict_new_files()

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def warehouse(self) -> Path:
        return Path(self.warehouse_path)

    @property
    def lake(self) -> Path:
        return Path(self.lake_dir)

    @property
    def published(self) -> Path:
        return Path(self.published_dir)

    @property
    def reports(self) -> Path:
        return Path(self.reports_dir)

    @property
    def spark_dir(self) -> Path:
        """The Spark engine's folder next to the warehouse (docs/spark.md)."""
        return settings.spark_dir(self.warehouse)

    def dbt_vars(self) -> dict[str, str]:
        """The locations as dbt vars (profiles.yml and the lake's sources read them)."""
        return {"warehouse_path": self.warehouse_path, "lake_dir": self.lake_dir}


class EngineResource(dg.ConfigurableResource):
    """Where the dbt models are built (docs/spark.md): `duckdb`, the embedded warehouse file
    (default), or `spark`, a Spark cluster reached through Spark Connect at `spark_remote`.
    The asset graph is the same. On Spark the DuckDB file is the driver's replica: what dbt
    built is copied there for the Python steps, and what the driver steps (identity clustering,
    the CLV fit) write is copied back to Spark for the models that read it.
    Defaults from OMNI360_ENGINE and OMNI360_SPARK_REMOTE."""

    engine: str = Field(default_factory=settings.engine)
    spark_remote: str = Field(default_factory=settings.spark_remote)

    @property
    def is_spark(self) -> bool:
        return self.engine == "spark"

    def dbt_args(self) -> list[str]:
        """dbt's target for this engine (profiles.yml)."""
        return ["--target", self.engine]

    def dbt_vars(self) -> dict[str, str]:
        return {"spark_remote": self.spark_remote} if self.is_spark else {}

    def replicate(self, warehouse: WarehouseResource, tables: list[str]) -> dict[str, int]:
        """On Spark: copy the tables dbt built there into the DuckDB file, the driver's replica
        the Python steps read (checks, publication, reports); rows per table."""
        if not self.is_spark or not tables:
            return {}
        from orchestration.lib.spark import bridge

        con = sql.connect(str(warehouse.warehouse))
        try:
            spark = bridge.session(self.spark_remote, warehouse.lake)
            return bridge.to_duckdb(spark, con, tables, warehouse.spark_dir / "handoff")
        finally:
            con.close()

    def session(self, warehouse: WarehouseResource) -> Callable[[], SparkSession] | None:
        """On Spark: the session the checks run their queries in, opened at the first call
        with the lake's raw tables listed afresh, and kept (a failure too: it is raised again,
        not retried per suite); on DuckDB, None."""
        if not self.is_spark:
            return None
        from orchestration.lib.spark.session import connect, refresh_raw_tables

        @functools.cache
        def opened() -> SparkSession | Exception:
            try:
                return refresh_raw_tables(connect(self.spark_remote), warehouse.lake)
            except Exception as error:
                return error

        def session() -> SparkSession:
            found = opened()
            if isinstance(found, Exception):
                raise found
            return found

        return session

    def candidate_links(self, warehouse: WarehouseResource) -> CandidateLinks:
        """Where identity's candidate links are found: the deterministic links and Splink's
        pairs on the driver's DuckDB, or on Spark (orchestration/lib/spark/linking.py)."""
        if not self.is_spark:
            return CandidateLinks()
        from orchestration.lib.spark.linking import SparkLinks
        from orchestration.lib.spark.session import connect

        # it reads only the hand-off's files: no lake tables or functions to register
        return SparkLinks(
            lambda: connect(self.spark_remote), warehouse.spark_dir / "handoff"
        ).links()

    @contextmanager
    def on_the_driver(
        self,
        con: duckdb.DuckDBPyConnection,
        warehouse: WarehouseResource,
        writes: list[str],
    ) -> Iterator[None]:
        """A driver step on the DuckDB file `con` (identity clustering, the CLV fit), whose
        inputs dbt's replica holds: on Spark, its `writes` are copied to Spark when it ends
        without an error, for the dbt models that read them."""
        yield
        if self.is_spark:
            from orchestration.lib.spark import bridge

            spark = bridge.session(self.spark_remote, warehouse.lake)
            bridge.to_spark(con, spark, writes, warehouse.spark_dir / "handoff")


class LocaleResource(dg.ConfigurableResource):
    """The deployment's locale (docs/identity.md#region-and-locale): the region phone numbers and
    postcodes are read in, and the national-ID scheme. Defaults from OMNI360_REGION and
    OMNI360_NATIONAL_ID_SCHEME."""

    region: str = Field(default_factory=settings.region)
    national_id_scheme: str = Field(default_factory=settings.national_id_scheme)

    @property
    def locale(self) -> Locale:
        return Locale(self.region, self.national_id_scheme)


class RunModeResource(dg.ConfigurableResource):
    """How much a run recomputes (docs/operations.md#incremental-runs). By default only what
    new deliveries touch: dbt's incremental models add or replace their new rows, identity
    resolves the records connected to a change with its frozen model, the CLV model is refitted
    when stale. `full_refresh` rebuilds every model and resolves every record (the same results,
    checked by the tests); `retrain` also trains the identity model and refits CLV now."""

    full_refresh: bool = False
    retrain: bool = False

    def rebuilds(self, warehouse: WarehouseResource) -> bool:
        """Whether this run rebuilds everything: asked for, or requested in the lake by a
        withdrawal or an erasure since the last full run (cleared once a run succeeds)."""
        return (
            self.full_refresh or self.retrain or bool(Lake(warehouse.lake).full_refresh_reasons())
        )
