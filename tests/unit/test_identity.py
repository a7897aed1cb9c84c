"""Identifier normalisation and the clustering guards."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric

from orchestration.lib import memory
from orchestration.lib.identity import normalise, sql_functions
from orchestration.lib.identity.cluster import (
    ACCEPTED,
    REDUNDANT,
    ConstrainedUnionFind,
    birth_dates_conflict,
)
from orchestration.lib.identity.duckdb_udfs import register
from orchestration.lib.identity.evaluate import golden_shortfalls
from orchestration.lib.identity.locale import Locale
from orchestration.lib.identity.probabilistic import (
    PROFILE_COLUMNS,
    comparison_levels,
    comparisons,
    current_comparison_levels,
    predict_links,
    settings_for_spark,
)
from orchestration.lib.identity.resolve import _attach_by_phone, _LinkLog


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


# PRC numbers: a real province, one of its counties' codes or any four digits, birth dates
# around and beyond the counties' validity periods, the check digit right or any
_PROVINCES = numdb.get("cn/loc").prefixes


@st.composite
def _ric_numbers(draw: st.DrawFn) -> str:
    _, province, _, _, counties = draw(st.sampled_from(_PROVINCES))
    county = draw(
        st.one_of(
            st.sampled_from([c[1] for c in counties] or ["0000"]),
            st.from_regex(r"[0-9]{4}", fullmatch=True),
        )
    )
    year, month, day = (draw(st.integers(*r)) for r in ((1900, 2030), (0, 13), (0, 32)))
    body = f"{province}{county}{year:04d}{month:02d}{day:02d}{draw(st.integers(0, 999)):03d}"
    check = draw(st.sampled_from([ric.calc_check_digit(body + "0"), *"0123456789X"]))
    return body + check


@settings(max_examples=2000, deadline=None)
@given(_ric_numbers())
def test_national_id_agrees_with_stdnum(number: str):
    # our cached birth-place lookup (normalise._valid_ric) must not change a single answer;
    # stdnum raises KeyError on an area code with no county (110001): not a valid number
    try:
        expected = number if ric.is_valid(number) else None
    except KeyError:
        expected = None
    assert normalise.national_id(number) == expected


def test_a_national_id_of_an_area_without_county_is_invalid_not_an_error():
    number = "11000119000101000" + ric.calc_check_digit("110001190001010000")
    with pytest.raises(KeyError):  # stdnum itself: a hostile ID would stop the dbt build
        ric.is_valid(number)
    assert normalise.national_id(number) is None


def test_releasing_memory_empties_the_normalisers_caches():
    phone = sql_functions.FUNCTIONS["omni360_phone_e164"][0]
    assert phone(pa.array(["138 0013 8000"]), pa.array(["CN"])).to_pylist() == ["+8613800138000"]
    assert normalise._parse_phone.cache_info().currsize > 0
    memory.release()
    assert normalise._parse_phone.cache_info().currsize == 0
    # the vectorised functions' own caches too: each cache registered with memory is empty
    assert memory._clears and all(
        clear.__self__.cache_info().currsize == 0 for clear in memory._clears
    )


def test_golden_shortfalls_are_low_identifiers_and_a_name_far_below_what_its_records_hold():
    good = {"name": 0.95, "phone": 0.99, "email": 0.999}
    assert golden_shortfalls(good, 0.97, 0.95, 0.05) == []
    assert golden_shortfalls({**good, "phone": 0.90}, 0.97, 0.95, 0.05) == ["phone 0.9000"]
    assert golden_shortfalls({**good, "name": 0.80}, 0.97, 0.95, 0.05) == [
        "name 0.8000, 0.1700 below what the records hold"
    ]
    # a name is judged against what the records hold, not against the identifiers' bar
    assert golden_shortfalls({**good, "name": 0.80}, 0.82, 0.95, 0.05) == []


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
    # a year typed with one wrong digit is a slip; two digits are another generation
    assert not birth_dates_conflict(date(1990, 5, 12), date(1995, 5, 12))
    assert not birth_dates_conflict(date(1990, 5, 12), date(1980, 5, 12))
    assert birth_dates_conflict(date(1990, 5, 12), date(1965, 5, 12))
    # two neighbouring digits swapped is one slip too
    assert not birth_dates_conflict(date(1909, 11, 11), date(1990, 11, 11))
    assert birth_dates_conflict(date(1930, 6, 9), date(1962, 6, 9))
    # day and month transposed
    assert not birth_dates_conflict(date(1990, 5, 12), date(1990, 12, 5))


def test_a_cluster_with_a_mistyped_birth_date_still_joins_a_record_with_either():
    uf = ConstrainedUnionFind(max_profiles=50)
    typed = uf.add(birth_date=date(1961, 8, 31), national_id="A1234567", is_profile=True)
    other = uf.add(birth_date=date(1985, 6, 14), national_id="A1234567", is_profile=True)
    third = uf.add(birth_date=date(1961, 8, 31), is_profile=True)
    # the same national ID outranks two birth dates
    assert uf.union(typed, other) == "conflicting_birth_date"
    assert uf.union(typed, other, same_id=True) == ACCEPTED
    assert uf.union(third, other) == ACCEPTED


def test_without_a_checksum_two_national_ids_only_weigh_against_a_link():
    uf = ConstrainedUnionFind(max_profiles=50, national_ids_prove=False)
    a = uf.add(national_id="6988048", is_profile=True)
    b = uf.add(national_id="9773843", is_profile=True)
    assert uf.union(a, b) == ACCEPTED
    proving = ConstrainedUnionFind(max_profiles=50)
    c = proving.add(national_id="6988048", is_profile=True)
    d = proving.add(national_id="6988084", is_profile=True)  # one transposition: a slip
    e = proving.add(national_id="9773843", is_profile=True)
    assert proving.union(c, d) == ACCEPTED
    assert proving.union(d, e) == "conflicting_national_id"


def test_us_numbers_postcodes_and_ssns_read_in_their_region():
    assert normalise.phone_e164("312.941.8835", "US") == "+13129418835"
    assert normalise.phone_e164("312.941.8835", "CN") != "+13129418835"
    assert normalise.postcode("60601-1234", "US") == "60601"
    assert normalise.postcode("4011", "AU") == "4011"
    assert normalise.postcode("4011", "CN") is None
    assert normalise.postcode("sw1a 1aa", "GB") == "SW1A1AA"
    assert normalise.national_id("123-45-6789", "us_ssn") == "123456789"
    assert normalise.national_id("000-12-3456", "us_ssn") is None
    assert normalise.national_id(" 698 8048", "generic") == "6988048"
    assert normalise.national_id("11010519491231002x", "none") is None


def test_latin_names_fold_accents_and_split_into_surname_and_given_names():
    assert normalise.person_name("Zoë  Müller") == "zoe muller"
    assert normalise.name_parts("Zoë Müller") == ("muller", "zoe")
    assert normalise.name_parts("Mary Ann Smith") == ("smith", "mary ann")
    assert normalise.name_parts("waller") == ("waller", "")
    assert normalise.name_parts("張偉") == ("zhang", "wei")
    assert normalise.standard_name(" 劉冬蘭 ") == "刘冬兰"


def test_a_locale_checks_its_settings_and_picks_the_scheme():
    assert Locale().scheme == "cn_ric" and Locale("us").scheme == "none"
    assert Locale("AU", "generic").dbt_vars() == {
        "identity_default_region": "AU",
        "identity_national_id_scheme": "generic",
    }
    assert not Locale("AU", "generic").national_ids_prove
    with pytest.raises(ValueError, match="ISO 3166"):
        Locale("Australia")
    with pytest.raises(ValueError, match="national-ID scheme"):
        Locale("CN", "passport")


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
    one = uf.add(is_profile=True, account_app="wx_oa_main")
    other = uf.add(is_profile=True, account_app="wx_oa_main")
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


def _phone_holders(nodes: list[int]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "create temp table _ids (node bigint, identifier_type varchar, identifier_value varchar)"
    )
    con.executemany("insert into _ids values (?, 'phone', '+8613912345678')", [[n] for n in nodes])
    return con


def test_a_phone_of_one_named_customer_attaches_its_receipts_and_accounts():
    uf = ConstrainedUnionFind(max_profiles=50)
    member = uf.add(is_profile=True, is_named=True)
    account = uf.add(is_profile=True, account_app="wx_mp_shop")
    receipt = uf.add()
    log = _LinkLog()
    _attach_by_phone(_phone_holders([member, account, receipt]), uf, log)
    assert uf.find(account) == uf.find(receipt) == uf.find(member)
    assert set(log.table().column("rule").to_pylist()) == {"phone_of_one_customer"}


def test_two_accounts_on_one_app_make_a_phone_shared_so_it_attaches_nobody():
    # one named member, but two mini-program accounts carry the phone: two people hold it
    uf = ConstrainedUnionFind(max_profiles=50)
    member = uf.add(is_profile=True, is_named=True)
    accounts = [uf.add(is_profile=True, account_app="wx_mp_shop") for _ in range(2)]
    receipt = uf.add()
    log = _LinkLog()
    _attach_by_phone(_phone_holders([member, *accounts, receipt]), uf, log)
    assert len({uf.find(node) for node in (member, *accounts, receipt)}) == 4
    assert set(log.table().column("refused_reason").to_pylist()) == {
        "phone_shared_by_several_persons"
    }


def test_two_accounts_on_one_shop_platform_are_two_people():
    uf = ConstrainedUnionFind(max_profiles=50)
    one = uf.add(is_profile=True, is_named=True, account_app="jd")
    other = uf.add(is_profile=True, is_named=True, account_app="jd")
    tmall = uf.add(is_profile=True, is_named=True, account_app="tmall")
    assert uf.union(one, tmall) == ACCEPTED
    assert uf.union(other, tmall) == "two_accounts_on_one_app"


def _profiles(n: int, *, birth_dates: bool) -> pa.Table:
    """n profiles of n // 2 persons written twice, with a slip in every second copy's name."""
    given = ["anna", "bert", "carl", "dora", "emil", "fay", "gus", "hana", "ivo", "jude"]
    surnames = ["smith", "jones", "brown", "white", "green", "black", "young", "hall"]
    rows = []
    for i in range(n):
        person = i // 2
        first, last = given[person % 10], f"{surnames[person % 8]}{person // 80}"
        if i % 4 == 3:
            first = first[:-1] + "x"  # one letter wrong
        rows.append(
            {
                "unique_id": i,
                "person_name": f"{first} {last}",
                "name_key": " ".join(sorted([first, last])),
                "surname_key": last,
                "given_key": first,
                "birth_date": f"19{50 + person % 40}-0{1 + person % 9}-1{person % 9}"
                if birth_dates
                else None,
                **{c: None for c in ("phone", "email", "national_id", "address", "city")},
                "postal_code": None,
            }
        )
    return pa.Table.from_pylist(rows).cast(
        pa.schema([("unique_id", pa.int64())] + [(c, pa.string()) for c in PROFILE_COLUMNS[1:]])
    )


