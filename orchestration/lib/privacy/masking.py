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
