"""The landing-zone contract: every source entity, its file format and its columns.

Declared once here and used by the generator (what it writes), by ingestion (validation and the
raw table's schema), by the dbt sources and by `docs/landing-zone.md` (rendered from this module;
a test fails when the two drift apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "integer", "decimal", "date", "timestamp", "boolean"]
FileFormat = Literal["csv", "jsonl"]
PiiClass = Literal["direct", "quasi", "sensitive"]
# What ingestion does with an optional field whose value breaks a rule: "quarantine" the record,
# or load it with the field set to null and a warning flag ("null").
OnInvalid = Literal["quarantine", "null"]
# What ingestion does with a file whose header (CSV) or keys (JSON) lack an optional column:
# load it with the column null and warn ("warn"), or refuse the file ("block").
OnMissing = Literal["warn", "block"]

SOURCES: tuple[str, ...] = ("ecommerce", "pos", "crm", "social")

DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DECIMAL(12,2)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}

# Lineage columns added to every raw row; documented with the contract.
LINEAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("_source_file", "VARCHAR", "path of the landing file, relative to the landing root"),
    ("_line_no", "BIGINT", "1-based physical line of the record in that file (header is line 1)"),
    ("_load_id", "VARCHAR", "id of the ingestion run that loaded the file"),
    ("_loaded_at", "TIMESTAMP", "when the file was committed to the raw layer (UTC)"),
    ("_warnings", "VARCHAR", "optional fields set to null because they broke a rule, or null"),
)

# Plausible dates and times (docs/landing-zone.md#plausible-dates): not before a floor, and not
# after the file's delivery date plus a tolerance. A value outside quarantines its record, or is
# nulled with a warning where the column says so; a year 2999 or 0001 never reaches the lake.
EARLIEST: dict[str, str] = {"date": "1900-01-01", "timestamp": "1990-01-01"}
# days after the delivery date: records are from before their delivery (late arrivals are
# normal); one day covers sources that cut files by their local date in another time zone
DAYS_AFTER_DELIVERY = 1


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    example: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    pattern: str | None = None  # regular expression the raw text must match (full match)
    min_value: float | None = None
    max_value: float | None = None
    references: str | None = None  # "<source>.<entity>.<column>" that must already exist
    on_invalid: OnInvalid = "quarantine"
    pii: PiiClass | None = None
    # dates and timestamps: the floor (ISO date; default EARLIEST) and how many days after the
    # file's delivery date a value may lie (default DAYS_AFTER_DELIVERY)
    not_before: str | None = None
    days_after_delivery: int | None = None
    on_missing: OnMissing = "warn"

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]

    @property
    def is_temporal(self) -> bool:
        return self.type in ("date", "timestamp")

    @property
    def earliest(self) -> str | None:
        """The first plausible date of a date or timestamp column (ISO), else None."""
        return (self.not_before or EARLIEST[self.type]) if self.is_temporal else None

    @property
    def latest_after_delivery(self) -> int | None:
        """Days after its file's delivery date that a date or timestamp may lie, else None."""
        if not self.is_temporal:
            return None
        return DAYS_AFTER_DELIVERY if self.days_after_delivery is None else self.days_after_delivery

    def rules_text(self) -> str:
        """The column's rules in words, for the documentation."""
        parts: list[str] = []
        if self.enum:
            parts.append("one of " + ", ".join(f"`{v}`" for v in self.enum))
        if self.pattern:
            parts.append(f"matches `{self.pattern}`")
        if self.min_value is not None:
            parts.append(f">= {self.min_value:g}")
        if self.max_value is not None:
            parts.append(f"<= {self.max_value:g}")
        if self.references:
            parts.append(f"exists in `{self.references}`")
        if self.is_temporal:
            parts.append(
                f"from {self.earliest} to the delivery date + {self.latest_after_delivery} d"
            )
        if not self.required and self.on_missing == "block":
            parts.append("a file without this column is refused")
        if parts and not self.required:
            parts.append("else " + ("quarantined" if self.on_invalid == "quarantine" else "nulled"))
        return "; ".join(parts)


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    format: FileFormat
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    # jsonl only: an array field whose elements become rows of a child raw table
    child_field: str | None = None
    child: Entity | None = None
    depends_on: tuple[str, ...] = field(default=())  # "<source>.<entity>" loaded first

    @property
    def key(self) -> str:
        return f"{self.source}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def staging_model(self) -> str:
        """The dbt staging model of this raw table (schema `staging`)."""
        return f"stg_{self.source}__{self.name}"

    @property
    def raw_tables(self) -> tuple[Entity, ...]:
        """The raw tables this entity's files produce: itself, plus a child table if nested."""
        return (self,) if self.child is None else (self, self.child)


