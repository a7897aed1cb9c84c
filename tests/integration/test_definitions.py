"""The Dagster code location loads, and its asset graph matches the committed snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def render_graph() -> str:
    from orchestration.definitions import defs

    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = sorted(p.to_user_string() for p in node.parent_keys)
        lines.append(f"{key.to_user_string()} [{node.group_name}] <- {', '.join(parents) or '-'}")
    return "\n".join(lines) + "\n"


def test_the_asset_graph_matches_the_snapshot():
    # refresh after an intended change: OMNI360_UPDATE_SNAPSHOTS=1 pytest tests/integration
    rendered = render_graph()
    if os.environ.get("OMNI360_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    assert rendered == SNAPSHOT.read_text(encoding="utf-8")


def test_every_source_entity_is_an_asset_that_dbt_staging_reads():
    from orchestration.lib.contracts import raw_tables

    graph = render_graph()
    for table in raw_tables():
        key = f"{table.source}/{table.name}"
        assert f"{key} [{table.source}]" in graph
        assert f"staging/stg_{table.source}__{table.name} [staging] <- {key}" in graph


def test_every_step_of_the_main_job_releases_memory():
    from orchestration.definitions import defs

    job = defs().resolve_job_def("omni360_main")
    assert {hook.name for hook in job.hook_defs} == {
        "release_memory",
        "release_memory_after_failure",
    }


def test_only_the_builds_of_models_with_parents_outside_dbt_note_the_lake():
    # the seeds' and calendar's build may start before the run's own ingestion (run_state.py)
    from orchestration.definitions import defs
    from orchestration.lib import run_state

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    dbt = definitions.resolve_assets_def(dg.AssetKey(["marts", "dim_date"]))
    deps = dbt.asset_deps
    code_only = run_state.code_only_keys(graph)
    assert dg.AssetKey(["marts", "dim_date"]) in code_only and len(code_only) == 4
    assert not run_state.reads_lake(deps, code_only)
    staging = [k for k in deps if k.path[0] == "staging"]
    assert staging and all(run_state.reads_lake(deps, [k]) for k in staging)
    assert run_state.reads_lake(deps, [*code_only, dg.AssetKey(["marts", "dim_customer"])])
