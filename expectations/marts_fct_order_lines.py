"""marts.fct_order_lines: no negative quantities or amounts, and one row per staging line of a
known order. Keys and the relationship to fct_orders are dbt tests of the model. An increment
checks the lines of the orders its loads gave a header, a line or a refund."""

import great_expectations.expectations as gxe

from expectations._shared import critical, per_row, warning
from orchestration.lib.quality.expectations import Suite, loaded_by_the_run

LINES = ("marts", "fct_order_lines")

ROWS = Suite(
    name="marts_fct_order_lines",
    asset=LINES,
    description="One row per order line: units and money (CNY).",
    # fct_order_lines is a view of int_sales__order_lines_joined_to_orders without its watermark
    query=f"""
        select quantity, unit_price, discount_amount, line_refund_amount, net_amount
        from intermediate.int_sales__order_lines_joined_to_orders
        where {loaded_by_the_run()}
    """,
    per_load=True,
    rules=(
        *per_row(
            "quantity_positive",
            gxe.ExpectColumnValuesToBeBetween,
            "a line with no or negative units: item counts and basket sizes would be wrong.",
            column="quantity",
            min_value=1,
        ),
        *per_row(
            "net_amount_not_negative",
            gxe.ExpectColumnValuesToBeBetween,
            "a line refunded or discounted beyond its value.",
            column="net_amount",
            min_value=0,
        ),
        *(
            rule
            for amount in ("unit_price", "discount_amount", "line_refund_amount")
            for rule in per_row(
                f"{amount}_not_negative",
                gxe.ExpectColumnValuesToBeBetween,
                f"a negative {amount.replace('_', ' ')}.",
                column=amount,
                min_value=0,
            )
        ),
    ),
)

# int_sales__order_lines is the union of the staging line models, one row per staging line
RECONCILIATION = Suite(
    name="marts_fct_order_lines_reconciliation",
    asset=LINES,
    description="Staging lines (shop and till, unioned in int_sales__order_lines) against "
    "fct_order_lines.",
    query="""
        select
            count(*) filter (where orders.order_id is not null) as staging_lines_with_order,
            count(*) filter (where orders.order_id is null) as lines_without_order,
            (select count(*) from marts.fct_order_lines) as fct_order_lines
        from intermediate.int_sales__order_lines as lines
        left join marts.fct_orders as orders
            on lines.source_system = orders.source_system and lines.order_id = orders.order_id
    """,
    rules=(
        critical(
            "rows_match_staging",
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="fct_order_lines", column_B="staging_lines_with_order"
            ),
            "fct_order_lines lost or duplicated lines of staging orders.",
            observe=("fct_order_lines", "staging_lines_with_order"),
        ),
        warning(
            "every_line_has_its_order",
            gxe.ExpectColumnValuesToBeBetween(column="lines_without_order", max_value=0),
            "lines whose order or receipt is not in staging (quarantined or not delivered yet) "
            "are left out of the marts.",
            observe=("lines_without_order",),
        ),
    ),
)

SUITES = (ROWS, RECONCILIATION)
