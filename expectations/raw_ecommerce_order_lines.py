"""Raw ecommerce.order_lines against the contract, plus discounts within the line value."""

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "ecommerce",
    "order_lines",
    derived=("cast(raw.quantity * raw.unit_price as double) as line_value",),
    rules=(
        warning(
            "discount_within_line_value",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="line_value",
                column_B="discount",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            "a line's discount exceeds quantity × unit price: its net amount would be negative.",
        ),
    ),
)
