"""Accuracy of identity resolution against an answer key (the generator's `_truth/`).

Pairwise figures count pairs of source records: a predicted pair is two records given one
customer id, a true pair two records of one true person. They are computed over **every
identity-bearing record** (a record of `identity.int_identity__source_records`: it carries a name
or an identifier), the ones that can never be linked included: a record the resolver left
without a customer (a receipt with only a placeholder phone) counts as a customer of its own.

Beside recall over all true pairs, a reference figure shows what plain exact-key stitching could
reach, without the answer key discarding any evidence and without our own normaliser: two
records are connected when they share a raw identifier after a reference cleaning (a phone's last
10 digits, an email lower-cased and trimmed, a card number's digits, a national ID's letters and
digits, a unionid) or the same name as written with the same birth date; chains of such links
connect too. A true pair so connected is *reference-reachable*. Missed true pairs are broken down
by cause: a guard refused the link, the pair scored below the threshold, it shared evidence but
was never compared, or it shared no evidence at all.

The golden record is scored against each customer's majority person: name (in its standard
form, case folded), phone (current or own mobile), email, birth date, national ID.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from orchestration.lib.identity.locale import Locale
from orchestration.lib.sql import literal

# the identity-bearing raw values of each source, as delivered (staging: one row per key)
_RAW_SOURCES = """
    select 'crm:members:' || member_id as record_key, phone, email, card_no, national_id,
        unionid, name, birth_date
    from (select *, null::varchar as unionid from staging.stg_crm__members)
    union all
    select 'ecommerce:customers:' || account_id, phone, email, null, null, null, name, null
    from staging.stg_ecommerce__customers
    union all
    select 'pos:transactions:' || transaction_id, phone, null, member_card_no, null, null, null,
        null
    from staging.stg_pos__transactions
    union all
    select 'social:accounts:' || app_id || ':' || openid, phone, null, null, null, unionid, null,
        null
    from staging.stg_social__accounts
