"""Raw crm.tickets against the contract, plus closing after opening."""

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "crm",
    "tickets",
    columns=("closed_at",),
    rules=(
        warning(
            "closed_not_before_opened",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="closed_at",
                column_B="opened_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            "a ticket closed before it was opened: resolution times would be negative.",
        ),
    ),
)
