"""Ingestion of files nobody should send: oversized lines and fields, binary bytes, other
encodings, gzip, renamed columns, implausible dates, a parser that breaks. Each file ends up
loaded, quarantined line by line or refused with its reason, and never stops the others."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import jinja2
import pytest
import yaml

from orchestration.lib.contracts import blocking_columns, entity
from orchestration.lib.ingest import loader
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import scan_landing
from orchestration.lib.ingest.loader import EntityLoadResult, load_entity
from orchestration.lib.ingest.parse import Limits, describe_bytes
from orchestration.lib.ingest.status import lake_status
from orchestration.lib.ingest.withdraw import WithdrawError, withdraw
from orchestration.settings import DBT_PROJECT_DIR

MEMBERS_HEADER = (
    "member_id,card_no,name,gender,birth_date,phone,email,national_id,address,city,province,"
    "postal_code,registered_at,home_store_id,tier,updated_at"
)
TS = "2026-01-03T10:00:00+08:00"
DAY = "2026-01-05"
FIVE_MB = 5 * 1024 * 1024


def member(member_id: str, *, name: str = "张伟", birth: str = "1988-07-21", ts: str = TS) -> str:
    card = "88" + "".join(c for c in member_id if c.isdigit())[-8:].rjust(8, "0")
    return (
        f"{member_id},{card},{name},M,{birth},13800138000,z@qq.com,,建国路88号,北京市,北京市,"
        f"100022,{ts},S012,silver,{ts}"
    )


def order(order_id: str = "EO1", lines: int = 1, **fields) -> dict:
    """An e-commerce order with `lines` valid line items."""
    return {
        "order_id": order_id,
        "account_id": "TM1",
        "platform": "tmall",
        "ordered_at": TS,
        "status": "paid",
        "fulfilment": "delivery",
        "currency": "CNY",
        "lines": [
            {"line_no": n, "sku": "S", "product_name": "P", "quantity": 1, "unit_price": "9.00"}
            for n in range(1, lines + 1)
        ],
        **fields,
    }


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def load(
    landing: Path,
    lake_dir: Path,
    key: str = "crm.members",
    load_id: str = "L1",
    limits: Limits | None = None,
    blocking: frozenset[str] = frozenset(),
) -> EntityLoadResult:
    target = entity(*key.split("."))
    scan = scan_landing(landing)
    return load_entity(
        target,
        scan.files_for(target),
        Lake(lake_dir),
        load_id,
        layout_problems=scan.problems_for(target),
        limits=limits,
        blocking_columns=blocking,
    )


def quarantined(lake_dir: Path) -> list[tuple]:
    glob = lake_dir / "quarantine" / "*" / "*" / "*.parquet"
    return duckdb.sql(
        f"select source_file, line_no, rule, column_name, reason, raw_content "
        f"from read_parquet('{glob}') order by source_file, line_no"
    ).fetchall()


def raw(lake_dir: Path, table: str = "crm/members") -> list[tuple]:
    glob = lake_dir / "raw" / table / "*.parquet"
    return duckdb.sql(f"select * from read_parquet('{glob}') order by all").fetchall()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def members_file(*lines: str) -> str:
    return "\n".join([MEMBERS_HEADER, *lines]) + "\n"


def test_a_5_mb_line_is_quarantined_with_an_excerpt_and_the_rest_of_the_file_loads(
    landing: Path, lake_dir: Path
):
    huge = member("M0000002", name="A" * FIVE_MB)
    write(landing, f"crm/members/{DAY}/m.csv", members_file(member("M0000001"), huge))
    result = load(landing, lake_dir)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    [(_, line, rule, _, reason, content)] = quarantined(lake_dir)
    assert (line, rule) == (3, "line_too_long")
    assert f"{len(huge.encode()):,} bytes" in reason and "OMNI360_MAX_LINE_BYTES" in reason
    assert len(content) <= 200 and content.startswith("M0000002")
    assert accounting_mismatches(Lake(lake_dir), entity("crm", "members")) == []


def test_a_5_mb_json_field_is_quarantined_and_the_other_orders_load(landing: Path, lake_dir: Path):
    good, big = order(), order("EO2", coupon_code="X" * FIVE_MB)
    write(
        landing,
        f"ecommerce/orders/{DAY}/o.jsonl",
        json.dumps(good) + "\n" + json.dumps(big) + "\n",
    )
    result = load(landing, lake_dir, "ecommerce.orders")
    assert (result.rows_loaded, result.rows_quarantined, result.child_rows_loaded) == (1, 1, 1)
    assert [row[2] for row in quarantined(lake_dir)] == ["line_too_long"]


def test_a_field_over_the_field_limit_quarantines_its_record(landing: Path, lake_dir: Path):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(member("M0000001"), member("M0000002", name="B" * 5000)),
    )
    result = load(landing, lake_dir, limits=Limits(max_field_bytes=1000))
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    [(_, _, rule, column, reason, _)] = quarantined(lake_dir)
    assert (rule, column) == ("field_too_long", "name")
    assert "5000 bytes" in reason and "1,000" in reason


def test_a_binary_file_named_csv_is_refused_saying_what_it_looks_like(
    landing: Path, lake_dir: Path
):
    write(landing, f"crm/members/{DAY}/m.csv", bytes(range(256)) * 40)
    [outcome] = load(landing, lake_dir).outcomes
    assert (outcome.status, outcome.rule) == ("refused", "wrong_encoding")
    assert "binary" in outcome.message or "NUL" in outcome.message


def test_a_gbk_file_is_refused_saying_it_looks_like_gbk(landing: Path, lake_dir: Path):
    content = members_file(*(member(f"M000000{n}") for n in range(1, 4)))
    write(landing, f"crm/members/{DAY}/m.csv", content.encode("gb18030"))
    [outcome] = load(landing, lake_dir).outcomes
    assert outcome.rule == "wrong_encoding" and "GBK" in outcome.message
    assert "offset" in outcome.message  # where the first invalid byte is


def test_what_other_files_look_like():
    assert "Excel" in describe_bytes(b"PK\x03\x04rest of a zip")
    assert "UTF-16" in describe_bytes("member_id,name\n".encode("utf-16"))
    assert "gzip" in describe_bytes(gzip.compress(b"a,b\n"))


def test_binary_bytes_in_one_line_quarantine_that_line_only(landing: Path, lake_dir: Path):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(member("M0000001")).encode() + b"M0000002,\xff\xfe\x00\x81,x\n",
    )
    result = load(landing, lake_dir)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert quarantined(lake_dir)[0][2] == "invalid_utf8"


def test_a_byte_order_mark_is_tolerated(landing: Path, lake_dir: Path):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        b"\xef\xbb\xbf" + members_file(member("M0000001")).encode(),
    )
    assert load(landing, lake_dir).rows_loaded == 1


def test_gzip_deliveries_load_and_a_broken_gzip_is_refused(landing: Path, lake_dir: Path):
    write(
        landing, f"crm/members/{DAY}/m.csv.gz", gzip.compress(members_file(member("M1")).encode())
    )
    write(landing, f"crm/members/{DAY}/n.csv.gz", gzip.compress(b"x" * 5000)[:15])
    result = load(landing, lake_dir)
    by_file = {o.source_file.rsplit("/", 1)[1]: o for o in result.outcomes}
    assert by_file["m.csv.gz"].rows_loaded == 1
    assert (by_file["n.csv.gz"].status, by_file["n.csv.gz"].rule) == ("refused", "corrupt_gzip")


def test_a_renamed_required_column_refuses_the_file_naming_the_stranger(
    landing: Path, lake_dir: Path
):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(member("M0000001")).replace("member_id,", "member_no,", 1),
    )
    [outcome] = load(landing, lake_dir).outcomes
    assert (outcome.status, outcome.rule) == ("refused", "missing_column")
    assert "member_id" in outcome.message and "member_no" in outcome.message


def test_a_renamed_optional_column_loads_as_null_and_is_named(landing: Path, lake_dir: Path):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(member("M0000001")).replace(",phone,", ",mobile,", 1),
    )
    [outcome] = load(landing, lake_dir).outcomes
    assert outcome.status == "loaded" and outcome.rows_loaded == 1
    assert (outcome.missing_columns, outcome.extra_columns) == (("phone",), ("mobile",))
    result = load(landing, lake_dir / "again")
    assert [o.source_file for o in result.incomplete_files] == [f"crm/members/{DAY}/m.csv"]


def test_a_renamed_optional_column_refuses_the_file_when_it_is_blocking(
    landing: Path, lake_dir: Path
):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(member("M0000001")).replace(",phone,", ",mobile,", 1),
    )
    blocking = blocking_columns(["crm.members.phone"])["crm.members"]
    [outcome] = load(landing, lake_dir, blocking=blocking).outcomes
    assert (outcome.status, outcome.rule) == ("refused", "missing_column")
    assert "blocking" in outcome.message and "mobile" in outcome.message
    with pytest.raises(ValueError, match="not a column of the contract"):
        blocking_columns(["crm.members.mobile"])


def test_a_renamed_json_key_is_named_but_a_left_out_null_field_is_not(
    landing: Path, lake_dir: Path
):
    account = {
        "app_id": "wx_oa",
        "platform": "wechat_oa",
        "openid": "o1",
        "followed_at": TS,
        "updated_at": TS,
    }
    write(landing, f"social/accounts/{DAY}/a.jsonl", json.dumps(account) + "\n")
    renamed = {**account, "openid": "o2", "mobile": "13800138000"}
    write(landing, f"social/accounts/{DAY}/b.jsonl", json.dumps(renamed) + "\n")
    result = load(landing, lake_dir, "social.accounts")
    by_file = {o.source_file.rsplit("/", 1)[1]: o for o in result.outcomes}
    assert by_file["a.jsonl"].missing_columns == ()  # JSON lines may leave out null fields
    assert by_file["b.jsonl"].extra_columns == ("mobile",)
    assert "phone" in by_file["b.jsonl"].missing_columns


@pytest.mark.parametrize("year", ["0001", "2099", "2999", "9999"])
def test_an_implausible_required_time_quarantines_and_an_optional_date_is_nulled(
    landing: Path, lake_dir: Path, year: str
):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(
            member("M0000001"),
            member("M0000002", ts=f"{year}-01-01T10:00:00+08:00"),
            member("M0000003", birth=f"{year}-01-01"),
        ),
    )
    result = load(landing, lake_dir)
    assert (result.rows_loaded, result.rows_quarantined, result.rows_with_warnings) == (2, 1, 1)
    [(_, line, rule, column, reason, _)] = quarantined(lake_dir)
    assert (line, rule, column) == (3, "out_of_range", "registered_at")
    assert "delivery date 2026-01-05" in reason
    births = {row[0]: row[4] for row in raw(lake_dir)}
    assert births["M0000003"] is None and births["M0000001"] is not None


def test_a_time_on_the_day_after_delivery_is_tolerated_two_days_after_is_not(
    landing: Path, lake_dir: Path
):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(
            member("M0000001", ts="2026-01-06T23:00:00+00:00"),
            member("M0000002", ts="2026-01-07T00:00:01+00:00"),
        ),
    )
    result = load(landing, lake_dir)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)


def test_an_unexpected_parser_error_refuses_that_file_and_the_others_load(
    landing: Path, lake_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    write(landing, f"crm/members/{DAY}/a.csv", members_file(member("M0000001")))
    write(landing, f"crm/members/{DAY}/b.csv", members_file(member("M0000002")))
    real = loader.parse_file

    def breaks_on_b(data, target, rel, *args):
        if rel.endswith("b.csv"):
            raise RuntimeError("the parser met something nobody expected")
        return real(data, target, rel, *args)

    monkeypatch.setattr(loader, "parse_file", breaks_on_b)
    result = load(landing, lake_dir)
    by_file = {o.source_file.rsplit("/", 1)[1]: o for o in result.outcomes}
    assert by_file["a.csv"].rows_loaded == 1
    assert (by_file["b.csv"].status, by_file["b.csv"].rule) == ("refused", "unreadable_file")
    assert "nobody expected" in by_file["b.csv"].message
    # the first refusal is news; the same bytes refused again are not
    assert result.new_refusals and not load(landing, lake_dir, load_id="L2").new_refusals


def test_withdraw_moves_a_files_rows_to_quarantine_and_it_never_loads_again(
    landing: Path, lake_dir: Path
):
    write(landing, f"crm/members/{DAY}/good.csv", members_file(member("M0000001")))
    write(
        landing,
        "crm/members/2099-01-01/misdated.csv",
        members_file(member("M0000002", ts="2098-12-31T10:00:00+08:00"), member("M0000003")),
    )
    assert load(landing, lake_dir).rows_loaded == 3
    lake = Lake(lake_dir)
    done = withdraw(lake, "crm/members/2099-01-01/misdated.csv", "folder misdated", load_id="W1")
    assert (done.rows_moved, done.entry.status) == (2, "withdrawn")
    assert [row[0] for row in raw(lake_dir)] == ["M0000001"]
    assert [(q[1], q[2]) for q in quarantined(lake_dir)] == [(2, "withdrawn"), (3, "withdrawn")]
    assert accounting_mismatches(lake, entity("crm", "members")) == []
    again = load(landing, lake_dir, load_id="L2")
    assert [o.status for o in again.outcomes] == ["already_loaded", "withdrawn"]
    assert [row[0] for row in raw(lake_dir)] == ["M0000001"]
    # running it again adds nothing twice
    assert (
        withdraw(lake, "crm/members/2099-01-01/misdated.csv", "again", load_id="W2").rows_moved == 0
    )
    assert len(quarantined(lake_dir)) == 2
    [members] = [e for e in lake_status(lake_dir).entities if e.entity == "crm/members"]
    assert (members.read, members.loaded, members.quarantined, members.withdrawn) == (3, 1, 2, 1)
    assert members.adds_up
    with pytest.raises(WithdrawError, match="not a committed file"):
        withdraw(lake, "crm/members/2026-01-05/nope.csv", "typo", load_id="W3")


def test_withdrawing_an_order_file_removes_its_line_items_too(landing: Path, lake_dir: Path):
    write(landing, f"ecommerce/orders/{DAY}/o.jsonl", json.dumps(order(lines=2)) + "\n")
    load(landing, lake_dir, "ecommerce.orders")
    done = withdraw(Lake(lake_dir), f"ecommerce/orders/{DAY}/o.jsonl", "test", load_id="W1")
    assert (done.rows_moved, done.child_rows_removed) == (1, 2)
    assert raw(lake_dir, "ecommerce/order_lines") == []
    assert accounting_mismatches(Lake(lake_dir), entity("ecommerce", "orders")) == []


def test_iso_times_with_z_and_fractional_seconds_are_read_in_utc(landing: Path, lake_dir: Path):
    write(
        landing,
        f"crm/members/{DAY}/m.csv",
        members_file(
            member("M0000001", ts="2026-01-03T10:00:00Z"),
            member("M0000002", ts="2026-01-03T10:00:00.250+08:00"),
        ),
    )
    result = load(landing, lake_dir)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    times = {row[0]: row[12] for row in raw(lake_dir)}
    assert str(times["M0000001"]) == "2026-01-03 10:00:00"
    assert str(times["M0000002"]) == "2026-01-03 02:00:00.250000"


def test_a_year_of_daily_runs_audit_log_reads_within_a_small_memory_limit(
    landing: Path, lake_dir: Path
):
    # every run leaves an audit file per entity; DuckDB reserved 32 MiB per file to detect the
    # columns, so the audit-log model ran out of memory after a few hundred runs
    write(landing, f"crm/members/{DAY}/m.csv", members_file(member("M0000001")))
    for run in range(365):
        load(landing, lake_dir, load_id=f"L{run:03d}")
    sources = yaml.safe_load(
        (DBT_PROJECT_DIR / "models/staging/ingest/_ingest__sources.yml").read_text()
    )
    [audit] = [t for t in sources["sources"][0]["tables"] if t["name"] == "load_audit"]
    location = (
        jinja2.Template(audit["config"]["meta"]["external_location"])
        .render(var=lambda name, default: str(lake_dir), env_var=lambda name, default=None: default)
        .format_map(audit)
    )  # as dbt-duckdb formats it
    con = duckdb.connect()
    con.execute("set memory_limit = '256MB'")
    by_status = con.sql(f"select status, count(*) from {location} group by all").fetchall()
    assert dict(by_status) == {"loaded": 1, "no_new_files": 364}
