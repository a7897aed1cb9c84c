"""Publishing the marts for BI: a consistent, read-only DuckDB snapshot swapped in atomically,
plus Parquet exports of the same tables.

BI tools and notebooks cannot share the warehouse: a DuckDB file has one writer process at a time
and readers in other processes fail while it is held. So every published table is copied into a
new file next to the published one, verified, and renamed over it (`os.replace`, atomic on POSIX).
A reader that opened the old file keeps reading the old inode; a new connection sees the new one;
nobody ever sees a half-written file. The Parquet exports go to a new version folder and a
`current` symlink is switched to it the same way. See docs/bi.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib import sql
from orchestration.lib.files import make_public, public_dir
from orchestration.lib.sql import connect, identifier, literal

PUBLISHED_SCHEMAS = ("marts",)  # what BI tools see; everything else stays in the warehouse
SNAPSHOT_FILE = "omni360_marts.duckdb"
MANIFEST_SCHEMA = "_snapshot"
MANIFEST_TABLE = "manifest"
PARQUET_DIR = "parquet"
CURRENT_LINK = "current"  # symlink to the current Parquet version folder
CURRENT_FILE = "CURRENT"  # the same, as a text file, for readers that do not follow symlinks
# the oldest storage format: BI drivers (JDBC, Metabase, Superset) bundle older DuckDB releases
# that cannot open files written in DuckDB 2.0's default format
STORAGE_VERSION = "v1.0.0"
# relations dbt-duckdb leaves behind when a build is interrupted
_DBT_LEFTOVER = re.compile(r"__dbt_(tmp|backup)$")
_MANIFEST_DDL = f"""
    create table {{db}}.{MANIFEST_SCHEMA}.{MANIFEST_TABLE} (
        schema_name varchar not null,
        table_name varchar not null,
        source_type varchar not null,
        row_count bigint not null,
        checksum varchar not null,
        columns varchar not null,
        published_at timestamp not null,
        run_id varchar not null,
        duckdb_version varchar not null
    )
