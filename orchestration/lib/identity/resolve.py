"""Identity resolution: links between source records, clusters, and stable customer ids.

Reads the dbt models `identity.int_identity__source_records`, `..._identifiers` and
`..._excluded_identifiers` plus the override seeds, and writes (schema `identity`):

- `customer_xref`: one row per resolved source record → customer id (the persisted id map)
- `identity_links`: every candidate link, its rule or match weight, and whether it was accepted
- `customer_ids`: every id ever minted, active or merged into another
- `customer_id_events`: ids created, merged and split, per run
- `oversized_clusters`: customers that hit the size limit, with the links refused
- `resolution_runs`: one row per run with its figures

The order of links, strongest first: national ID, card number, unionid, email, Splink pairs by
match weight, then phones; force links last, over the finished customers (see docs/identity.md).
"""

from __future__ import annotations

import json
import math
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.identity import scope as scoping
from orchestration.lib.identity.cluster import ACCEPTED, REDUNDANT, ConstrainedUnionFind
from orchestration.lib.identity.probabilistic import (
    PAIR_COLUMNS,
    Scorer,
    TrainedModel,
    TrainingReport,
    comparison_levels,
    current_comparison_levels,
    populated_columns,
    score,
    tf_columns,
    train,
)
from orchestration.lib.identity.scope import INPUT_HASH, Scope, input_hash_sql
from orchestration.lib.sql import identifier, literal

SCHEMA = "identity"
STRONG_IDENTIFIERS = ("national_id", "card_no", "unionid", "email")  # in order of trust


@dataclass(frozen=True)
class ResolverConfig:
    # a Splink pair at or above this match probability links its records
    match_probability: float = 0.85
    # no customer may hold more profile records (members, shop and social accounts) than this
    max_profiles_per_customer: int = 50
    seed: int = 42
    # two different national IDs are two people: true for a checksummed scheme (cn_ric); without
    # a checksum a different number may be mistyped, and only weighs against the link
    national_ids_prove: bool = True
    # the model is trained again once the named profiles have grown by this share since it was
    # trained (or when other optional columns come to be filled); until then it stays frozen
    retrain_growth: float = 0.25
    # "full"; or, for comparison in docs/identity.md, "exact_keys" (every shared identifier
    # value, phone included, links, with no guards: exact-key stitching) or "splink_only"
    # (Splink pairs above the threshold, nothing else, no guards)
    strategy: str = "full"


@dataclass
class ResolutionResult:
    run_id: str
    records: int = 0
    resolved_records: int = 0
    linkable_records: int = 0
    customers: int = 0
    ids_created: int = 0
    ids_merged: int = 0
    ids_split: int = 0
    largest_customer_profiles: int = 0
    largest_customer_records: int = 0
    accepted_by_rule: dict[str, int] = field(default_factory=dict)
    refused_by_reason: dict[str, int] = field(default_factory=dict)
    unknown_override_keys: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # how the probabilistic model was built and trained (steps skipped, and why)
    training: dict = field(default_factory=dict)
    # what this run resolved: everything (and why) or an increment (scope.Scope)
    scope: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)  # the resolver settings it ran with
    overrides: str = ""  # fingerprint of the force-link and never-link seeds
    input_hash: str = INPUT_HASH  # how the records' hashes in resolved_records were computed


class _LinkLog:
    """Collects every link decision for `identity_links`, column by column (millions of links:
    numbers in arrays, rules and decisions as small codes)."""

    def __init__(self) -> None:
        self.left = array("q")
        self.right = array("q")
        self.rule = array("b")
        self.decision = array("b")
        self.weight = array("d")
        self.probability = array("d")
        self.levels: list[str | None] = []
        self.rules: dict[str, int] = {}
        self.decisions: dict[str, int] = {}

    def add(
        self,
        left: int,
        right: int,
        rule: str,
        decision: str,
        *,
        weight: float | None = None,
        probability: float | None = None,
        levels: str | None = None,
    ) -> None:
        self.left.append(left)
        self.right.append(right)
        self.rule.append(self.rules.setdefault(rule, len(self.rules)))
        self.decision.append(self.decisions.setdefault(decision, len(self.decisions)))
        self.weight.append(math.nan if weight is None else weight)
        self.probability.append(math.nan if probability is None else probability)
        self.levels.append(levels)

    def table(self) -> pa.Table:
        def decoded(codes: array, names: dict[str, int]) -> pa.Array:
            dictionary = pa.array(sorted(names, key=names.get), pa.string())
            return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), dictionary).cast(
                pa.string()
            )

        decision = decoded(self.decision, self.decisions)
        kept = pc.is_in(decision, value_set=pa.array([ACCEPTED, REDUNDANT]))
        return pa.table(
            {
                "left_node": pa.array(np.frombuffer(self.left, dtype=np.int64)),
                "right_node": pa.array(np.frombuffer(self.right, dtype=np.int64)),
                "rule": decoded(self.rule, self.rules),
                "decision": pc.if_else(kept, decision, pa.scalar("refused")),
                "refused_reason": pc.if_else(kept, pa.scalar(None, pa.string()), decision),
                "match_weight": pa.array(np.frombuffer(self.weight), from_pandas=True),
                "match_probability": pa.array(np.frombuffer(self.probability), from_pandas=True),
                "comparison_levels": pa.array(self.levels, pa.string()),
            }
        )


