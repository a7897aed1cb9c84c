"""The single entry point of the omni360 Dagster code location."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.resources import WarehouseResource


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs"),
        dg.Definitions(resources={"warehouse": WarehouseResource()}),
    )
