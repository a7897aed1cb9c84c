"""Raw crm.members against the contract, plus a plausible birth date and update order."""

import datetime as dt

import great_expectations.expectations as gxe

from expectations._shared import raw_suites, warning

SUITES = raw_suites(
    "crm",
    "members",
    columns=("birth_date",),
    rules=(
        warning(
            "birth_date_plausible",
            gxe.ExpectColumnValuesToBeBetween(
                column="birth_date", min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime.now()
            ),
            "a birth date before 1900 or in the future: a placeholder or a typing error.",
        ),
        warning(
            "updated_not_before_registered",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="updated_at",
                column_B="registered_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",  # nulls: the contract's rules
            ),
            "a member changed before registering: the source's clocks disagree.",
        ),
    ),
)