"""


class PublishError(RuntimeError):
    """Publishing was refused or failed; the previous snapshot is left as it was."""


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    source_type: str  # what it is in the warehouse: "table" or "view" (published as a table)
    rows: int
    checksum: str  # sum of DuckDB's hash of every row, see fingerprint_sql()
    columns: str  # "name TYPE, ..." in column order

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Manifest:
    run_id: str
    published_at: dt.datetime  # UTC
    tables: tuple[PublishedTable, ...]


@dataclass(frozen=True)
class PublishResult:
    path: Path  # the published DuckDB file
    parquet_dir: Path  # this publication's Parquet version folder
    manifest: Manifest
    file_bytes: int
    seconds: float
    removed_versions: tuple[str, ...]  # Parquet versions deleted (beyond the ones kept)


def snapshot_path(published_dir: Path) -> Path:
    """The published DuckDB file that BI tools open (read-only)."""
    return published_dir / SNAPSHOT_FILE


def fingerprint_sql(relation: str) -> str:
    """Row count and an order-independent checksum of a relation (`db.schema.table`, quoted).

    The checksum sums (not XORs, so duplicate rows count) DuckDB's 64-bit hash of each row; it is
    comparable between two copies read by the same DuckDB version.
    """
    return f"select count(*), coalesce(sum(hash(*columns(*))), 0)::varchar from {relation}"


def publish_snapshot(
    warehouse: Path,
    published_dir: Path,
    *,
    run_id: str,
    schemas: Sequence[str] = ("marts",),
    keep_parquet_versions: int = 2,
    lock_timeout_s: float = 120.0,
) -> PublishResult:
    """Copy every table and view of `schemas` into a new snapshot and swap it in atomically.

    Views are published as tables: their SQL reads warehouse schemas (and lake paths) that are not
    published, and a snapshot must not change under its readers. On any failure the previous
    snapshot and Parquet version stay as they were and the temporary files are removed.
    """
    started = time.perf_counter()
    # readable by BI users and notebooks under other accounts (docs/compliance.md)
    public_dir(published_dir)
    parquet_root = public_dir(published_dir / PARQUET_DIR)
    with _publisher_lock(published_dir, lock_timeout_s):
        _remove_leftovers(published_dir)
        published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:64] or "run"
        version = f"{published_at:%Y%m%dT%H%M%S%fZ}-{safe_id}"
        tmp = published_dir / f".{SNAPSHOT_FILE.removesuffix('.duckdb')}.{safe_id}.duckdb.tmp"
        parquet_tmp = parquet_root / f".{version}.tmp"
        parquet_final = parquet_root / version
        final = snapshot_path(published_dir)
        swapped = False
        try:
            tables = _build(
                warehouse, tmp, parquet_tmp, schemas, run_id, published_at, lock_timeout_s
            )
            _fsync(tmp)
            tmp.chmod(0o444)  # a hint to clients: open it read-only
            make_public(parquet_tmp)
            parquet_tmp.rename(parquet_final)
            os.replace(tmp, final)  # the moment the new snapshot becomes visible
            swapped = True
            _switch_current(parquet_root, version)
            _fsync(published_dir)
        except BaseException:
            _remove_file(tmp)
            _remove_file(_wal(tmp))
            shutil.rmtree(parquet_tmp, ignore_errors=True)
            if not swapped:
                shutil.rmtree(parquet_final, ignore_errors=True)
            raise
        removed = _prune(parquet_root, keep_parquet_versions, current=version)
    return PublishResult(
        path=final,
        parquet_dir=parquet_final,
        manifest=Manifest(run_id, published_at, tables),
        file_bytes=final.stat().st_size,
        seconds=round(time.perf_counter() - started, 3),
        removed_versions=removed,
    )


def _build(
    warehouse: Path,
    tmp: Path,
    parquet_tmp: Path,
    schemas: Sequence[str],
    run_id: str,
    published_at: dt.datetime,
    lock_timeout_s: float,
) -> tuple[PublishedTable, ...]:
    """Write the snapshot file and the Parquet version folder; return what was published."""
    con = connect()
    try:
        # while it is attached read-only no other process can write the warehouse, so every
        # table is read as of the same moment
        attach_read_only(con, warehouse, "wh", lock_timeout_s)
        con.execute(f"attach {literal(tmp)} as snap (storage_version '{STORAGE_VERSION}')")
        relations = list_relations(con, "wh", schemas)
        if not relations:
            raise PublishError(
                f"nothing to publish: no tables or views in schema(s) {', '.join(schemas)} of "
                f"{warehouse}. Build the marts first (dbt build), then publish again."
            )
        tables = []
        for schema, name, source_type in relations:
            con.execute(f"create schema if not exists snap.{identifier(schema)}")
            _copy_table(con, schema, name)
            source = describe(con, "wh", schema, name, source_type)
            copy = describe(con, "snap", schema, name, source_type)
            if copy != source:
                raise PublishError(
                    f"the copy of {schema}.{name} does not match the warehouse "
                    f"(warehouse {source}, copy {copy}); nothing was published"
                )
            tables.append(source)
        _write_manifest(con, tables, run_id, published_at)
        _export_parquet(con, tables, parquet_tmp)
        con.execute("checkpoint snap")
        con.execute("detach snap")
    finally:
        con.close()
    if _wal(tmp).exists():
        raise PublishError(f"{_wal(tmp)} remains after the checkpoint; nothing was published")
    return tuple(tables)


def _copy_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    relation = f"{identifier(schema)}.{identifier(name)}"
    con.execute(f"create table snap.{relation} as select * from wh.{relation}")
    comment = con.execute(
        "select comment from duckdb_tables() where database_name = 'wh' and schema_name = ? "
        "and table_name = ? union all select comment from duckdb_views() "
        "where database_name = 'wh' and schema_name = ? and view_name = ?",
        [schema, name, schema, name],
    ).fetchall()
    if comment and comment[0][0]:
        con.execute(f"comment on table snap.{relation} is {literal(comment[0][0])}")
    for column, text in con.execute(
        "select column_name, comment from duckdb_columns() where database_name = 'wh' "
        "and schema_name = ? and table_name = ? and comment is not null",
        [schema, name],
    ).fetchall():
        con.execute(f"comment on column snap.{relation}.{identifier(column)} is {literal(text)}")


def list_relations(
    con: duckdb.DuckDBPyConnection, database: str, schemas: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(schema, name, "table" | "view") of every relation in `schemas` of an attached database."""
    rows = con.execute(
        """
        select schema_name, table_name, 'table' from duckdb_tables()
        where database_name = $db and list_contains($schemas, schema_name) and not temporary
        union all
        select schema_name, view_name, 'view' from duckdb_views()
        where database_name = $db and list_contains($schemas, schema_name) and not temporary
            and not internal
        order by 1, 2
        """,
        {"db": database, "schemas": list(schemas)},
    ).fetchall()
    return [row for row in rows if not _DBT_LEFTOVER.search(row[1])]


