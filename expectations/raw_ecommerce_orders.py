"""Raw ecommerce.orders against the contract, plus the pickup store of click-and-collect."""

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "ecommerce",
    "orders",
    columns=("pickup_store_id",),
    rules=(
        warning(
            "pickup_store_for_click_and_collect",
            gxe.ExpectColumnValuesToNotBeNull(
                column="pickup_store_id",
                row_condition=Column("fulfilment") == "click_and_collect",
            ),
            "a click-and-collect order names no store: the store KPIs miss it.",
        ),
    ),
)
