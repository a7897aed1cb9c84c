"""Personal identifiers in free text: the one set of patterns the marts scanner and the report
redactor share.

Two strengths. `classify` is exact: it validates what it finds (phone numbering plan, ID
checksum, Luhn), so a published column is only flagged for real identifiers. `find_personal_data`
and `mask_text` are broad, for text that leaves the warehouse (reports, check descriptions,
history): anything shaped like a mainland or US phone, an email or an 18-character national ID,
checksum or not, plus whatever `classify` finds (bank cards, other countries' phones). Text is
NFKC-normalised first, so full-width digits count too. Names cannot be found by pattern: the
report never reads a column that holds them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from stdnum import luhn
from stdnum.cn import ric

from orchestration.lib.privacy.masking import (
    mask_card,
    mask_email,
    mask_international_phone,
    mask_national_id,
    mask_phone,
    mask_shape,
)

_EDGE_BEFORE = r"(?<![\w.])"  # not inside a longer token (run ids, hashes, decimals)
_EDGE_AFTER = r"(?![\w])"

_DIGIT = "[0-9\uff10-\uff19]"
_EDGE = "(?:^|[^0-9A-Za-z\uff10-\uff19])"
_PLUS = "[+\uff0b]"
# for the scanner's first stage (RE2, in DuckDB): a superset of what `classify` validates
COARSE_PATTERN = (
    r"[A-Za-z0-9._%+\-]@[A-Za-z0-9\-]+\."
    rf"|{_EDGE}{_DIGIT}(?:[ \-]?{_DIGIT}){{10}}"
    rf"|{_PLUS} ?{_DIGIT}(?:[ \-]?{_DIGIT}){{6}}"
)

# exact: what `classify` validates
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})")
NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6} ?\d{8} ?\d{3}[\dXx])(?![0-9A-Za-z])")
NUMBER = re.compile(r"(?<![0-9A-Za-z+])(\+ ?)?(\d(?:[ \-]?\d){6,18})(?![0-9A-Za-z])")
# a run id identifies no one, but its digit groups can read as a number that does
# (40875759-4134-4649-b168-…: its first 16 digits pass Luhn), so `classify` skips run ids
UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])"
)
CN_MOBILE = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")

# broad: what leaves the warehouse is masked if it only looks like an identifier
SHAPES: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"),
    "national_id": re.compile(
        _EDGE_BEFORE
        + r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
        + _EDGE_AFTER
    ),
    "phone_cn": re.compile(
        _EDGE_BEFORE + r"(?:\+?86[\s\-]?)?1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}" + _EDGE_AFTER
    ),
    "phone_us": re.compile(
        _EDGE_BEFORE
        + r"(?:\+?1[\s.\-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.\-])\d{3}[\s.\-]\d{4}"
        + _EDGE_AFTER
    ),
}


@dataclass(frozen=True)
class Finding:
    kind: str
    line: int
    column: int
    masked: str  # safe to print


class PersonalDataFound(ValueError):
    """Raised instead of writing a file that would hold personal data."""


def classify(value: str | None) -> dict[str, str]:
    """The kinds of personal data in clear in one value, each with a masked example."""
    if not value:
        return {}
    text = UUID.sub(" ", unicodedata.normalize("NFKC", value))
    found: dict[str, str] = {}
    for match in EMAIL.finditer(text):
        found.setdefault("email", mask_email(match.group(0)) or "")
    for match in NATIONAL_ID.finditer(text):
        number = match.group(1).replace(" ", "").upper()
        if ric.is_valid(number):
            found.setdefault("national_id", mask_national_id(number))
    for match in NUMBER.finditer(text):
        plus, digits = bool(match.group(1)), re.sub(r"\D", "", match.group(2))
        kind = _number_kind(digits, plus)
        if kind is not None:
            found.setdefault(kind, _mask_number(kind, digits))
    return found


def find_personal_data(text: str) -> list[Finding]:
    """Everything shaped like an identifier, and any identifier `classify` finds."""
    normalised = unicodedata.normalize("NFKC", text)
    findings = []
    for kind, pattern in SHAPES.items():
        for match in pattern.finditer(normalised):
            line = normalised.count("\n", 0, match.start()) + 1
            column = match.start() - normalised.rfind("\n", 0, match.start())
            findings.append(Finding(kind, line, column, mask_shape(match.group())))
    for number, line_text in enumerate(normalised.splitlines(), start=1):
        for kind, example in classify(line_text).items():
            if not any(f.line == number for f in findings):
                findings.append(Finding(kind, number, 1, example))
    return sorted(findings, key=lambda f: (f.line, f.column))


def mask_text(text: str | None) -> str | None:
    """The text with everything shaped like an identifier masked (for check descriptions)."""
    if text is None:
        return None
    masked = unicodedata.normalize("NFKC", text)
    for pattern in SHAPES.values():
        masked = pattern.sub(lambda match: mask_shape(match.group()), masked)
    return masked


def ensure_no_personal_data(text: str, where: str) -> None:
    findings = find_personal_data(text)
    if findings:
        listed = "; ".join(
            f"{f.kind} at line {f.line}, column {f.column} ({f.masked})" for f in findings[:10]
        )
        raise PersonalDataFound(
            f"refusing to write {where}: it would contain {len(findings)} personal "
            f"identifier(s): {listed}. Find which section shows raw values and mask or "
            "aggregate them at the source of that section."
        )


def _number_kind(digits: str, plus: bool) -> str | None:
    if len(digits) == 18 and not plus and ric.is_valid(digits):
        return "national_id"
    mobile = CN_MOBILE.fullmatch(digits)
    if mobile and (not plus or digits.startswith("86")):
        return "cn_mobile"
    if plus and 8 <= len(digits) <= 15 and _is_phone("+" + digits):
        return "phone_e164"
    if not plus and 13 <= len(digits) <= 19 and luhn.is_valid(digits):
        return "bank_card"
    return None


def _is_phone(dialled: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(dialled, None))
    except phonenumbers.NumberParseException:
        return False


def _mask_number(kind: str, digits: str) -> str:
    if kind == "cn_mobile":
        return mask_phone(digits) or ""
    if kind == "phone_e164":
        return mask_international_phone(digits)
    if kind == "national_id":
        return mask_national_id(digits)
    return mask_card(digits)