def describe(
    con: duckdb.DuckDBPyConnection, database: str, schema: str, name: str, source_type: str
) -> PublishedTable:
    rows, checksum = con.execute(
        fingerprint_sql(f"{identifier(database)}.{identifier(schema)}.{identifier(name)}")
    ).fetchall()[0]
    columns = con.execute(
        "select string_agg(column_name || ' ' || data_type, ', ' order by column_index) "
        "from duckdb_columns() where database_name = ? and schema_name = ? and table_name = ?",
        [database, schema, name],
    ).fetchall()[0][0]
    return PublishedTable(schema, name, source_type, rows, checksum, columns or "")


def _write_manifest(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[PublishedTable],
    run_id: str,
    published_at: dt.datetime,
) -> None:
    con.execute(f"create schema snap.{MANIFEST_SCHEMA}")
    con.execute(_MANIFEST_DDL.format(db="snap"))
    con.executemany(
        f"insert into snap.{MANIFEST_SCHEMA}.{MANIFEST_TABLE} "
        "values (?, ?, ?, ?, ?, ?, ?, ?, version())",
        [
            [t.schema, t.name, t.source_type, t.rows, t.checksum, t.columns, published_at, run_id]
            for t in tables
        ],
    )
    con.execute(
        f"comment on table snap.{MANIFEST_SCHEMA}.{MANIFEST_TABLE} is "
        "'One row per published table: rows, checksum (sum of hash(*columns(*)) as computed "
        "by duckdb_version), columns, when and by which run it was published.'"
    )


def _export_parquet(
    con: duckdb.DuckDBPyConnection, tables: Sequence[PublishedTable], folder: Path
) -> None:
    """`<folder>/<schema>/<table>.parquet`, read from the snapshot so both formats agree."""
    relations = [(t.schema, t.name) for t in tables] + [(MANIFEST_SCHEMA, MANIFEST_TABLE)]
    for schema, name in relations:
        target = folder / schema / f"{name}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"copy snap.{identifier(schema)}.{identifier(name)} to {literal(target)} "
            # zstd's level 1: the files are no larger than at its default 3, the export 15% faster
            "(format parquet, compression zstd, compression_level 1)"
        )


def _switch_current(parquet_root: Path, version: str) -> None:
    link_tmp = parquet_root / f".{CURRENT_LINK}.{os.getpid()}.tmp"
    _remove_file(link_tmp)
    link_tmp.symlink_to(version, target_is_directory=True)
    os.replace(link_tmp, parquet_root / CURRENT_LINK)
    file_tmp = parquet_root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    file_tmp.write_text(version + "\n", encoding="utf-8")
    make_public(file_tmp)
    os.replace(file_tmp, parquet_root / CURRENT_FILE)


def drop_previous_versions(published_dir: Path) -> tuple[str, ...]:
    """Delete every Parquet version but the current one (after an erasure: an older version
    still holds the erased subject)."""
    parquet_root = published_dir / PARQUET_DIR
    current_file = parquet_root / CURRENT_FILE
    if not current_file.is_file():
        return ()
    return _prune(parquet_root, 1, current=current_file.read_text(encoding="utf-8").strip())