def _fetch_columns(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, list]:
    table = con.sql(sql).to_arrow_table()
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _load_all(con: duckdb.DuckDBPyConnection) -> None:
    """`_all_keys`: every source record's node (numbered in record-key order) and a hash of its
    identity columns; `_all_nodes`: the records with both, a view (an increment reads its named
    profiles and its scope from it, `_restrict` keeps what a run clusters); `_all_ids`: their
    identifiers, shared or placeholder values left out."""
    records = f"{SCHEMA}.int_identity__source_records"
    # the hash covers the record's identifiers too: an old version delivered late adds some.
    # Numbered after hashing, so the sort carries two columns instead of the whole record (at
    # 1M persons 1.5 s instead of 6 s, which every increment paid)
    con.execute(
        f"""
        create or replace temp table _all_keys as
        with identifiers as (
            -- the set of a record's identifiers, in any order (each pair is unique per record)
            select record_key, bit_xor(hash(identifier_type, identifier_value)) as held
            from {SCHEMA}.int_identity__identifiers
            group by record_key
        ),
        hashed as (
            select
                records.record_key,
                {input_hash_sql(con, records, "records", "identifiers.held")} as input_hash
            from {records} as records
            left join identifiers on records.record_key = identifiers.record_key
        )
        select row_number() over (order by record_key) - 1 as node, record_key, input_hash
        from hashed
        """
    )
    con.execute(
        f"""
        create or replace temp view _all_nodes as
        select keys.node, records.*, keys.input_hash
        from {records} as records
        inner join _all_keys as keys on records.record_key = keys.record_key
        """
    )
    con.execute(
        f"""
        create or replace temp table _all_ids as
        select nodes.node, identifiers.identifier_type, identifiers.identifier_value
        from {SCHEMA}.int_identity__identifiers as identifiers
        inner join _all_keys as nodes on identifiers.record_key = nodes.record_key
        anti join {SCHEMA}.int_identity__excluded_identifiers as excluded
            on identifiers.identifier_type = excluded.identifier_type
            and identifiers.identifier_value = excluded.identifier_value
        """
    )


def _restrict(con: duckdb.DuckDBPyConnection, nodes: np.ndarray | None) -> None:
    """`_nodes` and `_ids`: the records this run clusters (all, or the scope's), numbered in
    record-key order as in `_all_nodes`, so links come in the same order as in a full run."""
    for name in ("_nodes", "_ids"):  # `_ids` is a view in a full run, a table in an increment
        kinds = con.execute(
            "select 'view' from duckdb_views() where view_name = ? and temporary "
            "union all select 'table' from duckdb_tables() where table_name = ? and temporary",
            [name, name],
        ).fetchall()
        for (kind,) in kinds:
            con.execute(f"drop {kind} {name}")
    if nodes is None:
        # a table: clustering reads it many times, and `_all_nodes` is a join
        con.execute("create temp table _nodes as select * from _all_nodes")
        # the union-find indexes records by node: a record key that is null or not unique
        # (dbt's tests on the source records refuse both) would leave a gap or a repeat
        nodes_now, keys = con.execute(
            "select (select count(*) from _nodes), (select count(*) from _all_keys)"
        ).fetchall()[0]
        if nodes_now != keys:
            raise RuntimeError(
                f"{keys:,} records numbered but {nodes_now:,} joined back to them: a record key "
                f"of {SCHEMA}.int_identity__source_records is null or not unique"
            )
        con.execute("create temp view _ids as select * from _all_ids")
        return
    con.register("_scope", pa.table({"node": pa.array(nodes, pa.int64())}))
    con.execute(
        """
        create temp table _nodes as
        select row_number() over (order by record_key) - 1 as node, * exclude (node),
            node as global_node
        from _all_nodes
        where node in (select node from _scope)
        """
    )
    con.unregister("_scope")
    con.execute(
        """
        create temp table _ids as
        select nodes.node, ids.identifier_type, ids.identifier_value
        from _all_ids as ids inner join _nodes as nodes on ids.node = nodes.global_node
        """
    )


def stars_sql(ids: str, identifier_types: tuple[str, ...]) -> str:
    """The deterministic links among the identifiers `ids` (node, identifier_type,
    identifier_value) of `identifier_types`: each record links to the first record (lowest node)
    holding the same value, a star per value, one link per pair of records by its most trusted
    type. DuckDB's SQL; on Spark it runs translated (orchestration/lib/spark/linking.py)."""
    priority = " ".join(f"when '{name}' then {rank}" for rank, name in enumerate(identifier_types))
    types = ", ".join(f"'{name}'" for name in identifier_types)
    return f"""
        with stars as (
            select
                identifier_type,
                min(node) over (partition by identifier_type, identifier_value) as left_node,
                node as right_node
            from {ids}
            where identifier_type in ({types})
        )
        select left_node, right_node, 'same_' || identifier_type as rule
        from stars
        where left_node <> right_node
        qualify row_number() over (
            partition by left_node, right_node order by case identifier_type {priority} end
        ) = 1
    """


def ordered_edges(
    con: duckdb.DuckDBPyConnection, edges: str, identifier_types: tuple[str, ...]
) -> dict[str, list]:
    """The links of `edges` (a relation of `stars_sql`'s columns) in the order they are applied:
    the most trusted type first, then by node."""
    rank = " ".join(
        f"when 'same_{name}' then {position}" for position, name in enumerate(identifier_types)
    )
    return _fetch_columns(
        con,
        f"select left_node, right_node, rule from {edges} "
        f"order by case rule {rank} end, left_node, right_node",
    )


