"""Identifier normalisation and the clustering guards."""

from __future__ import annotations

from datetime import date

import duckdb

from orchestration.lib.identity import normalise
from orchestration.lib.identity.cluster import (
    ACCEPTED,
    REDUNDANT,
    ConstrainedUnionFind,
    birth_dates_conflict,
)
from orchestration.lib.identity.duckdb_udfs import register


def test_phone_with_fullwidth_digits_normalises_to_e164():
    assert normalise.phone_e164("１３８００１３８０００") == "+8613800138000"


def test_phone_prefixes_and_separators_normalise_to_one_number():
    forms = [
        "+86 138 0013 8000",
        "8613800138000",
        "+8613800138000",
        "138-0013-8000",
        " 13800138000 ",
    ]
    assert {normalise.phone_e164(form) for form in forms} == {"+8613800138000"}


def test_invalid_and_empty_phones_are_null():
    assert normalise.phone_e164("11111111111") is None
    assert normalise.phone_e164("12345") is None
    assert normalise.phone_e164("") is None
    assert normalise.phone_e164(None) is None


def test_us_phone_reads_in_its_region():
    assert normalise.phone_e164("(212) 555-0123", "US") == "+12125550123"


def test_traditional_pinyin_and_reversed_names_share_a_key():
    keys = {
        normalise.name_key(name) for name in ["張國明", "张国明", "Zhang Guoming", "Guoming Zhang"]
    }
    assert keys == {"guoming zhang"}
    assert normalise.person_name("張國明") == "张国明"
    assert normalise.person_name("  Zhang   Guoming ") == "zhang guoming"


def test_national_id_needs_a_valid_checksum():
    assert normalise.national_id("11010519491231002x") == "11010519491231002X"
    assert normalise.national_id("110105194912310021") is None


def test_sql_functions_are_registered_on_a_connection():
    con = duckdb.connect()
    register(con)
    register(con)  # idempotent
    rows = con.sql(
        "select omni360_phone_e164(phone, 'CN'), omni360_name_key(name) from "
        "(values ('138 0013 8000', '張偉'), (null, null)) as t(phone, name)"
    ).fetchall()
    assert rows == [("+8613800138000", "wei zhang"), (None, None)]


def test_birth_dates_one_part_apart_are_a_typo_two_parts_a_different_person():
    assert not birth_dates_conflict(date(1990, 5, 12), date(1990, 5, 21))
    assert birth_dates_conflict(date(1990, 5, 12), date(1990, 7, 21))
    assert birth_dates_conflict(date(1990, 5, 12), date(1995, 5, 12))


def test_two_national_ids_veto_a_merge():
    uf = ConstrainedUnionFind(max_profiles=50)
    a = uf.add(national_id="11010519491231002X", is_profile=True)
    b = uf.add(national_id="110105194912310037", is_profile=True)
    c = uf.add(is_profile=True)
    assert uf.union(a, c) == ACCEPTED
    assert uf.union(c, b) == "conflicting_national_id"
    assert uf.find(b) != uf.find(a)


def test_a_chain_cannot_join_clearly_different_birth_dates():
    uf = ConstrainedUnionFind(max_profiles=50)
    parent = uf.add(birth_date=date(1965, 3, 1), is_profile=True)
    receipt = uf.add()
    child = uf.add(birth_date=date(1992, 8, 17), is_profile=True)
    assert uf.union(parent, receipt) == ACCEPTED
    assert uf.union(receipt, child) == "conflicting_birth_date"


def test_two_accounts_on_one_app_are_two_people():
    uf = ConstrainedUnionFind(max_profiles=50)
    one = uf.add(is_profile=True, social_app="wx_oa_main")
    other = uf.add(is_profile=True, social_app="wx_oa_main")
    assert uf.union(one, other) == "two_accounts_on_one_app"


def test_never_link_beats_force_link_and_survives_merges():
    uf = ConstrainedUnionFind(max_profiles=50)
    a, b, c = uf.add(), uf.add(), uf.add()
    uf.forbid(a, c)
    assert uf.union(a, b) == ACCEPTED
    assert uf.union(b, c, check=False) == "never_link"
    assert uf.union(a, b) == REDUNDANT


def test_a_customer_stops_growing_at_the_size_limit():
    uf = ConstrainedUnionFind(max_profiles=3)
    nodes = [uf.add(is_profile=True) for _ in range(5)]
    decisions = [uf.union(nodes[0], node) for node in nodes[1:]]
    assert decisions == [ACCEPTED, ACCEPTED, "max_cluster_size", "max_cluster_size"]
    assert uf.profiles(nodes[0]) == 3
