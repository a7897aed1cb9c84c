"""Load one entity's landing files into the lake, file by file, with row accounting."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from orchestration.lib.contracts import Entity, entity
from orchestration.lib.identity.duckdb_udfs import register as register_udfs
from orchestration.lib.identity.locale import Locale
from orchestration.lib.ingest.lake import Lake, ManifestEntry
from orchestration.lib.ingest.landing import LandingFile, LayoutProblem
from orchestration.lib.ingest.parse import FileRefused, Limits, ParsedFile, parse_file
from orchestration.lib.ingest.validate import (
    FileRules,
    checked_sql,
    json_fields_expr,
    output_columns,
    record_key_expr,
    ref_table_name,
    value_exprs,
)
from orchestration.lib.privacy.subjects import SuppressionList, token_match_sql
from orchestration.lib.sql import connect, identifier, literal


class AccountingError(Exception):
    """Rows read != rows loaded + rows quarantined: the file is not committed and the run fails."""


@dataclass
class FileOutcome:
    source_file: str
    # loaded | skipped_duplicate | already_loaded | withdrawn (earlier, by an operator) | refused
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    child_rows_loaded: int = 0
    rows_with_warnings: int = 0
    rows_suppressed: int = 0  # rows of erased subjects (docs/compliance.md#erasure)
    rule: str | None = None
    message: str | None = None
    duplicate_of: str | None = None
    quarantine_rules: Counter = field(default_factory=Counter)
    # optional columns the file lacks (loaded as null), and columns the contract does not name
    missing_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    refused_before: str | None = None  # a refusal of the same bytes by an earlier run: its load

    def audit_event(self, entity: Entity, load_id: str, at: str) -> dict:
        return {
            "load_id": load_id,
            "audited_at": at,
            "source": entity.source,
            "entity": entity.name,
            "source_file": self.source_file,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "child_rows_loaded": self.child_rows_loaded,
            "rows_suppressed": self.rows_suppressed,
            "rule": self.rule,
            "message": self.message,
            "duplicate_of": self.duplicate_of,
            "missing_columns": list(self.missing_columns),
            "extra_columns": list(self.extra_columns),
        }


@dataclass
class EntityLoadResult:
    entity: Entity
    load_id: str
    outcomes: list[FileOutcome]
    recovered: list[str]
    layout_problems: list[LayoutProblem]
    elapsed_s: float

    def _sum(self, attr: str) -> int:
        return sum(getattr(o, attr) for o in self.outcomes)

    @property
    def rows_read(self) -> int:
        return self._sum("rows_read")

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self._sum("rows_quarantined")

    @property
    def child_rows_loaded(self) -> int:
        return self._sum("child_rows_loaded")

    @property
    def rows_suppressed(self) -> int:
        return self._sum("rows_suppressed")

    @property
    def rows_with_warnings(self) -> int:
        return self._sum("rows_with_warnings")

    def files(self, status: str) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def refusals(self) -> list[str]:
        return [o.message or o.source_file for o in self.files("refused")] + [
            str(p) for p in self.layout_problems
        ]

    @property
    def new_refusals(self) -> list[str]:
        """Refusals not seen before: a file refused by an earlier run, unchanged, is old news."""
        return [
            o.message or o.source_file for o in self.files("refused") if not o.refused_before
        ] + [str(p) for p in self.layout_problems]

    @property
    def incomplete_files(self) -> list[FileOutcome]:
        """Loaded files that lack optional columns of the contract (loaded as null)."""
        return [o for o in self.files("loaded") if o.missing_columns]

    @property
    def quarantine_rules(self) -> Counter:
        total: Counter = Counter()
        for outcome in self.outcomes:
            total.update(outcome.quarantine_rules)
        return total


def new_load_id(run_id: str | None = None) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = (run_id or hashlib.sha1(str(time.time_ns()).encode()).hexdigest())[:8]
    return f"{stamp}-{suffix}"


def file_id(landing_file: LandingFile, sha256: str) -> str:
    stem = landing_file.path.stem
    return f"{landing_file.delivery_date.isoformat()}__{stem}__{sha256[:12]}"


STAGING_THREADS = 2  # Arrow's CSV parser and DuckDB release the GIL: two files overlap well
SMALL_FILE_ROWS = 100_000  # staged on one DuckDB thread


def load_entity(
    target: Entity,
    files: list[LandingFile],
    lake: Lake,
    load_id: str,
    layout_problems: list[LayoutProblem] | None = None,
    progress: Callable[[FileOutcome], None] | None = None,
    limits: Limits | None = None,
    blocking_columns: frozenset[str] = frozenset(),
    locale: Locale | None = None,
) -> EntityLoadResult:
    """Load new files: staged in parallel, committed one by one in delivery order.

    No file can stop the others: whatever goes wrong with one file refuses that file, with the
    reason. `blocking_columns` are optional columns whose absence refuses a file.
    """
    started = time.perf_counter()
    limits = limits or Limits()
    lake.ensure_layout(target)
    recovered = lake.recover(target)
    manifest = lake.manifest(target)
    refused_before = lake.refusals(target)
    by_path = {e.source_file: e for e in manifest}
    by_sha: dict[str, ManifestEntry | _Job] = {e.sha256: e for e in manifest}
    outcomes: list[FileOutcome] = []
    local = threading.local()
    connections: list[duckdb.DuckDBPyConnection] = []
    suppression = SuppressionList(lake.root)
    suppress = (
        # the text as delivered (`__v_`), so a row quarantined for another reason matches too
        token_match_sql(target, "suppression_tokens", "__v_{}", locale) if suppression else None
    )

    def stage(job: _Job) -> tuple[FileOutcome, list[Path]]:
        if not hasattr(local, "con"):
            local.con = connect()
            connections.append(local.con)
            _register_references(local.con, target, lake)
            if suppress:
                register_udfs(local.con)
                _run(
                    local.con,
                    "create temp table suppression_tokens as select distinct token "
                    f"from read_parquet({literal(suppression.glob())})",
                )
        try:
            return _stage_job(
                local.con, target, job, lake, load_id, suppress, limits, blocking_columns
            )
        except Exception as error:  # one unreadable file never stops the others
            return _unreadable(job.landing_file.rel_path, error), []

    def finish(item: FileOutcome | tuple[_Job, Future | None]) -> None:
        outcome = item if isinstance(item, FileOutcome) else _commit(target, item, lake, by_path)
        if outcome.status == "refused":
            sha = item[0].entry.sha256 if isinstance(item, tuple) else None
            first = refused_before.get((outcome.source_file, sha or ""))
            outcome.refused_before = first["load_id"] if first else None
            if sha:
                lake.record_refusal(
                    target, outcome.source_file, sha, load_id, outcome.rule, outcome.message
                )
        outcomes.append(outcome)
        if progress:
            progress(outcome)

    pending: deque[FileOutcome | tuple[_Job, Future | None]] = deque()
    try:
        with ThreadPoolExecutor(STAGING_THREADS) as pool:
            for landing_file in sorted(files, key=lambda f: (f.delivery_date, f.rel_path)):
                planned = _plan(target, landing_file, load_id, by_path, by_sha)
                if isinstance(planned, _Job) and planned.duplicate_of is None:
                    pending.append((planned, pool.submit(stage, planned)))
                else:
                    pending.append(planned if isinstance(planned, FileOutcome) else (planned, None))
                while len(pending) > STAGING_THREADS:
                    finish(pending.popleft())
            while pending:
                finish(pending.popleft())
    finally:
        for con in connections:
            con.close()
    now = _utc_now_text()
    events = [o.audit_event(target, load_id, now) for o in outcomes if o.status != "already_loaded"]
    # one line even when nothing was new, so every run of every entity is on record
    lake.append_audit(
        target,
        load_id,
        events or [FileOutcome("", "no_new_files").audit_event(target, load_id, now)],
    )
    return EntityLoadResult(
        target, load_id, outcomes, recovered, layout_problems or [], time.perf_counter() - started
    )


def unloaded_files(target: Entity, files: list[LandingFile], lake: Lake) -> list[str]:
    """The landing files a run would load (or skip as copies, or refuse for the first time):
    those whose paths the manifest does not hold, unless the same bytes were refused before. A
    path in the manifest is loaded, withdrawn or (new bytes) refused again by every run: never
    new. Only files with a refusal on record are read and hashed."""
    loaded = {e.source_file for e in lake.manifest(target)}
    refused = lake.refusals(target)
    refused_paths = {path for path, _ in refused}
    found = []
    for landing_file in files:
        rel = landing_file.rel_path
        if rel in loaded:
            continue
        if rel in refused_paths:
            try:
                sha = hashlib.sha256(landing_file.path.read_bytes()).hexdigest()
            except OSError:
                continue  # unreadable: refused again by every run
            if (rel, sha) in refused:
                continue
        found.append(rel)
    return found


def _unreadable(rel: str, error: Exception) -> FileOutcome:
    detail = (str(error).strip().splitlines() or [""])[0][:300]
    return FileOutcome(
        rel,
        "refused",
        rule="unreadable_file",
        message=f"{rel}: could not be read ({type(error).__name__}: {detail}); nothing of it "
        "was loaded and the other files went on. Check the file; if it looks right, report "
        "this with the file.",
    )


def _utc_now_text() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def _register_references(con: duckdb.DuckDBPyConnection, target: Entity, lake: Lake) -> None:
    for col in target.columns:
        if not col.references:
            continue
        source, name, column = col.references.split(".")
        glob = lake.raw_dir(entity(source, name)) / "*.parquet"
        _run(
            con,
            f"create or replace temp table {ref_table_name(col.references)} as "
            f"select distinct {identifier(column)} as value "
            f"from read_parquet({literal(str(glob))})",
        )


@dataclass
class _Job:
    """A new landing file on its way into the lake."""

    landing_file: LandingFile
    data: bytes
    entry: ManifestEntry
    duplicate_of: _Job | ManifestEntry | None = None
    outcome: FileOutcome | None = None  # once committed


def _plan(
    target: Entity,
    landing_file: LandingFile,
    load_id: str,
    by_path: dict[str, ManifestEntry],
    by_sha: dict[str, ManifestEntry | _Job],
) -> FileOutcome | _Job:
    rel = landing_file.rel_path
    try:
        data = landing_file.path.read_bytes()
    except OSError as error:
        return _unreadable(rel, error)
    sha = hashlib.sha256(data).hexdigest()
    previous = by_path.get(rel)
    if previous is not None:
        if previous.sha256 == sha:
            # loaded before, or withdrawn since by an operator: either way not loaded again
            return FileOutcome(
                rel, "withdrawn" if previous.status == "withdrawn" else "already_loaded"
            )
        return FileOutcome(
            rel,
            "refused",
            rule="changed_file",
            message=f"{rel}: this file was loaded before (load {previous.load_id}, sha256 "
            f"{previous.sha256[:12]}…) and its content has changed (now {sha[:12]}…). Loaded data "
            "is never overwritten: deliver the corrections as a new file with a new name.",
        )
    entry = ManifestEntry(
        file_id=file_id(landing_file, sha),
        source_file=rel,
        source=target.source,
        entity=target.name,
        delivery_date=landing_file.delivery_date.isoformat(),
        size_bytes=len(data),
        sha256=sha,
        load_id=load_id,
        loaded_at=_utc_now_text(),
        status="loaded",
        duplicate_of=None,
        rows_read=0,
        rows_loaded=0,
        rows_quarantined=0,
        child_rows_loaded=0,
        rows_with_warnings=0,
    )
    job = _Job(landing_file, data, entry, duplicate_of=by_sha.get(sha))
    if job.duplicate_of is None:
        by_sha[sha] = job
    return job


def _stage_job(
    con: duckdb.DuckDBPyConnection,
    target: Entity,
    job: _Job,
    lake: Lake,
    load_id: str,
    suppress: str | None,
    limits: Limits,
    blocking_columns: frozenset[str],
) -> tuple[FileOutcome, list[Path]]:
    rel, entry = job.landing_file.rel_path, job.entry
    rules = FileRules(job.landing_file.delivery_date, limits.max_field_bytes)
    try:
        parsed = parse_file(job.data, target, rel, limits, blocking_columns)
        # planning a statement costs more than a small file's rows, and more on several threads;
        # the other staging thread keeps the second core busy
        _run(con, "set threads = 1" if parsed.rows_read < SMALL_FILE_ROWS else "reset threads")
        return _stage_file(
            con,
            target,
            parsed,
            lake,
            entry.file_id,
            rel,
            load_id,
            entry.loaded_at,
            rules,
            suppress,
            blocking_columns,
        )
    except FileRefused as refused:
        return FileOutcome(rel, "refused", rule=refused.rule, message=str(refused)), []


def _commit(
    target: Entity,
    item: tuple[_Job, Future | None],
    lake: Lake,
    by_path: dict[str, ManifestEntry],
) -> FileOutcome:
    job, future = item
    rel, entry = job.landing_file.rel_path, job.entry
    if future is None:  # same bytes as a file loaded before, or earlier in this run
        original = job.duplicate_of
        first = original.outcome if isinstance(original, _Job) else None
        original_file = (
            original.entry.source_file if isinstance(original, _Job) else (original.source_file)
        )
        if first is not None and first.status == "refused":
            job.outcome = FileOutcome(
                rel, "refused", rule=first.rule, message=f"{rel}: same bytes as {first.message}"
            )
            return job.outcome
        entry.status = "skipped_duplicate"
        entry.duplicate_of = original_file
        lake.commit(target, entry, [])
        by_path[rel] = entry
        job.outcome = FileOutcome(
            rel,
            "skipped_duplicate",
            duplicate_of=original_file,
            message=f"{rel}: identical to {original_file} (already loaded); skipped",
        )
        return job.outcome
    outcome, staged = future.result()
    if outcome.status == "loaded":
        for name in (
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "child_rows_loaded",
            "rows_with_warnings",
            "rows_suppressed",
        ):
            setattr(entry, name, getattr(outcome, name))
        lake.commit(target, entry, staged)
        by_path[rel] = entry
    job.outcome = outcome
    return outcome


def _stage_file(
    con: duckdb.DuckDBPyConnection,
    target: Entity,
    parsed: ParsedFile,
    lake: Lake,
    fid: str,
    rel: str,
    load_id: str,
    loaded_at: str,
    rules: FileRules,
    suppress: str | None = None,
    blocking_columns: frozenset[str] = frozenset(),
) -> tuple[FileOutcome, list[Path]]:
    con.register("parsed", parsed.table)
    con.register("raw_lines", parsed.raw)
    staged: list[Path] = []
    try:
        _build_checked(con, target, rules)
        missing, extra = (
            (parsed.missing_optional_columns, parsed.extra_columns)
            if target.format == "csv"
            else _json_columns(con, target)
        )
        blocked = [c for c in missing if c in blocking_columns]
        if blocked:
            raise FileRefused(
                rel,
                f"no line has the blocking column(s) {', '.join(blocked)}"
                + (
                    f"; lines have keys the contract does not name: {', '.join(extra)}"
                    if extra
                    else ""
                ),
                f"records of {target.key} must carry {', '.join(blocked)} (a deployment setting, "
                "OMNI360_BLOCKING_COLUMNS)",
                "missing_column",
            )
        # rows of erased subjects go nowhere, not even to quarantine; they are only counted
        suppressed = 0
        if suppress:
            suppressed = _run(con, f"delete from checked where {suppress}")[0][0]
        lineage = (
            f"{literal(rel)} as _source_file, _line_no, {literal(load_id)} as _load_id, "
            f"{literal(loaded_at)}::timestamp as _loaded_at"
        )
        valid_sql = (
            f"select {', '.join(output_columns(target, rules))}, {lineage}, _warnings "
            "from checked where _problem is null order by _line_no"
        )
        staged.append(_copy(con, valid_sql, lake.raw_dir(target) / f"{fid}.parquet.tmp"))
        if target.child is not None:
            child_sql = (
                f"select {', '.join(output_columns(target.child, rules))}, {lineage}, "
                "child_checked._warnings from child_checked "
                "semi join (select _line_no from checked where _problem is null) "
                "as ok on child_checked._parent_line_no = ok._line_no "
                "order by _line_no, _item_no"
            )
            staged.append(_copy(con, child_sql, lake.raw_dir(target.child) / f"{fid}.parquet.tmp"))
        quarantine_sql = f"""
            select {literal(target.source)} as source, {literal(target.name)} as entity,
                {literal(rel)} as source_file, checked._line_no as line_no,
                nullif({record_key_expr(target)}, '') as record_key,
                _problem.rule as rule, _problem.column as column_name,
                _problem.reason as reason, raw_lines._raw as raw_content,
                {literal(load_id)} as load_id, {literal(loaded_at)}::timestamp as quarantined_at
            from checked
            inner join raw_lines on checked._line_no = raw_lines._line_no
            where _problem is not null order by checked._line_no"""
        staged.append(
            _copy(con, quarantine_sql, lake.quarantine_dir(target) / f"{fid}.parquet.tmp")
        )
        quarantined_by_rule: Counter = Counter()
        with_warnings = 0
        for quarantined_row, rule, rows, warned in _run(
            con,
            "select _problem is not null, _problem.rule, count(*), count(_warnings) "
            "from checked group by all",
        ):
            if quarantined_row:
                quarantined_by_rule[rule] += rows
            else:
                with_warnings = warned
    except BaseException:
        for path in (lake.raw_dir(t) / f"{fid}.parquet.tmp" for t in target.raw_tables):
            path.unlink(missing_ok=True)
        (lake.quarantine_dir(target) / f"{fid}.parquet.tmp").unlink(missing_ok=True)
        raise
    finally:
        con.unregister("parsed")
        con.unregister("raw_lines")
    loaded = pq.read_metadata(staged[0]).num_rows
    quarantined = pq.read_metadata(staged[-1]).num_rows
    children = pq.read_metadata(staged[1]).num_rows if target.child is not None else 0
    if loaded + quarantined + suppressed != parsed.rows_read:
        for path in staged:
            path.unlink(missing_ok=True)
        raise AccountingError(
            f"{rel}: {parsed.rows_read} rows read but {loaded} loaded + {quarantined} "
            f"quarantined + {suppressed} suppressed; nothing of this file was committed. This "
            "is a bug in omni360: please report it with the file."
        )
    outcome = FileOutcome(
        rel,
        "loaded",
        rows_read=parsed.rows_read,
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        child_rows_loaded=children,
        rows_with_warnings=with_warnings,
        rows_suppressed=suppressed,
        quarantine_rules=quarantined_by_rule,
        message=_header_note(missing, extra, rel),
        missing_columns=tuple(missing),
        extra_columns=tuple(extra),
    )
    return outcome, staged


def _json_columns(
    con: duckdb.DuckDBPyConnection, target: Entity, sample: int = 1000
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Optional fields no line of a JSON-lines file has, and keys the contract does not name.

    JSON lines may leave out null fields, so an absent key alone is no loss; an absent key
    beside an unknown one is (a renamed field). Unknown keys are looked for in the first
    `sample` lines, absent ones (only then) over the whole file.
    """
    known = {*target.column_names, *([target.child_field] if target.child_field else [])}
    keys = _run(
        con,
        "select distinct unnest(json_keys(_raw)) from "
        f"(select _raw from json_rows where _fields is not null order by _line_no limit {sample})",
    )
    extra = tuple(sorted(k for (k,) in keys if k not in known))
    if not extra:
        return (), ()
    optional = [c.name for c in target.columns if not c.required]
    present = _run(
        con,
        "select "
        + ", ".join(f"bool_or(json_exists(_raw, {literal('$.' + n)}))" for n in optional)
        + " from json_rows where _fields is not null",
    )[0]
    missing = tuple(n for n, found in zip(optional, present, strict=True) if not found)
    return missing, extra


