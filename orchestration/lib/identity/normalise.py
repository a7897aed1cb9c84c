"""Normalisation of identifiers before matching: phones, names, national IDs and postcodes.

Each function takes one raw value (and, where the answer depends on the deployment, its region
or national-ID scheme) and returns the normalised value, or None when the value is empty or
invalid. They are registered as DuckDB functions (see `duckdb_udfs.py`) so the dbt models call
them; results are cached per distinct value because sources repeat values a lot.

Names are handled by script, not by region: Chinese characters are compared in simplified form
and keyed by pinyin; Latin names (any language written in Latin letters, pinyin included) by
their letters, accents folded. A deployment in any region holds both.
"""

from __future__ import annotations

import re
import unicodedata

import opencc
import phonenumbers
from pypinyin import lazy_pinyin
from stdnum.cn import ric
from stdnum.exceptions import ValidationError
from stdnum.us import ssn
from stdnum.util import isdigits

from orchestration.lib.memory import lru_cache

# National-ID schemes (`OMNI360_NATIONAL_ID_SCHEME`): what a valid number is, and its one form
NATIONAL_ID_SCHEMES = ("cn_ric", "us_ssn", "generic", "none")

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
    """A name for comparison: NFKC, traditional → simplified Chinese, accents folded, single
    spaces, lower case (`Zoë  Müller` → `zoe muller`, `張偉` → `张伟`)."""
    if not raw:
        return None
    value = _SPACES.sub(" ", _nfkc(raw))
    chinese = _CJK.search(value)
    value = _T2S.convert(value).replace(" ", "") if chinese else _fold_accents(value)
    value = value.casefold()
    return value or None


def standard_name(raw: str | None) -> str | None:
    """A name as it should be shown: NFKC, single spaces, Chinese in simplified characters."""
    if not raw:
        return None
    value = _SPACES.sub(" ", _nfkc(raw))
    if _CJK.search(value):
        value = _T2S.convert(value).replace(" ", "")
    return value or None


def is_chinese(name: str | None) -> bool:
    return bool(name and _CJK.search(name))


def _fold_accents(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=_CACHE)
def _pinyin(name: str) -> tuple[str, ...]:
    # name_parts and name_key both need it: pypinyin is most of their cost
    return tuple(s for s in lazy_pinyin(name) if s.isalnum())


@lru_cache(maxsize=_CACHE)
def name_parts(raw: str | None) -> tuple[str, str] | None:
    """(surname, given names) of a name, in Latin letters: a Chinese name's first character and
    the rest, in pinyin; a Latin name's last word and the words before it. A name of one word is
    taken as a surname. Reversed orders (`Zhang Wei`) are caught by comparing the parts crosswise.
    """
    name = person_name(raw)
    if name is None:
        return None
    if _CJK.search(name):
        syllables = _pinyin(name)
        if not syllables:
            return None
        return syllables[0], "".join(syllables[1:])
    words = [w for w in name.replace("-", " ").split() if w]
    if not words:
        return None
    return words[-1], " ".join(words[:-1])


def surname_key(raw: str | None) -> str | None:
    parts = name_parts(raw)
    return parts[0] if parts else None


def given_key(raw: str | None) -> str | None:
    parts = name_parts(raw)
    return (parts[1] or None) if parts else None


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
        syllables = _pinyin(name)
        # the first character is the surname; compound surnames (欧阳) are rare enough
        tokens = [syllables[0], "".join(syllables[1:])] if syllables else []
    else:
        tokens = name.replace("-", " ").split()
    return " ".join(sorted(token for token in tokens if token)) or None


@lru_cache(maxsize=_CACHE)
def national_id(raw: str | None, scheme: str = "cn_ric") -> str | None:
    """A national ID number in one form under `scheme`, or None if it is not valid there.

    `cn_ric`: a PRC resident identity number whose checksum and birth date are valid, upper-case;
    `us_ssn`: a valid US social security number, digits only; `generic` (any other country's
    number, no checksum known): letters and digits only, upper-case, at least 4 of them; `none`:
    national IDs are not used.
    """
    if not raw or scheme == "none":
        return None
    value = _ALPHANUMERIC.sub("", _nfkc(raw)).upper()
    if scheme == "cn_ric":
        return value if _valid_ric(value) else None
    if scheme == "us_ssn":
        return ssn.compact(value) if ssn.is_valid(value) else None
    if scheme == "generic":
        return value if len(value) >= 4 else None
    raise ValueError(f"unknown national-ID scheme {scheme!r}; one of {NATIONAL_ID_SCHEMES}")


def _valid_ric(value: str) -> bool:
    """`stdnum.cn.ric.is_valid` of a compact number, with its birth-place lookup cached."""
    if len(value) != 18 or not isdigits(value[:-1]) or value[-1] != ric.calc_check_digit(value):
        return False
    try:
        ric.get_birth_date(value)
    except ValidationError:
        return False
    return _ric_place_known(value[:6], value[6:10])


@lru_cache(maxsize=_CACHE)
def _ric_place_known(area: str, year: str) -> bool:
    # stdnum searches its database of area codes for every number (30 us, 90% of a validation);
    # the answer depends only on the area code and the birth year, so one number stands for all
    try:
        ric.get_birth_place(f"{area}{year}01010000")
    except ValidationError:
        return False
    except KeyError:  # stdnum 2.2 fails so on a province's or prefecture's own code: no county
        return False
    return True


# Postcodes by region: the pattern of a valid code after spaces and dashes are removed, and how
# many of its characters identify the area (a US ZIP+4 is its 5-digit ZIP)
_POSTCODES: dict[str, tuple[re.Pattern[str], int]] = {
    "CN": (re.compile(r"[0-9]{6}"), 6),
    "US": (re.compile(r"[0-9]{5}(?:[0-9]{4})?"), 5),
    "AU": (re.compile(r"[0-9]{4}"), 4),
    "DE": (re.compile(r"[0-9]{5}"), 5),
    "FR": (re.compile(r"[0-9]{5}"), 5),
    "JP": (re.compile(r"[0-9]{7}"), 7),
    "GB": (re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"), 7),
    "CA": (re.compile(r"[A-Z][0-9][A-Z][0-9][A-Z][0-9]"), 6),
}
_GENERIC_POSTCODE = re.compile(r"[A-Z0-9]{3,10}")
_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")


@lru_cache(maxsize=_CACHE)
def postcode(raw: str | None, region: str = "CN") -> str | None:
    """A postcode in one form for `region` (letters upper-case, no spaces), or None if it is not
    one; regions without a known pattern accept 3-10 letters and digits."""
    if not raw:
        return None
    value = _ALPHANUMERIC.sub("", _nfkc(raw)).upper()
    pattern, keep = _POSTCODES.get(region.upper(), (_GENERIC_POSTCODE, 10))
    return value[:keep] if pattern.fullmatch(value) else None
