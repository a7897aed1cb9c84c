"""marts.fct_orders: amounts after refunds not negative, known codes, and one row per staging
order. Keys (unique, not null) and channel values are dbt tests of the model. An increment checks
the rows of the orders its loads gave a header, a line or a refund."""

import great_expectations.expectations as gxe

from expectations._shared import critical, per_row, warning
from orchestration.lib.quality.expectations import Suite, loaded_by_the_run

ORDERS = ("marts", "fct_orders")
AMOUNTS = ("gross_amount", "discount_amount", "refund_amount", "shipping_fee")

ROWS = Suite(
    name="marts_fct_orders",
    asset=ORDERS,
    description="One row per order: codes, counts and money (CNY).",
    # fct_orders is a view of int_sales__orders without its watermark
    query=f"""
        select platform, status, fulfilment_mode, currency, line_count, item_count,
            gross_amount, discount_amount, refund_amount, net_amount, shipping_fee
        from intermediate.int_sales__orders
        where {loaded_by_the_run()}
    """,
    per_load=True,
    rules=(
        *per_row(
            "net_amount_not_negative",
            gxe.ExpectColumnValuesToBeBetween,
            "refunds and discounts exceed what was sold: revenue would go negative.",
            column="net_amount",
            min_value=0,
        ),
        *(
            rule
            for amount in AMOUNTS
            for rule in per_row(
                f"{amount}_not_negative",
                gxe.ExpectColumnValuesToBeBetween,
                f"a negative {amount.replace('_', ' ')}.",
                column=amount,
                min_value=0,
            )
        ),
        *per_row(
            "discount_within_gross",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "an order discounted by more than its gross amount.",
            column_A="gross_amount",
            column_B="discount_amount",
            or_equal=True,
            ignore_row_if="either_value_is_missing",  # nulls: amounts_not_null
        ),
        *per_row(
            "item_count_not_negative",
            gxe.ExpectColumnValuesToBeBetween,
            "a negative number of units.",
            column="item_count",
            min_value=0,
        ),
        *(
            critical(
                f"{amount}_not_null",
                gxe.ExpectColumnValuesToNotBeNull(column=amount),
                f"a missing {amount.replace('_', ' ')}: the order's money would be summed as "
                "nothing (an order without lines is worth 0, not null).",
            )
            # a till receipt has no shipping fee
            for amount in ("gross_amount", "discount_amount", "refund_amount", "net_amount")
        ),
        warning(
            "has_lines",
            gxe.ExpectColumnValuesToBeBetween(column="line_count", min_value=1),
            "orders without any line (their lines were quarantined or not delivered) count "
            "as orders worth nothing.",
        ),
        critical(
            "platform_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="platform", value_set=["miniprogram", "tmall", "jd", "store"]
            ),
            "platform is a shop platform or store.",
        ),
        critical(
            "status_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="status", value_set=["paid", "shipped", "completed", "cancelled"]
            ),
            "status is one of the order statuses.",
        ),
        critical(
            "fulfilment_mode_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="fulfilment_mode", value_set=["delivery", "click_and_collect", "in_store"]
            ),
            "fulfilment_mode is delivery, click_and_collect or in_store.",
        ),
        critical(
            "currency_cny",
            gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=["CNY"]),
            "every amount is in CNY: another currency would be summed as if it were.",
        ),
    ),
)

RECONCILIATION = Suite(
    name="marts_fct_orders_reconciliation",
    asset=ORDERS,
    description="Staging orders and receipts against fct_orders.",
    query="""
        select
            (select count(*) from staging.stg_ecommerce__orders)
            + (select count(*) from staging.stg_pos__transactions) as staging_orders,
            (select count(*) from marts.fct_orders) as fct_orders
    """,
    rules=(
        critical(
            "rows_match_staging",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="fct_orders", column_B="staging_orders"),
            "fct_orders lost or duplicated shop orders or till receipts of staging.",
            observe=("fct_orders", "staging_orders"),
        ),
    ),
)

SUITES = (ROWS, RECONCILIATION)