def _header_note(missing: tuple[str, ...], extra: tuple[str, ...], rel: str) -> str | None:
    """What a file's columns left out or added, for the audit; None when they match."""
    notes = []
    if extra:
        notes.append(f"ignored extra columns: {', '.join(extra)}")
    if missing:
        notes.append(f"missing optional columns (loaded as null): {', '.join(missing)}")
    return f"{rel}: {'; '.join(notes)}" if notes else None


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    # DuckDB 2 keeps a result open until it is fetched; fetch so the connection is free again
    return con.execute(sql).fetchall()


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> Path:
    _run(con, f"copy ({sql}) to {literal(str(path))} (format parquet, compression zstd)")
    return path


def _build_checked(con: duckdb.DuckDBPyConnection, target: Entity, rules: FileRules) -> None:
    """Create temp table `checked` (and `child_checked` for nested entities)."""
    if target.format == "csv":
        _run(
            con,
            "create or replace temp table checked as "
            + checked_sql(target, "parsed", value_exprs(target), rules),
        )
        return
    _run(
        con,
        f"""
        create or replace temp table json_rows as
        with typed as (
            -- every JSON function parses its text again: parse as few times as possible
            select *, case when _parse_error is null then try(json_type(_raw)) end as _type
            from parsed
        )
        select
            _line_no, _raw,
            case
                when _parse_error is not null then _parse_error
                when coalesce(_type, '') <> 'OBJECT' then 'invalid_json'
            end as _parse_error,
            _parse_column,
            case
                when _parse_error is not null then _parse_detail
                when _type is null then 'line is not valid JSON'
                when _type <> 'OBJECT' then 'line is JSON but not an object'
            end as _parse_detail,
            case when _type = 'OBJECT' then {json_fields_expr(target, "_raw")} end as _fields
        from typed
    """,
    )
    if target.child is None:
        _run(
            con,
            "create or replace temp table checked as "
            + checked_sql(target, "json_rows", value_exprs(target), rules),
        )
        return
    _build_nested_checked(con, target, rules)


