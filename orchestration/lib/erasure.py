"""The right to erasure: remove one data subject from every layer, provably.

`remove()` finds the unified customer holding an identifier, then:

1. adds the tokens of the subject's keys to the suppression list (ingestion drops their rows
   from any file delivered later, re-deliveries included);
2. rewrites every raw and quarantine Parquet file of the lake that holds one of their rows, and
   corrects the files' manifest entries (rows erased) so row accounting still adds up;
3. deletes their rows from every warehouse table (identity, value, marts, history, audit) and
   marks their customer id erased, so it is never given to anybody else; the frozen identity
   model goes too (its term frequencies hold the names and phones it was trained on);
4. the caller rebuilds everything downstream (`omni360 erase` runs the main job), which also
   republishes the BI snapshot; then `verify()` scrubs their customer ids from earlier reports,
5. rewrites the DuckDB file (deleted rows stay in its blocks until then) and verifies: no table,
   Parquet file or other file under the warehouse folder holds any of their identifiers;
6. records the request with a token of the subject, never the identifier itself.

The proof covers the records identity resolution linked to the subject and the identifiers they
carry (`ErasureReport.covers` says which). A record of theirs that was never linked (a follower
known by nickname only) is outside it: records that share a weaker attribute with the subject
(the same name and city or birth date, the same nickname) are listed for review
(`ErasureReport.review`), never deleted on a guess.

The subject's identifiers are held in memory only (`Erasure`), from `remove()` to `verify()`.
"""

from __future__ import annotations

import datetime as dt
import json
import mmap
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration import settings
from orchestration.lib.contracts import ENTITIES, Entity, entity, raw_tables
from orchestration.lib.files import write_atomic
from orchestration.lib.identity.duckdb_udfs import register as register_udfs
from orchestration.lib.identity.explain import current_id, customer_ids_for
from orchestration.lib.identity.locale import Locale
from orchestration.lib.ingest.lake import SCHEMA_FILE, Lake
from orchestration.lib.privacy.subjects import (
    SubjectKeys,
    SuppressionList,
    normalised_sql,
    subject_columns,
)
from orchestration.lib.privacy.tokens import token
from orchestration.lib.publish import drop_previous_versions
from orchestration.lib.quality import history
from orchestration.lib.sql import connect, identifier, literal

# record kinds of the identity layer whose source ids are subject keys
RECORD_KEY_KINDS = {
    ("crm", "members"): "member_id",
    ("ecommerce", "customers"): "account_id",
    ("pos", "transactions"): "transaction_id",
    ("social", "accounts"): "openid",
}
# the erased customer id stays in the id registry, marked erased, so it is never reused; it
# leads to nothing
KEPT_COLUMNS = {("identity", "customer_ids", "customer_id")}
TEXT_SUFFIXES = {".html", ".json", ".jsonl", ".log", ".txt", ".csv", ".md", ".xml", ".js"}
_FULLWIDTH = ("０１２３４５６７８９", "0123456789")


