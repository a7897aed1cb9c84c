"""Withdraw a committed delivery file: its rows move from the raw layer to quarantine.

The sanctioned way back from a file that should never have been loaded (a misdated delivery, a
test export, a file a source system recalls), so that nobody edits the lake by hand. The file's
raw rows become quarantine rows with rule `withdrawn` and the operator's reason; its manifest
entry says `withdrawn`, so the landing file is never loaded again (a corrected file is delivered
under a new name); row accounting still holds (read = loaded + quarantined + erased); and an
audit line records who withdrew what and why. The next run rebuilds the warehouse without it.

Safe to run again after an interruption: it finishes what is left and adds nothing twice.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from orchestration.lib.contracts import ENTITIES, Entity
from orchestration.lib.ingest.lake import Lake, ManifestEntry, raw_schema
from orchestration.lib.sql import connect, identifier, literal

RULE = "withdrawn"


class WithdrawError(Exception):
    """The request cannot be carried out as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Withdrawal:
    entity: Entity
    entry: ManifestEntry
    rows_moved: int  # rows of the file moved from the raw layer to quarantine
    child_rows_removed: int  # nested rows (order lines) removed with their parent rows
    already_withdrawn: bool


def find_entry(lake: Lake, source_file: str) -> tuple[Entity, ManifestEntry]:
    """The manifest entry of a landing file, by its path relative to the landing root."""
    wanted = source_file.strip().lstrip("./")
    for target in ENTITIES:
        for entry in lake.manifest(target):
            if wanted in (entry.source_file, entry.file_id):
                return target, entry
    raise WithdrawError(
        f"{source_file} is not a committed file of this lake; give its path relative to the "
        "landing root as `omni360 status --files` lists it, e.g. "
        "ecommerce/orders/2026-03-02/orders_20260302.jsonl"
    )


def withdraw(lake: Lake, source_file: str, reason: str, *, load_id: str) -> Withdrawal:
    """Move the rows of one committed file to quarantine; see the module docstring."""
    if not reason.strip():
        raise WithdrawError("say why the file is withdrawn (--reason); it goes to the audit")
    target, entry = find_entry(lake, source_file)
    if entry.status == "skipped_duplicate":
        raise WithdrawError(
            f"{entry.source_file} was skipped as a copy of {entry.duplicate_of}; nothing of it "
            "was loaded. Withdraw that file instead."
        )
    already = entry.status == "withdrawn"
    raw_path = lake.raw_dir(target) / f"{entry.file_id}.parquet"
    quarantine_path = lake.quarantine_dir(target) / f"{entry.file_id}.parquet"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    moved = pq.read_metadata(raw_path).num_rows if raw_path.exists() else 0
    children = 0
    con = connect()
    try:
        if moved:
            _move_rows(con, target, raw_path, quarantine_path, reason, load_id, now)
        for child in target.raw_tables[1:]:
            child_path = lake.raw_dir(child) / f"{entry.file_id}.parquet"
            if child_path.exists():
                children += pq.read_metadata(child_path).num_rows
                _empty(child, child_path)
        if moved:
            _empty(target, raw_path)  # last: until here a rerun finds the rows to move
    finally:
        con.close()
    quarantined = pq.read_metadata(quarantine_path).num_rows if quarantine_path.exists() else 0
    entry.status = "withdrawn"
    entry.rows_loaded = 0
    entry.child_rows_loaded = 0
    entry.rows_quarantined = quarantined
    if not already:
        entry.withdrawn_at = now.isoformat(sep=" ", timespec="seconds")
        entry.withdraw_reason = reason.strip()
    lake.write_entry(target, entry)
    lake.request_full_refresh(f"{entry.source_file} withdrawn")
    lake.append_audit(
        target,
        load_id,
        [
            {
                "load_id": load_id,
                "audited_at": now.isoformat(sep=" ", timespec="seconds"),
                "source": target.source,
                "entity": target.name,
                "source_file": entry.source_file,
                "status": RULE,
                "rows_read": entry.rows_read,
                "rows_loaded": 0,
                "rows_quarantined": quarantined,
                "child_rows_loaded": 0,
                "rows_suppressed": entry.rows_suppressed,
                "rule": RULE,
                "message": f"withdrawn by {_operator()}: {reason.strip()} ({moved:,} rows "
                f"moved to quarantine, {children:,} nested rows removed)",
                "duplicate_of": None,
            }
        ],
    )
    return Withdrawal(target, entry, moved, children, already and not moved)


def _move_rows(
    con: duckdb.DuckDBPyConnection,
    target: Entity,
    raw_path: Path,
    quarantine_path: Path,
    reason: str,
    load_id: str,
    now: dt.datetime,
) -> None:
    """Quarantine ∪ the raw rows as quarantine rows (the raw row as JSON in raw_content)."""
    key = " || ':' || ".join(
        f"coalesce(cast({identifier(c)} as varchar), '')" for c in target.primary_key
    )
    columns = ", ".join(identifier(c.name) for c in target.columns)
    earlier = (
        f"select * from read_parquet({literal(str(quarantine_path))}) where rule <> {literal(RULE)}"
        if quarantine_path.exists()
        else None
    )
    moved = f"""
        select
            {literal(target.source)} as source, {literal(target.name)} as entity,
            _source_file as source_file, _line_no as line_no, {key} as record_key,
            {literal(RULE)} as rule, null::varchar as column_name,
            {literal("the file was withdrawn: " + reason.strip())} as reason,
            to_json(struct_pack({columns}))::varchar as raw_content,
            {literal(load_id)} as load_id, {literal(str(now))}::timestamp as quarantined_at
        from read_parquet({literal(str(raw_path))})
    """
    union = f"{earlier} union all by name {moved}" if earlier else moved
    tmp = quarantine_path.with_name(quarantine_path.name + ".withdrawing.tmp")
    con.execute(
        f"copy (select * from ({union}) order by line_no) to {literal(str(tmp))} "
        "(format parquet, compression zstd)"
    )
    os.replace(tmp, quarantine_path)


def _empty(table: Entity, path: Path) -> None:
    tmp = path.with_name(path.name + ".withdrawing.tmp")
    pq.write_table(raw_schema(table).empty_table(), tmp)
    os.replace(tmp, path)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"


def withdrawals(lake: Lake) -> list[dict]:
    """Every withdrawn file, for `omni360 status` and the report."""
    found = []
    for target in ENTITIES:
        for entry in lake.manifest(target):
            if entry.status == "withdrawn":
                found.append(
                    {
                        "entity": target.key,
                        "source_file": entry.source_file,
                        "withdrawn_at": entry.withdrawn_at,
                        "reason": entry.withdraw_reason,
                        "rows": entry.rows_quarantined,
                    }
                )
    return found
