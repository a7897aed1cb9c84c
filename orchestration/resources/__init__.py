"""Resources bound once in definitions.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestration import settings
from orchestration.lib.files import restrict_new_files


class WarehouseResource(dg.ConfigurableResource):
    """Locations: landing zone, Parquet lake, DuckDB warehouse, published marts (for BI)."""

    landing_dir: str = Field(default_factory=lambda: str(settings.landing_dir()))
    warehouse_path: str = Field(default_factory=lambda: str(settings.warehouse_path()))
    lake_dir: str = Field(default_factory=lambda: str(settings.lake_dir()))
    published_dir: str = Field(default_factory=lambda: str(settings.published_dir()))

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
