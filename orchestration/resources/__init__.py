"""Resources bound once in definitions.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestration import settings
from orchestration.lib.files import restrict_new_files
from orchestration.lib.identity.locale import Locale
from orchestration.lib.ingest.lake import Lake


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

    def dbt_vars(self) -> dict[str, str]:
        """The locations as dbt vars (profiles.yml and the lake's sources read them)."""
        return {"warehouse_path": self.warehouse_path, "lake_dir": self.lake_dir}


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