class ErasureError(Exception):
    """The request cannot be carried out as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Subject:
    identifier_kind: str
    subject_token: str
    customer_ids: tuple[str, ...]
    record_keys: tuple[str, ...]
    keys: SubjectKeys
    shared_identifiers: int  # identifiers also held by other customers: kept, theirs too


@dataclass
class ErasureReport:
    request_id: str
    identifier_kind: str
    subject_token: str
    requested_at: dt.datetime
    customers: int = 0
    records: int = 0
    suppression_tokens: int = 0
    rows_removed: dict[str, int] = field(default_factory=dict)
    reports_scrubbed: int = 0
    rebuilt: bool = False
    traces: list[str] = field(default_factory=list)  # where identifiers were still found
    places_searched: int = 0
    completed_at: dt.datetime | None = None
    # what the proof covers: identifier kind / records per source → how many
    covers: dict[str, int] = field(default_factory=dict)
    # records not linked to the subject that share a weaker attribute: (customer id, record
    # key, why) for an operator to review; kept, and only counted in the audit
    review: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.rebuilt and not self.traces


# --- finding the subject ------------------------------------------------------------------------


def find_subject(
    con: duckdb.DuckDBPyConnection, lake: Lake, identifier: str, locale: Locale | None = None
) -> Subject:
    """The one unified customer holding `identifier` (`phone:…`, `member:…`, `email:…`, …)."""
    locale = locale or Locale()
    try:
        found = sorted({current_id(con, c) for c in customer_ids_for(con, identifier, locale)})
    except ValueError as error:
        raise ErasureError(str(error)) from error
    kind, _, value = identifier.partition(":")
    if not found:
        raise ErasureError(f"no customer holds this {kind}; nothing was erased")
    if len(found) > 1:
        raise ErasureError(
            f"{len(found)} customers hold this {kind} ({', '.join(found[:10])}): erase one "
            "of them by `customer:<id>` or `member:<id>` once you know which is the requester"
        )
    customer_id = found[0]
    record_rows = con.execute(
        "select record_key, source_system, entity, source_record_id "
        "from identity.customer_xref where customer_id = ?",
        [customer_id],
    ).fetchall()
    values: dict[str, set[str]] = {k: set() for k in ("member_id", "account_id")}
    for _key, source, entity_name, record_id in record_rows:
        kind_of_key = RECORD_KEY_KINDS.get((source, entity_name))
        if kind_of_key == "openid":
            record_id = record_id.partition(":")[2]  # app_id:openid
        if kind_of_key:
            values.setdefault(kind_of_key, set()).add(record_id)
    record_keys = [row[0] for row in record_rows]
    # identifiers only this customer holds; one shared with another customer stays (theirs too)
    identifiers = con.execute(
        """
        with mine as (
            select distinct identifier_type, identifier_value
            from identity.int_identity__identifiers
            where record_key in (select unnest(?::varchar[]))
        ),
        holders as (
            select mine.identifier_type, mine.identifier_value,
                bool_or(xref.customer_id is distinct from ?) as shared
            from mine
            inner join identity.int_identity__identifiers as ids
                using (identifier_type, identifier_value)
            left join identity.customer_xref as xref on ids.record_key = xref.record_key
            group by all
        )
        select identifier_type, identifier_value, shared from holders
        """,
        [record_keys, customer_id],
    ).fetchall()
    shared = 0
    for id_type, held, is_shared in identifiers:
        if is_shared:
            shared += 1
        elif id_type in ("phone", "email", "national_id", "card_no", "unionid"):
            values.setdefault(id_type, set()).add(held)
    if values.get("account_id"):
        orders = lake.raw_dir(entity("ecommerce", "orders")) / "*.parquet"
        values["order_id"] = {
            row[0]
            for row in con.execute(
                f"select distinct order_id from read_parquet({literal(str(orders))}) "
                "where account_id in (select unnest(?::varchar[]))",
                [sorted(values["account_id"])],
            ).fetchall()
        }
    keys = SubjectKeys({k: frozenset(v) for k, v in values.items() if v})
    merged = [
        row[0]
        for row in con.execute(
            "select customer_id from identity.customer_ids where merged_into_customer_id = ?",
            [customer_id],
        ).fetchall()
    ]
    return Subject(
        identifier_kind=kind,
        subject_token=subject_token(kind, value.strip(), locale),
        customer_ids=(customer_id, *sorted(merged)),
        record_keys=tuple(sorted(record_keys)),
        keys=keys,
        shared_identifiers=shared,
    )


def subject_token(kind: str, value: str, locale: Locale | None = None) -> str:
    """The keyed token of the identifier as normalised, for the audit: whoever holds the secret
    can check whether a given phone was erased; nobody can read it back."""
    locale = locale or Locale()
    normalised = {
        "phone": locale.phone,
        "national_id": locale.national_id,
        "email": lambda v: v.lower(),
    }.get(kind, lambda v: v)(value)
    return token(kind, normalised or value) or ""


def coverage(subject: Subject) -> dict[str, int]:
    """What the proof covers: the subject's linked records per source, and their identifiers
    by kind (counts only)."""
    covers: dict[str, int] = {}
    for key in subject.record_keys:
        name = "records from " + key.split(":", 1)[0]
        covers[name] = covers.get(name, 0) + 1
    for kind, values in sorted(subject.keys.values.items()):
        covers[kind] = len(values)
    return covers


@dataclass(frozen=True)
class WeakTraits:
    """Attributes that point to a person without proving it, held in memory only."""

    name_city: frozenset[tuple[str, str]]
    name_birth: frozenset[tuple[str, dt.date]]
    nicknames: frozenset[str]


def weak_traits(con: duckdb.DuckDBPyConnection, record_keys: Iterable[str]) -> WeakTraits:
    keys = sorted(record_keys)
    rows = con.execute(
        "select person_name, city, birth_date from identity.int_identity__source_records "
        "where record_key in (select unnest(?::varchar[])) and person_name is not null",
        [keys],
    ).fetchall()
    nicknames = con.execute(
        """
        select distinct lower(trim(accounts.nickname))
        from staging.stg_social__accounts as accounts
        where 'social:accounts:' || accounts.app_id || ':' || accounts.openid
            in (select unnest(?::varchar[]))
            and length(trim(accounts.nickname)) >= 2
        """,
        [keys],
    ).fetchall()
    return WeakTraits(
        name_city=frozenset((name, city) for name, city, _ in rows if city),
        name_birth=frozenset((name, born) for name, _, born in rows if born),
        nicknames=frozenset(n for (n,) in nicknames) | frozenset(name for name, _, _ in rows),
    )


def review_candidates(warehouse: Path, traits: WeakTraits) -> list[tuple[str, str, str]]:
    """Records left after the erasure that share a weaker attribute with the subject."""
    if not (traits.name_city or traits.name_birth or traits.nicknames):
        return []
    con = connect(str(warehouse), read_only=True)
    try:
        found = con.execute(
            """
            with records as (
                select records.record_key, records.person_name, records.city,
                    records.birth_date, xref.customer_id
                from identity.int_identity__source_records as records
                left join identity.customer_xref as xref using (record_key)
            ),
            nicknames as (
                select 'social:accounts:' || accounts.app_id || ':' || accounts.openid
                        as record_key,
                    lower(trim(accounts.nickname)) as nickname, xref.customer_id
                from staging.stg_social__accounts as accounts
                left join identity.customer_xref as xref
                    on xref.record_key
                    = 'social:accounts:' || accounts.app_id || ':' || accounts.openid
            )
            select customer_id, record_key, 'same name and city' from records
            where person_name || '|' || city in (select unnest(?::varchar[]))
            union
            select customer_id, record_key, 'same name and birth date' from records
            where person_name || '|' || cast(birth_date as varchar)
                in (select unnest(?::varchar[]))
            union
            select customer_id, record_key, 'same nickname' from nicknames
            where nickname in (select unnest(?::varchar[]))
            order by 1, 2, 3
            """,
            [
                sorted(f"{name}|{city}" for name, city in traits.name_city),
                sorted(f"{name}|{born}" for name, born in traits.name_birth),
                sorted(traits.nicknames),
            ],
        ).fetchall()
    finally:
        con.close()
    return [(customer or "unresolved", key, why) for customer, key, why in found]


# --- the lake -----------------------------------------------------------------------------------


def _digits(expr: str) -> str:
    ascii_digits = f"translate({expr}, '{_FULLWIDTH[0]}', '{_FULLWIDTH[1]}')"
    return f"regexp_replace({ascii_digits}, '[^0-9]', '', 'g')"


def _prefilter(column: str, kind: str, values: frozenset[str]) -> str:
    """A cheap test no true match fails, so the exact (slower) normalisation runs on few rows."""
    quoted = f'"{column}"'
    if kind == "phone":
        tails = " or ".join(
            f"contains({_digits(quoted)}, {literal(v[-8:])})" for v in sorted(values)
        )
        return f"({tails})"
    if kind == "national_id":
        heads = " or ".join(
            f"contains({_digits(quoted)}, {literal(v[:17])})" for v in sorted(values)
        )
        return f"({heads})"
    return "true"


def column_matches_sql(
    table: Entity, keys: SubjectKeys, locale: Locale | None = None
) -> dict[str, str]:
    """Per column of a raw table: a predicate true when it holds one of the subject's keys
    (normalised values compared in memory)."""
    matches = {}
    for column, kind in subject_columns(table):
        values = keys.values.get(kind)
        if values:
            in_list = ", ".join(literal(v) for v in sorted(values))
            matches[column] = (
                f"({_prefilter(column, kind, values)} and "
                f"{normalised_sql(column, kind, locale)} in ({in_list}))"
            )
    return matches


def quarantine_match_sql(keys: SubjectKeys) -> str | None:
    """Quarantined rows that carry one of the subject's keys anywhere in the delivered line.

    Matching the raw line (not typed columns, which a broken row may lack) can remove a stranger's
    rejected row that happens to contain the same digits: erring on the side of erasure.
    """
    line = "lower(regexp_replace(translate(raw_content, '{}', '{}'), '[\\s()（）-]', '', 'g'))"
    line = line.format(*_FULLWIDTH)
    terms = set()
    for kind, values in keys.values.items():
        for value in values:
            if kind == "phone":
                terms.add(value.lstrip("+")[-11:])
            elif kind == "national_id":
                terms.add(value[:17].lower())
            else:
                terms.add(value.lower().replace(" ", ""))
    terms.discard("")
    if not terms:
        return None
    return " or ".join(f"contains({line}, {literal(term)})" for term in sorted(terms))


def erase_from_lake(
    con: duckdb.DuckDBPyConnection, lake: Lake, keys: SubjectKeys, locale: Locale | None = None
) -> tuple[dict[str, int], set[str]]:
    """Rewrite every lake file holding the subject's rows; fix the manifest. Returns rows removed
    per table and the raw values found in those rows (for the verification search)."""
    removed: Counter = Counter()
    raw_values: set[str] = set()
    for target in ENTITIES:
        per_file: dict[str, Counter] = {}
        for table in target.raw_tables:
            matches = column_matches_sql(table, keys, locale)
            if not matches:
                continue
            match = " or ".join(matches.values())
            for path in _data_files(lake.raw_dir(table)):
                # each key column as delivered, when it is the matching one: the spellings the
                # verification searches for (a phone shared with another customer is not one)
                spellings = ", ".join(
                    f"case when {m} then {identifier(c)} end" for c, m in matches.items()
                )
                found = con.execute(
                    f"select {spellings} from read_parquet({literal(str(path))}) where {match}"
                ).fetchall()
                if not found:
                    continue
                raw_values.update(str(v) for row in found for v in row if v)
                _rewrite_parquet(con, path, match)
                per_file.setdefault(path.stem, Counter())[table.name] += len(found)
                removed[f"lake.raw.{table.source}.{table.name}"] += len(found)
        quarantine = quarantine_match_sql(keys)
        if quarantine is not None:
            for path in _data_files(lake.quarantine_dir(target)):
                count = con.execute(
                    f"select count(*) from read_parquet({literal(str(path))}) where {quarantine}"
                ).fetchall()[0][0]
                if count:
                    _rewrite_parquet(con, path, quarantine)
                    per_file.setdefault(path.stem, Counter())["_quarantine"] += count
                    removed[f"lake.quarantine.{target.source}.{target.name}"] += count
        _correct_manifest(lake, target, per_file)
    return dict(removed), raw_values


def _data_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if p.name != SCHEMA_FILE)


def _rewrite_parquet(con: duckdb.DuckDBPyConnection, path: Path, match: str) -> None:
    tmp = path.with_name(path.name + ".erasing.tmp")
    con.execute(
        f"copy (select * from read_parquet({literal(str(path))}) "
        f"where not coalesce({match}, false)) "
        f"to {literal(str(tmp))} (format parquet, compression zstd)"
    )
    os.replace(tmp, path)


def _correct_manifest(lake: Lake, target: Entity, per_file: dict[str, Counter]) -> None:
    for entry in lake.manifest(target):
        counts = per_file.get(entry.file_id)
        if not counts:
            continue
        parent = counts.get(target.name, 0)
        quarantined = counts.get("_quarantine", 0)
        child = counts.get(target.child.name, 0) if target.child is not None else 0
        entry.rows_loaded -= parent
        entry.rows_quarantined -= quarantined
        entry.child_rows_loaded -= child
        entry.rows_erased += parent + quarantined
        lake.write_entry(target, entry)


# --- the warehouse ------------------------------------------------------------------------------


def erase_from_staging(
    con: duckdb.DuckDBPyConnection, keys: SubjectKeys, locale: Locale | None = None
) -> dict[str, int]:
    """Delete the subject's rows from the staging tables, by the lake's predicates: they are
    incremental copies of the raw layer, so the warehouse holds none of the subject's raw rows
    even if the rebuild that follows fails."""
    staged = {
        name: set(columns)
        for name, columns in con.execute(
            "select table_name, list(column_name) from information_schema.columns "
            "where table_schema = 'staging' and (table_schema, table_name) in ("
            "select (table_schema, table_name) from information_schema.tables "
            "where table_type = 'BASE TABLE') group by table_name"
        ).fetchall()
    }
    removed: dict[str, int] = {}
    for table in raw_tables():
        name = table.staging_model
        matches = [
            match
            for column, match in column_matches_sql(table, keys, locale).items()
            if column in staged.get(name, ())
        ]
        if not matches:
            continue
        count = con.execute(
            f"delete from staging.{identifier(name)} where {' or '.join(matches)}"
        ).fetchall()[0][0]
        if count:
            removed[f"warehouse.staging.{name}"] = count
    return removed


SUBJECT_KEY_COLUMNS = ("customer_id", "record_key", "left_record_key", "right_record_key")


def erase_from_warehouse(con: duckdb.DuckDBPyConnection, subject: Subject) -> dict[str, int]:
    """Delete the subject's rows from every table; keep their id as `erased` (never reused)."""
    tables = con.execute(
        f"""
        select table_schema, table_name, list(column_name) as columns
        from information_schema.columns
        where table_schema <> '{history.SCHEMA}'
            and column_name in ({", ".join(literal(c) for c in SUBJECT_KEY_COLUMNS)})
            and (table_schema, table_name) in (
                select (table_schema, table_name) from information_schema.tables
                where table_type = 'BASE TABLE'
            )
        group by all order by all
        """
    ).fetchall()
    removed: dict[str, int] = {}
    ids, records = list(subject.customer_ids), list(subject.record_keys)
    for schema, table, columns in tables:
        if (schema, table) == ("identity", "customer_ids"):
            continue
        conditions = [
            f"{identifier(c)} in (select unnest(?::varchar[]))"
            for c in columns
            if c in SUBJECT_KEY_COLUMNS
        ]
        params = [ids if c == "customer_id" else records for c in columns]
        count = con.execute(
            f"delete from {identifier(schema)}.{identifier(table)} where {' or '.join(conditions)}",
            params,
        ).fetchall()[0][0]
        if count:
            removed[f"warehouse.{schema}.{table}"] = count
    # the frozen identity model's term frequencies hold every trained name and phone: the
    # model goes, and the next run trains it again without the subject
    for table in ("splink_term_frequencies", "splink_model"):
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'identity' and table_name = ?",
            [table],
        ).fetchall()[0][0]
        if exists:
            count = con.execute(f"delete from identity.{table}").fetchall()[0][0]
            if count:
                removed[f"warehouse.identity.{table}"] = count
    con.execute(
        "update identity.customer_ids set status = 'erased', merged_into_customer_id = null, "
        "updated_at = now()::timestamp where customer_id in (select unnest(?::varchar[]))",
        [ids],
    )
    return removed


