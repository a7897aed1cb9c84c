"""Where every landing row went, per entity, from the lake's manifest and files (`omni360 status`).

Rows read = rows loaded + rows quarantined + rows of erased subjects (suppressed on arrival or
erased since). A withdrawn file's rows count as quarantined (rule `withdrawn`). The figures are
read from the manifest and checked against the Parquet files themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.contracts import ENTITIES
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import SCHEMA_FILE, Lake
from orchestration.lib.ingest.withdraw import withdrawals
from orchestration.lib.sql import literal


@dataclass(frozen=True)
class EntityStatus:
    entity: str
    files: int  # committed: loaded or withdrawn
    duplicates: int
    withdrawn: int
    refused: int  # distinct refused files (path and bytes) not committed since
    read: int
    loaded: int
    quarantined: int
    erased: int  # suppressed on arrival + erased later
    mismatches: tuple[str, ...]

    @property
    def adds_up(self) -> bool:
        return self.read == self.loaded + self.quarantined + self.erased and not self.mismatches


@dataclass
class LakeStatus:
    entities: list[EntityStatus] = field(default_factory=list)
    rules: list[tuple[str, str, int]] = field(default_factory=list)  # entity, rule, rows
    refused: list[str] = field(default_factory=list)
    withdrawn: list[dict] = field(default_factory=list)


def lake_status(root: Path, top_rules: int = 15) -> LakeStatus:
    lake = Lake(root)
    status = LakeStatus()
    for target in ENTITIES:
        manifest = lake.manifest(target)
        # a refusal stands until its path is committed by a later load (a corrected file)
        committed = {e.source_file: e.load_id for e in manifest}
        refused = {
            key: record
            for key, record in lake.refusals(target).items()
            if committed.get(key[0], "") <= record["load_id"]
        }
        if not manifest and not refused:
            continue
        rows = [e for e in manifest if e.holds_rows]
        status.entities.append(
            EntityStatus(
                entity=f"{target.source}/{target.name}",
                files=len(rows),
                duplicates=sum(e.status == "skipped_duplicate" for e in manifest),
                withdrawn=sum(e.status == "withdrawn" for e in manifest),
                refused=len(refused),
                read=sum(e.rows_read for e in rows),
                loaded=sum(e.rows_loaded for e in rows),
                quarantined=sum(e.rows_quarantined for e in rows),
                erased=sum(e.rows_suppressed + e.rows_erased for e in rows),
                mismatches=tuple(accounting_mismatches(lake, target)),
            )
        )
        status.refused += [
            f"{record['message'] or path} [{record['rule']}; first refused by load "
            f"{record['load_id']}]"
            for (path, _), record in refused.items()
        ]
    status.withdrawn = withdrawals(lake)
    quarantine = sorted(p for p in root.glob("quarantine/*/*/*.parquet") if p.name != SCHEMA_FILE)
    if quarantine:
        files = ", ".join(literal(str(p)) for p in quarantine)
        status.rules = [
            (name, rule, count)
            for name, rule, count in duckdb.sql(
                f"select source || '/' || entity, rule, count(*) from read_parquet([{files}]) "
                f"group by all order by 3 desc, 1, 2 limit {top_rules}"
            ).fetchall()
        ]
    return status
