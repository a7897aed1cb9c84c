"""Raw social.accounts against the contract, plus unfollowing after following."""

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "social",
    "accounts",
    columns=("unfollowed_at",),
    rules=(
        warning(
            "unfollowed_not_before_followed",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="unfollowed_at",
                column_B="followed_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            "an account unfollowed before it followed: reach figures would be off.",
        ),
    ),
)
