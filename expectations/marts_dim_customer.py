"""marts.dim_customer: stages that agree with orders, scores in range, contacts masked (never raw
personal data), every order's customer present, and one row per resolved customer. Key tests,
member tier and lifecycle stage values are dbt tests of the model."""

import great_expectations.expectations as gxe

from expectations._shared import critical, per_row
from orchestration.lib.quality.expectations import ANY, WHITESPACE, Suite, full_match

CUSTOMERS = ("marts", "dim_customer")

# stage:orders the lifecycle rule can give (dbt_project/macros/customer/lifecycle.sql); one
# column, as GE's column-pair set expectation loops over rows in Python
STAGE_ORDERS = [
    "contact:none",
    "awareness:none",
    "first_purchase:one",
    "repurchase:many",
    "loyal:many",
    "churned:one",
    "churned:many",
]
RFM_SEGMENTS = [
    "champions",
    "loyal",
    "new_customers",
    "potential_loyalists",
    "at_risk",
    "hibernating",
    "need_attention",
]
# what the masking macros emit (dbt_project/macros/privacy/masking.sql)
MASKS = {
    "display_name": (
        full_match(rf"{ANY}(?:\*|\*\*\*)"),
        "a name shows more than its first character.",
    ),
    "phone_masked": (full_match(r"[0-9]{3}\*{4}[0-9]{4}"), "a phone shows more than 3 + 4 digits."),
    "email_masked": (
        full_match(rf"[^@]?\*\*\*@[^@{WHITESPACE}]+"),
        "an email shows more than its first character.",
    ),
    "phone_token": (full_match(r"[0-9a-f]{64}"), "a phone token is not an HMAC-SHA256 hex digest."),
    "email_token": (
        full_match(r"[0-9a-f]{64}"),
        "an email token is not an HMAC-SHA256 hex digest.",
    ),
}

ROWS = Suite(
    name="marts_dim_customer",
    asset=CUSTOMERS,
    description="One row per customer: lifecycle, orders, value, RFM and masked contacts.",
    query=f"""
        select
            lifecycle_stage || ':'
            || case when orders = 0 then 'none' when orders = 1 then 'one' else 'many' end
                as stage_and_orders,
            orders,
            online_orders + store_orders as channel_orders,
            net_revenue,
            recency_score,
            frequency_score,
            monetary_score,
            rfm_segment,
            probability_alive,
            predicted_clv_365d,
            {", ".join(MASKS)}
        from marts.dim_customer
    """,
    rules=(
        critical(
            "lifecycle_stage_matches_orders",
            gxe.ExpectColumnValuesToBeInSet(column="stage_and_orders", value_set=STAGE_ORDERS),
            "a stage that contradicts the customer's order count (docs/metrics.md#lifecycle).",
        ),
        critical(
            "orders_split_by_channel",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="orders", column_B="channel_orders"),
            "online + store orders differ from all orders.",
        ),
        *per_row(
            "net_revenue_not_negative",
            gxe.ExpectColumnValuesToBeBetween,
            "a customer's net revenue after refunds is negative.",
            column="net_revenue",
            min_value=0,
        ),
        *(
            critical(
                f"{score}_1_to_5",
                gxe.ExpectColumnValuesToBeBetween(column=score, min_value=1, max_value=5),
                "RFM scores are quintiles 1-5.",
            )
            for score in ("recency_score", "frequency_score", "monetary_score")
        ),
        critical(
            "rfm_segment_known",
            gxe.ExpectColumnValuesToBeInSet(column="rfm_segment", value_set=RFM_SEGMENTS),
            "rfm_segment is one of the documented segments (docs/metrics.md#rfm).",
        ),
        critical(
            "probability_alive_is_a_probability",
            gxe.ExpectColumnValuesToBeBetween(column="probability_alive", min_value=0, max_value=1),
            "probability_alive outside [0, 1].",
        ),
        critical(
            "predicted_clv_not_negative",
            gxe.ExpectColumnValuesToBeBetween(column="predicted_clv_365d", min_value=0),
            "a negative predicted value.",
        ),
        *(
            critical(
                f"{column}_format",
                gxe.ExpectColumnValuesToMatchRegex(column=column, regex=regex),
                f"{why} The marts are published: they must never hold raw personal data.",
            )
            for column, (regex, why) in MASKS.items()
        ),
    ),
    pii=frozenset(MASKS),
)

ORDER_CUSTOMERS = Suite(
    name="marts_dim_customer_order_customers",
    asset=CUSTOMERS,
    description="Referential integrity fct_orders → dim_customer, checked here because "
    "dim_customer is built after fct_orders (through the CLV asset).",
    query="""
        select distinct orders.customer_id, customers.customer_id as dim_customer_id
        from marts.fct_orders as orders
        left join marts.dim_customer as customers
            on orders.customer_id = customers.customer_id
        where orders.customer_id is not null
    """,
    rules=(
        critical(
            "has_every_order_customer",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="customer_id", column_B="dim_customer_id"),
            "orders point at customers missing from dim_customer: their revenue drops out of "
            "every customer figure.",
        ),
    ),
)

RECONCILIATION = Suite(
    name="marts_dim_customer_reconciliation",
    asset=CUSTOMERS,
    description="Resolved customers (identity.customer_xref) against dim_customer.",
    query="""
        select
            (select count(distinct customer_id) from identity.customer_xref) as xref_customers,
            (select count(*) from marts.dim_customer) as dim_customers
    """,
    rules=(
        critical(
            "rows_match_customer_xref",
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="dim_customers", column_B="xref_customers"
            ),
            "dim_customer lost or duplicated customers of the id map.",
            observe=("dim_customers", "xref_customers"),
        ),
    ),
)

SUITES = (ROWS, ORDER_CUSTOMERS, RECONCILIATION)
