"""Probabilistic links between named profiles (CRM members, shop accounts) with Splink.

The model is built from the columns the profiles actually hold (no phone, no email, no national
ID, no address are all legal) and trained without labels on every run: the prior from
deterministic rules, u by random sampling, m by expectation maximisation over several blocking
rules. A training step that finds no pairs is skipped with its reason; a model that cannot be
trained at all yields no pairs, and says why, so the deterministic links stand alone. Splink runs
on its own in-memory DuckDB so its working tables never reach the warehouse file.

Candidate pairs come from several blocking rules OR-ed, as Splink recommends: shared identifiers,
the same name in a year, a city or a postcode, one name part with the birth date or a postcode,
the address; and broader rules (the birth date alone, a name part with the birth month or year)
while they cost fewer than BROAD_RULE_BUDGET pairs, so that records whose names and dates carry
typos still meet.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
import sqlglot
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.exceptions import SplinkException

from orchestration.lib.sql import connect

# One character replaced in a name of 3+ characters. Counted per character: DuckDB's
# levenshtein counts UTF-8 bytes, so one Chinese character would count 3.
ONE_CHARACTER_APART = """
    length({l}) = length({r}) and length({l}) >= 3
    and list_sum(list_transform(range(1, length({l}) + 1),
        lambda i: (substr({l}, i, 1) <> substr({r}, i, 1))::int)) = 1
"""
# the same in Spark SQL (the Spark engine scores pairs on Spark: orchestration/lib/spark/linking.py)
ONE_CHARACTER_APART_SPARK = """
    length({l}) = length({r}) and length({l}) >= 3
    and aggregate(transform(sequence(1, length({l})),
        i -> cast(substr({l}, i, 1) <> substr({r}, i, 1) as int)), 0, (acc, x) -> acc + x) = 1
"""
# Jaro-Winkler similarity: DuckDB's, and on Spark the function Splink's jar registers
JARO_WINKLER = {"duckdb": "jaro_winkler_similarity", "spark": "jaro_winkler"}
# Two birth dates (text YYYY-MM-DD) that agree but for a slip: day and month transposed, one
# digit typed wrong or two neighbouring digits swapped. Shared with the pair summary below; the
# guard (cluster.py `birth_dates_conflict`) lets these through and more (a whole day or month).
DATES_NEARLY_AGREE = """
    ({l} = {r}
     or (substr({l}, 1, 4) = substr({r}, 1, 4) and substr({l}, 6, 2) = substr({r}, 9, 2)
         and substr({l}, 9, 2) = substr({r}, 6, 2))
     or damerau_levenshtein({l}, {r}) = 1)
