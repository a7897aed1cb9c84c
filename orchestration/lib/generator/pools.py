"""Pools of names, streets, nicknames and products, built once with Faker and then sampled.

Faker is slow per call, so it only fills small pools; rows index into them with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker import Faker

from orchestration.lib.generator import reference as ref


@dataclass(frozen=True)
class NamePools:
    """Surnames and given names with their variants (all arrays of Python str, dtype object)."""

    surnames: np.ndarray
    surname_p: np.ndarray  # sampling probabilities
    given: np.ndarray
    given_female: np.ndarray  # bool per given name
    given_p_male: np.ndarray
    given_p_female: np.ndarray
    surname_alt: np.ndarray  # zh_CN: traditional; en_US: the same
    given_alt: np.ndarray  # zh_CN: traditional; en_US: nickname or the same
    surname_latin: np.ndarray  # zh_CN: pinyin ("Zhang"); en_US: the name
    given_latin: np.ndarray  # zh_CN: pinyin ("Xiuying"); en_US: the name
    typo_chars: np.ndarray  # characters used for typos


@dataclass(frozen=True)
class Pools:
    names: NamePools
    streets: np.ndarray
    nicknames: np.ndarray
    words: np.ndarray  # lower-case latin words for email local parts


@dataclass(frozen=True)
class Catalogue:
    sku: np.ndarray
    name: np.ndarray
    category: np.ndarray
    price_cents: np.ndarray  # int64
    popularity: np.ndarray  # sampling probabilities


def _normalised(weights: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    return weights / weights.sum()


def _zh_names(fake: Faker, rng: np.random.Generator) -> NamePools:
    import opencc
    from faker.providers.person.zh_CN import Provider
    from pypinyin import lazy_pinyin

    surnames = np.array(list(Provider.last_names.keys()), dtype=object)
    surname_p = _normalised(np.array(list(Provider.last_names.values())))
    male = list(dict.fromkeys(Provider.first_names_male))
    female = list(dict.fromkeys(Provider.first_names_female))
    male_chars = sorted({c for n in male for c in n})
    female_chars = sorted({c for n in female for c in n})
    # two-character given names built from the characters Faker uses per gender
    combos_m = {
        a + b
        for a, b in zip(rng.choice(male_chars, 1500), rng.choice(male_chars, 1500), strict=True)
        if a != b
    }
    combos_f = {
        a + b
        for a, b in zip(rng.choice(female_chars, 1500), rng.choice(female_chars, 1500), strict=True)
        if a != b
    }
    given_m = sorted(set(male) | combos_m)
    given_f = sorted((set(female) | combos_f) - set(given_m))
    given = np.array(given_m + given_f, dtype=object)
    is_female = np.array([False] * len(given_m) + [True] * len(given_f))
    converter = opencc.OpenCC("s2t")
    to_trad = np.vectorize(converter.convert, otypes=[object])
    to_latin = np.vectorize(lambda s: "".join(lazy_pinyin(s)).capitalize(), otypes=[object])
    return NamePools(
        surnames=surnames,
        surname_p=surname_p,
        given=given,
        given_female=is_female,
        given_p_male=_normalised(~is_female),
        given_p_female=_normalised(is_female),
        surname_alt=to_trad(surnames),
        given_alt=to_trad(given),
        surname_latin=to_latin(surnames),
        given_latin=to_latin(given),
        typo_chars=np.array(sorted(set(male_chars) | set(female_chars)), dtype=object),
    )


def _en_names() -> NamePools:
    from faker.providers.person.en_US import Provider

    surnames = np.array(list(Provider.last_names.keys()), dtype=object)
    male = dict(Provider.first_names_male)
    female = {k: v for k, v in Provider.first_names_female.items() if k not in male}
    given = np.array(list(male) + list(female), dtype=object)
    is_female = np.array([False] * len(male) + [True] * len(female))
    weights = np.array(list(male.values()) + list(female.values()), dtype=np.float64)
    nick = np.array([ref.NICKNAMES_EN.get(g, g) for g in given], dtype=object)
    return NamePools(
        surnames=surnames,
        surname_p=_normalised(np.array(list(Provider.last_names.values()))),
        given=given,
        given_female=is_female,
        given_p_male=_normalised(np.where(is_female, 0.0, weights)),
        given_p_female=_normalised(np.where(is_female, weights, 0.0)),
        surname_alt=surnames,
        given_alt=nick,
        surname_latin=surnames,
        given_latin=given,
        typo_chars=np.array(list("aeiounrstl"), dtype=object),
    )


def build_pools(locale: str, seed: int) -> Pools:
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = np.random.default_rng([seed, 901])
    names = _zh_names(fake, rng) if locale == "zh_CN" else _en_names()
    if locale == "zh_CN":
        streets = sorted({fake.street_name() for _ in range(3000)})
        nick_base = [fake.word() for _ in range(600)] + [fake.user_name() for _ in range(600)]
        decorations = ["", "", "", "🌟", "✨", "🍀", "~", "呀", "酱", "_", "🌸", "😊"]
    else:
        streets = sorted({fake.street_name() for _ in range(3000)})
        nick_base = [fake.user_name() for _ in range(900)] + [fake.first_name() for _ in range(300)]
        decorations = ["", "", "", "🌟", "✨", "🍀", "_", "x", "🌸", "😊", "!"]
    bases = np.array(sorted(set(nick_base)), dtype=object)
    deco = np.array(decorations, dtype=object)
    nicknames = np.unique(rng.choice(bases, 4000) + rng.choice(deco, 4000))
    words = np.array(sorted({fake.user_name() for _ in range(1500)}), dtype=object)
    return Pools(
        names=names, streets=np.array(streets, dtype=object), nicknames=nicknames, words=words
    )


def build_catalogue(locale: str, seed: int, size: int = 600) -> Catalogue:
    """A product catalogue: SKU, name, category, list price and a skewed popularity."""
    rng = np.random.default_rng([seed, 902])
    cats = np.array(ref.CATEGORIES, dtype=object)
    cat_idx = rng.choice(len(cats), size, p=_normalised([30, 25, 10, 12, 13, 10]))
    line_pool = ref.PRODUCT_LINES_ZH if locale == "zh_CN" else ref.PRODUCT_LINES_EN
    names: list[str] = []
    prices = np.empty(size, dtype=np.int64)
    for i, c in enumerate(cat_idx):
        words_zh, words_en, sizes, median = ref.PRODUCT_WORDS[str(cats[c])]
        words = words_zh if locale == "zh_CN" else words_en
        line = line_pool[rng.integers(len(line_pool))]
        word = words[rng.integers(len(words))]
        variant = sizes[rng.integers(len(sizes))]
        sep = "" if locale == "zh_CN" else " "
        names.append(f"{line}{sep}{word} {variant}".strip())
        yuan = median * rng.lognormal(0.0, 0.45)
        prices[i] = max(9, int(round(yuan / 10.0)) * 10 - 1) * 100  # 219.00, 89.00...
    popularity = _normalised(rng.pareto(1.2, size) + 0.05)
    return Catalogue(
        sku=np.array([f"SKU-{10000 + i}" for i in range(size)], dtype=object),
        name=np.array(names, dtype=object),
        category=cats[cat_idx],
        price_cents=prices,
        popularity=popularity,
    )
