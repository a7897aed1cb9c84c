"""Whether two warehouses built from the same landing zone hold the same customers and marts.

For changes that must not change results (a refactoring, an incremental run against a full
refresh, another engine): the id maps must hold the same record → customer pairs, and every table
of the compared schemas (the marts; for an increment against a full refresh, the intermediate
models too) the same row count, the same sum of each numeric column and the same order-independent
checksum of its rows (run ids and run times left out). Floating-point columns are compared to 9
significant digits: DuckDB sums them in parallel, in no fixed order, so the last digits of a sum
(and of CLV predictions fitted from such sums) vary from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.sql import connect

# columns that say when or in which run a row was written, not what the data is (`_resolved_at`:
# an incremental model's watermark of identity's writes, later in a full refresh)
RUN_COLUMNS = {
    "run_id",
    "resolved_at",
    "_resolved_at",
    "published_at",
    "recorded_at",
    "scored_at",
    "fitted_at",
}
NUMERIC = ("DECIMAL", "DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "REAL")
FLOATING = ("DOUBLE", "FLOAT", "REAL")
DIGITS = 9


def _value(column: str, data_type: str) -> str:
    """A column as the checksum reads it: floating-point values to DIGITS significant digits."""
    if data_type.startswith(FLOATING):
        return f'cast("{column}" as double)::decimal(38, 9)::double'
    return f'"{column}"'


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 10**-DIGITS * max(abs(a), abs(b), 1.0)
    return a == b


def figures(path: Path, schema: str = "marts") -> dict[str, dict[str, object]]:
    """Table → {rows, checksum, sum(<numeric column>)…} for every table of `schema`."""
    found: dict[str, dict[str, object]] = {}
    with connect(str(path), read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "order by 1",
                [schema],
            ).fetchall()
        ]
        for table in tables:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            kept = [_value(c, t) for c, t in columns if c not in RUN_COLUMNS]
            sums = [c for c, t in columns if t.startswith(NUMERIC) and c not in RUN_COLUMNS]
            select = ", ".join(
                [
                    "count(*)",
                    f"coalesce(sum(hash({', '.join(kept)})), 0)::varchar",
                    *(f'sum("{c}")' for c in sums),
                ]
            )
            row = con.execute(f'select {select} from "{schema}"."{table}"').fetchall()[0]
            found[table] = {"rows": row[0], "checksum": row[1]} | {
                f"sum({c})": v for c, v in zip(sums, row[2:], strict=True)
            }
    return found


def id_map(path: Path) -> dict[str, str]:
    with connect(str(path), read_only=True) as con:
        return dict(
            con.execute("select record_key, customer_id from identity.customer_xref").fetchall()
        )


@dataclass(frozen=True)
class Comparison:
    lines: list[str]  # one per difference, then a summary
    differences: int

    @property
    def identical(self) -> bool:
        return self.differences == 0


def compare_warehouses(
    before: Path, after: Path, schemas: tuple[str, ...] = ("marts",)
) -> Comparison:
    if isinstance(schemas, str):  # a lone name would be read letter by letter
        raise TypeError(f"schemas: a tuple of schema names, not {schemas!r}")
    lines: list[str] = []
    left, right = id_map(before), id_map(after)
    changed = sum(1 for key in left.keys() | right.keys() if left.get(key) != right.get(key))
    lines.append(f"customer_xref: {len(left):,} vs {len(right):,} records, {changed:,} differ")
    differences = changed
    for schema in schemas:
        a_figures, b_figures = figures(before, schema), figures(after, schema)
        for table in sorted(a_figures.keys() | b_figures.keys()):
            a, b = a_figures.get(table, {}), b_figures.get(table, {})
            for figure in sorted(a.keys() | b.keys()):
                if not _same(a.get(figure), b.get(figure)):
                    differences += 1
                    lines.append(f"{schema}.{table} {figure}: {a.get(figure)} vs {b.get(figure)}")
        lines.append(f"{len(a_figures)} vs {len(b_figures)} tables in {schema}")
    lines.append("identical" if not differences else f"{differences} differences")
    return Comparison(lines, differences)