"""

MIN_PROFILES = 100
# a column takes part when at least this many profiles hold a value (and two distinct values)
MIN_FILLED = 10
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
    "identical_national_id",
    "same_place",
    "same_address",
    "contacts_differ",
]

PROFILE_COLUMNS = [
    "unique_id",
    "person_name",
    "name_key",
    "surname_key",
    "given_key",
    "birth_date",
    "phone",
    "email",
    "national_id",
    "address",
    "city",
    "postal_code",
]


@dataclass
class TrainingReport:
    """What the model was built from and how each training step went, for the run output."""

    columns: list[str] = field(default_factory=list)  # the optional columns that took part
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, "done" or why skipped)
    prior: float | None = None
    trained: bool = False
    reason: str | None = None  # why no pairs were scored, when none were

    def skip(self, step: str, why: str) -> None:
        self.steps.append((step, f"skipped: {why}"))

    @property
    def skipped(self) -> list[str]:
        return [f"{step} ({outcome})" for step, outcome in self.steps if outcome != "done"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "steps": dict(self.steps),
            "prior": self.prior,
            "trained": self.trained,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ProbabilisticLinks:
    # unique_id_l, unique_id_r, match_weight, match_probability, levels (the partial match
    # weight of each comparison), name_agreement, same_birth_date (the dates agree or nearly:
    # transposed, one digit), same_email, same_national_id, same_phone, same_place (a similar
    # address or the same postcode), same_address (the same street address, or one with the same
    # numbers and a typo, in the same postcode or city), contacts_differ (both hold a phone, or an
    # email, and they differ)
    pairs: pd.DataFrame
    model: dict[str, Any]  # the trained Splink model (m and u per comparison level)
    training: TrainingReport = field(default_factory=TrainingReport)


def populated_columns(profiles: pa.Table) -> set[str]:
    """The optional columns enough profiles hold to compare on (a column of one value carries
    no evidence)."""
    found = set()
    for name in PROFILE_COLUMNS[5:]:
        column = profiles.column(name)
        if len(column) - column.null_count >= MIN_FILLED and pc.count_distinct(column).as_py() > 1:
            found.add(name)
    return found


def _name(dialect: str = "duckdb") -> cl.CustomComparison:
    one_apart = ONE_CHARACTER_APART_SPARK if dialect == "spark" else ONE_CHARACTER_APART
    jaro_winkler = JARO_WINKLER[dialect]
    return cl.CustomComparison(
        output_column_name="person_name",
        comparison_levels=[
            cll.NullLevel("person_name"),
            cll.ExactMatchLevel("person_name").configure(tf_adjustment_column="person_name"),
            cll.ExactMatchLevel("name_key").configure(
                label_for_charts="same name in another script or order (traditional, pinyin, "
                "reversed)"
            ),
            cll.CustomLevel(
                one_apart.format(l="person_name_l", r="person_name_r"),
                label_for_charts="one character replaced (names of 3+ characters)",
            ),
            cll.JaroWinklerLevel("name_key", 0.92),
            cll.CustomLevel(
                f"(surname_key_l = surname_key_r and {jaro_winkler}(given_key_l, "
                f"given_key_r) >= 0.8) or (given_key_l = given_key_r and "
                f"{jaro_winkler}(surname_key_l, surname_key_r) >= 0.8) or "
                "(surname_key_l = given_key_r and given_key_l = surname_key_r)",
                label_for_charts="one name part the same, the other similar (or swapped)",
            ),
            cll.CustomLevel(
                "(surname_key_l = surname_key_r or surname_key_l = given_key_r "
                "or given_key_l = surname_key_r) and (given_key_l is null or given_key_r is null)",
                label_for_charts="the same surname, the given name missing on one side",
            ),
            cll.ElseLevel(),
        ],
    )


def _birth_date() -> cl.CustomComparison:
    nearly = DATES_NEARLY_AGREE.format(l="birth_date_l", r="birth_date_r")
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                nearly, label_for_charts="day and month transposed, one digit wrong or two swapped"
            ),
            cll.CustomLevel(
                "substr(birth_date_l, 1, 7) = substr(birth_date_r, 1, 7)",
                label_for_charts="same year and month",
            ),
            cll.ElseLevel(),
        ],
    )


def _address(dialect: str = "duckdb") -> cl.CustomComparison:
    # the postcode and the city count inside the address comparison, not beside it: a household
    # shares all three, and counting that evidence three times merges households
    same_area = (
        "(postal_code_l = postal_code_r or (city_l = city_r and "
        "coalesce(postal_code_l, postal_code_r) is null))"
    )
    jaro_winkler = JARO_WINKLER[dialect]
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.CustomLevel(
                "(address_l is null or address_r is null) and (postal_code_l is null or "
                "postal_code_r is null) and (city_l is null or city_r is null)",
                label_for_charts="address, postcode and city missing on one side",
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("address"),
            cll.JaroWinklerLevel("address", 0.9),
            cll.CustomLevel(
                f"{jaro_winkler}(address_l, address_r) >= 0.75 and {same_area}",
                label_for_charts="similar address in the same postcode (or city)",
            ),
            cll.CustomLevel(
                "postal_code_l = postal_code_r and city_l = city_r",
                label_for_charts="another address in the same postcode and city",
            ),
            cll.CustomLevel(
                f"{jaro_winkler}(address_l, address_r) >= 0.75 or "
                "postal_code_l = postal_code_r or city_l = city_r",
                label_for_charts="a similar address, or the same postcode or city",
            ),
            cll.ElseLevel(),
        ],
    )


def _national_id() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="national_id",
        comparison_levels=[
            cll.NullLevel("national_id"),
            cll.ExactMatchLevel("national_id"),
            # a national ID typed with one slip (schemes without a checksum keep it)
            cll.DamerauLevenshteinLevel("national_id", 1),
            cll.ElseLevel(),
        ],
    )


def comparisons(columns: set[str], dialect: str = "duckdb") -> list:
    """The comparisons of the columns the profiles hold, their own SQL written for `dialect`
    (duckdb or spark)."""
    chosen: list = [_name(dialect)]
    if "birth_date" in columns:
        chosen.append(_birth_date())
    if "phone" in columns:
        chosen.append(cl.ExactMatch("phone").configure(term_frequency_adjustments=True))
    if "email" in columns:
        chosen.append(cl.ExactMatch("email"))
    if "national_id" in columns:
        chosen.append(_national_id())
    if columns & {"address", "postal_code", "city"}:
        chosen.append(_address(dialect))
    return chosen


# Broad blocking rules reach records whose names and dates both carry a slip, at the price of
# many candidate pairs: they are used while they stay under this many pairs each (all of them on
# a few thousand records; none on a million members, where one rule would cost 10M pairs).
BROAD_RULE_BUDGET = 2_000_000
BROAD_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("birth date", ("birth_date",)),
    ("surname and birth month", ("surname_key", "substr(birth_date, 1, 7)")),
    ("given name and birth year", ("given_key", "substr(birth_date, 1, 4)")),
)


def comparison_levels(settings: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Each comparison of a Splink settings dict: its name and its levels' SQL conditions."""
    return [
        (
            comparison["output_column_name"],
            [lv["sql_condition"] for lv in comparison["comparison_levels"]],
        )
        for comparison in settings["comparisons"]
    ]


