"""Why a customer is who it is: its source records, the links that joined them, its id history."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from orchestration.lib.identity.locale import Locale
from orchestration.lib.identity.resolve import SCHEMA
from orchestration.lib.privacy.masking import mask_email, mask_name, mask_phone, mask_record_key

IDENTIFIER_KINDS = (
    "customer",
    "record",
    "member",
    "phone",
    "email",
    "unionid",
    "card",
    "national_id",
)


@dataclass(frozen=True)
class Explanation:
    customer_id: str
    current_customer_id: str  # differs when customer_id was merged into another
    records: list[tuple]  # record_key, kind, name, phone, email, birth date, first seen
    links: list[tuple]  # left, right, rule, decision, refused reason, weight, levels
    events: list[tuple]  # run, at, event, id, related id, records, detail


def customer_ids_for(
    con: duckdb.DuckDBPyConnection, identifier: str, locale: Locale | None = None
) -> list[str]:
    """Customer ids holding `kind:value` (e.g. `phone:138 0013 8000`, `member:M0000021`), the
    value read as the identity layer reads it in the deployment's `locale`."""
    locale = locale or Locale()
    kind, sep, value = identifier.partition(":")
    if not sep or kind not in IDENTIFIER_KINDS or not value.strip():
        raise ValueError(
            f"identifier {identifier!r} is not <kind>:<value> with kind one of "
            + ", ".join(IDENTIFIER_KINDS)
        )
    value = value.strip()
    if kind == "customer":
        return [value]
    if kind in ("record", "member"):
        key = value if kind == "record" else f"crm:members:{value}"
        sql = f"select customer_id from {SCHEMA}.customer_xref where record_key = ?"
        return [row[0] for row in con.execute(sql, [key]).fetchall()]
    normalised = {
        "phone": locale.phone(value),
        "email": value.lower(),
        "national_id": locale.national_id(value),
        "unionid": value,
        "card": value,
    }[kind]
    sql = f"""
        select distinct xref.customer_id
        from {SCHEMA}.int_identity__identifiers as identifiers
        inner join {SCHEMA}.customer_xref as xref using (record_key)
        where identifiers.identifier_type = ? and identifiers.identifier_value = ?
        order by 1
    """
    id_type = "card_no" if kind == "card" else kind
    return [row[0] for row in con.execute(sql, [id_type, normalised]).fetchall()]


def current_id(con: duckdb.DuckDBPyConnection, customer_id: str) -> str:
    """Follow merges: the id now in use for `customer_id`."""
    seen = {customer_id}
    while True:
        row = con.execute(
            f"select merged_into_customer_id from {SCHEMA}.customer_ids where customer_id = ?",
            [customer_id],
        ).fetchall()
        if not row or row[0][0] is None or row[0][0] in seen:
            return customer_id
        customer_id = row[0][0]
        seen.add(customer_id)


def explain(
    con: duckdb.DuckDBPyConnection, customer_id: str, *, masked: bool = False
) -> Explanation:
    """A customer's records, links and id history; `masked` shows names, phones and emails as
    the marts do, birth dates as the year only and openids by their app prefix only."""
    current = current_id(con, customer_id)
    records = con.execute(
        f"""
        select xref.record_key, xref.record_kind, records.display_name, records.phone,
            records.email, records.birth_date, records.first_seen_at
        from {SCHEMA}.customer_xref as xref
        inner join {SCHEMA}.int_identity__source_records as records using (record_key)
        where xref.customer_id = ?
        order by xref.record_key
        """,
        [current],
    ).fetchall()
    links = con.execute(
        f"""
        with mine as (select record_key from {SCHEMA}.customer_xref where customer_id = ?)
        select left_record_key, right_record_key, rule, decision, refused_reason,
            round(match_weight, 2), comparison_levels
        from {SCHEMA}.identity_links
        where (left_record_key in (select record_key from mine)
            or right_record_key in (select record_key from mine))
            and decision <> 'redundant'
        order by decision, rule, left_record_key, right_record_key
        """,
        [current],
    ).fetchall()
    events = con.execute(
        f"""
        select run_id, event_at, event_type, customer_id, related_customer_id, records, detail
        from {SCHEMA}.customer_id_events
        where customer_id in (?, ?) or related_customer_id in (?, ?)
        order by event_at, event_type
        """,
        [customer_id, current, customer_id, current],
    ).fetchall()
    if masked:
        records = [
            (
                mask_record_key(key),
                kind,
                mask_name(name),
                mask_phone(phone),
                mask_email(email),
                born.year if born else None,
                seen,
            )
            for key, kind, name, phone, email, born, seen in records
        ]
        links = [
            (mask_record_key(left), mask_record_key(right), *rest) for left, right, *rest in links
        ]
    return Explanation(customer_id, current, records, links, events)
