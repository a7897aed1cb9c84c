"""The Parquet lake: raw tables, quarantine, and the manifest of loaded files.

Layout under the lake root:
    raw/<source>/<table>/<file_id>.parquet          valid rows of one landing file
    quarantine/<source>/<entity>/<file_id>.parquet  its rejected rows with the reason
    _ops/manifest/<source>/<entity>/<file_id>.json  one per loaded (or skipped, withdrawn) file
    _ops/audit/<source>/<entity>/<load_id>.jsonl    what each run did with each file
    _ops/refused/<source>/<entity>/<file_id>.json   the first refusal of each refused file

A landing file is committed when its manifest entry is renamed into place; Parquet files without
a manifest entry are leftovers of an interrupted run and are deleted before the next load.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.contracts import ENTITIES, LINEAGE_COLUMNS, Entity
from orchestration.lib.files import private_dir, write_atomic

SCHEMA_FILE = "00000000-schema.parquet"  # zero rows; keeps every table's glob and schema valid

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.decimal128(12, 2),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "boolean": pa.bool_(),
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "TIMESTAMP": pa.timestamp("us"),
}

QUARANTINE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("source", "VARCHAR", "source system"),
    ("entity", "VARCHAR", "entity (landing folder)"),
    ("source_file", "VARCHAR", "landing file, relative to the landing root"),
    ("line_no", "BIGINT", "1-based physical line in the file"),
    ("record_key", "VARCHAR", "primary key as far as it could be read"),
    ("rule", "VARCHAR", "the rule the record broke"),
    ("column_name", "VARCHAR", "the column that broke it, when one did"),
    ("reason", "VARCHAR", "what is wrong, in words"),
    ("raw_content", "VARCHAR", "the line as delivered (invalid bytes as \\x escapes)"),
    ("load_id", "VARCHAR", "ingestion run"),
    ("quarantined_at", "TIMESTAMP", "when (UTC)"),
)


def raw_schema(table: Entity) -> pa.Schema:
    return pa.schema(
        [(c.name, ARROW_TYPES[c.type]) for c in table.columns]
        + [(name, ARROW_TYPES[kind]) for name, kind, _ in LINEAGE_COLUMNS]
    )


def quarantine_schema() -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind, _ in QUARANTINE_COLUMNS])


@dataclass
class ManifestEntry:
    file_id: str
    source_file: str
    source: str
    entity: str
    delivery_date: str
    size_bytes: int
    sha256: str
    load_id: str
    loaded_at: str
    status: (
        str  # loaded | skipped_duplicate | withdrawn (rows moved to quarantine, see withdraw.py)
    )
    duplicate_of: str | None
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    child_rows_loaded: int
    rows_with_warnings: int
    # rows of erased subjects: dropped on arrival (suppressed) or removed later (erased)
    rows_suppressed: int = 0
    rows_erased: int = 0
    withdrawn_at: str | None = None
    withdraw_reason: str | None = None

    @property
    def holds_rows(self) -> bool:
        """Its rows are in the lake (raw or quarantine), so row accounting applies."""
        return self.status in ("loaded", "withdrawn")


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = root

    def raw_dir(self, table: Entity) -> Path:
        return self.root / "raw" / table.source / table.name

    def quarantine_dir(self, entity: Entity) -> Path:
        return self.root / "quarantine" / entity.source / entity.name

    def manifest_dir(self, entity: Entity) -> Path:
        return self.root / "_ops" / "manifest" / entity.source / entity.name

    def audit_dir(self, entity: Entity) -> Path:
        return self.root / "_ops" / "audit" / entity.source / entity.name

    def refused_dir(self, entity: Entity) -> Path:
        return self.root / "_ops" / "refused" / entity.source / entity.name

    def data_dirs(self, entity: Entity) -> list[Path]:
        return [self.raw_dir(t) for t in entity.raw_tables] + [self.quarantine_dir(entity)]

    def ensure_layout(self, entity: Entity) -> None:
        """Create the folders (the lake owner-only: it holds raw personal data) and each table's
        zero-row schema file."""
        private_dir(self.root)
        for table in entity.raw_tables:
            _write_schema_file(self.raw_dir(table), raw_schema(table))
        _write_schema_file(self.quarantine_dir(entity), quarantine_schema())
        self.manifest_dir(entity).mkdir(parents=True, exist_ok=True)
        self.audit_dir(entity).mkdir(parents=True, exist_ok=True)

    def entry(self, entity: Entity, file_id: str) -> ManifestEntry:
        path = self.manifest_dir(entity) / f"{file_id}.json"
        return ManifestEntry(**json.loads(path.read_text(encoding="utf-8")))

    def write_entry(self, entity: Entity, entry: ManifestEntry) -> None:
        write_atomic(
            self.manifest_dir(entity) / f"{entry.file_id}.json",
            json.dumps(asdict(entry), ensure_ascii=False, indent=1),
        )

    def manifest(self, entity: Entity) -> list[ManifestEntry]:
        folder = self.manifest_dir(entity)
        if not folder.is_dir():
            return []
        return [
            ManifestEntry(**json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.json"))
        ]

    def recover(self, entity: Entity) -> list[str]:
        """Delete what an interrupted load left behind; return the paths removed."""
        committed = {e.file_id for e in self.manifest(entity)}
        removed: list[str] = []
        for folder in [*self.data_dirs(entity), self.manifest_dir(entity), self.audit_dir(entity)]:
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                orphan = (
                    path.suffix == ".parquet"
                    and path.name != SCHEMA_FILE
                    and (path.stem not in committed)
                )
                if path.name.endswith(".tmp") or orphan:
                    path.unlink()
                    removed.append(str(path.relative_to(self.root)))
        return removed

    def commit(self, entity: Entity, entry: ManifestEntry, staged: list[Path]) -> None:
        """Move staged Parquet files into place, then write the manifest entry (the commit)."""
        for tmp in staged:
            os.replace(tmp, tmp.with_suffix(""))
        self.write_entry(entity, entry)

    def refusals(self, entity: Entity) -> dict[tuple[str, str], dict]:
        """(landing path, sha256) of every file refused before → its first refusal (load_id,
        rule, message)."""
        folder = self.refused_dir(entity)
        found = {}
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            record = json.loads(path.read_text(encoding="utf-8"))
            found[(record["source_file"], record["sha256"])] = record
        return found

    def record_refusal(
        self,
        entity: Entity,
        source_file: str,
        sha256: str,
        load_id: str,
        rule: str | None,
        message: str | None,
    ) -> None:
        """Keep the first refusal of these bytes: later runs report it as known, not as new."""
        path = self.refused_dir(entity) / f"{_safe_name(source_file)}__{sha256[:16]}.json"
        if path.exists():
            return
        record = {
            "source_file": source_file,
            "sha256": sha256,
            "load_id": load_id,
            "rule": rule,
            "message": message,
        }
        write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1))

    def append_audit(self, entity: Entity, load_id: str, events: list[dict]) -> None:
        if events:
            lines = "\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n"
            write_atomic(self.audit_dir(entity) / f"{load_id}.jsonl", lines)

    def rows_loaded_by_run(self, table: Entity, run_id: str) -> int:
        """Rows the run loaded into the raw `table` (a child table's rows come with its parent's
        files); a load id ends with the first 8 characters of its run's id."""
        parent = next(e for e in ENTITIES if table in e.raw_tables)
        suffix = "-" + run_id[:8]
        return sum(
            entry.rows_loaded if parent is table else entry.child_rows_loaded
            for entry in self.manifest(parent)
            if entry.status == "loaded" and entry.load_id.endswith(suffix)
        )

    # Rows can leave the raw layer (a withdrawn file, an erased subject), which the warehouse's
    # incremental models and identity increments do not see: the next run must rebuild
    # everything. The request stays until a full run succeeds.
    @property
    def _full_refresh_file(self) -> Path:
        return self.root / "_ops" / "full_refresh.json"

    def request_full_refresh(self, why: str) -> None:
        """Ask the next run to rebuild everything: rows left the lake (a withdrawal, an erasure)
        and incremental models cannot see what is gone."""
        requests = [*self._full_refresh_requests(), {"why": why, "at": _utc_now().isoformat()}]
        write_atomic(self._full_refresh_file, json.dumps(requests, ensure_ascii=False))

    def full_refresh_reasons(self) -> list[str]:
        return [request["why"] for request in self._full_refresh_requests()]

    def clear_full_refresh(self, before: dt.datetime | None = None) -> None:
        """Forget the requests a full run has met: those made before it started (UTC, naive),
        or all of them."""
        kept = [
            r
            for r in self._full_refresh_requests()
            if before is not None and dt.datetime.fromisoformat(r["at"]) >= before
        ]
        if kept:
            write_atomic(self._full_refresh_file, json.dumps(kept, ensure_ascii=False))
        else:
            self._full_refresh_file.unlink(missing_ok=True)

    def _full_refresh_requests(self) -> list[dict[str, str]]:
        path = self._full_refresh_file
        if not path.is_file():
            return []
        return [
            r if isinstance(r, dict) else {"why": r, "at": "0001-01-01T00:00:00"}
            for r in json.loads(path.read_text(encoding="utf-8"))
        ]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _safe_name(rel_path: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in rel_path)[-150:]


def _write_schema_file(folder: Path, schema: pa.Schema) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SCHEMA_FILE
    if path.exists() and pq.read_schema(path).equals(schema, check_metadata=False):
        return
    tmp = folder / (SCHEMA_FILE + ".tmp")
    pq.write_table(schema.empty_table(), tmp)
    os.replace(tmp, path)
