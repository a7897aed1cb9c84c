"""Raw crm.coupons against the contract, plus redemption after issue."""

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "crm",
    "coupons",
    columns=("redeemed_at",),
    rules=(
        warning(
            "redeemed_not_before_issued",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="redeemed_at",
                column_B="issued_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            "a coupon was redeemed before it was issued.",
        ),
    ),
)
