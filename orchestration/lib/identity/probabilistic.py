"""Probabilistic links between named profiles (CRM members, shop accounts) with Splink.

The model is trained without labels on every run: the prior from deterministic rules, u by
random sampling, m by expectation maximisation on two blocking rules. Splink runs on its own
in-memory DuckDB so its working tables never reach the warehouse file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

# One character replaced in a name of 3+ characters. Counted per character: DuckDB's
# levenshtein counts UTF-8 bytes, so one Chinese character would count 3.
ONE_CHARACTER_APART = """
    length({l}) = length({r}) and length({l}) >= 3
    and list_sum(list_transform(range(1, length({l}) + 1),
        lambda i: (substr({l}, i, 1) <> substr({r}, i, 1))::int)) = 1
"""

MIN_PROFILES = 100
PAIR_COLUMNS = [
    "unique_id_l",
    "unique_id_r",
    "match_weight",
    "match_probability",
    "levels",
    "name_agreement",
    "same_birth_date",
    "same_email",
    "same_national_id",
    "same_phone",
]

PROFILE_COLUMNS = [
    "unique_id",
    "person_name",
    "name_key",
    "birth_date",
    "phone",
    "email",
    "national_id",
    "address",
    "city",
    "postal_code",
]


@dataclass(frozen=True)
class ProbabilisticLinks:
    # unique_id_l, unique_id_r, match_weight, match_probability, levels (the partial match
    # weight of each comparison), name_agreement, same_birth_date, same_email, same_national_id,
    # same_phone
    pairs: pd.DataFrame
    model: dict[str, Any]  # the trained Splink model (m and u per comparison level)


def _settings() -> SettingsCreator:
    name = cl.CustomComparison(
        output_column_name="person_name",
        comparison_levels=[
            cll.NullLevel("person_name"),
            cll.ExactMatchLevel("person_name").configure(tf_adjustment_column="person_name"),
            cll.ExactMatchLevel("name_key").configure(
                label_for_charts="same name in pinyin (traditional, pinyin or reversed form)"
            ),
            cll.CustomLevel(
                ONE_CHARACTER_APART.format(l="person_name_l", r="person_name_r"),
                label_for_charts="one character replaced (names of 3+ characters)",
            ),
            cll.JaroWinklerLevel("name_key", 0.92),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address"),
            cll.ExactMatchLevel("address"),
            cll.JaroWinklerLevel("address", 0.9),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            name,
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("email"),
            cl.ExactMatch("national_id"),
            # city and postal code are left out: they repeat what the address says, and
            # counting that evidence three times merges households
            address,
        ],
        blocking_rules_to_generate_predictions=[
            block_on("phone"),
            block_on("email"),
            block_on("national_id"),
            block_on("name_key", "birth_date"),
            block_on("name_key", "city"),
            block_on("address"),
        ],
        retain_intermediate_calculation_columns=True,  # partial match weights per comparison
        retain_matching_columns=False,
    )


def predict_links(profiles: pa.Table, *, threshold: float, seed: int = 42) -> ProbabilisticLinks:
    """Score candidate pairs of `profiles` (columns PROFILE_COLUMNS); keep those ≥ threshold.

    Fewer than MIN_PROFILES profiles are too few to train a model on: no pairs are returned.
    """
    if profiles.num_rows < MIN_PROFILES:
        return ProbabilisticLinks(pairs=pd.DataFrame(columns=PAIR_COLUMNS), model={})
    logging.getLogger("splink").setLevel(logging.ERROR)
    con = duckdb.connect()
    try:
        con.execute("set threads to 2")
        db = DuckDBAPI(connection=con)
        linker = Linker(
            db.register(profiles.select(PROFILE_COLUMNS)), _settings(), log_level=logging.ERROR
        )
        rows = profiles.num_rows
        linker.training.estimate_probability_two_random_records_match(
            [block_on("email"), block_on("national_id")], recall=0.7
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        sample = min(1.0, max(0.05, 300_000 / max(rows, 1)))
        for rule in (block_on("phone"), block_on("name_key", "city")):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, record_sample_proportion=sample
            )
        scored = linker.inference.predict(threshold_match_probability=threshold)
        model = linker.misc.save_model_to_json()
        con.register("_profiles", profiles.select(PROFILE_COLUMNS))
        frame = con.sql(_pairs_sql(scored.physical_name, model)).df()
    finally:
        con.close()
    return ProbabilisticLinks(pairs=frame, model=model)


def _pairs_sql(scored: str, model: dict[str, Any]) -> str:
    """Pairs with a readable account of each comparison and how the names and the personal
    attributes agree (for the guards in resolve.py)."""
    names = [comparison["output_column_name"] for comparison in model["comparisons"]]
    levels = " || '; ' || ".join(
        f"'{name} ' || coalesce(printf('%+.1f', pairs.mw_{name}), 'null')" for name in names
    )
    return f"""
        select
            pairs.unique_id_l,
            pairs.unique_id_r,
            pairs.match_weight,
            pairs.match_probability,
            {levels} as levels,
            case
                when left_side.person_name = right_side.person_name then 'exact'
                when left_side.name_key = right_side.name_key then 'pinyin'
                when {
        ONE_CHARACTER_APART.format(l="left_side.person_name", r="right_side.person_name")
    } then 'similar'
                when jaro_winkler_similarity(left_side.name_key, right_side.name_key) >= 0.92
                    then 'similar'
                else 'different'
            end as name_agreement,
            coalesce(left_side.birth_date = right_side.birth_date, false) as same_birth_date,
            coalesce(left_side.email = right_side.email, false) as same_email,
            coalesce(left_side.national_id = right_side.national_id, false) as same_national_id,
            coalesce(left_side.phone = right_side.phone, false) as same_phone
        from {scored} as pairs
        inner join _profiles as left_side on pairs.unique_id_l = left_side.unique_id
        inner join _profiles as right_side on pairs.unique_id_r = right_side.unique_id
    """
