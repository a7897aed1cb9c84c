"""Which raw rows belong to a data subject, and the suppression list of erased subjects.

A subject is described by keys: the ids of their source records (member, shop account, receipt,
social account), the ids that hang off them (orders), and the personal identifiers only they hold
(phone, email, national ID, card, unionid). A raw row belongs to the subject when one of its
columns, normalised as the identity layer normalises it, holds one of those keys.

The suppression list keeps only keyed tokens (`tokens.token(kind, value)`) of an erased
subject's keys, so it identifies nobody by itself; ingestion drops new rows whose keys match
(`suppressed_rows_sql`), so a re-delivered file cannot bring an erased subject back.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.contracts import Entity
from orchestration.lib.identity.locale import Locale
from orchestration.lib.privacy.tokens import token

# key kind → how a raw value is normalised before tokenising (the identity layer's rules, in
# the deployment's locale)
NORMALISED_SQL = {
    "phone": "omni360_phone_e164({column}, '{region}')",
    "email": "nullif(lower(trim({column})), '')",
    "national_id": "omni360_national_id({column}, '{scheme}')",
}
KEY_KINDS = (
    "member_id",
    "account_id",
    "order_id",
    "transaction_id",
    "openid",
    "phone",
    "email",
    "national_id",
    "card_no",
    "unionid",
)

# (source, table) → the columns that tie a row to a subject, and the kind of key each holds
SUBJECT_COLUMNS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("ecommerce", "customers"): (
        ("account_id", "account_id"),
        ("phone", "phone"),
        ("email", "email"),
    ),
    ("ecommerce", "orders"): (("order_id", "order_id"), ("account_id", "account_id")),
    ("ecommerce", "order_lines"): (("order_id", "order_id"),),
    ("ecommerce", "refunds"): (("order_id", "order_id"),),
    ("pos", "transactions"): (
        ("transaction_id", "transaction_id"),
        ("member_card_no", "card_no"),
        ("phone", "phone"),
    ),
    ("pos", "transaction_lines"): (("transaction_id", "transaction_id"),),
    ("crm", "members"): (
        ("member_id", "member_id"),
        ("card_no", "card_no"),
        ("phone", "phone"),
        ("email", "email"),
        ("national_id", "national_id"),
    ),
    ("crm", "consents"): (("member_id", "member_id"),),
    ("crm", "points_ledger"): (("member_id", "member_id"),),
    ("crm", "coupons"): (("member_id", "member_id"),),
    ("crm", "tickets"): (("member_id", "member_id"), ("phone", "phone")),
    ("social", "accounts"): (("openid", "openid"), ("unionid", "unionid"), ("phone", "phone")),
    ("social", "engagement"): (("openid", "openid"),),
    ("social", "group_events"): (("openid", "openid"),),
    ("social", "referrals"): (("inviter_openid", "openid"), ("invitee_openid", "openid")),
}

SUPPRESSION_SCHEMA = pa.schema(
    [
        ("token", pa.string()),
        ("kind", pa.string()),
        ("request_id", pa.string()),
        ("added_at", pa.timestamp("us")),
    ]
)


def subject_columns(table: Entity) -> tuple[tuple[str, str], ...]:
    return SUBJECT_COLUMNS.get((table.source, table.name), ())


def normalised_sql(column: str, kind: str, locale: Locale | None = None) -> str:
    locale = locale or Locale()
    quoted = f'"{column}"'
    return NORMALISED_SQL.get(kind, "nullif(trim({column}), '')").format(
        column=quoted, region=locale.region, scheme=locale.scheme
    )


def token_match_sql(
    table: Entity, tokens_relation: str, column_name: str = "{}", locale: Locale | None = None
) -> str | None:
    """A predicate true for rows of `table` whose keys' tokens are in `tokens_relation(token)`;
    None when the table holds nothing personal (stores). `column_name` maps a contract column
    to the relation's column. Needs the omni360_* SQL functions."""
    columns = subject_columns(table)
    if not columns:
        return None
    return " or ".join(
        f"omni360_token('{kind}', {normalised_sql(column_name.format(column), kind, locale)}) "
        f"in (select token from {tokens_relation})"
        for column, kind in columns
    )


@dataclass(frozen=True)
class SubjectKeys:
    """Normalised keys of one subject, by kind. Held in memory only, never written."""

    values: dict[str, frozenset[str]]

    def tokens(self) -> list[tuple[str, str]]:
        return sorted(
            (token(kind, value), kind)  # type: ignore[misc]
            for kind, values in self.values.items()
            for value in values
        )

    def count(self) -> int:
        return sum(len(v) for v in self.values.values())


class SuppressionList:
    """`<lake>/_ops/suppression/<request id>.parquet`: tokens of erased subjects' keys."""

    def __init__(self, lake_root: Path) -> None:
        self.folder = lake_root / "_ops" / "suppression"

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.parquet")) if self.folder.is_dir() else []

    def glob(self) -> str:
        return str(self.folder / "*.parquet")

    def __bool__(self) -> bool:
        return bool(self.files())

    def add(self, request_id: str, keys: SubjectKeys) -> int:
        """Write the subject's tokens (atomically); return how many."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = keys.tokens()
        table = pa.table(
            {
                "token": [t for t, _ in rows],
                "kind": [k for _, k in rows],
                "request_id": [request_id] * len(rows),
                "added_at": [now] * len(rows),
            },
            schema=SUPPRESSION_SCHEMA,
        )
        path = self.folder / f"{request_id}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return len(rows)
