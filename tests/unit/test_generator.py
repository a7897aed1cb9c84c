"""The synthetic data generator: contract, answer key, noise rates and determinism."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestration.lib.contracts import ENTITIES, ENTITY_BY_KEY, ORDER_LINES, Column, Entity
from orchestration.lib.generator import GeneratorConfig, NoiseConfig, generate
from orchestration.lib.generator.malform import RULES

# a higher malformed rate than the default, so every rule shows up in a small dataset
CONFIG = GeneratorConfig(
    persons=2000, seed=7, days=60, start=dt.date(2026, 1, 1), noise=NoiseConfig(malformed=0.004)
)
TS_FORMATS = ("%Y-%m-%dT%H:%M:%S%z",)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gen") / "landing"
    steps: list[str] = []
    summary = generate(CONFIG, root, progress=lambda step, rows: steps.append(step))
    assert "crm.members" in steps and summary.files > 0 and summary.malformed > 0
    return root


@pytest.fixture(scope="module")
def records(out: Path) -> list[dict]:
    return pq.read_table(out / "_truth" / "records.parquet").to_pylist()


@pytest.fixture(scope="module")
def malformed(out: Path) -> dict[tuple[str, int], dict]:
    with open(out / "_truth" / "malformed.csv", encoding="utf-8") as f:
        return {(r["file"], int(r["line"])): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def persons(out: Path) -> dict[str, dict]:
    rows = pq.read_table(out / "_truth" / "persons.parquet").to_pylist()
    return {r["person_id"]: r for r in rows}


def landing_files(root: Path) -> list[tuple[Entity, Path, str]]:
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith("_"):
            source, name = rel.split("/")[:2]
            found.append((ENTITY_BY_KEY[f"{source}.{name}"], path, rel))
    return found


def data_lines(entity: Entity, path: Path) -> list[tuple[int, bytes]]:
    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b"", f"{path} does not end with a line feed"
    first = 2 if entity.format == "csv" else 1
    body = raw[1:-1] if entity.format == "csv" else raw[:-1]
    return list(enumerate(body, start=first))


def valid_records(out: Path, malformed: dict) -> list[tuple[Entity, str, int, dict]]:
    """Every record that is not deliberately malformed, as a dict of its text fields."""
    found = []
    for entity, path, rel in landing_files(out):
        for line_no, raw in data_lines(entity, path):
            if (rel, line_no) in malformed:
                continue
            text = raw.decode("utf-8")
            if entity.format == "csv":
                values = next(csv.reader([text]))
                row = dict(zip(entity.column_names, values, strict=True))
            else:
                row = json.loads(text)
            found.append((entity, rel, line_no, row))
    return found


def test_same_config_gives_identical_bytes(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(CONFIG, again)

    def digests(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digests(out) == digests(again)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "_truth" not in p.parts
    }


def test_a_landing_zone_grows_delivery_by_delivery_and_earlier_files_never_change(
    out: Path, tmp_path: Path
) -> None:
    grown = tmp_path / "grown"
    days = [dt.date.fromisoformat(p.name) for p in sorted((out / "pos" / "transactions").iterdir())]
    first, second = days[len(days) // 2], days[len(days) // 2 + 1]
    generate(replace(CONFIG, until=first), grown)
    before = _digests(grown)
    assert before and all(dt.date.fromisoformat(k.split("/")[2]) <= first for k in before)
    summary = generate(replace(CONFIG, until=second), grown, extend=True)
    after = _digests(grown)
    # every earlier file is byte-identical, and the new ones are the next delivery's
    assert {k: after[k] for k in before} == before
    added = {k.split("/")[2] for k in after.keys() - before.keys()}
    assert added == {second.isoformat()}
    assert summary.existing == len(before)
    # written to the end, it is the landing zone generated in one go
    generate(replace(CONFIG, until=None), grown, extend=True)
    assert _digests(grown) == _digests(out)
    truth = pq.read_table(grown / "_truth" / "records.parquet")
    assert truth.num_rows == pq.read_table(out / "_truth" / "records.parquet").num_rows


def test_extending_refuses_another_population_or_an_earlier_date(out: Path, tmp_path: Path) -> None:
    grown = tmp_path / "grown"
    days = sorted((out / "pos" / "transactions").iterdir())
    middle = dt.date.fromisoformat(days[len(days) // 2].name)
    generate(replace(CONFIG, until=middle), grown)
    with pytest.raises(ValueError, match="seed"):
        generate(replace(CONFIG, seed=CONFIG.seed + 1, until=None), grown, extend=True)
    with pytest.raises(ValueError, match="later --until"):
        generate(replace(CONFIG, until=middle - dt.timedelta(days=7)), grown, extend=True)
    with pytest.raises(FileExistsError):
        generate(replace(CONFIG, until=None), grown)  # not without --extend


def test_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(FileExistsError):
        generate(GeneratorConfig(persons=10, days=7), tmp_path)


def test_layout_and_delivery_dates(out: Path) -> None:
    files = landing_files(out)
    assert {e.key for e, _, _ in files} == {e.key for e in ENTITIES}
    for entity, path, rel in files:
        day = dt.date.fromisoformat(rel.split("/")[2])
        assert day.weekday() == 0, rel  # weekly deliveries on Mondays
        assert re.fullmatch(rf"{entity.name}_\d{{8}}\.{entity.format}", path.name)
    stores = [rel for e, _, rel in files if e.key == "pos.stores"]
    assert len(stores) == 1 and "/2026-01-05/" in stores[0]


def test_csv_headers_and_field_counts(out: Path, malformed: dict) -> None:
    for entity, path, rel in landing_files(out):
        if entity.format != "csv":
            continue
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
        header = data.split(b"\n", 1)[0].decode()
        assert header == ",".join(entity.column_names), rel
        for line_no, raw in data_lines(entity, path):
            problem = malformed.get((rel, line_no), {}).get("rule")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                assert problem == "invalid_utf8", (rel, line_no)
                continue
            fields = next(csv.reader([text], strict=True))
            if problem == "column_count":
                assert len(fields) != len(entity.columns)
            else:
                assert len(fields) == len(entity.columns), (rel, line_no)


def test_jsonl_lines_parse_except_invalid_json(out: Path, malformed: dict) -> None:
    for entity, path, rel in landing_files(out):
        if entity.format != "jsonl":
            continue
        for line_no, raw in data_lines(entity, path):
            problem = malformed.get((rel, line_no), {}).get("rule")
            if problem == "invalid_json":
                with pytest.raises(json.JSONDecodeError):
                    json.loads(raw)
            else:
                obj = json.loads(raw)
                assert isinstance(obj, dict) and set(obj) <= {
                    *entity.column_names,
                    *([entity.child_field] if entity.child_field else []),
                }


def _check(col: Column, value: object, where: object) -> None:
    text = None if value is None else str(value)
    if text in (None, ""):
        assert not col.required, (where, col.name, "required")
        return
    if col.type == "timestamp":
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", text), (where, text)
        dt.datetime.strptime(text, TS_FORMATS[0])
    elif col.type == "date":
        dt.date.fromisoformat(text)
    elif col.type == "decimal":
        assert re.fullmatch(r"\d+\.\d\d", text), (where, col.name, text)
    elif col.type == "integer":
        int(text)
    if col.enum:
        assert text in col.enum, (where, col.name, text)
    if col.pattern:
        assert re.fullmatch(col.pattern, text), (where, col.name, text)
    if col.min_value is not None:
        assert float(text) >= col.min_value, (where, col.name, text)
    if col.max_value is not None:
        assert float(text) <= col.max_value, (where, col.name, text)


def test_every_valid_record_keeps_every_rule(out: Path, malformed: dict) -> None:
    stores = set()
    for entity, _rel, _line_no, row in valid_records(out, malformed):
        if entity.key == "pos.stores":
            stores.add(row["store_id"])
    for entity, rel, line_no, row in valid_records(out, malformed):
        for col in entity.columns:
            _check(col, row.get(col.name), (rel, line_no))
        if entity.key == "pos.transactions":
            assert row["store_id"] in stores
        if entity.key == "ecommerce.orders":
            assert row["lines"], (rel, line_no)
            for item in row["lines"]:
                for col in ORDER_LINES.columns[1:]:
                    _check(col, item.get(col.name), (rel, line_no))
                assert isinstance(item["quantity"], int) and isinstance(item["line_no"], int)
        assert "\n" not in json.dumps(row, ensure_ascii=False).replace("\\n", "")


def test_malformed_rows_are_listed_with_known_rules(
    out: Path, malformed: dict, records: list[dict]
) -> None:
    assert malformed and {r["rule"] for r in malformed.values()} <= set(RULES)
    assert {r["rule"] for r in malformed.values()} == set(RULES)  # every rule shows up
    flagged = {(r["file"], r["line"]) for r in records if r["is_malformed"]}
    copies = {c for _, c in _redelivered(out)}
    assert {k for k in flagged if k[0] not in copies} == set(malformed)
    columns = {(r["rule"], r["column"]) for r in malformed.values()}
    assert ("out_of_range", "lines.quantity") in columns
    assert ("out_of_range", "quantity") in columns
    assert ("unknown_reference", "store_id") in columns
    # each malformed record's key is its own: no valid record shares it
    valid_keys = Counter(
        (r["source"], r["entity"], r["record_id"]) for r in records if not r["is_malformed"]
    )
    for r in malformed.values():
        assert valid_keys[(r["source"], r["entity"], r["record_id"])] == 0


def test_malformed_rate_close_to_configured(malformed: dict, records: list[dict]) -> None:
    eligible = [r for r in records if r["entity"] != "stores"]
    rate = len(malformed) / len(eligible)
    assert 0.5 * CONFIG.noise.malformed < rate < 1.6 * CONFIG.noise.malformed


def test_answer_key_covers_every_line(out: Path, records: list[dict]) -> None:
    by_file: dict[str, list[int]] = {}
    for r in records:
        by_file.setdefault(r["file"], []).append(r["line"])
    files = landing_files(out)
    assert set(by_file) == {rel for _, _, rel in files}
    for entity, path, rel in files:
        expected = [n for n, _ in data_lines(entity, path)]
        assert sorted(by_file[rel]) == expected, rel
    assert all(r["person_id"] for r in records if r["entity"] != "stores")


def test_record_ids_match_the_lines(out: Path, malformed: dict, records: list[dict]) -> None:
    key = {(r["file"], r["line"]): r["record_id"] for r in records}
    for entity, rel, line_no, row in valid_records(out, malformed):
        expected = ":".join(str(row[c]) for c in entity.primary_key)
        assert key[(rel, line_no)] == expected


def _redelivered(out: Path) -> list[tuple[str, str]]:
    with open(out / "_truth" / "redelivered_files.csv", encoding="utf-8") as f:
        return [(r["original_file"], r["copy_file"]) for r in csv.DictReader(f)]


def test_redelivered_files_are_identical_copies(out: Path) -> None:
    pairs = _redelivered(out)
    assert pairs
    for original, copy in pairs:
        assert original != copy and Path(original).name == Path(copy).name
        assert (out / original).read_bytes() == (out / copy).read_bytes()
        assert copy.split("/")[2] > original.split("/")[2]


def test_duplicate_rows_repeat_a_line_in_the_same_file(records: list[dict]) -> None:
    per_file = Counter(
        (r["file"], r["entity"], r["record_id"])
        for r in records
        if r["entity"] not in ("members", "customers", "accounts")
    )
    assert any(n > 1 for n in per_file.values())


def _members(out: Path, malformed: dict, records: list[dict]) -> list[tuple[dict, str]]:
    person = {(r["file"], r["line"]): r["person_id"] for r in records}
    return [
        (row, person[(rel, n)])
        for e, rel, n, row in valid_records(out, malformed)
        if e.key == "crm.members"
    ]


def test_observed_noise_rates(
    out: Path, malformed: dict, records: list[dict], persons: dict[str, dict]
) -> None:
    noise = CONFIG.noise
    members = _members(out, malformed, records)
    phones = [row["phone"] for row, _ in members if row["phone"]]
    odd_format = sum(not re.fullmatch(r"1\d{10}", p) for p in phones) / len(phones)
    # double registrations always use another format, so a little above the rate
    assert noise.phone_format - 0.05 < odd_format < noise.phone_format + 0.08
    missing = sum(not row["phone"] for row, _ in members) / len(members)
    assert noise.missing_optional - 0.04 < missing < noise.missing_optional + 0.04
    name_rate = noise.name_typo + noise.name_traditional + noise.name_pinyin
    differs = sum(row["name"] != persons[p]["name"] for row, p in members) / len(members)
    assert name_rate - 0.03 < differs < name_rate + 0.04
    emails = [row["email"] for row, _ in members if row["email"]]
    messy = sum(e != e.strip().lower() for e in emails) / len(emails)
    assert messy < noise.email_case + noise.email_whitespace + 0.05
    assert messy > noise.email_case - 0.05
    # double registrations: the same person holds two member ids
    ids_per_person: dict[str, set[str]] = {}
    for row, p in members:
        ids_per_person.setdefault(p, set()).add(row["member_id"])
    doubles = sum(len(v) > 1 for v in ids_per_person.values()) / len(ids_per_person)
    assert 0.3 * noise.duplicate_member < doubles < 2.5 * noise.duplicate_member
    # phone changes: a member row re-sent with a newer phone and a later updated_at
    versions: dict[str, list[tuple[str, str]]] = {}
    for row, _ in members:
        versions.setdefault(row["member_id"], []).append((row["updated_at"], row["phone"]))
    assert any(len({p for _, p in v if p}) > 1 for v in versions.values())


def test_households_share_one_phone(persons: dict[str, dict]) -> None:
    households: dict[str, list[dict]] = {}
    for p in persons.values():
        households.setdefault(p["household_id"], []).append(p)
    shared = [h for h in households.values() if len(h) > 1]
    share = sum(len(h) for h in shared) / len(persons)
    assert abs(share - NoiseConfig().household_share) < 0.03
    for h in shared:
        phones = {p["old_phone"] or p["phone"] for p in h}
        assert len(phones) == 1
        assert len({(p["name"], p["birth_date"]) for p in h}) == len(h)


def test_household_members_own_app_accounts_carry_their_own_mobiles(
    out: Path, malformed: dict, records: list[dict], persons: dict[str, dict]
) -> None:
    # WeChat and Douyin bind an account to one mobile: the household's number is for tills and forms
    person = {(r["file"], r["line"]): r["person_id"] for r in records}
    checked = 0
    for e, rel, n, row in valid_records(out, malformed):
        if e.key != "social.accounts" or not row.get("phone"):
            continue
        who = persons[person[(rel, n)]]
        digits = "".join(ch for ch in unicodedata.normalize("NFKC", row["phone"]) if ch.isdigit())
        # someone living alone may have changed numbers since
        assert any(
            digits.endswith(own[-11:]) for own in (who["own_phone"], who["old_phone"]) if own
        )
        if who["own_phone"] != who["phone"]:  # a household member other than its head
            checked += 1
    assert checked > 0
    households: dict[str, set[str]] = {}
    for p in persons.values():
        households.setdefault(p["household_id"], set()).add(p["own_phone"])
    sizes = {p["household_id"]: p["household_size"] for p in persons.values()}
    assert all(len(phones) == sizes[h] for h, phones in households.items())


def test_placeholder_phone_on_many_receipts(
    out: Path, malformed: dict, records: list[dict]
) -> None:
    person = {(r["file"], r["line"]): r["person_id"] for r in records}
    holders: dict[str, set[str]] = {}
    receipts = 0
    for entity, rel, n, row in valid_records(out, malformed):
        if entity.key == "pos.transactions":
            receipts += 1
            if row["phone"]:
                holders.setdefault(row["phone"], set()).add(person[(rel, n)])
    placeholders = ("13800000000", "11111111111", "13888888888")
    assert len(holders.get("13800000000", set())) > 3
    typed_by = set().union(*(holders.get(p, set()) for p in placeholders))
    assert len(typed_by) > 10  # one number, many different persons
    share = sum(len(holders.get(p, ())) for p in placeholders) / receipts
    assert share < NoiseConfig().placeholder_phone + 0.02
    anonymous = sum(
        1
        for e, _, _, row in valid_records(out, malformed)
        if e.key == "pos.transactions" and not row["phone"] and not row["member_card_no"]
    )
    assert anonymous > 0.2 * receipts


def test_referrals_link_real_persons(out: Path, malformed: dict, records: list[dict]) -> None:
    account_person = {r["record_id"]: r["person_id"] for r in records if r["entity"] == "accounts"}
    referrals = [
        row for e, _, _, row in valid_records(out, malformed) if e.key == "social.referrals"
    ]
    assert referrals
    for row in referrals:
        inviter = account_person[f"{row['app_id']}:{row['inviter_openid']}"]
        invitee = account_person[f"{row['app_id']}:{row['invitee_openid']}"]
        assert inviter != invitee


def test_unionid_is_one_per_person_across_wechat_apps(
    out: Path, malformed: dict, records: list[dict]
) -> None:
    person = {(r["file"], r["line"]): r["person_id"] for r in records}
    owners: dict[str, set[str]] = {}
    for e, rel, n, row in valid_records(out, malformed):
        if e.key == "social.accounts" and row.get("unionid"):
            assert row["platform"] != "douyin"
            owners.setdefault(row["unionid"], set()).add(person[(rel, n)])
    assert owners and all(len(v) == 1 for v in owners.values())


def test_national_ids_have_valid_checksums(persons: dict[str, dict]) -> None:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for p in persons.values():
        nid = p["national_id"]
        check = "10X98765432"[sum(int(c) * w for c, w in zip(nid[:17], weights, strict=True)) % 11]
        assert nid[17] == check
        assert nid[6:14] == p["birth_date"].strftime("%Y%m%d")
        assert int(nid[16]) % 2 == (1 if p["gender"] == "M" else 0)


def test_config_json_is_the_full_config(out: Path) -> None:
    data = json.loads((out / "_truth" / "config.json").read_text())
    assert data["persons"] == CONFIG.persons and data["noise"]["malformed"] == 0.004
    assert data["start"] == "2026-01-01"


def test_en_us_locale_and_monthly_delivery(tmp_path: Path) -> None:
    config = GeneratorConfig(persons=300, days=40, locale="en_US", delivery="monthly")
    summary = generate(config, tmp_path / "en")
    assert summary.rows["crm.members"] > 0
    folders = {p.name for p in (tmp_path / "en" / "pos" / "transactions").iterdir()}
    assert all(dt.date.fromisoformat(f).day == 1 for f in folders)
    people = pq.read_table(tmp_path / "en" / "_truth" / "persons.parquet").to_pylist()
    assert all(p["phone"].startswith("+1") and p["national_id"] is None for p in people)


def test_resident_ids_are_unique_and_birth_dates_do_not_pile_up(persons: dict[str, dict]) -> None:
    ids = [p["national_id"] for p in persons.values()]
    assert len(set(ids)) == len(ids)
    per_date: dict[object, int] = {}
    for p in persons.values():
        per_date[p["birth_date"]] = per_date.get(p["birth_date"], 0) + 1
    # ages are spread over 18-75, not clipped onto one birth date
    assert max(per_date.values()) < max(5, len(persons) // 200)