def _prune(parquet_root: Path, keep: int, current: str) -> tuple[str, ...]:
    """Delete Parquet versions older than the newest `keep` (names sort by publication time)."""
    versions = sorted(
        p.name
        for p in parquet_root.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )
    stale = [v for v in versions[: max(len(versions) - max(keep, 1), 0)] if v != current]
    for name in stale:
        shutil.rmtree(parquet_root / name, ignore_errors=True)
    return tuple(stale)


def _remove_leftovers(published_dir: Path) -> None:
    """Temporary files of a publisher that crashed (we hold the lock, so none is in use)."""
    for path in published_dir.glob(".*.duckdb.tmp*"):
        _remove_file(path)
    for path in (published_dir / PARQUET_DIR).glob(".*.tmp"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            _remove_file(path)


@contextlib.contextmanager
def _publisher_lock(published_dir: Path, timeout_s: float) -> Iterator[None]:
    """One publisher at a time per folder (two Dagster runs may finish together)."""
    with open(published_dir / ".publish.lock", "a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PublishError(
                        f"another publisher has held {published_dir / '.publish.lock'} for "
                        f"{timeout_s:.0f}s; wait for it to finish, then publish again"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def attach_read_only(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, timeout_s: float = 0.0
) -> None:
    """`sql.attach_read_only`, failing as a publication does."""
    try:
        sql.attach_read_only(con, path, alias, timeout_s)
    except (FileNotFoundError, sql.WarehouseBusy) as error:
        raise PublishError(str(error)) from error


def read_manifest(snapshot: Path) -> Manifest:
    """The manifest of a published snapshot."""
    con = connect()
    try:
        attach_read_only(con, snapshot, "snap")
        return _manifest(con)
    finally:
        con.close()


def _manifest(con: duckdb.DuckDBPyConnection) -> Manifest:
    rows = con.execute(
        f"select schema_name, table_name, source_type, row_count, checksum, columns, "
        f"published_at, run_id from snap.{MANIFEST_SCHEMA}.{MANIFEST_TABLE} order by 1, 2"
    ).fetchall()
    if not rows:
        raise PublishError("the snapshot's manifest is empty")
    tables = tuple(PublishedTable(*row[:6]) for row in rows)
    return Manifest(run_id=rows[0][7], published_at=rows[0][6], tables=tables)


def verify_snapshot(
    snapshot: Path,
    warehouse: Path | None = None,
    *,
    schemas: Sequence[str] = ("marts",),
    lock_timeout_s: float = 0.0,
) -> list[str]:
    """What is wrong with a published snapshot: tables that differ from its manifest, and, given
    the warehouse, tables that differ from (or are missing in) the warehouse. Empty when sound."""
    con = connect()
    try:
        attach_read_only(con, snapshot, "snap")
        manifest = _manifest(con)
        problems: list[str] = []
        listed = {(t.schema, t.name): t for t in manifest.tables}
        present = {(s, n) for s, n, _ in list_relations(con, "snap", schemas)}
        for schema, name in sorted(present - set(listed)):
            problems.append(f"{schema}.{name}: in the snapshot, not in its manifest")
        for key, expected in sorted(listed.items()):
            if key not in present:
                problems.append(f"{expected.qualified}: in the manifest, not in the snapshot")
                continue
            actual = describe(con, "snap", *key, expected.source_type)
            if actual != expected:
                problems.append(f"{expected.qualified}: snapshot {actual} ≠ manifest {expected}")
        if warehouse is not None:
            attach_read_only(con, warehouse, "wh", lock_timeout_s)
            relations = list_relations(con, "wh", schemas)
            for schema, name, source_type in relations:
                expected = listed.get((schema, name))
                if expected is None:
                    problems.append(f"{schema}.{name}: in the warehouse, not published")
                    continue
                actual = describe(con, "wh", schema, name, source_type)
                if actual != expected:
                    problems.append(f"{schema}.{name}: warehouse {actual} ≠ published {expected}")
            for schema, name in sorted(set(listed) - {(s, n) for s, n, _ in relations}):
                problems.append(f"{schema}.{name}: published, no longer in the warehouse")
        return problems
    finally:
        con.close()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