def rewrite_database(path: Path) -> None:
    """Copy every table and view into a new file and swap it in: deleted rows stay in a DuckDB
    file's blocks until they are overwritten, and a fresh copy holds none."""
    new = path.with_name(path.name + ".rewrite")
    new.unlink(missing_ok=True)
    con = connect()
    try:
        # the old file under its own catalog name, so views that name it bind while copied
        con.execute(f"attach {literal(str(path))} as {identifier(path.stem)} (read_only)")
        con.execute(f"attach {literal(str(new))} as omni360_rewrite")
        con.execute(f"copy from database {identifier(path.stem)} to omni360_rewrite")
    finally:
        con.close()
    os.replace(new, path)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def scrub_reports(folder: Path, customer_ids: Iterable[str]) -> int:
    """Replace the subject's customer ids in earlier reports and check pages; return the files
    changed."""
    if not folder.is_dir():
        return 0
    pattern = re.compile("|".join(re.escape(c) for c in customer_ids))
    changed = 0
    for path in folder.rglob("*"):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        scrubbed = pattern.sub("[erased]", text)
        if scrubbed != text:
            write_atomic(path, scrubbed)
            changed += 1
    return changed


# --- verification -------------------------------------------------------------------------------


def search_terms(subject: Subject, raw_values: Iterable[str]) -> list[str]:
    """Strings whose presence anywhere would mean the subject is not erased."""
    terms: set[str] = set(subject.customer_ids)
    for kind, values in subject.keys.values.items():
        for value in values:
            terms.add(value)
            if kind == "phone":
                terms.add(value.lstrip("+"))
                terms.add(value.lstrip("+")[-11:])  # national number of a CN mobile
    terms.update(v.strip() for v in raw_values if len(v.strip()) >= 6)
    return sorted(t for t in terms if len(t) >= 6)