TS = "2026-03-14T10:05:31+08:00"
TS_RULE = "ISO 8601 with offset, e.g. `2026-03-14T10:05:31+08:00`"
_ID = r"[A-Za-z0-9_\-]{1,64}"
_PHONE = "as typed by the source; any format (normalised in staging)"

_sku = Column("sku", "string", "product SKU", "SKU-10234", required=True)
_product_name = Column("product_name", "string", "product name at sale time", "保湿面霜 50ml", True)
_category = Column(
    "category",
    "string",
    "product category",
    "skincare",
    enum=("skincare", "makeup", "fragrance", "haircare", "bodycare", "accessories"),
    on_invalid="null",
)
_line_no = Column("line_no", "integer", "line number within the order", "1", True, min_value=1)
_quantity = Column("quantity", "integer", "units sold", "2", True, min_value=1)
_unit_price = Column(
    "unit_price", "decimal", "price per unit before discount, CNY", "129.00", True, min_value=0
)
_discount = Column(
    "discount", "decimal", "discount on the line, CNY", "10.00", min_value=0, on_invalid="null"
)

_shop_platform = Column(
    "platform", "string", "shop platform", "tmall", True, enum=("miniprogram", "tmall", "jd")
)

# The columns of a line item, shared by e-commerce orders and till receipts.
LINE_ITEM_COLUMNS = (_line_no, _sku, _product_name, _category, _quantity, _unit_price, _discount)

ORDER_LINES = Entity(
    source="ecommerce",
    name="order_lines",
    format="jsonl",
    description="Line items nested in each order's `lines` array; loaded as their own raw table "
    "with the order's `order_id` added. A bad line item quarantines its whole order.",
    primary_key=("order_id", "line_no"),
    columns=(
        Column(
            "order_id",
            "string",
            "the order this line belongs to (copied from the order)",
            "EO000123",
            True,
        ),
        *LINE_ITEM_COLUMNS,
    ),
)

