"""Display masks in Python, the twins of the dbt macros in `macros/privacy/masking.sql`: for
`omni360 explain --masked`, the PII scanner's findings and the report's safety net."""

from __future__ import annotations


def mask_phone(e164: str | None) -> str | None:
    """+8613800138000 → 138****8000: the national number's first 3 and last 4 digits."""
    if not e164:
        return e164
    return f"{e164[-11:-8]}****{e164[-4:]}"


def mask_email(email: str | None) -> str | None:
    """zhang.wei@qq.com → z***@qq.com (without an @, the first character only)"""
    if not email:
        return email
    return f"{email[:1]}***{email[email.find('@') :]}" if "@" in email else f"{email[:1]}***"


def mask_record_key(record_key: str) -> str:
    """social:accounts:wx_oa_main:oA58…: a social account's openid keeps its app prefix only."""
    source, entity, app_id, openid = (record_key.split(":", 3) + ["", "", ""])[:4]
    if (source, entity) != ("social", "accounts") or not openid:
        return record_key
    return f"{source}:{entity}:{app_id}:{openid[:2]}{'*' * 8}"


def mask_name(name: str | None) -> str | None:
    """张伟 → 张*, Zhang Wei → Z***: the first character only."""
    if not name:
        return name
    return name[:1] + ("***" if name[:1].isascii() and name[:1].isalpha() else "*")


def mask_national_id(number: str) -> str:
    """110101199003072316 → 110*************16"""
    return f"{number[:3]}{'*' * (len(number) - 5)}{number[-2:]}"


def mask_international_phone(digits: str) -> str:
    """447946095800 → +447*******00: the country code shows, the subscriber does not."""
    return f"+{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


def mask_card(digits: str) -> str:
    """6222021234567890123 → 6222***********0123: issuer and last four, as on a receipt."""
    return f"{digits[:4]}{'*' * (len(digits) - 8)}{digits[-4:]}"


def mask_shape(value: str) -> str:
    """Anything that looks like an identifier: a little of each end, enough to tell its kind."""
    if "@" in value:
        return mask_email(value) or value
    keep = 3 if len(value) > 8 else 1
    return f"{value[:keep]}{'*' * max(len(value) - 2 * keep, 3)}{value[-keep:]}"
