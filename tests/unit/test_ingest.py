"""Ingestion on small hand-written landing files: rules, accounting, re-delivery, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from orchestration.defs.ingest.assets import ingest_groups
from orchestration.lib.contracts import ENTITIES, entity
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import scan_landing
from orchestration.lib.ingest.loader import EntityLoadResult, load_entity

STORES = "store_id,store_name,city,region,opened_on\nS001,国贸店,北京市,north,2019-05-01\n"
TX_HEADER = (
    "transaction_id,store_id,transacted_at,member_card_no,phone,total_amount,"
    "payment_method,cashier_id\n"
)
TS = "2026-01-03T10:00:00+08:00"


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def load(landing: Path, lake_dir: Path, key: str, load_id: str = "L1") -> EntityLoadResult:
    target = entity(*key.split("."))
    scan = scan_landing(landing)
    return load_entity(
        target,
        scan.files_for(target),
        Lake(lake_dir),
        load_id,
        layout_problems=scan.problems_for(target),
    )


def rows(lake_dir: Path, table: str) -> list[tuple]:
    source, name = table.split(".")
    glob = lake_dir / "raw" / source / name / "*.parquet"
    return duckdb.sql(f"select * from read_parquet('{glob}') order by all").fetchall()


def quarantine(lake_dir: Path) -> list[tuple]:
    glob = lake_dir / "quarantine" / "*" / "*" / "*.parquet"
    return duckdb.sql(
        f"select source_file, line_no, rule, column_name, reason from read_parquet('{glob}') "
        "order by source_file, line_no"
    ).fetchall()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    write(root, "pos/stores/2026-01-05/stores_20260105.csv", STORES)
    return root


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def test_each_broken_rule_quarantines_its_row_with_a_reason(landing: Path, lake_dir: Path):
    write(
        landing,
        "pos/transactions/2026-01-05/tx.csv",
        TX_HEADER
        + "\n".join(
            [
                f"T1,S001,{TS},,138 0013 8000,10.00,cash,C1",
                f"T2,S999,{TS},,,10.00,cash,C1",
                "T3,S001,31/02/2026,,,10.00,cash,C1",
                f"T4,S001,{TS},,,-1,cash,C1",
                f"T5,S001,{TS},,,10.00,cash",
                f",S001,{TS},,,10.00,cash,C1",
                f"T 7,S001,{TS},,,10.00,cash,C1",
            ]
        )
        + "\n",
    )
    load(landing, lake_dir, "pos.stores")
    result = load(landing, lake_dir, "pos.transactions")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (7, 1, 6)
    found = {(line, rule, column) for _, line, rule, column, _ in quarantine(lake_dir)}
    assert found == {
        (3, "unknown_reference", "store_id"),
        (4, "invalid_type", "transacted_at"),
        (5, "out_of_range", "total_amount"),
        (6, "column_count", None),
        (7, "required_missing", "transaction_id"),
        (8, "pattern_mismatch", "transaction_id"),
    }
    reasons = {line: reason for _, line, _, _, reason in quarantine(lake_dir)}
    assert "S999" in reasons[3] and "pos.stores.store_id" in reasons[3]
    assert "7 fields where the header has 8" in reasons[6]


def test_a_bad_optional_field_is_nulled_with_a_warning_where_the_contract_allows(
    landing: Path, lake_dir: Path
):
    write(
        landing,
        "pos/transactions/2026-01-05/tx.csv",
        TX_HEADER + f"T1,S001,{TS},,,10.00,bitcoin,C1\n",
    )
    load(landing, lake_dir, "pos.stores")
    result = load(landing, lake_dir, "pos.transactions")
    assert (result.rows_loaded, result.rows_quarantined, result.rows_with_warnings) == (1, 0, 1)
    got = duckdb.sql(
        f"select payment_method, _warnings, transacted_at::varchar from read_parquet("
        f"'{lake_dir}/raw/pos/transactions/*.parquet')"
    ).fetchall()
    assert got[0][0] is None
    assert "payment_method" in got[0][1] and "bitcoin" in got[0][1]
    assert got[0][2] == "2026-01-03 02:00:00"  # stored in UTC


def test_broken_json_line_and_bad_line_item_quarantine_the_order(tmp_path: Path):
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    good = (
        '{"order_id":"E1","account_id":"A1","platform":"tmall","ordered_at":"' + TS + '",'
        '"status":"paid","fulfilment":"delivery","currency":"CNY","lines":[{"line_no":1,'
        '"sku":"S","product_name":"P","quantity":2,"unit_price":"10.00"}]}'
    )
    bad_item = good.replace('"E1"', '"E2"').replace('"quantity":2', '"quantity":-1')
    write(
        landing,
        "ecommerce/orders/2026-01-05/orders.jsonl",
        "\n".join([good, '{"order_id":"E3","account_id":', bad_item, "[1, 2]"]) + "\n",
    )
    result = load(landing, lake_dir, "ecommerce.orders")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 1, 3)
    assert result.child_rows_loaded == 1
    found = {(line, rule, column) for _, line, rule, column, _ in quarantine(lake_dir)}
    assert found == {
        (2, "invalid_json", None),
        (3, "out_of_range", "lines.quantity"),
        (4, "invalid_json", None),
    }
    assert [r[0] for r in rows(lake_dir, "ecommerce.order_lines")] == ["E1"]


def test_a_line_with_invalid_utf8_is_quarantined_and_the_others_load(landing: Path, lake_dir: Path):
    body = (TX_HEADER + f"T1,S001,{TS},,,10.00,cash,C1\n").encode() + (
        b"T2,S001," + TS.encode() + b",,,10.00,cash," + "张".encode("gbk") + b"\n"
    )
    write(landing, "pos/transactions/2026-01-05/tx.csv", body)
    load(landing, lake_dir, "pos.stores")
    result = load(landing, lake_dir, "pos.transactions")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    [(_, line, rule, _, _)] = quarantine(lake_dir)
    assert (line, rule) == (3, "invalid_utf8")


def test_a_file_in_another_encoding_is_refused_with_what_to_do(landing: Path, lake_dir: Path):
    gbk = STORES + "S002,上海店,上海市,east,\nS003,广州店,广州市,south,\n"
    write(landing, "pos/stores/2026-01-12/stores_gbk.csv", gbk.encode("gbk"))
    result = load(landing, lake_dir, "pos.stores")
    [refused] = result.files("refused")
    assert refused.rule == "wrong_encoding"
    assert "stores_gbk.csv" in refused.message and "UTF-8" in refused.message
    assert len(rows(lake_dir, "pos.stores")) == 1  # the good file still loaded


def test_an_empty_file_is_refused(landing: Path, lake_dir: Path):
    write(landing, "pos/stores/2026-01-12/empty.csv", b"")
    result = load(landing, lake_dir, "pos.stores")
    [refused] = result.files("refused")
    assert refused.rule == "empty_file" and "empty.csv" in refused.message


def test_a_header_missing_a_required_column_is_refused(landing: Path, lake_dir: Path):
    write(landing, "pos/stores/2026-01-12/stores.csv", "store_id,store_name,city\nS2,a,b\n")
    result = load(landing, lake_dir, "pos.stores")
    [refused] = result.files("refused")
    assert refused.rule == "missing_column"
    assert "region" in refused.message and "store_id,store_name,city,region" in refused.message


def test_a_missing_optional_column_loads_as_null(landing: Path, lake_dir: Path):
    write(
        landing,
        "pos/stores/2026-01-12/stores.csv",
        "region,store_id,city,store_name,extra\neast,S002,上海市,店,x\n",
    )
    result = load(landing, lake_dir, "pos.stores")
    assert result.rows_loaded == 2
    assert ("S002", "店", "上海市", "east", None) in [r[:5] for r in rows(lake_dir, "pos.stores")]
    [_, reordered] = result.files("loaded")
    assert reordered.message == (
        "pos/stores/2026-01-12/stores.csv: ignored extra columns: extra; "
        "missing optional columns (loaded as null): opened_on"
    )


def test_an_extra_column_is_ignored_and_named_in_the_audit(landing: Path, lake_dir: Path):
    write(
        landing,
        "pos/stores/2026-01-12/stores.csv",
        "store_id,store_name,note,city,region,opened_on,manager\n"
        "S002,新店,hi,上海市,east,2020-01-01,王\n",
    )
    result = load(landing, lake_dir, "pos.stores")
    [first, extended] = result.files("loaded")
    assert first.message is None
    assert extended.rows_loaded == 1 and extended.message is not None
    assert "ignored extra columns: note, manager" in extended.message
    assert "missing optional" not in extended.message
    assert ("S002", "新店", "上海市", "east") in [r[:4] for r in rows(lake_dir, "pos.stores")]
    audit = duckdb.sql(
        f"select message from read_json('{lake_dir}/_ops/audit/pos/stores/L1.jsonl') "
        "where source_file = 'pos/stores/2026-01-12/stores.csv'"
    )
    assert audit.fetchall() == [(extended.message,)]


def test_rerun_loads_nothing_twice(landing: Path, lake_dir: Path):
    first = load(landing, lake_dir, "pos.stores", "L1")
    second = load(landing, lake_dir, "pos.stores", "L2")
    assert first.rows_loaded == 1
    assert [o.status for o in second.outcomes] == ["already_loaded"]
    assert len(rows(lake_dir, "pos.stores")) == 1


def test_identical_file_delivered_again_is_skipped_and_reported(landing: Path, lake_dir: Path):
    load(landing, lake_dir, "pos.stores", "L1")
    write(landing, "pos/stores/2026-01-12/stores_20260105.csv", STORES)
    result = load(landing, lake_dir, "pos.stores", "L2")
    [skipped] = result.files("skipped_duplicate")
    assert skipped.duplicate_of == "pos/stores/2026-01-05/stores_20260105.csv"
    assert len(rows(lake_dir, "pos.stores")) == 1
    audit = duckdb.sql(f"select status from read_json('{lake_dir}/_ops/audit/pos/stores/L2.jsonl')")
    assert audit.fetchall() == [("skipped_duplicate",)]


def test_changed_file_under_a_loaded_name_is_refused(landing: Path, lake_dir: Path):
    load(landing, lake_dir, "pos.stores", "L1")
    write(landing, "pos/stores/2026-01-05/stores_20260105.csv", STORES + "S002,新店,上海市,east,\n")
    result = load(landing, lake_dir, "pos.stores", "L2")
    [refused] = result.files("refused")
    assert refused.rule == "changed_file"
    assert "content has changed" in refused.message and "new name" in refused.message
    assert len(rows(lake_dir, "pos.stores")) == 1


def test_a_load_interrupted_before_its_commit_leaves_nothing_and_reloads_cleanly(
    landing: Path, lake_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    lake = Lake(lake_dir)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr("orchestration.lib.ingest.lake.write_atomic", crash)
    with pytest.raises(KeyboardInterrupt):
        load(landing, lake_dir, "pos.stores")
    # the Parquet file was moved into place but never committed
    assert len(list((lake_dir / "raw/pos/stores").glob("2026*.parquet"))) == 1
    monkeypatch.undo()
    result = load(landing, lake_dir, "pos.stores", "L2")
    assert result.recovered and result.rows_loaded == 1
    assert len(rows(lake_dir, "pos.stores")) == 1
    assert accounting_mismatches(lake, entity("pos", "stores")) == []


def test_killed_mid_load_then_rerun_has_no_duplicates_and_nothing_missing(tmp_path: Path):
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    write(landing, "pos/stores/2026-01-05/stores.csv", STORES)
    body = "".join(f"T{i},S001,{TS},,,{i}.00,cash,C1\n" for i in range(20_000))
    n_files = 40
    for day in range(n_files):
        write(
            landing,
            f"pos/transactions/2026-01-{5 + day % 20:02d}/tx_{day:03d}.csv",
            TX_HEADER + body.replace("\nT", f"\nX{day}T").replace("T0,", f"D{day}T0,", 1),
        )
    script = textwrap.dedent(f"""
        from pathlib import Path
        from orchestration.lib.contracts import entity
        from orchestration.lib.ingest.lake import Lake
        from orchestration.lib.ingest.landing import scan_landing
        from orchestration.lib.ingest.loader import load_entity
        scan = scan_landing(Path({str(landing)!r}))
        for key in ("pos.stores", "pos.transactions"):
            target = entity(*key.split("."))
            load_entity(target, scan.files_for(target), Lake(Path({str(lake_dir)!r})), "K")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    manifest = lake_dir / "_ops/manifest/pos/transactions"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(manifest.glob("*.json"))) < 3:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed_before = len(list(manifest.glob("*.json")))
    assert 0 < committed_before < n_files, "the kill should land in the middle of the load"
    result = load(landing, lake_dir, "pos.transactions", "L2")
    assert len(result.files("loaded")) == n_files - committed_before
    total = duckdb.sql(
        f"select count(*), count(distinct _source_file || _line_no) from "
        f"read_parquet('{lake_dir}/raw/pos/transactions/*.parquet')"
    ).fetchall()[0]
    assert total == (20_000 * n_files, 20_000 * n_files)
    assert accounting_mismatches(Lake(lake_dir), entity("pos", "transactions")) == []


