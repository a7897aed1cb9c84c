"""Accuracy of identity resolution against the generator's answer key.

Pairwise figures count pairs of source records: a predicted pair is two records given one
customer id, a true pair two records of one true person. They are computed over the *linkable*
records of `customer_xref` (records carrying a name or an identifier that another record can
share); records that carry none, such as a follower known only by an app-scoped openid, cannot
be linked by any method and are counted separately.

Recall is given twice. `recall` counts every true pair. `reachable_recall` counts only pairs
the data can connect: two records of one person are reachable when a chain of that person's
records joins them, each step sharing an identifier value that only this person holds (phone,
email, national ID, card, unionid; excluded values do not count, nor a phone a household
shares, which cannot say whose receipt it is) or the same name with the same birth date or
address. A WeChat user known by unionid only, whose apps never shared a phone, is reachable
within WeChat but not from the CRM: no method can link them, so those pairs are left out of
`reachable_recall`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class Evaluation:
    records: int
    unmatched_records: int  # in customer_xref but not in the answer key (should be 0)
    unlinkable_records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    reachable_pairs: int
    correct_reachable_pairs: int
    precision: float
    recall: float
    reachable_recall: float
    f1: float
    persons: int
    customers: int
    exact_cluster_rate: float  # persons whose records are exactly one customer
    overmerged_customers: int  # customers holding records of more than one person
    split_persons: int  # persons spread over more than one customer
    largest_customer_records: int
    largest_customer_profiles: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def truth_records_path(truth: Path) -> Path:
    """`records.parquet` of an answer key given the landing zone or its `_truth` folder."""
    for candidate in (truth / "records.parquet", truth / "_truth" / "records.parquet"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no answer key in {truth}: expected records.parquet there or in {truth / '_truth'} "
        "(written by `omni360 generate`)"
    )


def evaluate(con: duckdb.DuckDBPyConnection, truth: Path, schema: str = "identity") -> Evaluation:
    """Compare `<schema>.customer_xref` with the answer key; see the module docstring."""
    path = truth_records_path(truth).as_posix().replace("'", "''")
    con.execute(
        f"""
        create or replace temp table _evaluated as
        with truth as (
            select distinct source, entity, record_id, person_id
            from read_parquet('{path}')
            where person_id is not null
        )
        select xref.record_key, xref.customer_id, xref.record_kind, xref.is_linkable,
            truth.person_id
        from {schema}.customer_xref as xref
        left join truth
            on xref.source_system = truth.source
            and xref.entity = truth.entity
            and xref.source_record_id = truth.record_id
        """
    )
    totals = con.sql(
        """
        select count(*), count(*) filter (where person_id is null),
            count(*) filter (where not is_linkable)
        from _evaluated
        """
    ).fetchall()[0]
    con.execute(
        "create or replace temp table _scored as select * from _evaluated"
        " where is_linkable and person_id is not null"
    )
    pairs = con.sql(
        """
        with by_customer as (select count(*) as n from _scored group by customer_id),
        by_person as (select count(*) as n from _scored group by person_id),
        by_both as (select count(*) as n from _scored group by customer_id, person_id)
        select
            (select coalesce(sum(n * (n - 1) // 2), 0) from by_person),
            (select coalesce(sum(n * (n - 1) // 2), 0) from by_customer),
            (select coalesce(sum(n * (n - 1) // 2), 0) from by_both)
        """
    ).fetchall()[0]
    true_pairs, predicted_pairs, correct_pairs = (int(value) for value in pairs)
    reachable_pairs, correct_reachable = _reachable_pairs(con, schema)
    clusters = con.sql(
        """
        with customers as (
            select customer_id, count(distinct person_id) as persons, count(*) as records
            from _scored group by customer_id
        ),
        persons as (
            select person_id, count(distinct customer_id) as customers,
                any_value(customer_id) as customer_id, count(*) as records
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
            from _evaluated group by customer_id)
        """
    ).fetchall()[0]
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Evaluation(
        records=int(totals[0]),
        unmatched_records=int(totals[1]),
        unlinkable_records=int(totals[2]),
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct_pairs,
        reachable_pairs=reachable_pairs,
        correct_reachable_pairs=correct_reachable,
        precision=precision,
        recall=recall,
        reachable_recall=correct_reachable / reachable_pairs if reachable_pairs else 1.0,
        f1=f1,
        persons=persons,
        customers=customers,
        exact_cluster_rate=exact / persons if persons else 1.0,
        overmerged_customers=overmerged,
        split_persons=split,
        largest_customer_records=int(largest[0]),
        largest_customer_profiles=int(largest[1]),
    )


def _reachable_pairs(con: duckdb.DuckDBPyConnection, schema: str) -> tuple[int, int]:
    """True pairs the data can connect, and how many of them share a customer id."""
    con.execute(
        """
        create or replace temp table _scored_nodes as
        select row_number() over (order by record_key) - 1 as node, * from _scored
        """
    )
    edges = con.sql(
        f"""
        with evidence as (
            select nodes.node, nodes.person_id,
                identifiers.identifier_type as kind, identifiers.identifier_value as value
            from _scored_nodes as nodes
            inner join {schema}.int_identity__identifiers as identifiers
                on nodes.record_key = identifiers.record_key
            anti join {schema}.int_identity__excluded_identifiers as excluded
                on identifiers.identifier_type = excluded.identifier_type
                and identifiers.identifier_value = excluded.identifier_value
            union all
            select nodes.node, nodes.person_id, 'name and ' || detail.kind, detail.value
            from _scored_nodes as nodes
            inner join {schema}.int_identity__source_records as records
                on nodes.record_key = records.record_key
            cross join lateral (
                select 'birth date' as kind,
                    records.name_key || '|' || cast(records.birth_date as varchar) as value
                union all
                select 'address' as kind, records.name_key || '|' || records.address as value
            ) as detail
            where detail.value is not null
        ),
        personal as (
            select kind, value from evidence group by kind, value
            having count(distinct person_id) = 1
        )
        select min(evidence.node) over (partition by evidence.kind, evidence.value) as first_node,
            evidence.node
        from evidence inner join personal using (kind, value)
        """
    ).fetchnumpy()
    nodes = con.sql("select count(*) from _scored_nodes").fetchall()[0][0]
    graph = coo_matrix(
        (np.ones(len(edges["node"])), (edges["first_node"], edges["node"])), shape=(nodes, nodes)
    )
    _, component = connected_components(graph, directed=False)
    con.register("_components", {"node": np.arange(nodes, dtype=np.int64), "component": component})
    counts = con.sql(
        """
        with labelled as (
            select nodes.customer_id, components.component
            from _scored_nodes as nodes inner join _components as components using (node)
        ),
        reachable as (select count(*) as n from labelled group by component),
        correct as (select count(*) as n from labelled group by component, customer_id)
        select
            (select coalesce(sum(n * (n - 1) // 2), 0) from reachable),
            (select coalesce(sum(n * (n - 1) // 2), 0) from correct)
        """
    ).fetchall()[0]
    con.unregister("_components")
    return int(counts[0]), int(counts[1])