def find_traces(
    folders: Iterable[Path], databases: Iterable[Path], terms: list[str]
) -> tuple[list[str], int]:
    """Where any term still appears: in any text column of a DuckDB table or Parquet file
    (decoded, as compressed pages hide bytes), or in the bytes of any file under `folders`.
    Returns the places (never the values) and how many places were searched."""
    if not terms:
        return [], 0
    traces: list[str] = []
    searched = 0
    pattern = terms_pattern(terms)
    byte_pattern = re.compile(pattern.encode())
    con = connect()
    try:
        for database in databases:
            if not database.is_file():
                continue
            con.execute(f"attach {literal(str(database))} as searched (read_only)")
            try:
                # tables only: a view reads tables and lake files that are searched themselves
                columns = con.execute(
                    "select schema_name, table_name, column_name from duckdb_columns() "
                    "where database_name = 'searched' and data_type = 'VARCHAR' "
                    "and (schema_name, table_name) in (select (schema_name, table_name) "
                    "from duckdb_tables() where database_name = 'searched')"
                ).fetchall()
                for schema, table, column in columns:
                    if (schema, table, column) in KEPT_COLUMNS:
                        continue
                    searched += 1
                    relation = f"searched.{identifier(schema)}.{identifier(table)}"
                    if _has_match(con, relation, column, pattern):
                        traces.append(f"{database.name}: {schema}.{table}.{column}")
            finally:
                con.execute("detach searched")
        for folder in folders:
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if not path.is_file():
                    continue
                searched += 1
                if _bytes_match(path, byte_pattern):
                    traces.append(f"{path}: file bytes")
                elif path.suffix == ".parquet":
                    relation = f"read_parquet({literal(str(path))})"
                    for column, data_type, *_ in con.execute(
                        f"describe select * from {relation}"
                    ).fetchall():
                        if data_type == "VARCHAR" and _has_match(con, relation, column, pattern):
                            traces.append(f"{path}: column {column}")
    finally:
        con.close()
    return traces, searched


