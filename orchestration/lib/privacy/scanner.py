"""Finds personal data in clear in published tables: phones, emails, national IDs, bank cards.

Two stages, so millions of rows scan in seconds: DuckDB reads each table once and counts, per
column, the values a coarse regular expression could call personal (an unmasked character
before `@`, 11+ digits in a row, `+` and 7+ digits; integers of 11+ digits); then only for the
columns with such values, up to `max_candidates` distinct values are read and validated here
(phone numbering plan, ID checksum, Luhn). Display masks (`138****8000`, `z***@qq.com`) break
the digit runs and the address, so they are not findings. Columns named `*_token` must hold a
keyed token (64 lower-case hex characters) or null; anything else in them is a finding.

Findings carry a masked example, never the value found.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.privacy.patterns import COARSE_PATTERN, classify
from orchestration.lib.publish import list_relations
from orchestration.lib.sql import attach_read_only, connect, identifier, literal

KINDS = ("cn_mobile", "phone_e164", "email", "national_id", "bank_card", "not_a_token")
TOKEN_SUFFIX = "_token"
TOKEN_PATTERN = "[0-9a-f]{64}"

# integers that could be a mobile (11 digits), an ID (18) or a card (13-19)
MIN_NUMBER = 10**10

_STRING_TYPES = ("VARCHAR", "JSON")
_NESTED = re.compile(r"(\[\]|\[\d+\]|^STRUCT|^MAP|^UNION)")
_WIDE_INTEGERS = {"BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT", "DOUBLE", "FLOAT"}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


@dataclass(frozen=True)
class Finding:
    """Values of one kind of personal data in clear in one column."""

    table: str  # schema.table (or the Parquet file's path below the scanned folder)
    column: str
    kind: str  # one of KINDS
    count: int  # rows holding it (among the candidates read, if `sampled`)
    example: str  # masked
    sampled: bool = False  # more candidates than max_candidates: count is a lower bound

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "column": self.column,
            "kind": self.kind,
            "count": self.count,
            "example": self.example,
            **({"sampled": True} if self.sampled else {}),
        }

    def __str__(self) -> str:
        more = " (at least)" if self.sampled else ""
        return f"{self.table}.{self.column}: {self.count}{more} {self.kind}, e.g. {self.example}"


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    tables: int = 0
    columns_scanned: int = 0
    rows: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.findings

    def findings_in(self, table: str) -> list[Finding]:
        return [f for f in self.findings if f.table == table]


@dataclass(frozen=True)
class _Column:
    name: str
    data_type: str

    @property
    def is_token(self) -> bool:
        return self.name.lower().endswith(TOKEN_SUFFIX)

    @property
    def expression(self) -> str | None:
        """The column as text to search, or None when it cannot hold personal data."""
        column = identifier(self.name)
        if self.data_type in _STRING_TYPES or self.data_type.startswith("VARCHAR"):
            return column
        if _NESTED.search(self.data_type) or self.data_type.startswith("ENUM"):
            return f"cast({column} as varchar)"
        return None

    @property
    def is_wide_number(self) -> bool:
        decimal = _DECIMAL.fullmatch(self.data_type)
        if decimal:
            precision, scale = int(decimal.group(1)), int(decimal.group(2))
            return precision - scale >= 11
        return self.data_type in _WIDE_INTEGERS

    def stage1_predicate(self) -> str | None:
        column = identifier(self.name)
        if self.is_token:
            if self.expression == column:
                return (
                    f"{column} is not null and not regexp_full_match({column}, '{TOKEN_PATTERN}')"
                )
            return f"{column} is not null"
        if self.expression is not None:
            return f"regexp_matches({self.expression}, {literal(COARSE_PATTERN)})"
        if self.is_wide_number:
            return f"abs({column}) >= {MIN_NUMBER} and {column} = trunc({column})"
        return None

    def candidates_expression(self) -> str:
        if self.expression is None and self.is_wide_number:
            return f"cast(cast({identifier(self.name)} as hugeint) as varchar)"
        return f"cast({identifier(self.name)} as varchar)"


def scan_duckdb(
    path: Path,
    schemas: Sequence[str],
    *,
    include: Callable[[str], bool] | None = None,
    max_candidates: int = 10_000,
    lock_timeout_s: float = 120.0,
) -> ScanResult:
    """Scan every table and view of `schemas` in a DuckDB file (opened read-only), or those
    whose `schema.table` name `include` accepts."""
    con = connect()
    try:
        attach_read_only(con, path, "wh", lock_timeout_s)
        relations = [
            (f"{schema}.{name}", f"wh.{identifier(schema)}.{identifier(name)}")
            for schema, name, _ in list_relations(con, "wh", schemas)
            if include is None or include(f"{schema}.{name}")
        ]
        return scan_relations(con, relations, max_candidates=max_candidates)
    finally:
        con.close()


def scan_parquet(paths: Path | Iterable[Path], *, max_candidates: int = 10_000) -> ScanResult:
    """Scan Parquet files: a file, a folder (every `*.parquet` below it) or a list of files.

    A finding's table is the file's path below the folder, without `.parquet`.
    """
    if isinstance(paths, Path):
        root = paths if paths.is_dir() else paths.parent
        files = sorted(paths.rglob("*.parquet")) if paths.is_dir() else [paths]
    else:
        files = sorted(paths)
        root = None
    con = connect()
    try:
        relations = []
        for file in files:
            name = file.relative_to(root) if root is not None else file
            relations.append((str(name.with_suffix("")), f"read_parquet({literal(str(file))})"))
        return scan_relations(con, relations, max_candidates=max_candidates)
    finally:
        con.close()


def scan_relations(
    con: duckdb.DuckDBPyConnection,
    relations: Sequence[tuple[str, str]],
    *,
    max_candidates: int = 10_000,
) -> ScanResult:
    """Scan relations given as (display name, SQL relation) pairs on `con`."""
    started = time.perf_counter()
    result = ScanResult()
    for name, relation in relations:
        described = con.execute(f"describe select * from {relation}").fetchall()
        columns = [_Column(row[0], row[1]) for row in described]
        scanned = [(c, c.stage1_predicate()) for c in columns]
        scanned = [(c, p) for c, p in scanned if p is not None]
        result.tables += 1
        result.columns_scanned += len(scanned)
        counts = con.execute(
            "select count(*)"
            + "".join(f", count(*) filter (where {p})" for _, p in scanned)
            + f" from {relation}"
        ).fetchone()
        result.rows += counts[0]
        for (column, predicate), flagged in zip(scanned, counts[1:], strict=True):
            if flagged:
                result.findings += _validate(
                    con, name, relation, column, predicate, flagged, max_candidates
                )
    result.seconds = time.perf_counter() - started
    return result


def _validate(
    con: duckdb.DuckDBPyConnection,
    name: str,
    relation: str,
    column: _Column,
    predicate: str,
    flagged: int,
    max_candidates: int,
) -> list[Finding]:
    rows = con.execute(
        f"select {column.candidates_expression()}, count(*) from {relation} "
        f"where {predicate} group by 1 limit {int(max_candidates) + 1}"
    ).fetchall()
    sampled = len(rows) > max_candidates
    rows = rows[:max_candidates]
    if column.is_token:
        # every flagged value is a finding: the count is exact
        value = rows[0][0] if rows else ""
        return [Finding(name, column.name, "not_a_token", flagged, _mask_any(value))]
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    for value, count in rows:
        for kind, example in classify(value).items():
            counts[kind] = counts.get(kind, 0) + count
            examples.setdefault(kind, example)
    return [
        Finding(name, column.name, kind, counts[kind], examples[kind], sampled)
        for kind in KINDS
        if kind in counts
    ]


def _mask_any(value: str | None) -> str:
    if value is None:
        return "<non-text value>"
    known = classify(value)
    if known:
        return next(iter(known.values()))
    return f"{value[:1]}{'*' * min(max(len(value) - 1, 1), 8)} ({len(value)} characters)"