def deterministic_edges(
    con: duckdb.DuckDBPyConnection, identifier_types: tuple[str, ...]
) -> dict[str, list]:
    """The deterministic links among the records being resolved (`_ids`), on the driver."""
    return ordered_edges(con, f"({stars_sql('_ids', identifier_types)})", identifier_types)


Stars = Callable[[duckdb.DuckDBPyConnection, tuple[str, ...]], dict[str, list]]


@dataclass(frozen=True)
class CandidateLinks:
    """Where the candidate links are found: the deterministic links of shared identifiers
    (`stars`) and Splink's scored pairs (`score`). On the driver's DuckDB by default; on Spark,
    orchestration/lib/spark/linking.py. The guarded clustering of them is the driver's."""

    score: Scorer = score
    stars: Stars = deterministic_edges


def _profiles_for_matching(con: duckdb.DuckDBPyConnection, nodes: str = "_nodes") -> pa.Table:
    # excluded (shared, placeholder) phones and emails are hidden from the model too
    return con.sql(
        f"""
        select
            nodes.node as unique_id,
            nodes.person_name,
            nodes.name_key,
            nodes.surname_key,
            nodes.given_key,
            cast(nodes.birth_date as varchar) as birth_date,
            case when phone_excluded.identifier_value is null then nodes.phone end as phone,
            case when email_excluded.identifier_value is null then nodes.email end as email,
            nodes.national_id,
            nodes.address,
            nodes.city,
            nodes.postal_code
        from {nodes} as nodes
        left join {SCHEMA}.int_identity__excluded_identifiers as phone_excluded
            on phone_excluded.identifier_type = 'phone'
            and nodes.phone = phone_excluded.identifier_value
        left join {SCHEMA}.int_identity__excluded_identifiers as email_excluded
            on email_excluded.identifier_type = 'email'
            and nodes.email = email_excluded.identifier_value
        where nodes.record_kind = 'profile' and nodes.person_name is not null
        order by nodes.node
        """
    ).to_arrow_table()


def _overrides(
    con: duckdb.DuckDBPyConnection, seed: str, result: ResolutionResult
) -> list[tuple[int, int]]:
    """The override pairs among the records this run clusters; a key that names no record at
    all is reported."""
    rows = con.sql(
        f"""
        select
            overrides.left_record_key,
            overrides.right_record_key,
            left_nodes.node as left_node,
            right_nodes.node as right_node,
            left_all.node is not null as left_known,
            right_all.node is not null as right_known
        from {SCHEMA}.{seed} as overrides
        left join _nodes as left_nodes on overrides.left_record_key = left_nodes.record_key
        left join _nodes as right_nodes on overrides.right_record_key = right_nodes.record_key
        left join _all_keys as left_all on overrides.left_record_key = left_all.record_key
        left join _all_keys as right_all on overrides.right_record_key = right_all.record_key
        -- a force-link may meet a never-link: the same order on every run
        order by overrides.left_record_key, overrides.right_record_key
        """
    ).fetchall()
    pairs = []
    for left_key, right_key, left, right, left_known, right_known in rows:
        result.unknown_override_keys += [
            key for key, known in ((left_key, left_known), (right_key, right_known)) if not known
        ]
        if left is not None and right is not None:
            pairs.append((left, right))
    return pairs


def _build_union_find(
    con: duckdb.DuckDBPyConnection, config: ResolverConfig
) -> ConstrainedUnionFind:
    nodes = _fetch_columns(
        con,
        "select national_id, birth_date, record_kind = 'profile' as is_profile,"
        " person_name is not null and record_kind = 'profile' as is_named,"
        " unionid is not null as has_unionid,"
        " case when source_system in ('social', 'ecommerce') then source_system || ':' || app_id"
        " end as account_app,"
        # profiles only (what Splink pairs): receipts, most of the records, carry none
        " case when record_kind = 'profile' then"
        " list_filter(['phone:' || phone, 'email:' || email], lambda x: x is not null)"
        " end as contacts"
        " from _nodes order by node",
    )
    uf = ConstrainedUnionFind(
        max_profiles=config.max_profiles_per_customer,
        national_ids_prove=config.national_ids_prove,
    )
    first = uf.add_many(
        nodes["national_id"],
        nodes["birth_date"],
        nodes["is_profile"],
        nodes["is_named"],
        nodes["has_unionid"],
        nodes["account_app"],
    )
    uf.set_contacts(first, nodes["contacts"])
    return uf


def _attach_by_phone(
    con: duckdb.DuckDBPyConnection, uf: ConstrainedUnionFind, log: _LinkLog
) -> None:
    """Records without a name join through a phone only if it points to one person.

    A phone is shared (a household) when its records show two people: two named customers, two
    different WeChat users, or two accounts on one app or shop platform. Which of them made a
    receipt is unknown, so it attaches nobody. A phone no named customer holds groups its records
    together.
    """
    phones = _fetch_columns(
        con,
        "select identifier_value as phone, list(node order by node) as nodes from _ids"
        " where identifier_type = 'phone' group by identifier_value order by identifier_value",
    )
    for holders in phones["nodes"]:
        roots = {uf.find(node): node for node in holders}
        if len(roots) < 2:
            continue
        named = [node for root, node in roots.items() if uf.is_named(root)]
        wechat = [node for root, node in roots.items() if uf.has_unionid(root)]
        others = [node for root, node in roots.items() if not uf.is_named(root)]
        if (
            len(named) > 1
            or len({uf.find(node) for node in wechat}) > 1
            or uf.apps_overlap(list(roots))
        ):
            anchor = (named or wechat or holders)[0]
            for node in others:
                if node != anchor:
                    log.add(anchor, node, "phone", "phone_shared_by_several_persons")
            continue
        anchor = named[0] if named else others.pop(0)
        rule = "phone_of_one_customer" if named else "phone_unnamed_records"
        for node in others:
            if uf.is_named(anchor) and uf.is_named(node):
                decision = "phone_shared_by_several_persons"
            else:
                decision = uf.union(anchor, node)
            log.add(anchor, node, rule, decision)


