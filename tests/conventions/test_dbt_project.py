"""The dbt conventions of CONVENTIONS.md, checked on dbt's manifest.

This does the job of dbt-project-evaluator, which cannot be installed here.
"""

from __future__ import annotations

import json
import re

import pytest

from orchestration.lib.contracts import ENTITIES, raw_tables
from orchestration.settings import DBT_PROJECT_DIR

RESTRICTED_SCHEMAS = {"staging", "intermediate", "identity"}
PII_CLASSES = {"direct", "quasi", "sensitive"}
# column names that mean personal data wherever they appear; `store_name`, `product_name`, a
# store's `city` and provenance columns such as `phone_source` are not personal
PERSONAL_COLUMN = re.compile(
    r"""^(?:
        (?:[a-z]+_)?(?:phone|email|national_id|birth_date|address|openid|unionid|card_no|nickname)
            (?:_(?:masked|token))?
        | (?:customer_|person_|display_|member_|contact_|consignee_)?name(?:_key)?
        | gender | age_band | postal_code | raw_content | identifier_value
        | [a-z_]+_token
    )$""",
    re.VERBOSE,
)
# folders whose schema is not their layer's: intermediate/identity holds raw personal data
SCHEMA_OF_FOLDER = {("intermediate", "identity"): "identity"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    path = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not path.exists():
        pytest.fail("dbt_project/target/manifest.json is missing: run ./scripts/setup.sh")
    return json.loads(path.read_text(encoding="utf-8"))


def models(manifest: dict) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == "omni360"
    ]


def key_tests_of(manifest: dict, model: dict) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and model["unique_id"] in n["depends_on"]["nodes"]
    ]


def test_model_names_match_their_folder(manifest: dict):
    prefixes = {"staging": "stg_", "intermediate": "int_", "marts": ("dim_", "fct_", "rpt_")}
    for model in models(manifest):
        folders = model["fqn"][1:-1]
        assert model["name"].startswith(prefixes[folders[0]]), model["name"]
        if folders[0] == "staging":
            assert model["name"].startswith(f"stg_{folders[1]}__"), model["name"]
        expected = SCHEMA_OF_FOLDER.get(tuple(folders[:2]), folders[0])
        assert model["schema"] == expected, f"{model['name']} is in schema {model['schema']}"


# tables Python writes between the layers: sources of the layer that owns them, read where needed
PYTHON_WRITTEN = {"identity": "intermediate", "value": "marts"}


def test_only_staging_reads_landing_sources_and_python_tables_are_read_downstream(manifest: dict):
    for model in models(manifest):
        layer = model["fqn"][1]
        for node in model["depends_on"]["nodes"]:
            if not node.startswith("source."):
                continue
            source = manifest["sources"][node]["source_name"]
            if source in PYTHON_WRITTEN:
                # never from staging: the data would run back against the DAG
                assert layer != "staging", (model["name"], node)
            else:
                assert layer == "staging", (model["name"], node)


def test_no_model_reads_a_later_layer(manifest: dict):
    order = {"staging": 0, "intermediate": 1, "marts": 2}
    for model in models(manifest):
        for node in model["depends_on"]["nodes"]:
            parent = manifest["nodes"].get(node)
            if parent and parent["resource_type"] == "model":
                assert order[parent["fqn"][1]] <= order[model["fqn"][1]], (model["name"], node)


def test_every_model_and_column_is_described(manifest: dict):
    for model in models(manifest):
        assert "one row per" in model["description"].lower(), f"{model['name']}: state the grain"
        assert model["columns"], f"{model['name']} documents no columns"
        for name, column in model["columns"].items():
            assert column["description"], f"{model['name']}.{name} has no description"


def test_every_model_tests_its_key(manifest: dict):
    for model in models(manifest):
        kinds = {
            t["test_metadata"]["name"]
            for t in key_tests_of(manifest, model)
            if t.get("test_metadata")
        }
        assert "unique_combination" in kinds or {"unique", "not_null"} <= kinds, model["name"]