def _build_nested_checked(con: duckdb.DuckDBPyConnection, target: Entity, rules: FileRules) -> None:
    child = target.child
    assert child is not None and target.child_field is not None
    key_position = target.column_names.index(target.primary_key[0]) + 1
    # each item read once into a struct of text fields (the parent's key column is not in it)
    item_columns = [c.name for c in child.columns if c.name not in target.primary_key]
    item_type = "[{" + ", ".join(f'"{c}": "VARCHAR"' for c in item_columns) + "}]"
    item_fields = ", ".join(
        "null::varchar" if c.name in target.primary_key else f"_item.{identifier(c.name)}"
        for c in child.columns
    )
    _run(
        con,
        f"""
        create or replace temp table json_items as
        select
            _line_no,
            nullif(_fields[{key_position}], '') as _parent_key,
            _raw->{literal("$." + target.child_field)} as _items,
            json_type(_items) as _items_type
        from json_rows
        where _fields is not null  -- exactly the lines that are JSON objects
    """,
    )
    _run(
        con,
        f"""
        create or replace temp table child_rows as
        with items as (
            select
                _line_no as _parent_line_no, _line_no,
                null::varchar as _parse_error, null::varchar as _parse_column,
                null::varchar as _parse_detail,
                _parent_key,
                unnest(from_json(_items, {literal(item_type)})) as _item,
                unnest(range(1, json_array_length(_items)::bigint + 1)) as _item_no
            from json_items
            where _items_type = 'ARRAY'
        )
        select * exclude (_item), [{item_fields}] as _fields from items
    """,
    )
    values = value_exprs(child)
    values[target.primary_key[0]] = "_parent_key"
    _run(
        con,
        "create or replace temp table child_checked as "
        + checked_sql(child, "child_rows", values, rules),
    )
    field_name = target.child_field
    _run(
        con,
        f"""
        create or replace temp table parent_rows as
        with child_problems as (
            select
                _parent_line_no,
                arg_min({{'rule': _problem.rule, 'column': '{field_name}.' || _problem.column,
                    'reason': 'line item ' || _item_no || ': ' || _problem.reason}},
                    _item_no) as _child_problem
            from child_checked
            where _problem is not null
            group by _parent_line_no
        )
        select
            json_rows.*,
            case
                when json_rows._fields is null then null
                when coalesce(json_items._items_type, 'NULL') = 'NULL' then
                    {{'rule': 'required_missing', 'column': '{field_name}',
                      'reason': '{field_name} is required but missing'}}
                when json_items._items_type <> 'ARRAY' then
                    {{'rule': 'invalid_type', 'column': '{field_name}',
                      'reason': '{field_name} is not an array of line items'}}
                when json_array_length(json_items._items) = 0 then
                    {{'rule': 'required_missing', 'column': '{field_name}',
                      'reason': '{field_name} has no line items'}}
                else child_problems._child_problem
            end as _nested_problem
        from json_rows
        left join json_items on json_rows._line_no = json_items._line_no
        left join child_problems on json_rows._line_no = child_problems._parent_line_no
    """,
    )
    _run(
        con,
        "create or replace temp table checked as "
        + checked_sql(
            target, "parent_rows", value_exprs(target), rules, extra_problem="_nested_problem"
        ),
    )