def _name_guard(pair: object) -> str | None:
    """Refuse a Splink pair whose names disagree unless something personal agrees.

    Members of a household share phone and address, so those fields add up to a high weight
    for two different people. A name that differs must be backed by the same birth date (or one
    that differs by a slip: transposed, one digit), email or national ID. A Chinese name one
    character apart, or a name whose given name is missing on one side, may be a sibling's or a
    parent's: it also needs the same phone. A Latin name one or two letters apart is a typo
    (siblings' names are not spelled that close): the same place (address or postcode) will do.
    """
    if pair.same_birth_date or pair.same_email or pair.same_national_id:
        return None
    if pair.name_agreement == "different":
        return "conflicting_name"
    if pair.name_agreement == "typo" and (pair.same_phone or pair.same_place):
        return None
    if pair.name_agreement in ("similar", "partial", "typo") and not pair.same_phone:
        return "similar_name_only"
    return None


def _one_person_at_one_address(pair: object) -> bool:
    """The same full name (as written: 张伟 is not 章伟) at the same street address (the same
    numbers: 12 Main St is not 21 Main St), and no phone or email that differs: one
    person, whatever the birth dates say (a birth date is the field most often mistyped, made
    up or left at a placeholder). It outranks the birth-date guard and the threshold.

    What it cannot tell apart: a father and son of one name at one address with no phone or
    email of their own (docs/identity.md#one-name-at-one-address). A name only similar (a typo,
    one Chinese character apart) is not enough: that is how a spouse's or a sibling's name looks.
    """
    return pair.name_agreement == "exact" and bool(pair.same_address) and not pair.contacts_differ


def _cluster(
    con: duckdb.DuckDBPyConnection,
    config: ResolverConfig,
    model: TrainedModel | None,
    result: ResolutionResult,
    step: Callable[[str], None],
    links: CandidateLinks,
) -> tuple[list[int], pa.Table]:
    uf = _build_union_find(con, config)
    log = _LinkLog()
    step("nodes")
    for left, right in _overrides(con, "identity_never_links", result):
        uf.forbid(left, right)
        log.add(left, right, "never_link", "never_link")
    _link(con, config, model, uf, log, step, links)
    # last, over the finished customers: a force link joins two customers whole, and no guard
    # can then refuse the links that built either of them; never-link still wins
    for left, right in _overrides(con, "identity_force_links", result):
        log.add(left, right, "force_link", uf.union(left, right, check=False))
    return uf.roots(), log.table()


def _link(
    con: duckdb.DuckDBPyConnection,
    config: ResolverConfig,
    model: TrainedModel | None,
    uf: ConstrainedUnionFind,
    log: _LinkLog,
    step: Callable[[str], None],
    links: CandidateLinks,
) -> None:
    """Apply the strategy's links, strongest first (Splink pairs only with a trained model)."""
    if config.strategy == "exact_keys":
        edges = links.stars(con, (*STRONG_IDENTIFIERS, "phone"))
        for left, right, rule in zip(
            edges["left_node"], edges["right_node"], edges["rule"], strict=True
        ):
            log.add(left, right, rule, uf.union(left, right, check=False))
        return
    if config.strategy == "full":
        edges = links.stars(con, STRONG_IDENTIFIERS)
        for left, right, rule in zip(
            edges["left_node"], edges["right_node"], edges["rule"], strict=True
        ):
            # the same national ID outranks two birth dates (one of them is mistyped)
            same_id = rule == "same_national_id"
            log.add(left, right, rule, uf.union(left, right, same_id=same_id))
        step("deterministic")

    found = (
        links.score(
            _profiles_for_matching(con), model, threshold=min(0.5, config.match_probability)
        )
        if model is not None
        else pd.DataFrame(columns=PAIR_COLUMNS)
    )
    step("splink")
    pairs = found.sort_values(
        ["match_weight", "unique_id_l", "unique_id_r"], ascending=[False, True, True]
    )
    for pair in pairs.itertuples(index=False):
        left, right = int(pair.unique_id_l), int(pair.unique_id_r)
        rule = "splink"
        one_person = (
            config.strategy == "full"
            and _one_person_at_one_address(pair)
            # the whole customers, not only these two records: no phone or email that differs,
            # and no birth date overruled before (one override per customer, no chains)
            and not uf.contacts_differ(left, right)
            and uf.birth_date_count(left) <= 1
            and uf.birth_date_count(right) <= 1
        )
        if pair.match_probability < config.match_probability and not one_person:
            decision = "below_threshold"
        elif config.strategy == "splink_only":
            decision = uf.union(left, right, check=False)
        else:
            same_id = bool(pair.same_national_id)
            if one_person and (
                pair.match_probability < config.match_probability
                or uf.conflict(left, right, same_id=same_id) == "conflicting_birth_date"
            ):
                rule = "same_name_and_address"  # it links only by this rule
            decision = _name_guard(pair) or uf.union(left, right, same_id=same_id or one_person)
        log.add(
            left,
            right,
            rule,
            decision,
            weight=pair.match_weight,
            probability=pair.match_probability,
            levels=pair.levels,
        )

    if config.strategy == "full":
        _attach_by_phone(con, uf, log)
        step("phones")