ENTITIES: tuple[Entity, ...] = (
    # ---------------------------------------------------------------- e-commerce
    Entity(
        source="ecommerce",
        name="customers",
        format="csv",
        description="Shop accounts on the own mini-program shop and marketplaces (Tmall, JD). "
        "A full row is re-sent whenever an account changes.",
        primary_key=("account_id",),
        columns=(
            Column(
                "account_id",
                "string",
                "account id, unique per platform",
                "TM0001234",
                True,
                pattern=_ID,
            ),
            _shop_platform,
            Column("phone", "string", f"phone number, {_PHONE}", "+86 138 0013 8000", pii="direct"),
            Column("email", "string", "email address", "Zhang.Wei@QQ.com ", pii="direct"),
            Column("name", "string", "account holder or consignee name", "张伟", pii="direct"),
            Column(
                "shipping_address",
                "string",
                "default shipping address",
                "朝阳区建国路88号",
                pii="quasi",
            ),
            Column("city", "string", "city of the shipping address", "北京市", pii="quasi"),
            Column("province", "string", "province of the shipping address", "北京市"),
            Column("created_at", "timestamp", f"account creation time, {TS_RULE}", TS, True),
            Column("updated_at", "timestamp", f"last change of the account, {TS_RULE}", TS, True),
        ),
    ),
    Entity(
        source="ecommerce",
        name="orders",
        format="jsonl",
        description="Orders with their line items nested in `lines` (one JSON object per line).",
        primary_key=("order_id",),
        child_field="lines",
        child=ORDER_LINES,
        columns=(
            Column("order_id", "string", "order id", "EO000123", True, pattern=_ID),
            Column("account_id", "string", "buyer's account id", "TM0001234", True),
            _shop_platform,
            Column("ordered_at", "timestamp", f"order time, {TS_RULE}", TS, True),
            Column(
                "status",
                "string",
                "order status at export",
                "completed",
                True,
                enum=("paid", "shipped", "completed", "cancelled"),
            ),
            Column(
                "fulfilment",
                "string",
                "fulfilment mode",
                "delivery",
                True,
                enum=("delivery", "click_and_collect"),
            ),
            Column("pickup_store_id", "string", "store for click-and-collect", "S012"),
            Column("currency", "string", "ISO 4217 currency", "CNY", True, enum=("CNY",)),
            Column(
                "shipping_fee",
                "decimal",
                "shipping fee, CNY",
                "0.00",
                min_value=0,
                on_invalid="null",
            ),
            Column("coupon_code", "string", "coupon applied", "CP00001234"),
        ),
    ),
    Entity(
        source="ecommerce",
        name="refunds",
        format="csv",
        description="Refunds against orders, whole or per line.",
        primary_key=("refund_id",),
        columns=(
            Column("refund_id", "string", "refund id", "RF000045", True, pattern=_ID),
            Column("order_id", "string", "refunded order", "EO000123", True),
            Column(
                "line_no",
                "integer",
                "refunded line; empty = whole order",
                "1",
                min_value=1,
                on_invalid="null",
            ),
            Column("refunded_at", "timestamp", f"refund time, {TS_RULE}", TS, True),
            Column("amount", "decimal", "refunded amount, CNY", "119.00", True, min_value=0),
            Column(
                "reason",
                "string",
                "refund reason",
                "damaged",
                on_invalid="null",
                enum=("damaged", "wrong_item", "changed_mind", "late_delivery", "other"),
            ),
        ),
    ),
    # ---------------------------------------------------------------- POS
    Entity(
        source="pos",
        name="stores",
        format="csv",
        description="Physical stores (master data, re-sent in full when it changes).",
        primary_key=("store_id",),
        columns=(
            Column("store_id", "string", "store id", "S012", True, pattern=_ID),
            Column("store_name", "string", "store name", "北京国贸店", True),
            Column("city", "string", "city", "北京市", True),
            Column(
                "region",
                "string",
                "sales region",
                "north",
                True,
                enum=("north", "northeast", "east", "south", "central", "southwest", "northwest"),
            ),
            Column(
                "opened_on",
                "date",
                "opening date, `YYYY-MM-DD`",
                "2019-05-01",
                on_invalid="null",
                days_after_delivery=366,  # a store announced for next year
            ),
        ),
    ),
    Entity(
        source="pos",
        name="transactions",
        format="csv",
        description="Till receipts. The customer is identified only sometimes: by the member "
        "card scanned, or a phone number typed by the cashier.",
        primary_key=("transaction_id",),
        depends_on=("pos.stores",),
        columns=(
            Column("transaction_id", "string", "receipt id", "T00012345", True, pattern=_ID),
            Column(
                "store_id",
                "string",
                "store of the till",
                "S012",
                True,
                references="pos.stores.store_id",
            ),
            Column("transacted_at", "timestamp", f"receipt time, {TS_RULE}", TS, True),
            Column(
                "member_card_no",
                "string",
                "member card scanned at the till",
                "8800123456",
                pii="quasi",
            ),
            Column(
                "phone",
                "string",
                f"phone typed by the cashier, {_PHONE}",
                "13800138000",
                pii="direct",
            ),
            Column("total_amount", "decimal", "amount paid, CNY", "258.00", True, min_value=0),
            Column(
                "payment_method",
                "string",
                "payment method",
                "wechat_pay",
                on_invalid="null",
                enum=("cash", "bank_card", "wechat_pay", "alipay", "unionpay"),
            ),
            Column("cashier_id", "string", "cashier", "C07"),
        ),
    ),
    Entity(
        source="pos",
        name="transaction_lines",
        format="csv",
        description="Line items of till receipts.",
        primary_key=("transaction_id", "line_no"),
        columns=(
            Column("transaction_id", "string", "receipt id", "T00012345", True),
            *LINE_ITEM_COLUMNS,
        ),
    ),
    # ---------------------------------------------------------------- CRM
    Entity(
        source="crm",
        name="members",
        format="csv",
        description="Loyalty members. A full row is re-sent whenever a member changes.",
        primary_key=("member_id",),
        columns=(
            Column("member_id", "string", "member id", "M0004567", True, pattern=_ID),
            Column(
                "card_no",
                "string",
                "member card number",
                "8800123456",
                True,
                pattern=r"[0-9]{10}",
                pii="quasi",
            ),
            Column("name", "string", "member name", "张伟", True, pii="direct"),
            Column(
                "gender",
                "string",
                "gender",
                "M",
                enum=("M", "F", "U"),
                on_invalid="null",
                pii="quasi",
            ),
            Column(
                "birth_date",
                "date",
                "birth date, `YYYY-MM-DD`",
                "1988-07-21",
                on_invalid="null",
                pii="quasi",
                days_after_delivery=0,
            ),
            Column("phone", "string", f"phone number, {_PHONE}", "138-0013-8000", pii="direct"),
            Column("email", "string", "email address", "zhang.wei@qq.com", pii="direct"),
            Column(
                "national_id",
                "string",
                "resident ID number (optional)",
                "11010519880721****",
                pii="sensitive",
            ),
            Column("address", "string", "street address", "建国路88号", pii="quasi"),
            Column("city", "string", "city", "北京市", pii="quasi"),
            Column("province", "string", "province", "北京市"),
            Column(
                "postal_code",
                "string",
                "postal code in the country's format (checked against the deployment's region "
                "in staging)",
                "100022",
                # any country's: 4-5 digits (AU, US, DE), 6 (CN), letters (GB, CA)
                pattern=r"[0-9A-Za-z][0-9A-Za-z \-]{1,11}",
                on_invalid="null",
                pii="quasi",
            ),
            Column("registered_at", "timestamp", f"registration time, {TS_RULE}", TS, True),
            Column("home_store_id", "string", "home store", "S012"),
            Column(
                "tier",
                "string",
                "tier in the source CRM",
                "silver",
                True,
                enum=("regular", "silver", "gold"),
            ),
            Column("updated_at", "timestamp", f"last change of the member, {TS_RULE}", TS, True),
        ),
    ),
    Entity(
        source="crm",
        name="consents",
        format="csv",
        description="Consent events: a grant or withdrawal of one purpose by one member.",
        primary_key=("consent_id",),
        columns=(
            Column("consent_id", "string", "consent event id", "CS0000789", True, pattern=_ID),
            Column("member_id", "string", "member", "M0004567", True),
            Column(
                "channel",
                "string",
                "where consent was captured",
                "wechat",
                True,
                enum=("app", "wechat", "store", "web", "call_centre"),
            ),
            Column(
                "purpose",
                "string",
                "what the consent covers",
                "marketing_sms",
                True,
                enum=(
                    "marketing_sms",
                    "marketing_wechat",
                    "marketing_email",
                    "personalisation",
                    "analytics",
                ),
            ),
            Column(
                "status",
                "string",
                "grant or withdrawal",
                "granted",
                True,
                enum=("granted", "withdrawn"),
            ),
            Column("recorded_at", "timestamp", f"event time, {TS_RULE}", TS, True),
            Column("policy_version", "string", "privacy policy version shown", "2025.2", True),
        ),
    ),
    Entity(
        source="crm",
        name="points_ledger",
        format="csv",
        description="Loyalty points earned and spent.",
        primary_key=("entry_id",),
        columns=(
            Column("entry_id", "string", "ledger entry id", "PL0001234", True, pattern=_ID),
            Column("member_id", "string", "member", "M0004567", True),
            Column("occurred_at", "timestamp", f"posting time, {TS_RULE}", TS, True),
            Column("points", "integer", "points (negative when spent or expired)", "258", True),
            Column(
                "reason",
                "string",
                "why",
                "purchase",
                True,
                enum=("purchase", "redemption", "bonus", "expiry", "adjustment"),
            ),
            Column("reference_id", "string", "order or receipt id", "T00012345"),
        ),
    ),
    Entity(
        source="crm",
        name="coupons",
        format="csv",
        description="Coupons issued to members, and their redemption.",
        primary_key=("coupon_id",),
        columns=(
            Column("coupon_id", "string", "coupon id", "CP00001234", True, pattern=_ID),
            Column("member_id", "string", "member", "M0004567", True),
            Column("campaign", "string", "campaign code", "618-2026", True),
            Column("face_value", "decimal", "value, CNY", "20.00", True, min_value=0),
            Column("issued_at", "timestamp", f"issue time, {TS_RULE}", TS, True),
            Column(
                "redeemed_at", "timestamp", f"redemption time, {TS_RULE}", "", on_invalid="null"
            ),
            Column("redeemed_ref", "string", "order or receipt that used it", ""),
        ),
    ),
    Entity(
        source="crm",
        name="tickets",
        format="csv",
        description="Customer-service tickets.",
        primary_key=("ticket_id",),
        columns=(
            Column("ticket_id", "string", "ticket id", "TK000321", True, pattern=_ID),
            Column("member_id", "string", "member, when known", "M0004567"),
            Column("phone", "string", f"caller's phone, {_PHONE}", "13800138000", pii="direct"),
            Column("opened_at", "timestamp", f"opened, {TS_RULE}", TS, True),
            Column("closed_at", "timestamp", f"closed, {TS_RULE}", "", on_invalid="null"),
            Column(
                "channel",
                "string",
                "contact channel",
                "wechat",
                True,
                enum=("phone", "wechat", "store", "email"),
            ),
            Column(
                "category",
                "string",
                "topic",
                "delivery",
                True,
                enum=("delivery", "product", "refund", "membership", "other"),
            ),
            Column(
                "satisfaction",
                "integer",
                "survey score",
                "5",
                min_value=1,
                max_value=5,
                on_invalid="null",
            ),
        ),
    ),
    # ---------------------------------------------------------------- social
    Entity(
        source="social",
        name="accounts",
        format="jsonl",
        description="Followers of a WeChat official account, users of a mini-program, WeCom "
        "external contacts and Douyin followers. `openid` is unique only within its `app_id`; "
        "`unionid` is shared across the brand's WeChat apps when the user authorised it. "
        "The current state of an account is re-sent when it changes.",
        primary_key=("app_id", "openid"),
        columns=(
            Column(
                "app_id",
                "string",
                "the app (official account, mini-program, WeCom, Douyin)",
                "wx_oa_main",
                True,
                pattern=_ID,
            ),
            Column(
                "platform",
                "string",
                "platform of the app",
                "wechat_oa",
                True,
                enum=("wechat_oa", "wechat_mp", "wecom", "douyin"),
            ),
            Column(
                "openid",
                "string",
                "user id within the app",
                "oA1b2C3d4E5f6G7h8",
                True,
                pattern=_ID,
                pii="quasi",
            ),
            Column(
                "unionid",
                "string",
                "cross-app WeChat id, when authorised",
                "uX9y8Z7w6V5u4",
                pattern=_ID,
                pii="quasi",
            ),
            Column("nickname", "string", "display name chosen by the user", "小伟🌟", pii="quasi"),
            Column(
                "phone",
                "string",
                f"phone shared by the user, {_PHONE}",
                "13800138000",
                pii="direct",
            ),
            Column("followed_at", "timestamp", f"follow time, {TS_RULE}", TS, True),
            Column(
                "unfollowed_at", "timestamp", f"unfollow time, {TS_RULE}", "", on_invalid="null"
            ),
            Column("updated_at", "timestamp", f"last change, {TS_RULE}", TS, True),
        ),
    ),
    Entity(
        source="social",
        name="engagement",
        format="jsonl",
        description="Engagement events from the apps.",
        primary_key=("event_id",),
        columns=(
            Column("event_id", "string", "event id", "EV000098765", True, pattern=_ID),
            Column("app_id", "string", "app", "wx_oa_main", True),
            Column(
                "openid", "string", "user within the app", "oA1b2C3d4E5f6G7h8", True, pii="quasi"
            ),
            Column(
                "event_type",
                "string",
                "what happened",
                "article_read",
                True,
                enum=("article_read", "like", "comment", "share", "live_watch"),
            ),
            Column("occurred_at", "timestamp", f"event time, {TS_RULE}", TS, True),
            Column("content_id", "string", "article, video or live-stream id", "ART0042"),
            Column(
                "duration_seconds",
                "integer",
                "reading or watching time",
                "95",
                min_value=0,
                on_invalid="null",
            ),
        ),
    ),
    Entity(
        source="social",
        name="group_events",
        format="csv",
        description="Joins and leaves of community (WeCom) groups.",
        primary_key=("event_id",),
        columns=(
            Column("event_id", "string", "event id", "GE0000123", True, pattern=_ID),
            Column("group_id", "string", "community group", "G0012", True),
            Column("app_id", "string", "app of the member's openid", "wecom_main", True),
            Column("openid", "string", "member within the app", "wmA1b2C3d4", True, pii="quasi"),
            Column("action", "string", "join or leave", "join", True, enum=("join", "leave")),
            Column("occurred_at", "timestamp", f"event time, {TS_RULE}", TS, True),
        ),
    ),
    Entity(
        source="social",
        name="referrals",
        format="csv",
        description="Referral invitations: an existing user invites a new one.",
        primary_key=("referral_id",),
        columns=(
            Column("referral_id", "string", "invitation id", "RI000012", True, pattern=_ID),
            Column("app_id", "string", "app the invitation was made in", "wx_mp_shop", True),
            Column(
                "inviter_openid", "string", "inviter within the app", "oA1b2C3d4", True, pii="quasi"
            ),
            Column(
                "invitee_openid", "string", "invitee within the app", "oQ9r8S7t6", True, pii="quasi"
            ),
            Column("invited_at", "timestamp", f"invitation time, {TS_RULE}", TS, True),
        ),
    ),
)

