"""Render the contract in `contracts.py` as `docs/landing-zone.md` and as the dbt sources.

Both files are generated (`omni360 contracts --write`); `tests/unit/test_contract_docs.py` fails
when a committed copy differs from what the contract renders, so they cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration.lib.contracts import LINEAGE_COLUMNS, SOURCES, Entity, entities_of
from orchestration.lib.ingest.lake import QUARANTINE_COLUMNS
from orchestration.settings import DBT_PROJECT_DIR, DOCS_DIR

GENERATED = "generated from orchestration/lib/contracts.py by `omni360 contracts --write`"

SOURCE_TITLES = {
    "ecommerce": "E-commerce (own mini-program shop, Tmall, JD)",
    "pos": "POS (physical stores)",
    "crm": "CRM / member system",
    "social": "Social (WeChat official account, mini-program, WeCom; Douyin)",
}

INTRO = """\
# The landing-zone contract

<!-- {generated}; edit the contract, not this file -->

This is what a source system must deliver for omni360 to ingest it, and exactly what
`omni360 generate` writes. Ingestion validates every record against it: a record that breaks a rule
goes to the quarantine table with the rule and a reason; a file that breaks a file rule is refused
as a whole with an error that says what to do.

## Folder layout

```
<landing>/<source>/<entity>/<YYYY-MM-DD>/<file>
```

- `<source>` is one of {sources}; `<entity>` one of the entities below.
- `<YYYY-MM-DD>` is the delivery date. A file may hold records of any earlier date (late arrivals
  are normal); event times come from the records, not the folder.
- File names are free but must be unique within a delivery folder, and a file, once loaded, must
  never change: ingestion keys files by path and SHA-256. The same bytes delivered again under
  another path are skipped and reported; changed bytes under a loaded path are refused.