def _assign_ids(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> None:
    """Keep ids across runs: each old id goes to the cluster holding most of its records; a
    cluster that inherits several ids keeps the oldest (ids are minted in ascending order) and
    records the others as merged into it; clusters that inherit none get new ids."""
    con.execute(
        f"""
        create or replace temp table _heirs as
        with overlap as (
            select current.cluster, previous.customer_id, count(*) as shared
            from _current as current
            inner join {SCHEMA}.customer_xref as previous
                on current.record_key = previous.record_key
            group by current.cluster, previous.customer_id
        )
        select
            customer_id,
            cluster,
            shared,
            row_number() over (partition by customer_id order by shared desc, cluster) = 1
                as is_heir
        from overlap
        """
    )
    con.execute(
        """
        create or replace temp table _claims as
        select cluster, min(customer_id) as survivor, count(*) as inherited
        from _heirs where is_heir group by cluster
        """
    )
    next_number = con.sql(
        "select coalesce(max(cast(substr(customer_id, 2) as bigint)), 0)"
        f" from {SCHEMA}.customer_ids"
    ).fetchall()[0][0]
    con.execute(
        f"""
        create or replace temp table _assigned as
        with clusters as (
            select cluster, min(record_key) as first_record_key from _current group by cluster
        ),
        fresh as (
            select
                clusters.cluster,
                'C' || lpad(cast({next_number} + row_number() over (
                    order by clusters.first_record_key) as varchar), 9, '0') as customer_id
            from clusters anti join _claims on clusters.cluster = _claims.cluster
        )
        select cluster, survivor as customer_id, false as is_new from _claims
        union all
        select cluster, customer_id, true as is_new from fresh
        """
    )
    at = f"timestamp '{now:%Y-%m-%d %H:%M:%S.%f}'"
    con.execute(
        f"""
        insert into {SCHEMA}.customer_id_events
        select '{run_id}', {at}, 'created', customer_id, null, records, null
        from (
            select assigned.customer_id, count(*) as records
            from _assigned as assigned inner join _current as current using (cluster)
            where assigned.is_new group by assigned.customer_id
        )
        union all
        select '{run_id}', {at}, 'merged', heirs.customer_id, assigned.customer_id, heirs.shared,
            'merged into the older id ' || assigned.customer_id
        from _heirs as heirs inner join _assigned as assigned using (cluster)
        where heirs.is_heir and heirs.customer_id <> assigned.customer_id
        union all
        select '{run_id}', {at}, 'split', heirs.customer_id, assigned.customer_id, heirs.shared,
            cast(heirs.shared as varchar) || ' records moved to ' || assigned.customer_id
        from _heirs as heirs inner join _assigned as assigned using (cluster)
        where not heirs.is_heir
        """
    )
    con.execute(
        f"""
        insert into {SCHEMA}.customer_ids
        select customer_id, 'active', null, '{run_id}', {at}, {at}
        from _assigned where is_new
        """
    )
    # an id none of whose records is left (its file withdrawn, say) is retired, never reused;
    # only ids of the records this run resolved (all of them, or the increment's) are looked at
    orphans = f"""
        select customer_id from {SCHEMA}.customer_ids
        where status = 'active' and customer_id not in (select customer_id from _heirs)
            and customer_id not in (select customer_id from _assigned)
            and customer_id in (
                select customer_id from {SCHEMA}.customer_xref
                where record_key in (select record_key from _touched)
            )
    """
    con.execute(
        f"""
        insert into {SCHEMA}.customer_id_events
        select '{run_id}', {at}, 'retired', customer_id, null, 0,
            'none of its records is left (withdrawn or no longer delivered)'
        from ({orphans})
        """
    )
    con.execute(
        f"""
        update {SCHEMA}.customer_ids set status = 'retired', updated_at = {at}
        where customer_id in ({orphans})
        """
    )
    con.execute(
        f"""
        update {SCHEMA}.customer_ids as ids
        set status = 'merged', merged_into_customer_id = merged.related, updated_at = {at}
        from (
            select customer_id, related_customer_id as related from {SCHEMA}.customer_id_events
            where run_id = '{run_id}' and event_type = 'merged'
        ) as merged
        where ids.customer_id = merged.customer_id
        """
    )


def _create_state_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"""
        create table if not exists {SCHEMA}.customer_xref (
            record_key varchar primary key, source_system varchar, entity varchar,
            source_record_id varchar, record_kind varchar, customer_id varchar,
            is_linkable boolean, resolved_at timestamp, run_id varchar)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.customer_ids (
            customer_id varchar primary key, status varchar, merged_into_customer_id varchar,
            created_run_id varchar, created_at timestamp, updated_at timestamp)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.customer_id_events (
            run_id varchar, event_at timestamp, event_type varchar, customer_id varchar,
            related_customer_id varchar, records bigint, detail varchar)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.resolution_runs (
            run_id varchar primary key, resolved_at timestamp, figures json, splink_model json)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.identity_links (
            link_id bigint, left_record_key varchar, right_record_key varchar, rule varchar,
            decision varchar, refused_reason varchar, match_weight double,
            match_probability double, comparison_levels varchar, run_id varchar)
        """
    )
    # what the last run resolved, to find what changed since (scope.py)
    con.execute(
        f"""
        create table if not exists {SCHEMA}.resolved_records (
            record_key varchar primary key, input_hash varchar)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.resolved_exclusions (
            identifier_type varchar, identifier_value varchar)
        """
    )
    # the frozen probabilistic model (see probabilistic.TrainedModel)
    con.execute(
        f"""
        create table if not exists {SCHEMA}.splink_model (
            run_id varchar, trained_at timestamp, profiles bigint, settings json, training json)
        """
    )
    con.execute(
        f"""
        create table if not exists {SCHEMA}.splink_term_frequencies (
            column_name varchar, value varchar, term_frequency double)
        """
    )


