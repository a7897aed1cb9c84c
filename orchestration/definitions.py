"""The single entry point of the omni360 Dagster code location."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration import settings
from orchestration.resources import (
    EngineResource,
    LocaleResource,
    RunModeResource,
    WarehouseResource,
)

# the instance's settings: local SQLite storage in its folder, no telemetry (offline machines)
INSTANCE_CONFIG = "telemetry:\n  enabled: false\n"


def build_defs(
    warehouse: WarehouseResource | None = None,
    locale: LocaleResource | None = None,
    run_mode: RunModeResource | None = None,
    engine: EngineResource | None = None,
) -> dg.Definitions:
    """Every asset, check, job and sensor, bound to one set of locations: the CLI passes those
    of its run; `dagster dev` takes the environment's (orchestration/settings.py)."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs"),
        dg.Definitions(
            resources={
                "warehouse": warehouse or WarehouseResource(),
                "locale": locale or LocaleResource(),
                "run_mode": run_mode or RunModeResource(),
                "engine": engine or EngineResource(),
            }
        ),
    )


def instance_for(where: settings.Locations) -> dg.DagsterInstance:
    """The persistent Dagster instance of a warehouse (`where.dagster_home`): runs started by
    `omni360 run` and from the UI share its history, so `dagster dev` with the same DAGSTER_HOME
    shows their materialisations and check results."""
    home = where.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG, encoding="utf-8")
    return dg.DagsterInstance.from_config(str(home))


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
