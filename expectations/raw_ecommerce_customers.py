"""Raw ecommerce.customers (shop accounts) against the contract, plus update order."""

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "ecommerce",
    "customers",
    columns=("created_at",),
    rules=(
        warning(
            "updated_not_before_created",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="updated_at",
                column_B="created_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",  # nulls: the contract's rules
            ),
            "an account changed before it was created: the source's clocks disagree.",
        ),
    ),
)