def _stored_model(con: duckdb.DuckDBPyConnection) -> tuple[TrainedModel, str] | None:
    row = con.execute(
        f"select run_id, profiles, settings, training from {SCHEMA}.splink_model"
    ).fetchall()
    if not row:
        return None
    run_id, profiles, settings, training = row[0]
    report = TrainingReport(**{k: v for k, v in json.loads(training).items() if k != "steps"})
    report.steps = list(json.loads(training).get("steps", {}).items())
    frequencies = {}
    for column in tf_columns(json.loads(settings)):
        frequencies[column] = con.sql(
            f"select value as {identifier(column)}, term_frequency as {identifier('tf_' + column)} "
            f"from {SCHEMA}.splink_term_frequencies where column_name = {literal(column)}"
        ).to_arrow_table()
    return TrainedModel(json.loads(settings), frequencies, report, profiles), run_id


def _store_model(con: duckdb.DuckDBPyConnection, model: TrainedModel, run_id: str, at) -> None:
    con.execute(f"delete from {SCHEMA}.splink_model")
    con.execute(
        f"insert into {SCHEMA}.splink_model values (?, ?, ?, ?, ?)",
        [
            run_id,
            at,
            model.profiles,
            json.dumps(model.settings),
            json.dumps(model.training.as_dict()),
        ],
    )
    con.execute(f"delete from {SCHEMA}.splink_term_frequencies")
    for column, table in model.term_frequencies.items():
        con.register("_tf", table)
        con.execute(
            f"insert into {SCHEMA}.splink_term_frequencies "
            f"select '{column}', cast({column} as varchar), tf_{column} from _tf"
        )
        con.unregister("_tf")


def _model(
    con: duckdb.DuckDBPyConnection,
    config: ResolverConfig,
    retrain: bool,
    result: ResolutionResult,
    run_id: str,
    now: datetime,
    profiles: pa.Table,
) -> tuple[TrainedModel | None, str | None]:
    """The frozen model, trained again when asked, when there is none, or when it is stale
    (RETRAIN_GROWTH more named profiles than it was trained on, or other columns filled);
    returns it and why it was trained now (None: the stored one is used). `profiles`: every
    record's, `_profiles_for_matching` of `_all_nodes`."""
    stored = _stored_model(con)
    why = None
    if retrain:
        why = "retraining asked for"
    elif stored is None:
        why = "no model yet"
    else:
        model, trained_in = stored
        columns = sorted(populated_columns(profiles)) if profiles.num_rows else []
        if profiles.num_rows > model.profiles * (1 + config.retrain_growth):
            why = (
                f"{profiles.num_rows:,} named profiles, {config.retrain_growth:.0%} more than "
                f"the {model.profiles:,} it was trained on"
            )
        elif columns != model.training.columns:
            why = f"the profiles now fill {', '.join(columns) or 'no optional column'}"
        elif comparison_levels(model.settings) != current_comparison_levels(set(columns)):
            why = "its comparisons were defined by an earlier omni360"
    if why is None:
        model, trained_in = stored
        result.training = {**model.training.as_dict(), "model_from_run": trained_in}
        return model, None
    trained = train(profiles, seed=config.seed)
    if isinstance(trained, TrainingReport):
        result.training = {**trained.as_dict(), "trained_because": why}
        con.execute(f"delete from {SCHEMA}.splink_model")
        con.execute(f"delete from {SCHEMA}.splink_term_frequencies")
        return None, why
    _store_model(con, trained, run_id, now)
    result.training = {**trained.training.as_dict(), "trained_because": why}
    return trained, why


def _overrides_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute(
        f"""
        select md5(coalesce(string_agg(kind || left_record_key || '|' || right_record_key, ','
            order by kind, left_record_key, right_record_key), ''))
        from (
            select 'force' as kind, left_record_key, right_record_key
            from {SCHEMA}.identity_force_links
            union all
            select 'never', left_record_key, right_record_key from {SCHEMA}.identity_never_links
        )
        """
    ).fetchall()[0][0]


def _last_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    row = con.execute(
        f"select figures from {SCHEMA}.resolution_runs order by resolved_at desc limit 1"
    ).fetchall()
    return json.loads(row[0][0]) if row else None