def test_an_absent_source_folder_does_not_stop_the_others(landing: Path, lake_dir: Path):
    scan = scan_landing(landing)
    assert set(scan.missing_sources) == {"ecommerce", "crm", "social"}
    assert scan.problems == []
    assert load(landing, lake_dir, "pos.stores").rows_loaded == 1
    empty = load(landing, lake_dir, "crm.members")
    assert empty.outcomes == [] and empty.rows_read == 0
    # the raw table still exists (zero rows) so dbt can read it
    assert rows(lake_dir, "crm.members") == []


def test_unknown_folders_and_file_types_are_layout_problems(landing: Path):
    write(landing, "erp/items/2026-01-05/items.csv", "a\n1\n")
    write(landing, "pos/stores/2026-01-05/stores.xlsx", b"PK")
    write(landing, "pos/stores/latest/stores.csv", STORES)
    write(landing, "_truth/records.csv", "x\n")
    problems = {p.path: p.problem for p in scan_landing(landing).problems}
    assert problems == {
        "erp": "unknown source folder",
        "pos/stores/2026-01-05/stores.xlsx": "unknown file type (expected a .csv or .csv.gz file)",
        "pos/stores/latest": "not a delivery-date folder",
    }


def test_an_entity_loads_in_the_step_of_the_entities_it_depends_on():
    keys = [[e.key for e in group] for group in ingest_groups()]
    assert ["pos.stores", "pos.transactions"] in keys
    assert sorted(k for group in keys for k in group) == sorted(e.key for e in ENTITIES)
    # a chain and a join of two groups: one step, each entity after what it depends on
    a, b, c, d, e = ENTITIES[:5]
    needs = {b: (a.key,), d: (b.key, c.key)}
    chained = ingest_groups(tuple(replace(t, depends_on=needs.get(t, ())) for t in (a, b, c, d, e)))
    assert [[t.key for t in group] for group in chained] == [
        [a.key, b.key, c.key, d.key],
        [e.key],
    ]
