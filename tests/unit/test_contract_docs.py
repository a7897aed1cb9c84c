"""docs/landing-zone.md and the dbt sources are rendered from the contract and cannot drift."""

from __future__ import annotations

import csv
import io
import json

import yaml

from orchestration.lib.contract_docs import example_record, rendered_files
from orchestration.lib.contracts import ENTITIES, SOURCES


def test_committed_documents_equal_what_the_contract_renders():
    stale = [
        str(p)
        for p, text in rendered_files().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run `omni360 contracts --write`"


def test_the_landing_zone_document_names_every_entity_and_column():
    doc = next(text for path, text in rendered_files().items() if path.name == "landing-zone.md")
    for entity in ENTITIES:
        assert f"### `{entity.source}/{entity.name}`" in doc
        for column in entity.columns:
            assert f"| `{column.name}` | {column.type} |" in doc


def test_dbt_sources_list_the_contract_columns_in_order():
    for path, text in rendered_files().items():
        if path.suffix != ".yml":
            continue
        [source] = yaml.safe_load(text)["sources"]
        assert source["name"] in SOURCES
        for table in source["tables"]:
            contract = next(
                t
                for e in ENTITIES
                for t in e.raw_tables
                if (t.source, t.name) == (source["name"], table["name"])
            )
            names = [c["name"] for c in table["columns"]]
            assert names[: len(contract.columns)] == list(contract.column_names)


def test_every_example_record_parses_in_its_format():
    for entity in ENTITIES:
        text = example_record(entity)
        if entity.format == "csv":
            header, row = list(csv.reader(io.StringIO(text)))
            assert header == list(entity.column_names) and len(row) == len(header)
        else:
            assert set(json.loads(text)) <= {*entity.column_names, entity.child_field}