"""
_REFERENCE_KEYS = {
    "phone": "case when length(regexp_replace(phone, '[^0-9]', '', 'g')) >= 7 "
    "then right(regexp_replace(phone, '[^0-9]', '', 'g'), 10) end",
    "email": "case when contains(email, '@') then lower(trim(email)) end",
    "card": "nullif(regexp_replace(card_no, '[^0-9]', '', 'g'), '')",
    "national_id": "case when length(regexp_replace(national_id, '[^0-9A-Za-z]', '', 'g')) >= 4 "
    "then upper(regexp_replace(national_id, '[^0-9A-Za-z]', '', 'g')) end",
    "unionid": "nullif(trim(unionid), '')",
    "name and birth date": "trim(name) || '|' || cast(birth_date as varchar)",
}


@dataclass(frozen=True)
class Evaluation:
    records: int  # identity-bearing records scored
    unmatched_records: int  # not in the answer key (should be 0)
    unresolved_records: int  # identity-bearing records without a customer (each its own)
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float  # over all true pairs
    f1: float
    linkable_recall: float  # over true pairs of linkable records only (the former lead figure)
    reference_pairs: int  # true pairs reference-reachable (see the module docstring)
    correct_reference_pairs: int
    reference_recall: float  # recall among them
    persons: int
    customers: int
    exact_cluster_rate: float  # persons whose records are exactly one customer
    overmerged_customers: int  # customers holding records of more than one person
    split_persons: int  # persons spread over more than one customer
    largest_customer_records: int
    largest_customer_profiles: int
    missed_by_cause: dict[str, int] = field(default_factory=dict)  # missed true pairs
    golden_accuracy: dict[str, float] = field(default_factory=dict)  # attribute → share right
    golden_compared: dict[str, int] = field(default_factory=dict)  # attribute → customers
    # share of customers whose records hold their true name at all: no survivorship rule can
    # score above it
    golden_name_available: float | None = None
    # share of persons whose records, grouped by the answer key, hold their true name: what a
    # golden record could reach after a perfect resolution
    golden_name_available_to_any: float | None = None

    @property
    def reference_share(self) -> float:
        """The share of true pairs plain exact-key stitching could reach."""
        return self.reference_pairs / self.true_pairs if self.true_pairs else 1.0

    def as_dict(self) -> dict:
        return {**asdict(self), "reference_share": self.reference_share}


def truth_records_path(truth: Path) -> Path:
    """`records.parquet` of an answer key given the landing zone or its `_truth` folder."""
    for candidate in (truth / "records.parquet", truth / "_truth" / "records.parquet"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no answer key in {truth}: expected records.parquet there or in {truth / '_truth'} "
        "(written by `omni360 generate`)"
    )


def _pairs(relation: str, *group: str) -> str:
    return (
        f"(select coalesce(sum(n * (n - 1) // 2), 0) from (select count(*) as n from {relation} "
        f"group by {', '.join(group)}))"
    )


def evaluate(
    con: duckdb.DuckDBPyConnection,
    truth: Path,
    schema: str = "identity",
    locale: Locale | None = None,
    keep_normalised: bool = False,
    golden: bool = True,
) -> Evaluation:
    """Compare `<schema>.customer_xref` with the answer key; see the module docstring. The
    golden record is scored (unless `golden` is false) when the connection has the omni360_*
    functions; with `keep_normalised` the answer key's normalised values are kept beside it for
    the next run."""
    records, unmatched, unresolved = _score_records(con, truth, schema)
    true_pairs, predicted_pairs, correct_pairs = (
        int(v)
        for v in con.sql(
            f"select {_pairs('_scored', 'person_id')}, {_pairs('_scored', 'customer_id')}, "
            f"{_pairs('_scored', 'customer_id', 'person_id')}"
        ).fetchall()[0]
    )
    reference_pairs, correct_reference = _reference_pairs(con, schema)
    # the figure earlier versions led with: records carrying an identifier another record can
    # share, or a name (a follower known only by an app's openid is not one)
    con.execute("create or replace temp view _linkable as select * from _scored where is_linkable")
    linkable_true, linkable_correct = (
        int(v)
        for v in con.sql(
            f"select {_pairs('_linkable', 'person_id')}, "
            f"{_pairs('_linkable', 'customer_id', 'person_id')}"
        ).fetchall()[0]
    )
    clusters = con.sql(
        """
        with customers as (
            select customer_id, count(distinct person_id) as persons from _scored
            group by customer_id
        ),
        persons as (
            select person_id, count(distinct customer_id) as customers,
                any_value(customer_id) as customer_id
            from _scored group by person_id
        )
        select
            (select count(*) from persons),
            (select count(*) from customers),
            (select count(*) from persons inner join customers using (customer_id)
                where persons.customers = 1 and customers.persons = 1),
            (select count(*) from customers where persons > 1),
            (select count(*) from persons where customers > 1)
        """
    ).fetchall()[0]
    persons, customers, exact, overmerged, split = (int(value) for value in clusters)
    largest = con.sql(
        """
        select coalesce(max(records), 0), coalesce(max(profiles), 0) from (
            select count(*) as records, count(*) filter (where record_kind = 'profile') as profiles
            from _scored group by customer_id)
        """
    ).fetchall()[0]
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    accuracy, compared, name_available, name_available_to_any = (
        golden_accuracy(con, truth, schema, locale or Locale(), keep_normalised)
        if golden
        else ({}, {}, None, None)
    )
    return Evaluation(
        records=int(records),
        unmatched_records=int(unmatched),
        unresolved_records=int(unresolved),
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct_pairs,
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        linkable_recall=linkable_correct / linkable_true if linkable_true else 1.0,
        reference_pairs=reference_pairs,
        correct_reference_pairs=correct_reference,
        reference_recall=correct_reference / reference_pairs if reference_pairs else 1.0,
        persons=persons,
        customers=customers,
        exact_cluster_rate=exact / persons if persons else 1.0,
        overmerged_customers=overmerged,
        split_persons=split,
        largest_customer_records=int(largest[0]),
        largest_customer_profiles=int(largest[1]),
        missed_by_cause=_missed_by_cause(con, schema),
        golden_accuracy=accuracy,
        golden_compared=compared,
        golden_name_available=name_available,
        golden_name_available_to_any=name_available_to_any,
    )


def _score_records(
    con: duckdb.DuckDBPyConnection, truth: Path, schema: str
) -> tuple[int, int, int]:
    """Temp table `_scored`: every identity-bearing record in the answer key with its customer
    (its own when unresolved) and true person. Returns the records, those missing from the answer
    key (left out of `_scored`) and those without a customer."""
    path = literal(truth_records_path(truth))
    con.execute(
        f"""
        create or replace temp table _scored as
        with truth as (
            -- only the answer key's identity-bearing entities: orders and events are most of it.
            -- Joined on the record key's three parts, not on the key built again: the same
            -- rows (the record key is `source_system:entity:source_record_id`), 1 s less at 1M
            select distinct source, entity, record_id, person_id
            from read_parquet({path})
            where person_id is not null and (source, entity) in (
                select distinct source_system, entity from {schema}.int_identity__source_records
            )
        )
        select
            records.record_key,
            coalesce(xref.customer_id, '~' || records.record_key) as customer_id,
            xref.customer_id is null as is_unresolved,
            coalesce(xref.is_linkable, false) as is_linkable,
            records.record_kind,
            truth.person_id
        from {schema}.int_identity__source_records as records
        left join {schema}.customer_xref as xref using (record_key)
        left join truth
            on
                records.source_system = truth.source
                and records.entity = truth.entity
                and records.source_record_id = truth.record_id
        """
    )
    records, unmatched, unresolved = con.sql(
        "select count(*), count(*) filter (where person_id is null), "
        "count(*) filter (where is_unresolved) from _scored"
    ).fetchall()[0]
    con.execute("delete from _scored where person_id is null")
    return int(records), int(unmatched), int(unresolved)


def evaluate_golden(
    con: duckdb.DuckDBPyConnection,
    truth: Path,
    schema: str = "identity",
    locale: Locale | None = None,
    keep_normalised: bool = False,
) -> tuple[dict[str, float], dict[str, int], float | None, float | None]:
    """`golden_accuracy` of `<schema>.int_identity__golden_records` as it is now: scored where
    the golden records are built, not with the id map (they are built after it)."""
    _score_records(con, truth, schema)
    return golden_accuracy(con, truth, schema, locale or Locale(), keep_normalised)


def golden_shortfalls(
    accuracy: dict[str, float],
    name_available: float | None,
    min_identifier_accuracy: float,
    max_name_gap: float,
) -> list[str]:
    """What falls short in `golden_accuracy`'s figures: an identifier whose share of right values
    is under `min_identifier_accuracy`, or a name more than `max_name_gap` under the share of
    customers whose records hold their true name at all (no survivorship rule can do better)."""
    low = [
        f"{attribute} {share:.4f}"
        for attribute, share in accuracy.items()
        if attribute != "name" and share < min_identifier_accuracy
    ]
    if name_available is not None and "name" in accuracy:
        gap = name_available - accuracy["name"]
        if gap > max_name_gap:
            low.append(f"name {accuracy['name']:.4f}, {gap:.4f} below what the records hold")
    return low


def _reference_pairs(con: duckdb.DuckDBPyConnection, schema: str) -> tuple[int, int]:
    """Reference components over every identity-bearing record; true pairs within one, and how
    many of them share a customer id (see the module docstring)."""
    keys = " union all ".join(
        f"select record_key, '{kind}' as kind, {expression} as value from raw"
        for kind, expression in _REFERENCE_KEYS.items()
    )
    con.execute(
        f"""
        create or replace temp table _reference_nodes as
        select row_number() over (order by record_key) - 1 as node, record_key
        from {schema}.int_identity__source_records
        """
    )
    # each record with a value shared by another is linked to the value's first record; a value
    # on one record alone links nothing (a third fewer edges than linking every record, 1 s at 1M)
    edges = con.sql(
        f"""
        with raw as ({_RAW_SOURCES}),
        keys as (select * from ({keys}) where value is not null),
        keyed as (
            select keys.kind, keys.value, nodes.node
            from keys inner join _reference_nodes as nodes using (record_key)
        ),
        shared as (
            select kind, value, min(node) as first_node from keyed
            group by kind, value having count(*) > 1
        )
        select shared.first_node, keyed.node from keyed inner join shared using (kind, value)
        """
    ).fetchnumpy()
    nodes = con.sql("select count(*) from _reference_nodes").fetchall()[0][0]
    graph = coo_matrix(
        (np.ones(len(edges["node"])), (edges["first_node"], edges["node"])), shape=(nodes, nodes)
    )
    _, component = connected_components(graph, directed=False)
    con.register("_components", {"node": np.arange(nodes, dtype=np.int64), "component": component})
    con.execute(
        """
        create or replace temp table _reference as
        select nodes.record_key, components.component
        from _reference_nodes as nodes inner join _components as components using (node)
        """
    )
    con.unregister("_components")
    con.execute(
        "create or replace temp table _scored_reference as "
        "select * from _scored inner join _reference using (record_key)"
    )
    counts = con.sql(
        f"select {_pairs('_scored_reference', 'component', 'person_id')}, "
        f"{_pairs('_scored_reference', 'component', 'person_id', 'customer_id')}"
    ).fetchall()[0]
    return int(counts[0]), int(counts[1])


def _missed_by_cause(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, int]:
    """Missed true pairs (one person, two customers) by why: a refused link between the two
    customers' records of that person names the guard; a link below the threshold; shared
    reference evidence but no link ("never compared"); no shared evidence at all."""
    rows = con.sql(
        f"""
        with parts as (
            select person_id, customer_id, count(*) as n from _scored group by all
        ),
        splits as (
            select left_part.person_id, left_part.customer_id as left_customer,
                right_part.customer_id as right_customer,
                left_part.n * right_part.n as pairs
            from parts as left_part
            inner join parts as right_part
                on left_part.person_id = right_part.person_id
                and left_part.customer_id < right_part.customer_id
        ),
        links as (
            select left_side.person_id, left_side.customer_id as left_customer,
                right_side.customer_id as right_customer,
                min(case when links.refused_reason = 'below_threshold' then 2
                    when links.refused_reason is not null then 1 end) as rank,
                min(links.refused_reason) filter (where links.refused_reason <> 'below_threshold')
                    as guard
            from {schema}.identity_links as links
            inner join _scored as left_side on links.left_record_key = left_side.record_key
            inner join _scored as right_side on links.right_record_key = right_side.record_key
            where left_side.person_id = right_side.person_id
            group by all
        ),
        evidence as (
            select left_side.person_id, left_side.customer_id as left_customer,
                right_side.customer_id as right_customer
            from _scored_reference as left_side
            inner join _scored_reference as right_side
                on left_side.person_id = right_side.person_id
                and left_side.component = right_side.component
                and left_side.customer_id < right_side.customer_id
            group by all
        ),
        classified as (
            select
                splits.pairs,
                case
                    when links.rank = 1 then 'guard refused: ' || links.guard
                    when links.rank = 2 then 'scored below the threshold'
                    when evidence.person_id is not null then 'shared evidence, never compared'
                    else 'no shared evidence'
                end as cause
            from splits
            left join links
                on splits.person_id = links.person_id
                and least(splits.left_customer, splits.right_customer)
                    = least(links.left_customer, links.right_customer)
                and greatest(splits.left_customer, splits.right_customer)
                    = greatest(links.left_customer, links.right_customer)
            left join evidence
                on splits.person_id = evidence.person_id
                and splits.left_customer = evidence.left_customer
                and splits.right_customer = evidence.right_customer
        )
        select cause, sum(pairs) from classified group by cause order by 2 desc
        """
    ).fetchall()
    return {cause: int(pairs) for cause, pairs in rows}


def golden_accuracy(
    con: duckdb.DuckDBPyConnection,
    truth: Path,
    schema: str,
    locale: Locale,
    keep_normalised: bool = False,
) -> tuple[dict[str, float], dict[str, int], float | None, float | None]:
    """Share of customers whose golden attribute equals their majority person's true one, how
    many were compared (both known), the share whose records hold their true name at all, and
    the share of persons whose records (grouped by the answer key, as a perfect resolver would)
    hold it; empty when the answer key has no persons file or the connection lacks the omni360_*
    functions."""
    persons = truth_records_path(truth).with_name("persons.parquet")
    if not persons.is_file():
        return {}, {}, None, None
    try:
        _normalised_truth(con, persons, locale, keep_normalised)
        # each distinct value normalised once into a temp table: the Python function dominates
        # the cost (names repeat: 3.5M records hold 0.34M at 1M persons), and a CTE referenced
        # by several aggregates would call it once per reference
        con.execute(
            f"""
            create or replace temp table _standard_names as
            with written as (
                select display_name as value from {schema}.int_identity__source_records
                where display_name is not null
                union
                select customer_name from {schema}.int_identity__golden_records
                where customer_name is not null
            )
            select value, lower(omni360_standard_name(value)) as name from written
            """
        )
        con.execute(
            f"""
            create or replace temp table _written_names as
            select records.record_key, standard.name
            from {schema}.int_identity__source_records as records
            inner join _standard_names as standard on records.display_name = standard.value
            """
        )
        con.execute(
            f"""
            create or replace temp table _golden_pairs as
            with majority as (
                select customer_id, person_id from _scored
                where not starts_with(customer_id, '~')
                group by customer_id, person_id
                qualify row_number() over (
                    partition by customer_id order by count(*) desc, person_id) = 1
            ),
            names as (
                select xref.customer_id, list(written.name) as written
                from {schema}.customer_xref as xref
                inner join _written_names as written using (record_key)
                group by xref.customer_id
            )
            select
                standard.name,
                truth.std_name as true_name,
                names.written,
                golden.phone,
                truth.std_phone as true_phone,
                truth.std_own_phone as true_own_phone,
                golden.email,
                truth.std_email as true_email,
                golden.birth_date,
                truth.birth_date as true_birth_date,
                golden.national_id,
                truth.std_national_id as true_national_id
            from {schema}.int_identity__golden_records as golden
            left join _standard_names as standard on golden.customer_name = standard.value
            inner join majority using (customer_id)
            inner join _truth_persons as truth using (person_id)
            left join names using (customer_id)
            """
        )
        row = con.sql(
            """
            select
                avg((name = true_name)::int)
                    filter (where name is not null and true_name is not null),
                count(*) filter (where name is not null and true_name is not null),
                avg((phone in (true_phone, true_own_phone))::int)
                    filter (where phone is not null and true_phone is not null),
                count(*) filter (where phone is not null and true_phone is not null),
                avg((email = true_email)::int)
                    filter (where email is not null and true_email is not null),
                count(*) filter (where email is not null and true_email is not null),
                avg((birth_date = true_birth_date)::int)
                    filter (where birth_date is not null and true_birth_date is not null),
                count(*) filter (where birth_date is not null and true_birth_date is not null),
                avg((national_id = true_national_id)::int)
                    filter (where national_id is not null and true_national_id is not null),
                count(*) filter (where national_id is not null and true_national_id is not null),
                avg(list_contains(written, true_name)::int)
                    filter (where name is not null and true_name is not null)
            from _golden_pairs
            """
        ).fetchall()[0]
        to_any = con.sql(
            """
            with written as (
                select scored.person_id, list(written.name) as names
                from _scored as scored
                inner join _written_names as written using (record_key)
                group by scored.person_id
            )
            select avg(list_contains(written.names, truth.std_name)::int)
            from written inner join _truth_persons as truth using (person_id)
            where truth.std_name is not null
            """
        ).fetchall()[0][0]
    except duckdb.CatalogException:  # no golden records yet, or no omni360_* functions
        return {}, {}, None, None
    names = ("name", "phone", "email", "birth_date", "national_id")
    accuracy = {n: float(row[2 * i]) for i, n in enumerate(names) if row[2 * i] is not None}
    compared = {n: int(row[2 * i + 1]) for i, n in enumerate(names)}
    available = None if row[10] is None else float(row[10])
    return accuracy, compared, available, None if to_any is None else float(to_any)


# the answer key's values as the golden record holds them; phones through `phonenumbers` cost
# about a minute per million persons, so they are kept between runs (see _normalised_truth)
_TRUTH_RAW = ("name", "phone", "own_phone", "email", "national_id")


def _normalised_truth(
    con: duckdb.DuckDBPyConnection, persons: Path, locale: Locale, keep: bool
) -> None:
    """Temp table `_truth_persons`: each true person with `std_*` columns normalised as the
    golden record is. With `keep`, they are also written beside the answer key, and persons
    whose raw values are unchanged since then reuse them (an extended answer key costs only its
    changes). Kept there, not in the warehouse: it is a copy of the answer key, and goes where
    the answer key goes (docs/operations.md#incremental-runs)."""
    region, scheme = locale.region, locale.scheme
    raw = ", ".join(_TRUTH_RAW)
    con.execute(
        f"create or replace temp table _truth_source as "
        f"select person_id, {raw}, birth_date from read_parquet({literal(persons)})"
    )
    cached = persons.with_name(f".normalised_{region}_{scheme}.parquet") if keep else None
    reuse = bool(cached and cached.is_file())
    if reuse:
        same = " and ".join(f"source.{c} is not distinct from kept.{c}" for c in _TRUTH_RAW)
        con.execute(
            f"""
            create or replace temp table _truth_known as
            select source.*, kept.std_name, kept.std_phone, kept.std_own_phone, kept.std_email,
                kept.std_national_id
            from _truth_source as source
            inner join read_parquet({literal(cached)}) as kept
                on source.person_id = kept.person_id and {same}
            """
        )
    con.execute(
        f"""
        create or replace temp table _truth_persons as
        {"select * from _truth_known union all" if reuse else ""}
        select source.*,
            lower(omni360_standard_name(name)) as std_name,
            omni360_phone_e164(phone, '{region}') as std_phone,
            omni360_phone_e164(own_phone, '{region}') as std_own_phone,
            lower(trim(email)) as std_email,
            omni360_national_id(national_id, '{scheme}') as std_national_id
        from _truth_source as source
        {"anti join _truth_known using (person_id)" if reuse else ""}
        """
    )
    if cached is None:
        return
    fresh = con.sql("select count(*) from _truth_persons").fetchall()[0][0] - (
        con.sql("select count(*) from _truth_known").fetchall()[0][0] if reuse else 0
    )
    if fresh:
        partial = cached.with_suffix(".partial")
        try:
            con.execute(f"copy _truth_persons to {literal(partial)} (format parquet)")
            partial.replace(cached)
        except (duckdb.IOException, OSError):  # a read-only answer key: normalised every run
            partial.unlink(missing_ok=True)