def terms_pattern(terms: Iterable[str]) -> str:
    """Any term as a whole value or word: `M0001` must not hit `M00012`. Valid as RE2 (DuckDB)
    and as a Python regex."""
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return f"(?:^|[^0-9A-Za-z])(?:{alternatives})(?:$|[^0-9A-Za-z])"


def _has_match(con: duckdb.DuckDBPyConnection, relation: str, column: str, pattern: str) -> bool:
    query = (
        f"select count(*) from {relation} "
        f"where regexp_matches({identifier(column)}, {literal(pattern)})"
    )
    return con.execute(query).fetchall()[0][0] > 0


def _bytes_match(path: Path, pattern: re.Pattern[bytes]) -> bool:
    if path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return pattern.search(data) is not None


# --- the request --------------------------------------------------------------------------------


@dataclass
class Erasure:
    """One request between its removal and its verification; never written anywhere, as it
    holds the subject's raw identifiers."""

    report: ErasureReport
    subject: Subject
    raw_values: set[str]
    traits: WeakTraits


def remove(
    identifier: str,
    *,
    warehouse: Path,
    lake: Path,
    say: Callable[[str], None] = lambda message: None,
    locale: Locale | None = None,
) -> Erasure:
    """Steps 1-3: suppress the subject and remove their rows from the lake and the warehouse;
    the request is on record (as pending) before the caller rebuilds."""
    if not warehouse.is_file():
        raise ErasureError(f"no warehouse at {warehouse}; run `omni360 run` first")
    lake_store = Lake(lake)
    con = connect(str(warehouse))
    try:
        register_udfs(con)
        subject = find_subject(con, lake_store, identifier, locale)
        request_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        report = ErasureReport(
            request_id=request_id,
            identifier_kind=subject.identifier_kind,
            subject_token=subject.subject_token,
            requested_at=_now(),
            customers=len(subject.customer_ids),
            records=len(subject.record_keys),
        )
        say(
            f"subject: customer {subject.customer_ids[0]}, {len(subject.record_keys)} source "
            f"records, {subject.keys.count()} keys ({subject.shared_identifiers} identifiers "
            "shared with other customers are kept)"
        )
        report.covers = coverage(subject)
        traits = weak_traits(con, subject.record_keys)
        report.suppression_tokens = SuppressionList(lake).add(request_id, subject.keys)
        say(f"suppression list: {report.suppression_tokens} tokens added")
        lake_removed, raw_values = erase_from_lake(con, lake_store, subject.keys, locale)
        report.rows_removed.update(lake_removed)
        say(f"lake: {sum(lake_removed.values()):,} rows removed from {len(lake_removed)} tables")
        warehouse_removed = erase_from_staging(con, subject.keys, locale)
        warehouse_removed |= erase_from_warehouse(con, subject)
        report.rows_removed.update(warehouse_removed)
        say(
            f"warehouse: {sum(warehouse_removed.values()):,} rows removed from "
            f"{len(warehouse_removed)} tables"
        )
        con.execute("checkpoint")
    finally:
        con.close()
    # on record before the rebuild, so the rebuild's report lists it (as pending)
    record_request(warehouse, lake, report)
    # the rebuild recomputes everything: a removed record can change decisions around it
    lake_store.request_full_refresh(f"erasure request {request_id}")
    return Erasure(report, subject, raw_values, traits)


