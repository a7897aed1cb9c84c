"""How dbt models appear in Dagster: group = schema (= asset-key prefix), PII tags from meta."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from orchestration.lib.owners import owners


class Omni360DbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") not in ("model", "seed"):
            return spec
        layer = props["schema"]
        has_pii = any(
            "pii" in (c.get("tags") or []) or (c.get("meta") or {}).get("pii")
            for c in props.get("columns", {}).values()
        )
        tags = {"layer": layer, **({"pii": ""} if has_pii else {})}
        return spec.replace_attributes(group_name=layer, owners=owners(layer)).merge_attributes(
            tags=tags
        )

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest, manifest["nodes"][unique_id]))


def describe_test(manifest: Mapping[str, Any], test: Mapping[str, Any]) -> str:
    """What a dbt data test asserts, in words (dbt tests carry no description of their own)."""
    meta = test.get("test_metadata") or {}
    name, kwargs = meta.get("name", test["name"]), meta.get("kwargs", {})
    column = kwargs.get("column_name")

    def target(ref: str) -> str:
        return ref.removeprefix("ref('").removeprefix("source('").rstrip("')").replace("', '", ".")

    known = {
        "not_null": lambda: f"{column} is never null",
        "unique": lambda: f"{column} is unique",
        "accepted_values": lambda: (
            f"{column} holds only {', '.join(str(v) for v in kwargs.get('values', []))}"
        ),
        "relationships": lambda: (
            f"every {column} is found in {target(kwargs['to'])}.{kwargs.get('field')}"
        ),
    }
    if name in known:
        return f"dbt test {name}: {known[name]()}"
    macro = manifest.get("macros", {}).get(f"macro.{test['package_name']}.test_{name}", {})
    described = (macro.get("description") or "").removeprefix("Generic test; ").strip()
    arguments = ", ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in kwargs.items()
        if key != "model"
    )
    return f"dbt test {name}({arguments}): {described or 'returns no failing row'}"


def model_keys(project: DbtProject, schemas: Sequence[str]) -> list[dg.AssetKey]:
    """The asset keys of the dbt models built in `schemas`, as the dbt assets name them."""
    manifest = json.loads(project.manifest_path.read_text(encoding="utf-8"))
    translator = Omni360DbtTranslator()
    keys = (
        translator.get_asset_spec(manifest, unique_id, project).key
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["schema"] in schemas
    )
    return sorted(keys, key=lambda key: key.to_user_string())
