"""The personal-data inventory: which tables hold which class of personal data, how each column
is treated (kept raw in a restricted place, masked, tokenised, withheld) and who may read it.

Built from the two declarations the build already enforces: the landing-zone contract (the raw
lake) and the dbt manifest's column meta (`pii`, `masking`; tests/conventions checks that a
personal column outside the restricted schemas has a treatment). Readers per place follow
docs/compliance.md#who-may-read-what (its tables).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration.lib.contracts import ENTITIES

ENGINEER = "data engineer"
# who may read each place: the restricted layers are in the warehouse file and the lake, which
# only the engineer holds; the marts reach analysts and auditors as the published snapshot
READERS = {
    "lake": ENGINEER,
    "staging": ENGINEER,
    "identity": ENGINEER,
    "intermediate": ENGINEER,
    "value": ENGINEER,
    "marts": f"{ENGINEER}; analysts, BI tools and auditors (published snapshot)",
}
PLACES = tuple(READERS)  # the report's order: the lake, then the layers as data flows
RAW_TREATMENT = "kept as delivered: restricted (owner-only lake files)"
# tables written by Python (not in the dbt manifest) that hold personal values
PYTHON_TABLES = (
    (
        "identity",
        "identity.splink_term_frequencies",
        [("value", "direct", "none: restricted schema (names and phones the model counts)")],
    ),
)
CLASSES = ("direct", "sensitive", "quasi")


def personal_data_inventory(manifest: Path) -> list[dict[str, Any]]:
    """One entry per table holding personal data: place, table, its personal columns by class,
    their treatments and its readers. Lake tables first, then the dbt models by schema."""
    entries = []
    for entity in ENTITIES:
        for table in entity.raw_tables:
            columns = [(c.name, c.pii, RAW_TREATMENT) for c in table.columns if c.pii]
            if columns:
                entries.append(_entry("lake", f"raw/{table.source}/{table.name}", columns))
    entries.append(
        _entry(
            "lake",
            "quarantine/*",
            [("raw_content", "direct", "the rejected line as delivered: restricted")],
        )
    )
    nodes = (
        json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
        if manifest.is_file()
        else []
    )
    models = sorted(
        (n for n in nodes if n["resource_type"] == "model"),
        key=lambda n: (PLACES.index(n["schema"]) if n["schema"] in PLACES else 99, n["name"]),
    )
    for node in models:
        columns = []
        for column in node["columns"].values():
            meta = column.get("meta") or {}
            if meta.get("pii") or meta.get("masking"):
                treatment = meta.get("masking") or "none: restricted schema"
                columns.append((column["name"], meta.get("pii") or "derived", treatment))
        if columns:
            entries.append(_entry(node["schema"], f"{node['schema']}.{node['name']}", columns))
    entries += [_entry(place, table, columns) for place, table, columns in PYTHON_TABLES]
    return sorted(entries, key=lambda e: PLACES.index(e["place"]))


def _entry(place: str, table: str, columns: list[tuple[str, str, str]]) -> dict[str, Any]:
    by_class = {
        kind: sorted(name for name, pii, _ in columns if pii == kind)
        for kind in (*CLASSES, "derived")
    }
    return {
        "place": place,
        "table": table,
        "columns": {kind: names for kind, names in by_class.items() if names},
        "treatments": sorted({treatment for _, _, treatment in columns}),
        "readers": READERS.get(place, ENGINEER),
    }