def verify(
    erasure: Erasure,
    *,
    rebuilt: bool,
    warehouse: Path,
    lake: Path,
    published: Path,
    reports: Path,
    run_history: Path | None = None,
) -> ErasureReport:
    """Steps 4-6, after the caller's rebuild: scrub earlier reports, rewrite the DuckDB file,
    search every place (Dagster's `run_history` too) for the subject's identifiers, list
    records for review, record it all."""
    report, subject = erasure.report, erasure.subject
    report.rebuilt = rebuilt
    if rebuilt:
        drop_previous_versions(published)
    report.reports_scrubbed = scrub_reports(reports, subject.customer_ids)
    rewrite_database(warehouse)
    terms = search_terms(subject, erasure.raw_values)
    report.traces, report.places_searched = find_traces(
        [lake / "raw", lake / "quarantine", published, reports, warehouse.parent / "logs"]
        # the Spark engine's tables, logs and metastore (docs/spark.md), when it was used
        + [settings.spark_dir(warehouse)]
        + ([run_history] if run_history else []),
        [warehouse, *sorted(published.glob("*.duckdb"))],
        terms,
    )
    if not _bytes_clean(warehouse, [t for t in terms if t not in subject.customer_ids]):
        report.traces.append(f"{warehouse.name}: file bytes")
    report.review = review_candidates(warehouse, erasure.traits)
    report.completed_at = _now()
    record_request(warehouse, lake, report)
    return report


