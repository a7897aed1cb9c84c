"""Finding and masking personal identifiers in text that leaves the warehouse (reports, history).

Deliberately broad patterns for what the sources hold: mainland and US phone numbers, emails,
and 18-character national IDs, checksum or not; plus whatever the PII scanner of the marts
(`lib/privacy/scanner.py`) classifies, such as bank cards. Text is NFKC-normalised first, so
full-width digits count too. Names cannot be found by pattern: the report never reads a column
that holds them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from orchestration.lib.privacy.masking import mask_email
from orchestration.lib.privacy.scanner import classify

_EDGE_BEFORE = r"(?<![\w.])"  # not inside a longer token (run ids, hashes, decimals)
_EDGE_AFTER = r"(?![\w])"

PATTERNS: dict[str, re.Pattern[str]] = {
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


def mask(value: str) -> str:
    """Keep a little of each end, enough to recognise the kind of value, not the value."""
    if "@" in value:
        return mask_email(value) or value
    keep = 3 if len(value) > 8 else 1
    return f"{value[:keep]}{'*' * max(len(value) - 2 * keep, 3)}{value[-keep:]}"


def find_personal_data(text: str) -> list[Finding]:
    """Every identifier the patterns find, and any the published-table scanner would flag."""
    normalised = unicodedata.normalize("NFKC", text)
    findings = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(normalised):
            line = normalised.count("\n", 0, match.start()) + 1
            column = match.start() - normalised.rfind("\n", 0, match.start())
            findings.append(Finding(kind, line, column, mask(match.group())))
    for number, line_text in enumerate(normalised.splitlines(), start=1):
        for kind, example in classify(line_text).items():
            if not any(f.line == number for f in findings):
                findings.append(Finding(kind, number, 1, example))
    return sorted(findings, key=lambda f: (f.line, f.column))


def mask_text(text: str | None) -> str | None:
    """The text with every identifier the patterns find masked (for check descriptions)."""
    if text is None:
        return None
    masked = unicodedata.normalize("NFKC", text)
    for pattern in PATTERNS.values():
        masked = pattern.sub(lambda match: mask(match.group()), masked)
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