- Files may be gzip-compressed: `<name>.csv.gz`, `<name>.jsonl.gz`.
- Names starting with `_` or `.` are ignored (the generator's answer key lives in `_truth/`).
  Anything else that does not fit the layout (unknown source or entity folder, a folder that is not
  a date, a file with the wrong extension) is reported as a layout problem and not loaded.
- A source folder that is absent is not an error: the other sources load.
- No file can stop the others: a file that cannot be read for any reason is refused with the
  reason (`unreadable_file` when nothing more specific applies), and every other file and entity
  loads. A refused file is an error the run it is first refused, a warning while it stays
  unchanged; it is tried again on every run.
- A loaded file can be withdrawn by an operator (`omni360 withdraw <file> --reason …`): its rows
  move to quarantine (rule `withdrawn`) and it is never loaded again.

## File rules

| rule | what happens when broken |
|---|---|
| UTF-8, a BOM is tolerated, LF or CRLF line ends | lines with invalid bytes are quarantined (`invalid_utf8`); if the first line, or at least two lines and more than half of them, are not UTF-8 the file is refused (`wrong_encoding`) with what the bytes look like (GBK, UTF-16, binary, gzip, an Excel workbook…) |
| not empty (0 bytes) | refused (`empty_file`) |
| at most 4 GiB after decompression (`OMNI360_MAX_FILE_BYTES`); a `.gz` file is valid gzip | refused (`file_too_large`, `corrupt_gzip`) |
| a line at most 1 MiB (`OMNI360_MAX_LINE_BYTES`), checked before it is parsed | the line is quarantined (`line_too_long`) with its first 200 characters; the rest of the file loads. A header line over the limit refuses the file (`invalid_header`) |
| a field at most 64 KiB (`OMNI360_MAX_FIELD_BYTES`) | the record is quarantined (`field_too_long`) |
| CSV: first line is a header naming the columns, comma-separated, `"` quoting (RFC 4180), no line breaks inside fields | a header missing a required column: refused (`missing_column`); an optional column may be left out (loaded as null, and a warning names the file, the column and the rows; listed in `OMNI360_BLOCKING_COLUMNS` it refuses the file instead); extra columns are ignored and reported; a row with another field count than the header is quarantined (`column_count`); a quote left open is quarantined (`invalid_csv`) |
| JSON lines: one JSON object per line, fields by column name | a line that is not a JSON object is quarantined (`invalid_json`); missing optional fields are null; unknown fields are ignored; a file with unknown keys where no line has an optional field (a renamed field) is loaded with a warning, or refused for a blocking column |
| one record per line; an empty field (or JSON `null`) is null | a blank line is quarantined (`blank_line`) |

## Value rules

- Types: `string` (any text), `integer` (`42`), `decimal` (`129.00`, amounts in CNY),
  `date` (`YYYY-MM-DD`), `timestamp` (ISO 8601 with offset: `2026-03-14T10:05:31+08:00`, or with a
  space instead of `T`, or `Z` for UTC, with or without fractional seconds; stored in UTC).
- Per record, rules are checked in this order and the first broken one decides: a field over
  the size limit (`field_too_long`), required (`required_missing`), type (`invalid_type`),
  accepted values (`not_in_enum`), pattern (`pattern_mismatch`), range (`out_of_range`),
  reference (`unknown_reference`); for orders, the line items last (column `lines.<column>`; a
  bad item quarantines its whole order).
- <a id="plausible-dates"></a>Dates and times must be plausible: not before a floor (dates
  1900-01-01, times 1990-01-01, unless the column says otherwise) and not after the file's
  delivery date plus a tolerance (one day for times, for sources that cut files by their local
  date; birth dates not after the delivery date; store opening dates up to a year ahead). A year
  0001, 2099 or 9999 is `out_of_range`: the record is quarantined, or the field nulled with a
  warning where the column says "else nulled". The marts' as-of date is the latest delivery
  date, never the largest date in the data (docs/metrics.md#as-of-date).
- A broken **required** column quarantines the record. A broken **optional** column quarantines it
  too unless the column says "else nulled": then the record is loaded with that field null and the
  problem named in `_warnings`. Which columns are nulled rather than quarantined was decided per
  column: descriptive fields (category, payment method, birth date, postal code, survey score…)
  are nulled because the rest of the record is still worth having; identifiers, amounts and
  quantities are never guessed, so they quarantine.
- Identifiers such as phone numbers and emails are taken as typed (any format); staging
  normalises them. Personal data columns are marked in the `PII` column: `direct` (identifies a
  person alone), `quasi` (identifies in combination), `sensitive` (national ID).
- Exact duplicate records are loaded as delivered; staging keeps one per key (the most recent).

## The raw layer

Valid rows land as Parquet under `<lake>/raw/<source>/<table>/`, one file per landing file, with
these lineage columns added:

{lineage}

Rejected rows land in `<lake>/quarantine/<source>/<entity>/` with:

{quarantine}

The manifest of loaded files is `<lake>/_ops/manifest/<source>/<entity>/*.json` and what each run
did with each file is `<lake>/_ops/audit/<source>/<entity>/<load_id>.jsonl` (rows read, loaded,
quarantined; skipped and refused files with the reason). dbt reads all of them as sources.
"""


def _table(rows: list[list[str]], header: list[str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _entity_section(entity: Entity) -> str:
    key = ", ".join(f"`{k}`" for k in entity.primary_key)
    ext = "csv" if entity.format == "csv" else "jsonl"
    parts = [
        f"### `{entity.source}/{entity.name}`",
        "",
        f"{entity.description}",
        "",
        f"Format: **{entity.format}** (`{entity.name}_<YYYYMMDD>.{ext}`). Key: {key}. "
        f"Raw table: `raw.{entity.source}.{entity.name}`.",
        "",
        _column_table(entity),
        "",
        "Example:",
        "",
        "```" + ("csv" if entity.format == "csv" else "json"),
        example_record(entity),
        "```",
    ]
    if entity.child is not None:
        parts += [
            "",
            f"Each element of `{entity.child_field}` (raw table "
            f"`raw.{entity.source}.{entity.child.name}`, key "
            f"{', '.join(f'`{k}`' for k in entity.child.primary_key)}):",
            "",
            _column_table(entity.child, skip=entity.primary_key),
        ]
    return "\n".join(parts)


def _column_table(entity: Entity, skip: tuple[str, ...] = ()) -> str:
    rows = [
        [
            f"`{c.name}`",
            c.type,
            "yes" if c.required else "",
            c.rules_text(),
            c.pii or "",
            c.description,
            f"`{c.example}`" if c.example else "",
        ]
        for c in entity.columns
        if c.name not in skip
    ]
    return _table(rows, ["column", "type", "required", "rules", "PII", "meaning", "example"])


def example_record(entity: Entity) -> str:
    if entity.format == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(entity.column_names)
        writer.writerow([c.example for c in entity.columns])
        return buffer.getvalue().rstrip("\n")
    import json

    record: dict = {c.name: _json_value(c.type, c.example) for c in entity.columns if c.example}
    if entity.child is not None and entity.child_field:
        record[entity.child_field] = [
            {
                c.name: _json_value(c.type, c.example)
                for c in entity.child.columns
                if c.name not in entity.primary_key
            }
        ]
    return json.dumps(record, ensure_ascii=False)


def _json_value(kind: str, example: str) -> object:
    return int(example) if kind == "integer" else example


def dbt_type(duckdb_type: str) -> str:
    """A column type as the dbt YAML declares it: `string` for text, which DuckDB and Spark
    both read (Spark's VARCHAR needs a length)."""
    return "string" if duckdb_type == "VARCHAR" else duckdb_type


def render_landing_zone_md() -> str:
    lineage = _table(
        [[f"`{n}`", t, d] for n, t, d in LINEAGE_COLUMNS], ["column", "type", "meaning"]
    )
    quarantine = _table(
        [[f"`{n}`", t, d] for n, t, d in QUARANTINE_COLUMNS], ["column", "type", "meaning"]
    )
    text = INTRO.format(
        generated=GENERATED,
        sources=", ".join(f"`{s}`" for s in SOURCES),
        lineage=lineage,
        quarantine=quarantine,
    )
    sections = [text, "## Entities", ""]
    for source in SOURCES:
        sections += [f"## {SOURCE_TITLES[source]}: `{source}`", ""]
        for entity in entities_of(source):
            sections += [_entity_section(entity), ""]
    return "\n".join(sections).rstrip() + "\n"


def _lake_location(path: str) -> str:
    return "{{ var('lake_dir', env_var('OMNI360_LAKE', '../warehouse/lake')) }}/" + path


def render_sources_yml(source: str) -> str:
    tables = []
    for entity in entities_of(source):
        for table in entity.raw_tables:
            tables.append(
                {
                    "name": table.name,
                    "description": table.description,
                    "columns": [
                        {
                            "name": c.name,
                            "description": c.description,
                            "data_type": dbt_type(c.duckdb_type),
                            **(
                                {"config": {"meta": {"pii": c.pii}, "tags": ["pii"]}}
                                if c.pii
                                else {}
                            ),
                        }
                        for c in table.columns
                    ]
                    + [
                        {"name": name, "description": doc, "data_type": dbt_type(kind)}
                        for name, kind, doc in LINEAGE_COLUMNS
                    ],
                }
            )
    document = {
        "version": 2,
        "sources": [
            {
                "name": source,
                "description": f"Raw layer of {SOURCE_TITLES[source]}: Parquet written by the "
                "ingestion assets.",
                "config": {
                    "meta": {
                        "external_location": "read_parquet('"
                        + _lake_location(f"raw/{source}/{{name}}/*.parquet")
                        + "', union_by_name = true)"
                    }
                },
                "tables": tables,
            }
        ],
    }
    header = f"# {GENERATED}; edit the contract, not this file\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def rendered_files() -> dict[Path, str]:
    files = {DOCS_DIR / "landing-zone.md": render_landing_zone_md()}
    for source in SOURCES:
        path = DBT_PROJECT_DIR / "models" / "staging" / source / f"_{source}__sources.yml"
        files[path] = render_sources_yml(source)
    return files


def write_rendered() -> list[Path]:
    changed = []
    for path, text in rendered_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