def test_a_model_without_phones_emails_or_ids_trains_on_what_it_has_and_says_what_it_skipped():
    links = predict_links(_profiles(400, birth_dates=True), threshold=0.5)
    training = links.training
    assert training.trained and training.columns == ["birth_date"]
    steps = dict(training.steps)
    assert steps["m by EM, blocked on phone"] == "skipped: no phone values"
    assert steps["m by EM, blocked on birth date"] == "done"
    assert len(links.pairs) > 100


def test_a_model_with_names_only_cannot_be_trained_and_scores_nothing_without_failing():
    links = predict_links(_profiles(400, birth_dates=False), threshold=0.5)
    assert not links.training.trained and links.pairs.empty
    assert links.training.reason
    assert "using 1/(n-1)" in dict(links.training.steps)["prior from deterministic rules"]


def test_contacts_differ_between_whole_clusters_not_only_two_records():
    uf = ConstrainedUnionFind(max_profiles=50)
    first = uf.add_many([None] * 4, [None] * 4, [True] * 4, [True] * 4, [False] * 4, [None] * 4)
    uf.set_contacts(first, [["phone:+61412345678"], [], ["phone:+61413987654"], []])
    father, father_no_phone, son, son_no_phone = range(first, first + 4)
    assert not uf.contacts_differ(father_no_phone, son_no_phone)
    uf.union(father, father_no_phone)
    uf.union(son, son_no_phone)
    # the two phoneless records now belong to customers whose phones differ
    assert uf.contacts_differ(father_no_phone, son_no_phone)


