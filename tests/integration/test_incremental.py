"""Incremental runs give what a full refresh gives.

A landing zone of 1,500 persons grows by two weekly deliveries. The first carries, besides the
generator's late records, an order re-delivered with a new status, a line's refund corrected to a
refund of another order, and a social account whose new phone belongs to another customer (the
two merge); between the two increments a customer is
erased. After the first increment (the erasure rebuilds everything) and after the second, a copy
of the warehouse is rebuilt with `--full-refresh`: the same customers (record → id, for every
record) and the same marts, table by table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from orchestration import settings
from orchestration.cli import app
from orchestration.lib import progress
from orchestration.lib.compare import Comparison, compare_warehouses
from orchestration.lib.generator import GeneratorConfig, generate
from tests.integration.conftest import run_main_job

# six full pipeline runs
pytestmark = pytest.mark.slow

CONFIG = GeneratorConfig(persons=1500, seed=11, days=60, until=dt.date(2026, 2, 16))
SECOND, THIRD = dt.date(2026, 2, 23), dt.date(2026, 3, 2)
# the incremental models' own tables too (watermarks included), not only what they publish
SCHEMAS = ("marts", "intermediate")


@dataclass
class Grown:
    scopes: list[dict]  # identity's scope in each run of the incremental warehouse
    cancelled_order: str
    moved_refund: tuple[str, str, str]  # refund id, the order it left, the order it names now
    refund_after_increment: tuple  # _refund_state after that increment
    merged: tuple[str, str]  # the two customers the changed phone should merge
    merge: tuple[str, list]  # after that increment: the account's customer, merge events
    erased_customer: str
    comparison_first: Comparison  # after the increment with the merge, before the erasure
    comparison: Comparison
    incremental: Path
    refreshed: Path
    # (asset, check) -> which rows the last increment's raw checks read
    # per-load checks of the last increment: (asset, check) → (rows checked, rows read)
    load_checks: dict[tuple[str, str], tuple[str, int | None]]


def _scope(warehouse: Path) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        figures = con.execute(
            "select figures from identity.resolution_runs order by resolved_at desc limit 1"
        ).fetchall()[0][0]
    return json.loads(figures)["scope"]


def _records(path: Path) -> list[dict]:
    """The parseable lines of a JSON Lines delivery (the generator breaks a few on purpose)."""
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _redeliver_cancelled(landing: Path, day: dt.date) -> str:
    """An order of an earlier delivery, sent again in `day`'s delivery as cancelled."""
    earlier = sorted((landing / "ecommerce" / "orders").glob("2026-02-09/*.jsonl"))[0]
    for order in _records(earlier):
        if order["status"] != "cancelled":
            break
    order["status"] = "cancelled"
    folder = landing / "ecommerce" / "orders" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders_resent.jsonl").write_text(json.dumps(order) + "\n", encoding="utf-8")
    return order["order_id"]


def _redeliver_refund(landing: Path, warehouse: Path, day: dt.date) -> tuple[str, str, str]:
    """A refund of one line of an earlier delivery, corrected in `day`'s delivery: now a refund
    of a whole other order (one worth more than twice the refund)."""
    earlier = sorted((landing / "ecommerce" / "refunds").glob("2026-02-09/*.csv"))[0]
    header, *rows = earlier.read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    refund = next(
        dict(zip(columns, row.split(","), strict=True))
        for row in rows
        if row.count(",") == len(columns) - 1 and row.split(",")[columns.index("line_no")]
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        other = con.execute(
            "select order_id from marts.fct_orders where source_system = 'ecommerce' "
            "and not is_cancelled and not is_refunded and order_id <> ? "
            "and net_amount > 2 * ?::decimal(18, 2) order by order_id limit 1",
            [refund["order_id"], refund["amount"]],
        ).fetchall()[0][0]
    moved_from = refund["order_id"]
    refund.update(order_id=other, line_no="")
    folder = landing / "ecommerce" / "refunds" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "refunds_corrected.csv").write_text(
        f"{header}\n{','.join(refund[c] for c in columns)}\n", encoding="utf-8"
    )
    return refund["refund_id"], moved_from, other


