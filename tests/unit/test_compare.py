"""compare_warehouses: the same customers and the same tables, or each difference."""

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.compare import compare_warehouses


def _warehouse(path: Path, revenue: float, loaded: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema identity")
        con.execute("create schema marts")
        con.execute("create schema intermediate")
        con.execute(
            "create table identity.customer_xref as "
            "select 'crm:members:' || i as record_key, 'C' || (i // 2) as customer_id "
            "from range(10) as t(i)"
        )
        con.execute(
            "create table marts.fct_orders as select i as order_id, "
            f"{revenue} * i as net_revenue, now() as resolved_at from range(5) as t(i)"
        )
        con.execute(
            "create table intermediate.int_sales__orders as select i as order_id, "
            f"timestamp '{loaded}' as _loaded_at from range(5) as t(i)"
        )
    return path


def test_same_marts_differing_watermarks_show_only_where_compared(tmp_path: Path):
    a = _warehouse(tmp_path / "a.duckdb", 1.5, "2026-01-01")
    b = _warehouse(tmp_path / "b.duckdb", 1.5, "2026-01-02")
    assert compare_warehouses(a, b).identical  # run times (resolved_at) are left out
    both = compare_warehouses(a, b, ("marts", "intermediate"))
    assert not both.identical and both.differences == 1
    assert any(line.startswith("intermediate.int_sales__orders checksum") for line in both.lines)


def test_a_changed_mart_value_is_a_difference(tmp_path: Path):
    a = _warehouse(tmp_path / "a.duckdb", 1.5, "2026-01-01")
    b = _warehouse(tmp_path / "b.duckdb", 2.5, "2026-01-01")
    comparison = compare_warehouses(a, b)
    assert not comparison.identical
    assert "marts.fct_orders sum(net_revenue): 15.0 vs 25.0" in comparison.lines


def test_a_lone_schema_name_is_refused_not_read_letter_by_letter(tmp_path: Path):
    a = _warehouse(tmp_path / "a.duckdb", 1.5, "2026-01-01")
    with pytest.raises(TypeError):
        compare_warehouses(a, a, "marts")  # type: ignore[arg-type]
