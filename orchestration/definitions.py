"""The single entry point of the omni360 Dagster code location."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.resources import LocaleResource, WarehouseResource


def build_defs(
    warehouse: WarehouseResource | None = None, locale: LocaleResource | None = None
) -> dg.Definitions:
    """Every asset, check, job and sensor, bound to one set of locations: the CLI passes those
    of its run; `dagster dev` takes the environment's (orchestration/settings.py)."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs"),
        dg.Definitions(
            resources={
                "warehouse": warehouse or WarehouseResource(),
                "locale": locale or LocaleResource(),
            }
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
