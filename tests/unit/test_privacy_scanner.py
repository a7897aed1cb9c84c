"""The PII scanner: what counts as personal data in clear, and the check built on it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from stdnum import luhn
from stdnum.cn import ric

from orchestration.defs.quality.pii_scan import check_results
from orchestration.lib.privacy.masking import (
    mask_email,
    mask_name,
    mask_phone,
    mask_record_key,
)
from orchestration.lib.privacy.patterns import classify
from orchestration.lib.privacy.scanner import scan_duckdb, scan_parquet
from orchestration.lib.privacy.tokens import token

NATIONAL_ID = "11010519491231002X"
CARD = "622202123456789" + luhn.calc_check_digit("622202123456789")


def test_the_sample_national_id_and_card_are_valid():
    assert ric.is_valid(NATIONAL_ID) and luhn.is_valid(CARD)


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "+86 138 0013 8000",
        "86-138-0013-8000",
        "0086 13800138000",
        "１３８００１３８０００",
        "(+86)13800138000",
        "张伟13800138000",
        "call 138-0013-8000 after six",
    ],
)
def test_a_chinese_mobile_in_any_format_is_found_and_masked(value):
    assert classify(value) == {"cn_mobile": "138****8000"}


def test_other_e164_phones_need_their_plus_and_a_valid_number():
    assert set(classify("office +44 20 7946 0958")) == {"phone_e164"}
    assert classify("+1 415 555 2671")["phone_e164"].startswith("+141")
    assert classify("+999 1234 5678") == {}


def test_an_email_is_found_but_its_display_mask_is_not():
    assert classify("Zhang.Wei@QQ.com") == {"email": "Z***@QQ.com"}
    assert classify("z***@qq.com") == {}


def test_a_national_id_must_have_a_valid_checksum():
    assert classify(NATIONAL_ID) == {"national_id": "110*************2X"}
    assert classify(NATIONAL_ID[:-1] + "1") == {}


def test_a_bank_card_must_pass_luhn_with_or_without_separators():
    spaced = " ".join(CARD[i : i + 4] for i in range(0, len(CARD), 4))
    assert classify(CARD) == {"bank_card": f"6222{'*' * 8}{CARD[-4:]}"}
    assert set(classify(spaced)) == {"bank_card"}
    assert set(classify(CARD.replace("6222", "6222-", 1))) == {"bank_card"}
    assert set(classify(f"card {spaced.replace(' ', '-')}, paid")) == {"bank_card"}
    assert set(classify(f"tel-13800138000-home, card-{CARD}")) == {"cn_mobile", "bank_card"}
    assert classify(CARD[:-1] + str((int(CARD[-1]) + 1) % 10)) == {}


@pytest.mark.parametrize(
    "value",
    [
        "138****8000",
        "C000143889",
        "EO000332238:5",
        "C000145824:2025-12-31",
        "2026-03-14 10:05:31",
        "stage:loyal,tier:gold,marketing_consent",
        "x13800138000",  # part of a longer identifier
        # a run id whose first 16 digits pass Luhn (it failed a CI run's audit report)
        "40875759-4134-4649-b168-3a5a715cd348",
        "reports/40875759-4134-4649-b168-3a5a715cd348/index.html",
        "12345678-1234-1234-1234-567890123452",  # its last 16 digits pass Luhn too
        token("phone", "+8613800138000"),
    ],
)
def test_masks_ids_dates_and_tokens_are_not_findings(value):
    assert classify(value) == {}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            """
            create table marts.dim_customer as
            select
                'C' || lpad(i::varchar, 9, '0') as customer_id,
                '138****' || lpad((i % 10000)::varchar, 4, '0') as phone_masked,
                'z***@qq.com' as email_masked,
                sha256(i::varchar) as phone_token,
                i * 1.5 as net_revenue,
                i as orders
            from range(50000) as t(i)
            """
        )
        con.execute("create table marts.fct_orders as select 'EO1' as order_id, 3 as items")
    return path


def test_clean_marts_have_no_findings(warehouse):
    result = scan_duckdb(warehouse, ["marts"])
    assert result.passed and result.tables == 2 and result.rows == 50001
    assert result.columns_scanned >= 5


def test_a_planted_unmasked_phone_in_a_mart_is_a_finding_with_a_masked_example(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update marts.dim_customer set phone_masked = '+86 139-0013-9000' where orders < 3"
        )
    result = scan_duckdb(warehouse, ["marts"])
    [finding] = result.findings
    assert (finding.table, finding.column, finding.kind, finding.count) == (
        "marts.dim_customer",
        "phone_masked",
        "cn_mobile",
        3,
    )
    assert finding.example == "139****9000" and "13900139000" not in str(finding.as_dict())


def test_numbers_in_integer_columns_and_bad_tokens_are_findings(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.dim_customer set orders = 13800138000 where orders = 7")
        con.execute("update marts.dim_customer set phone_token = '13800138000' where orders = 8")
        con.execute(f"update marts.dim_customer set customer_id = 'card {CARD}' where orders = 9")
    found = {(f.column, f.kind): f for f in scan_duckdb(warehouse, ["marts"]).findings}
    assert set(found) == {
        ("orders", "cn_mobile"),
        ("phone_token", "not_a_token"),
        ("customer_id", "bank_card"),
    }
    assert found[("phone_token", "not_a_token")].example == "138****8000"


def test_parquet_files_are_scanned_too(tmp_path: Path):
    folder = tmp_path / "parquet" / "marts"
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(
            f"copy (select 'zhang.wei@qq.com' as note, '{NATIONAL_ID}' as remark) "
            f"to '{folder / 'fct_tickets.parquet'}'"
        )
        con.execute(f"copy (select 'fine' as note) to '{folder / 'dim_date.parquet'}'")
    result = scan_parquet(tmp_path / "parquet")
    assert result.tables == 2
    assert {(f.table, f.column, f.kind) for f in result.findings} == {
        ("marts/fct_tickets", "note", "email"),
        ("marts/fct_tickets", "remark", "national_id"),
    }


def test_the_check_fails_only_the_mart_holding_the_phone(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.dim_customer set phone_masked = '13900139000' where orders = 1")
    scan = scan_duckdb(warehouse, ["marts"])
    marts = [dg.AssetKey(["marts", "dim_customer"]), dg.AssetKey(["marts", "fct_orders"])]
    checks = [dg.AssetCheckKey(key, "no_clear_pii") for key in marts]
    results = {
        r.asset_key.path[-1]: r
        for r in check_results(scan, checks, {"marts.dim_customer", "marts.fct_orders"})
    }
    failed = results["dim_customer"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["observed"].value == 1 and failed.metadata["threshold"].value == 0
    assert failed.metadata["findings"].value[0]["example"] == "139****9000"
    assert results["fct_orders"].passed


def test_findings_in_a_published_table_no_mart_owns_fail_every_check(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table marts.old_export as select 'a.b@example.com' as contact")
    scan = scan_duckdb(warehouse, ["marts"])
    checks = [dg.AssetCheckKey(dg.AssetKey(["marts", "fct_orders"]), "no_clear_pii")]
    [result] = check_results(scan, checks, {"marts.dim_customer", "marts.fct_orders"})
    assert not result.passed and result.metadata["findings"].value[0]["kind"] == "email"


def test_display_masks_match_the_marts_and_pass_the_scanner():
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_email("zhang.wei@qq.com") == "z***@qq.com"
    assert mask_name("张伟") == "张*"
    assert mask_name("Zhang Wei") == "Z***"
    assert mask_email("no-at-sign") == "n***"
    assert mask_phone(None) is None and mask_email(None) is None and mask_name(None) is None
    assert mask_record_key("social:accounts:wx_oa_main:oA585BN7P1qb0AQsHI") == (
        "social:accounts:wx_oa_main:oA********"
    )
    assert mask_record_key("crm:members:M0000068") == "crm:members:M0000068"
    assert not classify(" ".join([mask_phone("+8613800138000"), mask_email("a.b@qq.com")]))