def test_pii_columns_stay_in_restricted_schemas(manifest: dict):
    for model in models(manifest):
        for name, column in model["columns"].items():
            pii = column.get("meta", {}).get("pii") or "pii" in column.get("tags", [])
            if pii and model["schema"] not in RESTRICTED_SCHEMAS:
                masking = column.get("meta", {}).get("masking")
                assert masking, f"{model['name']}.{name} is PII in a published schema, unmasked"


def test_every_personal_column_declares_its_class_and_treatment(manifest: dict):
    undeclared = []
    for model in models(manifest):
        for name, column in model["columns"].items():
            meta = column.get("meta") or {}
            if PERSONAL_COLUMN.match(name) or meta.get("pii"):
                if meta.get("pii") not in PII_CLASSES or not meta.get("masking"):
                    undeclared.append(f"{model['name']}.{name}")
                elif "pii" not in (column.get("tags") or []):
                    undeclared.append(f"{model['name']}.{name} (tag pii missing)")
    assert not undeclared, (
        "declare these personal columns once, with "
        "`config: {meta: {pii: direct|quasi|sensitive, masking: <treatment>}, tags: [pii]}`: "
        + ", ".join(undeclared)
    )


def test_published_personal_columns_are_masked_not_restricted(manifest: dict):
    for model in models(manifest):
        if model["schema"] in RESTRICTED_SCHEMAS:
            continue
        for name, column in model["columns"].items():
            masking = (column.get("meta") or {}).get("masking") or ""
            assert "restricted" not in masking, (
                f"{model['name']}.{name}: raw personal data ({masking!r}) in a published schema"
            )


def test_staging_declares_the_contracts_pii_class(manifest: dict):
    classes = {
        f"stg_{table.source}__{table.name}": {c.name: c.pii for c in table.columns if c.pii}
        for table in raw_tables()
    }
    for model in models(manifest):
        for name, pii in classes.get(model["name"], {}).items():
            declared = (model["columns"].get(name, {}).get("meta") or {}).get("pii")
            assert declared == pii, f"{model['name']}.{name}: contract says {pii}, yml {declared}"


def test_no_packages_file_so_dagster_never_runs_dbt_deps():
    assert not (DBT_PROJECT_DIR / "packages.yml").exists()
    assert not (DBT_PROJECT_DIR / "dependencies.yml").exists()


def test_every_ge_rule_column_that_holds_personal_data_is_declared_pii(manifest: dict):
    model_pii = {
        (node["schema"], node["name"]): {
            name
            for name, column in node["columns"].items()
            if (column.get("meta") or {}).get("pii") or "pii" in (column.get("tags") or [])
        }
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    contract_pii = {
        (e.source, t.name): {c.name for c in t.columns if c.pii}
        for e in ENTITIES
        for t in e.raw_tables
    }
    from expectations import all_suites

    for suite in all_suites():
        personal = contract_pii.get(suite.asset) or model_pii.get(suite.asset, set())
        for rule in suite.rules:
            kwargs = rule.expectation.configuration.kwargs
            columns = {kwargs.get(k) for k in ("column", "column_A", "column_B")}
            columns |= set(kwargs.get("column_list") or []) | set(rule.observe)
            assert not (columns & personal) - suite.pii, (suite.name, rule.name)


def test_every_published_mart_enforces_its_contract(manifest: dict):
    """BI tools read the published marts: a column that changes name or type must fail the
    build, not a dashboard (every column declares its data_type)."""
    from orchestration.lib.publish import PUBLISHED_SCHEMAS

    for model in models(manifest):
        if model["schema"] not in PUBLISHED_SCHEMAS:
            continue
        assert model["config"]["contract"]["enforced"], model["name"]
        untyped = [name for name, column in model["columns"].items() if not column["data_type"]]
        assert not untyped, (model["name"], untyped)
