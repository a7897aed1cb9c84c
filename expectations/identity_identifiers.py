"""The normalised identifiers (identity.int_identity__identifiers): every value has the format
its normaliser promises. All columns are personal data: no value ever leaves the check. An
increment checks the identifiers of the records its loads gave a version (the others are not
normalised again: a new region or national-ID scheme comes with --full-refresh)."""

import great_expectations.expectations as gxe

from expectations._shared import critical
from orchestration import settings
from orchestration.lib.identity.locale import Locale
from orchestration.lib.quality.expectations import (
    WHITESPACE,
    Suite,
    full_match,
    loaded_by_the_run,
)

# what the normalisers emit (dbt_project/macros/identity/normalise.sql, lib/identity/normalise.py)
E164 = full_match(r"\+[1-9][0-9]{6,14}")
# trimmed, lower case, local@domain.tld
EMAIL = full_match(rf"[^@{WHITESPACE}A-Z]+@[^@{WHITESPACE}A-Z]+\.[a-z]{{2,}}")
# by the deployment's national-ID scheme (docs/identity.md#region-and-locale)
NATIONAL_IDS = {
    # GB 11643: region, birth date (YYYYMMDD), sequence, check character (checksum done upstream)
    "cn_ric": (
        full_match(
            r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
            r"[0-9]{3}[0-9X]"
        ),
        "a national ID outside GB 11643's format slipped through.",
    ),
    "us_ssn": (full_match(r"[0-9]{9}"), "a social security number is nine digits."),
    "generic": (
        full_match(r"[0-9A-Z]{4,}"),
        "a national ID is upper-case letters and digits only.",
    ),
    "none": (full_match(""), "national IDs are not used in this deployment: none should be there."),
}
CARD_NO = full_match(r"[0-9]{10}")
UNIONID = full_match(r"[A-Za-z0-9_\-]{1,64}")

FORMATS = {
    "phone": (E164, "a phone that is not E.164 would never match the same phone elsewhere."),
    "email": (EMAIL, "an email that is not trimmed and lower-cased would not match."),
    "national_id": NATIONAL_IDS[Locale(settings.region(), settings.national_id_scheme()).scheme],
    "card_no": (CARD_NO, "a member card number is ten digits."),
    "unionid": (UNIONID, "a unionid has the contract's id format."),
}

SUITE = Suite(
    name="identity_identifiers",
    asset=("identity", "int_identity__identifiers"),
    description="Normalised identifiers, one column per type (long form pivoted, nulls elsewhere).",
    query="select "
    + ", ".join(
        f"case when identifier_type = '{kind}' then identifier_value end as {kind}"
        for kind in FORMATS
    )
    + f" from identity.int_identity__identifiers where {loaded_by_the_run()}",
    per_load=True,
    rules=tuple(
        critical(
            f"{kind}_format", gxe.ExpectColumnValuesToMatchRegex(column=kind, regex=regex), why
        )
        for kind, (regex, why) in FORMATS.items()
    ),
    pii=frozenset(FORMATS),
)
