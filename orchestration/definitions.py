"""The single entry point of the omni360 Dagster code location."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from orchestration import settings
from orchestration.lib.files import write_atomic
from orchestration.resources import (
    EngineResource,
    LocaleResource,
    RunModeResource,
    WarehouseResource,
)

# the instance's settings: local SQLite storage in its folder, the event log's connections kept
# open (orchestration/lib/event_log.py), no telemetry (offline machines). A dagster.yaml that
# starts otherwise is the operator's (PostgreSQL for a shared deployment) and is left alone.
INSTANCE_MARK = "# written by omni360"
EVENT_LOG = {"module": "orchestration.lib.event_log", "class": "PooledSqliteEventLogStorage"}
# the folder as DAGSTER_HOME, never a path: `dagster dev` on a copied folder reads its own history
INSTANCE_CONFIG = f"""{INSTANCE_MARK}: edit freely after removing this line, then it is kept
telemetry:
  enabled: false
event_log_storage:
  module: {EVENT_LOG["module"]}
  class: {EVENT_LOG["class"]}
  config:
    dagster_home:
      env: DAGSTER_HOME
"""
# what earlier versions wrote: replaced like ours
_EARLIER_CONFIGS = ("telemetry:\n  enabled: false\n",)


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
    home = where.dagster_home.absolute()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    written = config.read_text(encoding="utf-8") if config.exists() else None
    if written is not None and not (
        written.startswith(INSTANCE_MARK) or written in _EARLIER_CONFIGS
    ):
        return dg.DagsterInstance.from_config(str(home))  # the operator's own
    if written != INSTANCE_CONFIG:
        write_atomic(config, INSTANCE_CONFIG)
    # the folder given here, whatever DAGSTER_HOME says in this process
    event_log = {**EVENT_LOG, "config": {"dagster_home": str(home)}}
    return dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(home), overrides={"event_log_storage": event_log})
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