def current_comparison_levels(columns: set[str]) -> list[tuple[str, list[str]]]:
    """`comparison_levels` of the comparisons this version builds for `columns`: a stored model
    that differ was trained by another version and is trained again."""
    built = [c.get_comparison("duckdb").as_dict() for c in comparisons(columns)]
    return comparison_levels({"comparisons": built})


def settings_for_spark(settings: dict[str, Any]) -> dict[str, Any]:
    """A trained model (DuckDB SQL) for Splink's Spark backend: the same m and u probabilities,
    prior and term-frequency settings, with every level's condition and blocking rule written in
    Spark SQL."""
    out = copy.deepcopy(settings)
    out["sql_dialect"] = "spark"
    columns = {c["output_column_name"] for c in out["comparisons"]}
    spark = [c.get_comparison("spark").as_dict() for c in comparisons(columns, "spark")]
    if [c["output_column_name"] for c in spark] != [
        c["output_column_name"] for c in out["comparisons"]
    ] or [len(c["comparison_levels"]) for c in spark] != [
        len(c["comparison_levels"]) for c in out["comparisons"]
    ]:
        raise ValueError("the model's comparisons are not this version's: train it again")
    for stored, rendered in zip(out["comparisons"], spark, strict=True):
        for level, spark_level in zip(
            stored["comparison_levels"], rendered["comparison_levels"], strict=True
        ):
            level["sql_condition"] = spark_level["sql_condition"]
    for rule in out["blocking_rules_to_generate_predictions"]:
        rule["blocking_rule"] = sqlglot.transpile(
            rule["blocking_rule"], read="duckdb", write="spark"
        )[0]
        rule["sql_dialect"] = "spark"
    return out


def blocking_rules(
    columns: set[str], broad: Sequence[tuple[str, ...]] = ()
) -> list[BlockingRuleCreator]:
    """Candidate pairs: several rules OR-ed, each on columns the profiles hold; `broad` adds
    BROAD_RULES that fit the budget."""
    rules = [block_on(c) for c in ("phone", "email", "national_id") if c in columns]
    if "birth_date" in columns:
        rules += [
            # the same name with a slip in the day or month
            block_on("name_key", "substr(birth_date, 1, 4)"),
            # a slip in one name part, the same date
            block_on("surname_key", "birth_date"),
            block_on("given_key", "birth_date"),
        ]
    if "city" in columns:
        rules.append(block_on("name_key", "city"))
    if "postal_code" in columns:
        rules += [block_on("surname_key", "postal_code"), block_on("given_key", "postal_code")]
    if "address" in columns:
        rules.append(block_on("address"))
    return rules + [block_on(*cols) for cols in broad]


def _pairs_of(con: duckdb.DuckDBPyConnection, table: str, cols: Sequence[str]) -> int:
    """Candidate pairs a blocking rule on `cols` makes among the profiles in `table`."""
    keys = ", ".join(cols)
    filled = " and ".join(f"{c} is not null" for c in cols)
    return con.execute(
        f"select coalesce(sum(n * (n - 1) // 2), 0) from "
        f"(select count(*) as n from {table} where {filled} group by {keys})"
    ).fetchall()[0][0]


