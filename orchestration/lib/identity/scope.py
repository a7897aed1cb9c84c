"""Which records a run resolves again: everything, or the increment's scope.

Clustering is order-dependent (links strongest first, guards on whole clusters), but it never
looks beyond a connected component of the candidate links: every link it weighs joins two
records of one component, and every guard reads the clusters of those two records. So the
records of the components that a change touches, resolved again with the links among them in
the same order and the same frozen model, come out exactly as a full run would have them; the
other components keep their customers.

Seeds are the records that changed since the last run (new, or any identity column changed),
the records a removed record was linked with, and the holders of an identifier whose exclusion
changed (it became shared by too many records, or stopped being). The scope is every record
connected to a seed through a candidate link: one the last run logged (`identity_links`, every
decision, below-threshold Splink pairs too), a shared identifier value, or a Splink pair the
frozen model scores for a seed now.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SCHEMA = "identity"


@dataclass(frozen=True)
class Scope:
    full: bool
    why: str  # why the run resolves everything, or what the increment holds
    seeds: int = 0  # records that changed (or lost a link to a removed record)
    records: int = 0  # records resolved again
    removed: int = 0  # records gone since the last run (withdrawn, erased)

    @property
    def empty(self) -> bool:
        return not self.full and self.records == 0 and self.removed == 0


# how `input_hash_sql` hashes: a run after the way changed resolves everything once, since no
# stored hash would match (the md5 of the record as text took 3x as long, 7 s of a 1M increment)
INPUT_HASH = "hash-v2"


def input_hash_sql(
    con: duckdb.DuckDBPyConnection, relation: str, alias: str, extra: str = "null"
) -> str:
    """A hash of a source record's identity columns (not the `_` provenance ones, which change
    when an identical line is delivered again) and `extra` (a hash of its identifiers)."""
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? and column_name not like '\\_%' escape '\\' "
            "order by ordinal_position",
            relation.split("."),
        ).fetchall()
    ]
    fields = ", ".join(f"{alias}.{name}" for name in columns)
    return f"cast(hash({fields}, {extra}) as varchar)"


def seeds(con: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, int]:
    """Nodes of `_all_keys` to resolve again because of a change, and how many records were
    removed. Reads the last run's `resolved_records`, `resolved_exclusions` and links."""
    changed = con.execute(
        f"""
        select nodes.node from _all_keys as nodes
        left join {SCHEMA}.resolved_records as before using (record_key)
        where before.input_hash is distinct from nodes.input_hash
        """
    ).fetchnumpy()["node"]
    removed_keys = f"""
        select record_key from {SCHEMA}.resolved_records
        anti join _all_keys using (record_key)
    """
    removed = con.execute(f"select count(*) from ({removed_keys})").fetchall()[0][0]
    # what a removed record was linked with has lost a link: resolve it again
    orphaned = con.execute(
        f"""
        with gone as ({removed_keys}),
        touching as (
            select right_record_key as record_key from {SCHEMA}.identity_links
            where left_record_key in (select record_key from gone)
            union
            select left_record_key from {SCHEMA}.identity_links
            where right_record_key in (select record_key from gone)
        )
        select nodes.node from _all_keys as nodes
        where nodes.record_key in (select record_key from touching)
        """
    ).fetchnumpy()["node"]
    # an identifier that became shared by too many records (or stopped being) changes the links
    # of everyone who holds it
    exclusions = con.execute(
        f"""
        with now as (
            select identifier_type, identifier_value
            from {SCHEMA}.int_identity__excluded_identifiers
        ),
        before as (select identifier_type, identifier_value from {SCHEMA}.resolved_exclusions),
        flipped as (
            (select * from now except select * from before)
            union all
            (select * from before except select * from now)
        )
        select distinct nodes.node
        from {SCHEMA}.int_identity__identifiers as identifiers
        inner join flipped using (identifier_type, identifier_value)
        inner join _all_keys as nodes using (record_key)
        """
    ).fetchnumpy()["node"]
    found = np.unique(np.concatenate([changed, orphaned, exclusions]).astype(np.int64))
    return found, removed


def closure(
    con: duckdb.DuckDBPyConnection, seed_nodes: np.ndarray, new_pairs: pa.Table, nodes: int
) -> np.ndarray:
    """Every node connected to a seed through the last run's links, an identifier value two
    records hold, or `new_pairs` (unique_id_l, unique_id_r: the model's pairs of the seeds now).

    Every shared value, not only the seeds': a record reached through a logged link may hold a
    phone whose other holders no link names (a household's members, who decide whether the phone
    attaches a receipt). Shared values hardly grow the scope: at 1M persons the largest component
    stays at 182 records."""
    old = con.execute(
        f"""
        select left_nodes.node as a, right_nodes.node as b
        from {SCHEMA}.identity_links as links
        inner join _all_keys as left_nodes on links.left_record_key = left_nodes.record_key
        inner join _all_keys as right_nodes on links.right_record_key = right_nodes.record_key
        """
    ).fetchnumpy()
    shared = con.execute(
        "select min(node) over (partition by identifier_type, identifier_value) as a, node as b "
        "from _all_ids"
    ).fetchnumpy()
    left = np.concatenate(
        [old["a"], shared["a"], new_pairs.column("unique_id_l").to_numpy()]
    ).astype(np.int64)
    right = np.concatenate(
        [old["b"], shared["b"], new_pairs.column("unique_id_r").to_numpy()]
    ).astype(np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    touched = np.unique(component[seed_nodes])
    return np.flatnonzero(np.isin(component, touched))