def test_a_stored_model_whose_comparisons_another_version_defined_is_told_apart():
    columns = {"birth_date", "address", "city", "postal_code"}
    current = current_comparison_levels(columns)
    assert {name for name, _ in current} == {"person_name", "birth_date", "address"}
    stored = {
        "comparisons": [
            {
                "output_column_name": name,
                "comparison_levels": [{"sql_condition": c, "m_probability": 0.5} for c in levels],
            }
            for name, levels in current
        ]
    }
    assert comparison_levels(stored) == current
    # the birth date's "nearly" level as an earlier version wrote it (Levenshtein, not Damerau)
    birth = next(c for c in stored["comparisons"] if c["output_column_name"] == "birth_date")
    nearly = birth["comparison_levels"][2]
    nearly["sql_condition"] = nearly["sql_condition"].replace("damerau_levenshtein", "levenshtein")
    assert comparison_levels(stored) != current


def test_a_trained_model_is_written_in_spark_sql_with_its_probabilities_kept():
    model = predict_links(_profiles(400, birth_dates=True), threshold=0.5).model
    spark = settings_for_spark(model)
    duckdb_only = re.compile(r"list_sum|list_transform|lambda|::|jaro_winkler_similarity|\"")
    for stored, written in zip(model["comparisons"], spark["comparisons"], strict=True):
        for level, spark_level in zip(
            stored["comparison_levels"], written["comparison_levels"], strict=True
        ):
            assert spark_level.get("m_probability") == level.get("m_probability")
            assert spark_level.get("u_probability") == level.get("u_probability")
            if spark_level["sql_condition"] != "ELSE":
                sqlglot.parse_one(spark_level["sql_condition"], read="spark")
            assert not duckdb_only.search(spark_level["sql_condition"]), spark_level
    assert (
        spark["probability_two_random_records_match"]
        == model["probability_two_random_records_match"]
    )
    for rule in spark["blocking_rules_to_generate_predictions"]:
        assert not duckdb_only.search(rule["blocking_rule"]), rule
    # every comparison this version builds, address and names included, has its Spark SQL
    every = set(PROFILE_COLUMNS[5:])
    for comparison in comparisons(every, "spark"):
        for level in comparison.get_comparison("spark").as_dict()["comparison_levels"]:
            assert not duckdb_only.search(level["sql_condition"]), level
    assert len(comparisons(every, "spark")) == len(comparisons(every))