def _plan(
    con: duckdb.DuckDBPyConnection,
    config: ResolverConfig,
    model: TrainedModel | None,
    full_refresh: bool,
    trained_because: str | None,
    result: ResolutionResult,
    scorer: Scorer,
    profiles: pa.Table | None,
) -> tuple[Scope, np.ndarray | None]:
    """The records to resolve again (None: all) and why; `profiles` as for `_model`."""
    nodes = con.execute("select count(*) from _all_keys").fetchall()[0][0]
    last = _last_run(con)
    why = None
    if full_refresh:
        why = "full refresh"
    elif (
        last is None
        or not con.execute(f"select count(*) from {SCHEMA}.resolved_records").fetchall()[0][0]
    ):
        why = "first run"
    elif trained_because:
        why = f"model trained again ({trained_because})"
    elif last.get("overrides") != result.overrides:
        why = "force-link or never-link overrides changed"
    elif last.get("config") != result.config:
        why = "resolver settings changed"
    elif last.get("input_hash") != result.input_hash:
        why = "records hashed another way since the last run (an upgrade)"
    if why is not None:
        return Scope(full=True, why=why, records=nodes), None
    seeds, removed = scoping.seeds(con)
    if not len(seeds):
        return Scope(False, "no record changed", 0, 0, removed), np.zeros(0, dtype=np.int64)
    if model is not None and profiles is not None:
        pairs = scorer(
            profiles,
            model,
            threshold=min(0.5, config.match_probability),
            focus=pa.array(seeds, pa.int64()),
        )
        new_pairs = pa.table(
            {
                "unique_id_l": pa.array(pairs["unique_id_l"], pa.int64()),
                "unique_id_r": pa.array(pairs["unique_id_r"], pa.int64()),
            }
        )
    else:
        new_pairs = pa.table(
            {"unique_id_l": pa.array([], pa.int64()), "unique_id_r": pa.array([], pa.int64())}
        )
    affected = scoping.closure(con, seeds, new_pairs, nodes)
    return (
        Scope(False, "increment", len(seeds), len(affected), removed),
        affected,
    )


