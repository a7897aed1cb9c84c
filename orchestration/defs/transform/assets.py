"""The dbt project as Dagster assets; dbt tests run as asset checks."""

import json
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.lib import progress
from orchestration.lib.dbt_translator import Omni360DbtTranslator, model_keys
from orchestration.lib.publish import PUBLISHED_SCHEMAS
from orchestration.resources import LocaleResource, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
# the published marts: the publication waits for them, the PII scan checks each
MARTS = model_keys(dbt_project, PUBLISHED_SCHEMAS)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Omni360DbtTranslator(),
)
def omni360_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    locale: LocaleResource,
):
    progress.report("dbt build: models and their tests")
    # the run's locations and the deployment's locale reach dbt as vars (profiles.yml, sources)
    dbt_vars = json.dumps({**warehouse.dbt_vars(), **locale.locale.dbt_vars()})
    yield from dbt.cli(["build", "--vars", dbt_vars], context=context).stream()
    progress.report("dbt build: done")


defs = dg.Definitions(
    assets=[omni360_dbt_models],
    resources={
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            # the dbt of this interpreter's environment, whether or not it is activated
            dbt_executable=str(Path(sys.executable).parent / "dbt"),
        )
    },
)
