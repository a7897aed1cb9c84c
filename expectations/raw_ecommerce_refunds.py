"""Raw ecommerce.refunds against the contract, plus the refunded order being in the raw layer."""

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning
from orchestration.lib.quality.expectations import raw_relation

SUITES = raw_suites(
    "ecommerce",
    "refunds",
    derived=("orders.order_id as order_found",),
    joins=f"left join (select distinct order_id from {raw_relation('ecommerce', 'orders')}) "
    "as orders on raw.order_id = orders.order_id",
    rules=(
        warning(
            "order_delivered",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="order_id", column_B="order_found"),
            "a refund names an order the raw layer does not hold (quarantined or not yet "
            "delivered): fct_orders cannot net it.",
        ),
    ),
)
