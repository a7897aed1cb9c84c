"""Independent checks of what is in the lake against the manifest."""

from __future__ import annotations

import pyarrow.parquet as pq

from orchestration.lib.contracts import Entity
from orchestration.lib.ingest.lake import Lake


def accounting_mismatches(lake: Lake, entity: Entity) -> list[str]:
    """For every committed file: rows read == rows in its raw file + rows in its quarantine file
    + rows of erased subjects (suppressed on arrival or erased since)."""
    problems = []
    for entry in lake.manifest(entity):
        if not entry.holds_rows:
            continue
        raw = lake.raw_dir(entity) / f"{entry.file_id}.parquet"
        quarantine = lake.quarantine_dir(entity) / f"{entry.file_id}.parquet"
        missing = [p.name for p in (raw, quarantine) if not p.exists()]
        if missing:
            problems.append(f"{entry.source_file}: committed but {missing} missing from the lake")
            continue
        loaded = pq.read_metadata(raw).num_rows
        quarantined = pq.read_metadata(quarantine).num_rows
        erased = entry.rows_suppressed + entry.rows_erased
        if loaded + quarantined + erased != entry.rows_read or loaded != entry.rows_loaded:
            problems.append(
                f"{entry.source_file}: {entry.rows_read} rows read but the lake holds {loaded} "
                f"loaded + {quarantined} quarantined (+ {erased} of erased subjects)"
            )
    return problems