def _broad_rules(
    con: duckdb.DuckDBPyConnection, table: str, columns: set[str], report: TrainingReport
) -> list[tuple[str, ...]]:
    """The broad rules whose candidate pairs fit BROAD_RULE_BUDGET, counted on the profiles."""
    chosen = []
    for label, cols in BROAD_RULES:
        if "birth_date" not in columns:
            continue
        pairs = _pairs_of(con, table, cols)
        step = f"blocking on {label} alone"
        if pairs <= BROAD_RULE_BUDGET:
            chosen.append(cols)
            report.steps.append((step, "done"))
        else:
            report.skip(
                step, f"{pairs:,} candidate pairs, over the budget of {BROAD_RULE_BUDGET:,}"
            )
    return chosen


def _settings(columns: set[str], broad: Sequence[tuple[str, ...]] = ()) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(columns),
        blocking_rules_to_generate_predictions=blocking_rules(columns, broad),
        retain_intermediate_calculation_columns=True,  # partial match weights per comparison
        retain_matching_columns=False,
    )


def _prior_rules(columns: set[str]) -> list[BlockingRuleCreator]:
    # phones are left out: a household shares one, so they overstate how often records match
    rules = [block_on(c) for c in ("email", "national_id") if c in columns]
    if "birth_date" in columns:
        rules.append(block_on("name_key", "birth_date"))
    return rules


EM_SESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("phone", ("phone",)),
    ("name and city", ("name_key", "city")),
    ("birth date", ("birth_date",)),
    ("postcode", ("postal_code",)),
    ("email", ("email",)),
)


def _em_rules(columns: set[str], report: TrainingReport) -> list[tuple[str, BlockingRuleCreator]]:
    """Blocking rules of the EM sessions: between them every comparison is estimated at least
    once (a session cannot estimate the comparisons it blocks on). A session on a column the
    profiles do not hold is skipped, and the report says so."""
    rules = []
    for label, cols in EM_SESSIONS:
        absent = [c for c in cols if c != "name_key" and c not in columns]
        if absent:
            report.skip(f"m by EM, blocked on {label}", f"no {', '.join(absent)} values")
            continue
        rules.append((label, cols))
    return rules


# An EM session learns m from at most about this many pairs (sampled records): enough, and a
# postcode shared by thousands of members does not cost minutes and gigabytes.
EM_PAIR_BUDGET = 1_000_000


def _train(
    linker: Linker,
    data: Any,
    columns: set[str],
    rows: int,
    seed: int,
    report: TrainingReport,
    pairs_of: Callable[[Sequence[str]], int],
) -> Linker | None:
    """Prior, u and m; returns the trained linker, or None when it cannot score pairs.

    A failed EM session can leave Splink's settings without the comparisons it had set aside,
    so every session starts from a saved copy of the model, and a failure goes back to it."""
    rules = _prior_rules(columns)
    try:
        if not rules:
            raise SplinkException("no email, national ID or birth date values to match on")
        linker.training.estimate_probability_two_random_records_match(rules, recall=0.7)
        report.steps.append(("prior from deterministic rules", "done"))
    except (SplinkException, ValueError, ZeroDivisionError) as error:
        # about one duplicate per record: rough, and EM refines the m that matter more
        fallback = 1 / max(rows - 1, 1)
        linker._settings_obj._probability_two_random_records_match = fallback
        report.skip("prior from deterministic rules", f"{_why(error)}; using 1/(n-1)")
    report.prior = linker._settings_obj._probability_two_random_records_match
    try:
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        report.steps.append(("u by random sampling", "done"))
    except (SplinkException, ValueError) as error:
        report.skip("u by random sampling", _why(error))
        report.reason = "u could not be estimated"
        return None
    sessions = 0
    for label, cols in _em_rules(columns, report):
        step = f"m by EM, blocked on {label}"
        # a rule that makes more pairs than the budget is sampled down to it by Splink (its
        # probe counts the pairs on 5 % of the records)
        over = pairs_of(cols) > EM_PAIR_BUDGET
        saved = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*cols),
                max_pairs=EM_PAIR_BUDGET if over else None,
                record_sample_proportion=0.05,
            )
        except (SplinkException, ValueError, ZeroDivisionError) as error:
            report.skip(step, _why(error))
            linker = Linker(data, saved, log_level=40)
            continue
        report.steps.append((step, "done"))
        sessions += 1
    if sessions == 0:
        report.reason = "no EM session found pairs to learn m from"
        return None
    return linker


