"""Jobs."""

import dagster as dg

main_job = dg.define_asset_job(
    "omni360_main",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, then build every dbt model and run every check.",
)

defs = dg.Definitions(jobs=[main_job])
