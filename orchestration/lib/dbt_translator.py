"""How dbt models appear in Dagster: group = schema (= asset-key prefix), PII tags from meta."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject


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
        return spec.replace_attributes(group_name=layer).merge_attributes(tags=tags)


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