def resolve(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    config: ResolverConfig | None = None,
    progress: Callable[[str], None] | None = None,
    full_refresh: bool = False,
    retrain: bool = False,
    links: CandidateLinks = CandidateLinks(),
) -> ResolutionResult:
    """Resolve the source records of the warehouse into customers; see the module docstring.

    Incremental unless `full_refresh`: only the records connected to a change are resolved
    again (scope.py), with the frozen model; `retrain` trains the model again first (a model
    trained again resolves everything). `links` finds the candidate links (on Spark:
    orchestration/lib/spark/linking.py)."""
    config = config or ResolverConfig()
    result = ResolutionResult(run_id=run_id)
    result.config = asdict(config)
    now = datetime.now(UTC).replace(tzinfo=None)
    started = last = time.perf_counter()

    def step(name: str) -> None:
        nonlocal last
        result.seconds[name] = round(time.perf_counter() - last, 2)
        last = time.perf_counter()
        if progress:
            progress(name)

    _create_state_tables(con)
    _load_all(con)
    result.overrides = _overrides_fingerprint(con)
    # built once for the model's checks and the seeds' scoring (a join over every record)
    profiles = (
        _profiles_for_matching(con, "_all_nodes") if config.strategy != "exact_keys" else None
    )
    model, trained_because = (
        _model(con, config, retrain, result, run_id, now, profiles)
        if profiles is not None
        else (None, None)
    )
    step("model")
    plan, nodes = _plan(
        con, config, model, full_refresh, trained_because, result, links.score, profiles
    )
    del profiles  # clustering reads `_nodes`; a full run should not hold these meanwhile
    result.scope = asdict(plan)
    _restrict(con, nodes)
    step("scope")
    roots, decided = (
        _cluster(con, config, model, result, step, links) if not plan.empty else ([], None)
    )

    con.execute("begin transaction")
    try:
        # the records this run decides about: those it resolved, and those gone since
        con.execute(
            f"""
            create or replace temp table _touched as
            select record_key from _nodes
            union
            select record_key from {SCHEMA}.resolved_records anti join _all_keys using (record_key)
            """
        )
        at = f"timestamp '{now:%Y-%m-%d %H:%M:%S.%f}'"
        if not plan.empty:
            _write_customers(con, roots, decided, run_id, now, full=plan.full)
        # only the records whose hash changed or that are gone: rewriting all of them (3.5M at
        # 1M persons) made the commit checkpoint the whole table, 20 s of a 1M increment
        con.execute(
            f"""
            delete from {SCHEMA}.resolved_records where record_key in (
                select before.record_key from {SCHEMA}.resolved_records as before
                left join _all_keys as nodes using (record_key)
                where nodes.input_hash is distinct from before.input_hash
            )
            """
        )
        con.execute(
            f"""
            insert into {SCHEMA}.resolved_records
            select nodes.record_key, nodes.input_hash from _all_keys as nodes
            anti join {SCHEMA}.resolved_records as before using (record_key)
            """
        )
        con.execute(f"delete from {SCHEMA}.resolved_exclusions")
        con.execute(
            f"insert into {SCHEMA}.resolved_exclusions select identifier_type, identifier_value "
            f"from {SCHEMA}.int_identity__excluded_identifiers"
        )
        _summarise(con, result)
        step("ids")
        result.seconds["total"] = round(time.perf_counter() - started, 2)
        con.execute(
            f"insert into {SCHEMA}.resolution_runs values (?, {at}, ?, ?)",
            [run_id, json.dumps(asdict(result)), json.dumps(model.settings if model else {})],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return result


def _write_customers(
    con: duckdb.DuckDBPyConnection,
    roots: list[int],
    links: pa.Table,
    run_id: str,
    now: datetime,
    *,
    full: bool,
) -> None:
    """Customer ids for the clusters, then the id map and the links: replaced whole (a full run)
    or for the touched records only (an increment)."""
    clusters = pa.table({"node": pa.array(range(len(roots)), pa.int64()), "cluster": roots})
    con.register("_roots", clusters)
    con.execute(
        """
        create or replace temp table _current as
        select nodes.record_key, nodes.source_system, nodes.entity, nodes.source_record_id,
            nodes.record_kind, roots.cluster,
            exists (select 1 from _ids where _ids.node = nodes.node)
                or nodes.person_name is not null as is_linkable
        from _nodes as nodes inner join _roots as roots on nodes.node = roots.node
        """
    )
    con.unregister("_roots")
    # receipts whose only identifiers are excluded identify nobody: left unresolved
    con.execute("delete from _current where record_kind = 'receipt' and not is_linkable")
    _assign_ids(con, run_id, now)
    at = f"timestamp '{now:%Y-%m-%d %H:%M:%S.%f}'"
    rows = f"""
        select current.record_key, current.source_system, current.entity,
            current.source_record_id, current.record_kind, assigned.customer_id,
            current.is_linkable, {at} as resolved_at, '{run_id}' as run_id
        from _current as current inner join _assigned as assigned using (cluster)
        order by assigned.customer_id, current.record_key
    """
    if full:
        con.execute(f"create or replace table {SCHEMA}.customer_xref as {rows}")
    else:
        touched = "(select record_key from _touched)"
        con.execute(f"delete from {SCHEMA}.customer_xref where record_key in {touched}")
        con.execute(f"insert into {SCHEMA}.customer_xref {rows}")
    con.register("_links", links)
    first_id = (
        0
        if full
        else con.execute(
            f"select coalesce(max(link_id), 0) from {SCHEMA}.identity_links"
        ).fetchall()[0][0]
    )
    new_links = f"""
        select
            {first_id} + row_number() over (order by links.decision, links.rule,
                left_nodes.record_key, right_nodes.record_key) as link_id,
            left_nodes.record_key as left_record_key,
            right_nodes.record_key as right_record_key,
            links.rule, links.decision, links.refused_reason, links.match_weight,
            links.match_probability, links.comparison_levels, '{run_id}' as run_id
        from _links as links
        inner join _nodes as left_nodes on links.left_node = left_nodes.node
        inner join _nodes as right_nodes on links.right_node = right_nodes.node
    """
    if full:
        con.execute(f"create or replace table {SCHEMA}.identity_links as {new_links}")
    else:
        con.execute(
            f"""
            delete from {SCHEMA}.identity_links
            where left_record_key in (select record_key from _touched)
                or right_record_key in (select record_key from _touched)
            """
        )
        con.execute(f"insert into {SCHEMA}.identity_links {new_links}")
    con.unregister("_links")
    con.execute(
        f"""
        create or replace table {SCHEMA}.oversized_clusters as
        select
            xref.customer_id,
            count(distinct xref.record_key) filter (where xref.record_kind = 'profile')
                as profile_records,
            count(distinct links.link_id) as refused_links
        from {SCHEMA}.identity_links as links
        inner join {SCHEMA}.customer_xref as xref
            on links.left_record_key = xref.record_key
        where links.refused_reason = 'max_cluster_size'
        group by xref.customer_id
        """
    )


def ids_unaccounted(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Active ids without records, and merged ids still in use: both must be 0."""
    unaccounted, wrongly_merged = con.sql(
        f"""
        select
            count(*) filter (where status = 'active' and customer_id not in (
                select customer_id from {SCHEMA}.customer_xref)),
            count(*) filter (where status = 'merged' and customer_id in (
                select customer_id from {SCHEMA}.customer_xref))
        from {SCHEMA}.customer_ids
        """
    ).fetchall()[0]
    return unaccounted, wrongly_merged


def _summarise(con: duckdb.DuckDBPyConnection, result: ResolutionResult) -> None:
    result.accepted_by_rule = dict(
        con.execute(
            f"select rule, count(*) from {SCHEMA}.identity_links where decision = ? group by rule",
            [ACCEPTED],
        ).fetchall()
    )
    result.refused_by_reason = dict(
        con.execute(
            f"select refused_reason, count(*) from {SCHEMA}.identity_links "
            "where refused_reason is not null group by refused_reason"
        ).fetchall()
    )
    (
        result.records,
        result.resolved_records,
        result.linkable_records,
        result.customers,
    ) = con.sql(
        f"""
        select (select count(*) from _all_keys), count(*), count(*) filter (where is_linkable),
            count(distinct customer_id)
        from {SCHEMA}.customer_xref
        """
    ).fetchall()[0]
    sizes = con.sql(
        f"""
        select coalesce(max(profiles), 0), coalesce(max(records), 0) from (
            select count(*) filter (where record_kind = 'profile') as profiles, count(*) as records
            from {SCHEMA}.customer_xref group by customer_id)
        """
    ).fetchall()[0]
    result.largest_customer_profiles, result.largest_customer_records = sizes
    counts = dict(
        con.sql(
            f"""
            select event_type, count(distinct customer_id) from {SCHEMA}.customer_id_events
            where run_id = '{result.run_id}' group by event_type
            """
        ).fetchall()
    )
    result.ids_created = counts.get("created", 0)
    result.ids_merged = counts.get("merged", 0)
    result.ids_split = counts.get("split", 0)
