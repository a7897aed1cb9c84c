"""Realistic mess on identity fields: phone formats, email case, name variants, gaps."""

from __future__ import annotations

import numpy as np

from orchestration.lib.generator.config import NoiseConfig
from orchestration.lib.generator.pools import NamePools

# kinds of name variants, stored in the answer key's tests as codes
NAME_TRUE, NAME_TYPO, NAME_ALT, NAME_LATIN = 0, 1, 2, 3


def _fullwidth(values: np.ndarray) -> np.ndarray:
    """Digits as full-width characters (１３８…), as typed with a Chinese input method."""
    if len(values) == 0:
        return values
    fixed = values.astype(str)
    codes = fixed.view(np.uint32).copy()
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    codes[digit] += 0xFEE0
    return codes.view(fixed.dtype).astype(object)


def _zh_formats(p: np.ndarray, kind: np.ndarray) -> np.ndarray:
    head = np.array([x[:3] for x in p], dtype=object)
    mid = np.array([x[3:7] for x in p], dtype=object)
    tail = np.array([x[7:] for x in p], dtype=object)
    out = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [
            "+86 " + head + " " + mid + " " + tail,
            "86" + p,
            head + "-" + mid + "-" + tail,
            head + " " + mid + " " + tail,
            "+86" + p,
        ],
        default=p,
    ).astype(object)
    fw = kind == 5
    out[fw] = _fullwidth(p[fw])
    spaced = kind == 6
    out[spaced] = " " + p[spaced] + " "
    return out


def _en_formats(p: np.ndarray, kind: np.ndarray) -> np.ndarray:
    digits = np.array([x[2:] for x in p], dtype=object)  # drop +1
    area = np.array([x[:3] for x in digits], dtype=object)
    mid = np.array([x[3:6] for x in digits], dtype=object)
    tail = np.array([x[6:] for x in digits], dtype=object)
    return np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4, kind == 5],
        [
            "(" + area + ") " + mid + "-" + tail,
            area + "-" + mid + "-" + tail,
            area + "." + mid + "." + tail,
            digits,
            "1-" + area + "-" + mid + "-" + tail,
            "+1 " + area + " " + mid + " " + tail,
        ],
        default=" " + p + " ",
    ).astype(object)


def phones(rng: np.random.Generator, plain: np.ndarray, rate: float, locale: str) -> np.ndarray:
    """Phones as typed: a share `rate` in another format. None stays None."""
    out = plain.astype(object).copy()
    pick = np.flatnonzero((rng.random(len(plain)) < rate) & (plain != None))  # noqa: E711
    if len(pick) == 0:
        return out
    kind = rng.integers(0, 7, len(pick))
    subset = plain[pick].astype(object)
    if locale == "zh_CN":
        # only real 11-digit mobiles get reformatted; placeholders are typed as they are
        ok = np.array([len(x) == 11 for x in subset])
        pick, kind, subset = pick[ok], kind[ok], subset[ok]
        out[pick] = _zh_formats(subset, kind)
    else:
        ok = np.array([x.startswith("+1") for x in subset])
        pick, kind, subset = pick[ok], kind[ok], subset[ok]
        out[pick] = _en_formats(subset, kind)
    return out


def emails(rng: np.random.Generator, plain: np.ndarray, noise: NoiseConfig) -> np.ndarray:
    """Emails with changed case and stray whitespace; None stays None."""
    out = plain.astype(object).copy()
    present = plain != None  # noqa: E711
    case = np.flatnonzero((rng.random(len(plain)) < noise.email_case) & present)
    style = rng.integers(0, 3, len(case))
    out[case] = [
        e.upper()
        if k == 0
        else e.title()
        if k == 1
        else e.split("@")[0].capitalize() + "@" + e.split("@")[1].upper()
        for e, k in zip(out[case], style, strict=True)
    ]
    space = np.flatnonzero((rng.random(len(plain)) < noise.email_whitespace) & present)
    where = rng.integers(0, 3, len(space))
    out[space] = np.select(
        [where == 0, where == 1],
        [" " + out[space], out[space] + " "],
        default=" " + out[space] + "  ",
    )
    return out


def _typo(name: str, rng_value: float, chars: np.ndarray, locale: str) -> str:
    if locale == "zh_CN":
        # replace one character of the given name by another common name character
        pos = 1 + int(rng_value * (len(name) - 1)) if len(name) > 1 else 0
        new = chars[int(rng_value * 7919) % len(chars)]
        if new == name[pos]:
            new = chars[(int(rng_value * 7919) + 1) % len(chars)]
        return name[:pos] + new + name[pos + 1 :]
    # transpose two adjacent letters (never the same letter twice)
    letters = [
        i
        for i in range(len(name) - 1)
        if name[i].isalpha() and name[i + 1].isalpha() and name[i] != name[i + 1]
    ]
    if not letters:
        return name + "e"
    i = letters[int(rng_value * len(letters))]
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def names(
    rng: np.random.Generator,
    surname: np.ndarray,
    given: np.ndarray,
    pools: NamePools,
    noise: NoiseConfig,
    locale: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Names as recorded by a source, and the kind of variant (NAME_* codes)."""
    n = len(surname)
    if locale == "zh_CN":
        true = pools.surnames[surname] + pools.given[given]
        alt = pools.surname_alt[surname] + pools.given_alt[given]
        latin_order = rng.random(n) < 0.5
        latin = np.where(
            latin_order,
            pools.surname_latin[surname] + " " + pools.given_latin[given],
            pools.given_latin[given] + " " + pools.surname_latin[surname],
        )
        alt_rate, latin_rate = noise.name_traditional, noise.name_pinyin
    else:
        true = pools.given[given] + " " + pools.surnames[surname]
        alt = pools.given_alt[given] + " " + pools.surnames[surname]
        latin = true
        alt_rate, latin_rate = noise.name_nickname, 0.0
    u = rng.random(n)
    kind = np.full(n, NAME_TRUE, dtype=np.int8)
    kind[u < noise.name_typo] = NAME_TYPO
    # a variant is only counted where it differs; scale the rate up to the eligible names
    has_alt = alt != true
    alt_share = max(has_alt.mean(), 1e-9)
    alt_pick = (u >= noise.name_typo) & (u < noise.name_typo + alt_rate / alt_share) & has_alt
    kind[alt_pick & (kind == NAME_TRUE)] = NAME_ALT
    u2 = rng.random(n)
    kind[(u2 < latin_rate) & (kind == NAME_TRUE)] = NAME_LATIN
    out = true.copy()
    typo = np.flatnonzero(kind == NAME_TYPO)
    draws = rng.random(len(typo))
    out[typo] = [
        _typo(t, d, pools.typo_chars, locale) for t, d in zip(true[typo], draws, strict=True)
    ]
    out[kind == NAME_ALT] = alt[kind == NAME_ALT]
    out[kind == NAME_LATIN] = latin[kind == NAME_LATIN]
    return out, kind


def gaps(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    """The values with a share `rate` left empty (None)."""
    out = values.astype(object).copy()
    out[rng.random(len(values)) < rate] = None
    return out