ENTITY_BY_KEY: dict[str, Entity] = {e.key: e for e in ENTITIES}


def entity(source: str, name: str) -> Entity:
    try:
        return ENTITY_BY_KEY[f"{source}.{name}"]
    except KeyError:
        raise KeyError(f"unknown entity {source}.{name}; known: {sorted(ENTITY_BY_KEY)}") from None


def entities_of(source: str) -> tuple[Entity, ...]:
    return tuple(e for e in ENTITIES if e.source == source)


def raw_tables() -> tuple[Entity, ...]:
    """Every raw table, in load order (an entity's dependencies come before it)."""
    return tuple(t for e in ENTITIES for t in e.raw_tables)


def raw_table(source: str, name: str) -> Entity:
    """A raw table (an entity, or the child table a nested entity's files produce)."""
    for table in raw_tables():
        if (table.source, table.name) == (source, name):
            return table
    raise KeyError(f"no raw table {source}.{name} in the contract")


def blocking_columns(names: list[str]) -> dict[str, frozenset[str]]:
    """`<source>.<entity>.<column>` names, checked against the contract → columns per entity,
    with the contract's own `on_missing="block"` columns."""
    found: dict[str, set[str]] = {
        e.key: {c.name for c in e.columns if c.on_missing == "block"} for e in ENTITIES
    }
    for name in names:
        key, _, column = name.rpartition(".")
        target = ENTITY_BY_KEY.get(key)
        if target is None or column not in target.column_names:
            raise ValueError(
                f"OMNI360_BLOCKING_COLUMNS names {name!r}, which is not a column of the contract "
                "(write <source>.<entity>.<column>, e.g. crm.members.phone)"
            )
        found[key].add(column)
    return {key: frozenset(columns) for key, columns in found.items()}