def _why(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


@dataclass(frozen=True)
class TrainedModel:
    """A trained model, frozen: its Splink settings (comparisons, blocking rules, m, u, prior)
    and the term frequencies of the values it adjusts for, as counted at training. Scoring a pair
    then depends on the two records only, not on what else the warehouse holds, so an increment
    scores its new records exactly as a full run with the same model would."""

    settings: dict[str, Any]
    term_frequencies: dict[str, pa.Table]  # column -> (column, tf_column)
    training: TrainingReport
    profiles: int  # named profiles it was trained on


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """The columns whose exact matches the model adjusts by the value's frequency."""
    found = {
        level["tf_adjustment_column"]
        for comparison in settings["comparisons"]
        for level in comparison["comparison_levels"]
        if level.get("tf_adjustment_column")
    }
    return sorted(found)


def train(profiles: pa.Table, *, seed: int = 42) -> TrainedModel | TrainingReport:
    """Train a model on `profiles`; the report of why not when it cannot be trained."""
    report = TrainingReport()
    if profiles.num_rows < MIN_PROFILES:
        report.reason = f"{profiles.num_rows} named profiles, fewer than {MIN_PROFILES}"
        return report
    columns = populated_columns(profiles)
    report.columns = sorted(columns)
    logging.getLogger("splink").setLevel(logging.ERROR)
    con = connect()
    try:
        con.execute("set threads to 2")
        con.register("_profiles", profiles.select(PROFILE_COLUMNS))
        broad = _broad_rules(con, "_profiles", columns, report)
        db = DuckDBAPI(connection=con)
        data = db.register(profiles.select(PROFILE_COLUMNS))
        linker = _train(
            Linker(data, _settings(columns, broad), log_level=40),
            data,
            columns,
            profiles.num_rows,
            seed,
            report,
            lambda cols: _pairs_of(con, "_profiles", cols),
        )
        if linker is None:
            return report
        settings = linker.misc.save_model_to_json()
        frequencies = {
            column: linker.table_management.compute_tf_table(column)
            .as_duckdbpyrelation()
            .to_arrow_table()
            for column in tf_columns(settings)
        }
    finally:
        con.close()
    report.trained = True
    return TrainedModel(settings, frequencies, report, profiles.num_rows)


# `score`, or the same on another engine (orchestration/lib/spark/linking.py)
Scorer = Callable[..., pd.DataFrame]


def score(
    profiles: pa.Table,
    model: TrainedModel,
    *,
    threshold: float,
    focus: pa.Array | None = None,
) -> pd.DataFrame:
    """Candidate pairs of `profiles` at or above `threshold`, scored by the frozen `model`
    (columns PAIR_COLUMNS, unique_id_l < unique_id_r).

    `focus` (unique ids): only the pairs with at least one of them, the others' pairs being
    known from earlier runs: within the focus, and between it and the rest. The same blocking
    rules apply, so these are exactly the pairs a full scoring would give them."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    con = connect()
    try:
        con.execute("set threads to 2")
        table = profiles.select(PROFILE_COLUMNS)
        con.register("_profiles", table)
        db = DuckDBAPI(connection=con)
        linker = Linker(db.register(table), model.settings, log_level=40)
        for column, frequencies in model.term_frequencies.items():
            linker.table_management.register_term_frequency_lookup(db.register(frequencies), column)
        if focus is None:
            scored = linker.inference.predict(
                threshold_match_probability=threshold, warning_mode="never"
            )
            pairs = scored.physical_name
        else:
            in_focus = pc.is_in(table.column("unique_id"), value_set=focus)
            inside = db.register(table.filter(in_focus))
            outside = db.register(table.filter(pc.invert(in_focus)))
            within = linker.inference.predict_within(
                inside, threshold_match_probability=threshold, warning_mode="never"
            )
            between = linker.inference.predict_between(
                inside, outside, threshold_match_probability=threshold, warning_mode="never"
            )
            pairs = ordered_union(con, [within.physical_name, between.physical_name])
        return con.sql(pairs_sql(pairs, model.settings)).df()
    finally:
        con.close()


def ordered_union(con: duckdb.DuckDBPyConnection, tables: list[str]) -> str:
    """The pairs of `tables`, each with its smaller unique id on the left, as a full scoring
    has them (the partial match weights do not depend on the side)."""
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [tables[0]],
        ).fetchall()
    ]
    swapped = ", ".join(
        f"case when unique_id_l < unique_id_r then {c} else {_mirror(c)} end as {c}"
        if _mirror(c) != c
        else c
        for c in columns
    )
    union = " union all ".join(f"select {swapped} from {t}" for t in tables)
    con.execute(f"create or replace temp table _focus_pairs as {union}")
    return "_focus_pairs"


def _mirror(column: str) -> str:
    """unique_id_l <-> unique_id_r, name_l <-> name_r; other columns are their own mirror."""
    for a, b in (("_l", "_r"), ("_r", "_l")):
        if column.endswith(a):
            return column[: -len(a)] + b
    return column


def predict_links(profiles: pa.Table, *, threshold: float, seed: int = 42) -> ProbabilisticLinks:
    """Train a model on `profiles` and score their candidate pairs (≥ threshold).

    Fewer than MIN_PROFILES profiles are too few to train a model on: no pairs are returned.
    """
    trained = train(profiles, seed=seed)
    if isinstance(trained, TrainingReport):
        return ProbabilisticLinks(pd.DataFrame(columns=PAIR_COLUMNS), {}, trained)
    pairs = score(profiles, trained, threshold=threshold)
    return ProbabilisticLinks(pairs=pairs, model=trained.settings, training=trained.training)


def pairs_sql(scored: str, model: dict[str, Any]) -> str:
    """Pairs with a readable account of each comparison and how the names and the personal
    attributes agree (for the guards in resolve.py)."""
    names = [comparison["output_column_name"] for comparison in model["comparisons"]]
    levels = " || '; ' || ".join(
        f"'{name} ' || coalesce(printf('%+.1f', pairs.mw_{name}), 'null')" for name in names
    )
    dates = DATES_NEARLY_AGREE.format(l="left_side.birth_date", r="right_side.birth_date")
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
                when left_side.surname_key = right_side.given_key
                    and left_side.given_key = right_side.surname_key then 'pinyin'
                -- a Latin name one or two slips apart: a typo (siblings' names are not)
                when not regexp_matches(left_side.person_name || right_side.person_name,
                        '[\u3400-\u9fff]')
                    and least(length(left_side.person_name), length(right_side.person_name)) >= 5
                    and (damerau_levenshtein(left_side.person_name, right_side.person_name) <= 2
                        or jaro_winkler_similarity(left_side.name_key, right_side.name_key)
                            >= 0.92)
                    then 'typo'
                -- a Chinese name one character apart: a typo, or a sibling sharing the
                -- generation character
                when {
        ONE_CHARACTER_APART.format(l="left_side.person_name", r="right_side.person_name")
    } then 'similar'
                when jaro_winkler_similarity(left_side.name_key, right_side.name_key) >= 0.92
                    then 'similar'
                when left_side.surname_key = right_side.surname_key
                    and jaro_winkler_similarity(left_side.given_key, right_side.given_key) >= 0.8
                    then 'similar'
                when left_side.given_key = right_side.given_key
                    and jaro_winkler_similarity(left_side.surname_key, right_side.surname_key)
                        >= 0.8
                    then 'similar'
                when (left_side.given_key is null or right_side.given_key is null)
                    and left_side.surname_key in (right_side.surname_key, right_side.given_key)
                    then 'partial'
                else 'different'
            end as name_agreement,
            coalesce({dates}, false) as same_birth_date,
            coalesce(left_side.email = right_side.email, false) as same_email,
            coalesce(
                left_side.national_id = right_side.national_id
                or damerau_levenshtein(left_side.national_id, right_side.national_id) = 1,
                false
            ) as same_national_id,
            coalesce(left_side.phone = right_side.phone, false) as same_phone,
            coalesce(left_side.national_id = right_side.national_id, false)
                as identical_national_id,
            coalesce(
                jaro_winkler_similarity(left_side.address, right_side.address) >= 0.9
                or left_side.postal_code = right_side.postal_code,
                false
            ) as same_place,
            coalesce(
                left_side.address = right_side.address
                -- a typo in the street name, not a neighbour's number (12 vs 21, 1201 vs 1202)
                or (jaro_winkler_similarity(left_side.address, right_side.address) >= 0.9
                    and regexp_extract_all(left_side.address, '[0-9]+')
                        = regexp_extract_all(right_side.address, '[0-9]+')
                    and (left_side.postal_code = right_side.postal_code
                        or left_side.city = right_side.city)),
                false
            ) as same_address,
            coalesce(left_side.phone <> right_side.phone, false)
                or coalesce(left_side.email <> right_side.email, false) as contacts_differ
        from {scored} as pairs
        inner join _profiles as left_side on pairs.unique_id_l = left_side.unique_id
        inner join _profiles as right_side on pairs.unique_id_r = right_side.unique_id
    """