def _bytes_clean(path: Path, terms: list[str]) -> bool:
    if not terms or not path.is_file():
        return True
    return not _bytes_match(path, re.compile(terms_pattern(terms).encode()))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_request(warehouse: Path, lake: Path, report: ErasureReport) -> None:
    """The audit entry: in the lake (survives a rebuilt warehouse) and in the warehouse table
    `audit.erasure_requests`."""
    entry = {
        "request_id": report.request_id,
        "requested_at": report.requested_at.isoformat(),
        "completed_at": report.completed_at.isoformat() if report.completed_at else None,
        "identifier_kind": report.identifier_kind,
        "subject_token": report.subject_token,
        "customers": report.customers,
        "records": report.records,
        "suppression_tokens": report.suppression_tokens,
        "rows_removed": report.rows_removed,
        "reports_scrubbed": report.reports_scrubbed,
        "rebuilt": report.rebuilt,
        "places_searched": report.places_searched,
        "traces": report.traces,
        "verified": report.verified,
        "proof_covers": report.covers,
        # counts only: the records themselves may be the subject's
        "records_for_review": len(report.review),
    }
    folder = lake / "_ops" / "erasure"
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{report.request_id}.json", json.dumps(entry, indent=1))
    con = connect(str(warehouse))
    try:
        history.create_tables(con)  # the audit schema's tables are defined in one place
        con.execute(
            f"insert or replace into {history.SCHEMA}.erasure_requests "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report.request_id,
                report.requested_at,
                report.completed_at,
                report.identifier_kind,
                report.subject_token,
                report.customers,
                json.dumps(report.rows_removed),
                report.verified,
                f"{report.records} source records; {report.suppression_tokens} suppression "
                f"tokens; {report.places_searched} places searched; traces: "
                f"{'; '.join(report.traces) or 'none'}",
            ],
        )
    finally:
        con.close()