def _refund_state(warehouse: Path, moved: tuple[str, str, str]) -> tuple:
    """Of the order a corrected refund left and the one it names now: whether each counts as
    refunded, the old order's line refunds, and what its other refunds add up to."""
    refund, old, new = moved
    with duckdb.connect(str(warehouse), read_only=True) as con:
        refunded = dict(
            con.execute(
                "select order_id, is_refunded from marts.fct_orders where order_id in (?, ?)",
                [old, new],
            ).fetchall()
        )
        line_refunds = con.execute(
            "select coalesce(sum(line_refund_amount), 0) from intermediate.int_sales__order_lines "
            "where order_id = ?",
            [old],
        ).fetchall()[0][0]
        other_line_refunds, other_refunds = con.execute(
            "select coalesce(sum(amount) filter (where line_no is not null), 0), count(*) "
            "from staging.stg_ecommerce__refunds where order_id = ? and refund_id <> ?",
            [old, refund],
        ).fetchall()[0]
    return refunded, line_refunds, other_line_refunds, other_refunds


def _move_phone(landing: Path, warehouse: Path, day: dt.date) -> tuple[str, str, str]:
    """A social account alone in its customer takes the phone of another customer's member,
    on an app that customer has no account on: the two should become one customer."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            """
            with sizes as (
                select customer_id, count(*) as records from identity.customer_xref group by 1
            ),
            lone_accounts as (
                select xref.customer_id, records.record_key, records.app_id,
                    records.source_record_id
                from identity.customer_xref as xref
                inner join sizes using (customer_id)
                inner join identity.int_identity__source_records as records using (record_key)
                where sizes.records = 1 and records.entity = 'accounts'
                    and records.unionid is null and records.phone is not null
            ),
            phone_holders as (
                select identifier_value as phone, count(distinct xref.customer_id) as holders
                from identity.int_identity__identifiers as ids
                inner join identity.customer_xref as xref using (record_key)
                where identifier_type = 'phone' group by 1
            ),
            members as (
                select xref.customer_id, records.phone
                from identity.customer_xref as xref
                inner join identity.int_identity__source_records as records using (record_key)
                inner join phone_holders on records.phone = phone_holders.phone
                where records.entity = 'members' and phone_holders.holders = 1
            )
            select lone.customer_id, lone.record_key, lone.source_record_id, members.customer_id,
                members.phone
            from lone_accounts as lone
            cross join members
            where not exists (
                select 1 from identity.customer_xref as xref
                inner join identity.int_identity__source_records as records using (record_key)
                where xref.customer_id = members.customer_id and records.app_id = lone.app_id
            )
            order by lone.record_key, members.customer_id
            limit 1
            """
        ).fetchall()[0]
    lone_id, record_key, source_record_id, member_id, phone = row
    app_id, openid = source_record_id.split(":", 1)
    for path in sorted((landing / "social" / "accounts").glob("*/*.jsonl")):
        for account in _records(path):
            if account.get("openid") == openid and account.get("app_id") == app_id:
                break
        else:
            continue
        break
    account["phone"] = phone.removeprefix("+86")
    account["updated_at"] = f"{day - dt.timedelta(days=1)}T09:00:00+08:00"
    folder = landing / "social" / "accounts" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts_changed.jsonl").write_text(json.dumps(account) + "\n", encoding="utf-8")
    return lone_id, member_id, record_key


def _merge_after_increment(warehouse: Path, record: str, gone: str) -> tuple[str, list]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        owner = con.execute(
            "select customer_id from identity.customer_xref where record_key = ?", [record]
        ).fetchall()[0][0]
        events = con.execute(
            "select related_customer_id from identity.customer_id_events "
            "where event_type = 'merged' and customer_id = ?",
            [gone],
        ).fetchall()
    return owner, events


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Grown:
    root = tmp_path_factory.mktemp("incremental")
    landing, warehouse = root / "landing", root / "incremental" / "omni360.duckdb"
    where = settings.locations(landing, warehouse)
    generate(CONFIG, landing)
    assert run_main_job(where).success
    scopes = [_scope(warehouse)]

    generate(dataclasses.replace(CONFIG, until=SECOND), landing, extend=True)
    cancelled = _redeliver_cancelled(landing, SECOND)
    refund = _redeliver_refund(landing, warehouse, SECOND)
    lone_id, member_id, social_record = _move_phone(landing, warehouse, SECOND)
    assert run_main_job(where).success
    scopes.append(_scope(warehouse))
    # read now: a later delivery may carry a newer version of the account
    merge = _merge_after_increment(warehouse, social_record, max(lone_id, member_id))
    refund_after_increment = _refund_state(warehouse, refund)
    refreshed_first = root / "refreshed-first" / "omni360.duckdb"
    shutil.copytree(warehouse.parent, refreshed_first.parent, symlinks=True)
    assert run_main_job(settings.locations(landing, refreshed_first), full_refresh=True).success
    comparison_first = compare_warehouses(warehouse, refreshed_first, SCHEMAS)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        # someone else than the two customers that merged and those of the corrected refund
        erased = con.execute(
            "select customer_id from identity.customer_xref where customer_id not in (?, ?) "
            "and customer_id not in (select customer_id from marts.fct_orders "
            "where order_id in (?, ?) and customer_id is not null) "
            "group by 1 having count(*) > 2 order by 1 limit 1",
            [lone_id, member_id, refund[1], refund[2]],
        ).fetchall()[0][0]
    erase = CliRunner().invoke(
        app,
        [
            "erase",
            "--identifier",
            f"customer:{erased}",
            "--landing",
            str(landing),
            "--warehouse",
            str(warehouse),
        ],
    )
    progress.clear()
    assert erase.exit_code == 0, erase.output
    scopes.append(_scope(warehouse))

    generate(dataclasses.replace(CONFIG, until=THIRD), landing, extend=True)
    last = run_main_job(where)
    assert last.success
    scopes.append(_scope(warehouse))
    load_checks = {
        (
            "/".join(evaluation.asset_check_key.asset_key.path),
            evaluation.asset_check_key.name,
        ): (
            evaluation.metadata["rows_checked"].value,
            evaluation.metadata["rows"].value if "rows" in evaluation.metadata else None,
        )
        for evaluation in last.get_asset_check_evaluations()
        if "rows_checked" in evaluation.metadata
    }

    refreshed = root / "refreshed" / "omni360.duckdb"
    shutil.copytree(warehouse.parent, refreshed.parent, symlinks=True)
    assert run_main_job(settings.locations(landing, refreshed), full_refresh=True).success
    return Grown(
        scopes=scopes,
        cancelled_order=cancelled,
        moved_refund=refund,
        refund_after_increment=refund_after_increment,
        merged=(lone_id, member_id),
        merge=merge,
        erased_customer=erased,
        comparison_first=comparison_first,
        comparison=compare_warehouses(warehouse, refreshed, SCHEMAS),
        incremental=warehouse,
        refreshed=refreshed,
        load_checks=load_checks,
    )


def test_the_increments_resolve_only_what_changed_and_the_erasure_rebuilds_all(grown: Grown):
    first, increment, erasure, last = grown.scopes
    assert first["full"] and first["why"] == "first run"
    for scope in (increment, last):
        assert not scope["full"] and 0 < scope["seeds"] <= scope["records"]
        assert scope["records"] < first["records"] / 2
    assert erasure["full"] and erasure["why"] == "full refresh"


def test_an_increment_checks_the_raw_rows_it_loaded(grown: Grown):
    """The last increment loaded orders (a new day of every source): their raw checks read only
    the rows it loaded; a table it loaded nothing into is checked whole."""
    checks = {key: checked for key, (checked, _) in grown.load_checks.items()}
    assert checks[("ecommerce/orders", "ge_order_id_not_null")] == "loaded by this run"
    assert checks[("ecommerce/order_lines", "ge_order_id_not_null")] == "loaded by this run"
    assert set(checks.values()) <= {"loaded by this run", "every row"}


def test_an_increment_checks_the_model_rows_its_loads_changed(grown: Grown):
    """The row checks of the orders, their lines and the normalised identifiers read the rows
    whose watermark is a load of the last increment: some, not all, and exactly those."""
    tables = {
        "marts/fct_orders": ("ge_net_amount_not_negative", "intermediate.int_sales__orders"),
        "marts/fct_order_lines": (
            "ge_quantity_positive",
            "intermediate.int_sales__order_lines_joined_to_orders",
        ),
        "identity/int_identity__identifiers": (
            "ge_phone_format",
            "identity.int_identity__identifiers",
        ),
    }
    with duckdb.connect(str(grown.incremental), read_only=True) as con:
        [[suffix]] = con.sql(
            "select right(load_id, 8) from staging.stg_ingest__loaded_files "
            "order by loaded_at desc limit 1"
        ).fetchall()
        for asset, (check, table) in tables.items():
            checked, rows = grown.load_checks[(asset, check)]
            [[changed, total]] = con.sql(
                f"""
                select count(*) filter (where _loaded_at in (
                    select loaded_at from staging.stg_ingest__loaded_files
                    where load_id like '%-{suffix}')), count(*)
                from {table}
                """
            ).fetchall()
            assert checked == "loaded by this run", asset
            assert 0 < rows == changed < total, (asset, rows, changed, total)


def test_incremental_runs_equal_a_full_refresh(grown: Grown):
    assert grown.comparison_first.identical, "\n".join(grown.comparison_first.lines)
    assert grown.comparison.identical, "\n".join(grown.comparison.lines)


def test_a_redelivered_order_is_updated_not_duplicated(grown: Grown):
    with duckdb.connect(str(grown.incremental), read_only=True) as con:
        rows = con.execute(
            "select is_cancelled from marts.fct_orders where order_id = ?", [grown.cancelled_order]
        ).fetchall()
    assert rows == [(True,)]


def test_a_corrected_refund_leaves_its_old_order_and_line(grown: Grown):
    """Read right after the increment that corrected it (the erasure later rebuilds everything)."""
    refunded, line_refunds, other_line_refunds, other_refunds = grown.refund_after_increment
    _, old, new = grown.moved_refund
    assert refunded[new] is True
    assert refunded[old] == (other_refunds > 0) and line_refunds == other_line_refunds


def test_a_changed_phone_merges_two_customers_into_the_older_id(grown: Grown):
    gone, kept = sorted(grown.merged, reverse=True)
    owner, events = grown.merge
    assert owner == kept and events == [(kept,)], (gone, kept)


def test_late_records_of_the_increments_reach_the_marts(grown: Grown):
    truth = grown.incremental.parent.parent / "landing" / "_truth" / "records.parquet"
    with duckdb.connect(str(grown.incremental), read_only=True) as con:
        late = con.execute(
            f"""
            select count(*) from marts.fct_orders as orders
            inner join '{truth}' as truth
                on truth.record_id = orders.order_id and truth.entity in ('orders', 'transactions')
            where truth.file like '%{SECOND}%' and orders.order_date < date '{CONFIG.until}'
            """
        ).fetchall()[0][0]
    assert late > 0


def test_the_erased_customer_is_gone_after_the_increment_too(grown: Grown):
    with duckdb.connect(str(grown.incremental), read_only=True) as con:
        left = con.execute(
            "select count(*) from marts.dim_customer where customer_id = ?",
            [grown.erased_customer],
        ).fetchall()[0][0]
        status = con.execute(
            "select status from identity.customer_ids where customer_id = ?",
            [grown.erased_customer],
        ).fetchall()
    assert left == 0 and status == [("erased",)]
