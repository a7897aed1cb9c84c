"""Erasure on small hand-written lakes: rows of a subject found, rewritten away, suppressed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.contracts import entity
from orchestration.lib.erasure import (
    erase_from_lake,
    find_traces,
    quarantine_match_sql,
    rewrite_database,
    scrub_reports,
)
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.privacy.subjects import SubjectKeys, SuppressionList
from tests.unit.test_ingest import load, rows, write

MEMBERS_HEADER = (
    "member_id,card_no,name,gender,birth_date,phone,email,national_id,address,city,province,"
    "postal_code,registered_at,home_store_id,tier,updated_at\n"
)
TS = "2026-01-03T10:00:00+08:00"
SUBJECT = (
    f"M0000001,8800000001,张伟,M,1990-01-01,+86 138-0013-8000,Zhang.Wei@QQ.com,,,北京市,,,{TS},,"
    f"regular,{TS}\n"
)
OTHER = (
    f"M0000002,8800000002,李娜,F,1991-02-02,13900139000,li.na@163.com,,,上海市,,,{TS},,"
    f"regular,{TS}\n"
)
# a row of the subject rejected for another reason (a bad card number) still carries the phone
SUBJECT_BROKEN = (
    f"M0000003,88-BAD,张伟,M,1990-01-01,１３８００１３８０００,,,,北京市,,,{TS},,regular,{TS}\n"
)
KEYS = SubjectKeys(
    {
        "member_id": frozenset({"M0000001"}),
        "phone": frozenset({"+8613800138000"}),
        "email": frozenset({"zhang.wei@qq.com"}),
    }
)


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, Path]:
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    write(
        landing,
        "crm/members/2026-01-05/members_20260105.csv",
        MEMBERS_HEADER + SUBJECT + OTHER + SUBJECT_BROKEN,
    )
    result = load(landing, lake_dir, "crm.members")
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    return landing, lake_dir


def test_erasure_rewrites_raw_and_quarantine_files_and_keeps_accounting(loaded):
    _, lake_dir = loaded
    lake = Lake(lake_dir)
    con = duckdb.connect()
    from orchestration.lib.identity.duckdb_udfs import register

    register(con)
    removed, spellings = erase_from_lake(con, lake, KEYS)
    assert removed == {"lake.raw.crm.members": 1, "lake.quarantine.crm.members": 1}
    assert [r[0] for r in rows(lake_dir, "crm.members")] == ["M0000002"]
    assert "+86 138-0013-8000" in spellings and "Zhang.Wei@QQ.com" in spellings
    members = entity("crm", "members")
    assert accounting_mismatches(lake, members) == []
    entry = lake.manifest(members)[0]
    assert (entry.rows_read, entry.rows_loaded, entry.rows_quarantined, entry.rows_erased) == (
        3,
        1,
        0,
        2,
    )
    traces, searched = find_traces([lake_dir], [], ["13800138000", "zhang.wei@qq.com"])
    assert searched > 0 and traces == []


def test_the_search_finds_an_identifier_in_a_compressed_parquet_column(loaded):
    _, lake_dir = loaded
    traces, _ = find_traces([lake_dir / "raw"], [], ["Zhang.Wei@QQ.com"])
    assert any("members" in t for t in traces)


def test_a_re_delivered_file_brings_nothing_of_a_suppressed_subject_back(loaded, tmp_path: Path):
    landing, lake_dir = loaded
    SuppressionList(lake_dir).add("R1", KEYS)
    # the same lines in a new file (new name, new bytes), one of them with the phone respelled
    write(
        landing,
        "crm/members/2026-01-06/members_20260106.csv",
        MEMBERS_HEADER + SUBJECT.replace("M0000001", "M0000009") + SUBJECT + SUBJECT_BROKEN,
    )
    result = load(landing, lake_dir, "crm.members", load_id="L2")
    assert (result.rows_read, result.rows_loaded, result.rows_suppressed) == (3, 0, 3)
    assert result.rows_quarantined == 0
    assert accounting_mismatches(Lake(lake_dir), entity("crm", "members")) == []
    suppression = (lake_dir / "_ops" / "suppression" / "R1.parquet").read_bytes()
    assert b"13800138000" not in suppression and b"M0000001" not in suppression


def test_a_stranger_with_the_same_name_is_not_suppressed(loaded):
    landing, lake_dir = loaded
    SuppressionList(lake_dir).add("R1", KEYS)
    write(landing, "crm/members/2026-01-06/members_20260106.csv", MEMBERS_HEADER + OTHER)
    result = load(landing, lake_dir, "crm.members", load_id="L2")
    assert (result.rows_loaded, result.rows_suppressed) == (1, 0)


def test_quarantined_lines_match_on_the_phone_however_it_was_written():
    con = duckdb.connect()
    sql = quarantine_match_sql(SubjectKeys({"phone": frozenset({"+8613800138000"})}))
    lines = [
        "a,１３８ ００１３ ８０００,b",
        "a,138-0013-8000,b",
        "a,(138)00138000",
        "a,13900139000",
    ]
    found = [
        con.execute(f"select {sql} from (select ? as raw_content)", [line]).fetchall()[0][0]
        for line in lines
    ]
    assert found == [True, True, True, False]


def test_a_rewritten_database_no_longer_holds_deleted_rows_in_its_bytes(tmp_path: Path):
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create table t as select 'row ' || i || ' ' || repeat('x', 20) as v from range(50000) t(i)"
    )
    con.execute("insert into t values ('secret-13800138000')")
    con.execute("checkpoint")
    con.execute("delete from t where v like 'secret%'")
    con.execute("create view w as select * from t")
    con.execute("checkpoint")
    con.close()
    rewrite_database(path)
    assert b"13800138000" not in path.read_bytes()
    con = duckdb.connect(str(path), read_only=True)
    assert con.sql("select count(*) from w").fetchall() == [(50000,)]


def test_reports_lose_the_subjects_customer_ids(tmp_path: Path):
    write(tmp_path, "r1/index.html", "<td>C000000042</td><td>C000000421</td>")
    assert scrub_reports(tmp_path, ["C000000042"]) == 1
    assert (tmp_path / "r1" / "index.html").read_text() == "<td>[erased]</td><td>C000000421</td>"
