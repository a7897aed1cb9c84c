"""Normalisation of identifiers before matching: phones, names and national ID numbers.

Each function takes one raw value and returns the normalised value, or None when the value is
empty or invalid. They are registered as DuckDB functions (see `duckdb_udfs.py`) so the dbt
models call them; results are cached per distinct value because sources repeat values a lot.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc
import phonenumbers
from pypinyin import lazy_pinyin
from stdnum.cn import ric

_CACHE = 1 << 21
_NON_DIALLABLE = re.compile(r"[^0-9+]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACES = re.compile(r"\s+")
_T2S = opencc.OpenCC("t2s")


def _nfkc(value: str) -> str:
    # NFKC folds full-width digits and letters (１３８ → 138) and compatibility forms
    return unicodedata.normalize("NFKC", value).strip()


@lru_cache(maxsize=_CACHE)
def _parse_phone(dialled: str, region: str) -> str | None:
    # the common Chinese mobile forms skip phonenumbers.parse (5x slower than validation)
    digits = dialled.lstrip("+")
    if region == "CN" and len(digits) in (11, 13) and digits[-11] == "1":
        if len(digits) == 11 and not dialled.startswith("+"):
            number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
        elif len(digits) == 13 and digits.startswith("86"):
            number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits[2:]))
        else:
            number = None
        if number is not None:
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return None
    try:
        number = phonenumbers.parse(dialled, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_e164(raw: str | None, region: str = "CN") -> str | None:
    """A phone number in E.164 (`+8613800138000`), or None if it is not a valid number.

    Full-width digits, separators, `+86`/`86` prefixes and surrounding spaces are accepted;
    numbers without a country code are read in `region`.
    """
    if not raw:
        return None
    dialled = _NON_DIALLABLE.sub("", _nfkc(raw))
    if not dialled.strip("+"):
        return None
    return _parse_phone(dialled, region)


@lru_cache(maxsize=_CACHE)
def person_name(raw: str | None) -> str | None:
    """A name for comparison: NFKC, traditional → simplified Chinese, single spaces, lower case."""
    if not raw:
        return None
    value = _SPACES.sub(" ", _nfkc(raw))
    if _CJK.search(value):
        value = _T2S.convert(value).replace(" ", "")
    value = value.casefold()
    return value or None


@lru_cache(maxsize=_CACHE)
def name_key(raw: str | None) -> str | None:
    """The name in pinyin, surname and given name sorted: `李国明`, `Li Guoming` and
    `Guoming Li` → `guoming li`.

    Lets a name written in pinyin, or in Western order, meet its Chinese form.
    """
    name = person_name(raw)
    if name is None:
        return None
    if _CJK.search(name):
        syllables = [s for s in lazy_pinyin(name) if s.isalnum()]
        # the first character is the surname; compound surnames (欧阳) are rare enough
        tokens = [syllables[0], "".join(syllables[1:])] if syllables else []
    else:
        tokens = name.replace("-", " ").split()
    return " ".join(sorted(token for token in tokens if token)) or None


@lru_cache(maxsize=_CACHE)
def national_id(raw: str | None) -> str | None:
    """A PRC resident identity number, upper-case, if its checksum and birth date are valid."""
    if not raw:
        return None
    value = _nfkc(raw).replace(" ", "").upper()
    return value if ric.is_valid(value) else None
