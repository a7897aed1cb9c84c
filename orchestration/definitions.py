"""The single entry point of the omni360 Dagster code location."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration import settings
from orchestration.resources import LocaleResource, WarehouseResource


@dg.definitions
def defs() -> dg.Definitions:
    # dbt runs as a subprocess: give it the same absolute locations the Python assets use
    settings.export_env(settings.landing_dir(), settings.warehouse_path(), settings.lake_dir())
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs"),
        dg.Definitions(resources={"warehouse": WarehouseResource(), "locale": LocaleResource()}),
    )
