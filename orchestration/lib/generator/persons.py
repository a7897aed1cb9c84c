"""The true persons: attributes, households, channels and activity windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchestration.lib.generator import reference as ref
from orchestration.lib.generator import text
from orchestration.lib.generator.config import GeneratorConfig
from orchestration.lib.generator.pools import Pools

PLATFORMS = ("miniprogram", "tmall", "jd")
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.array(list("10X98765432"))


@dataclass
class Persons:
    n: int
    person_id: pa.Array
    female: np.ndarray
    surname: np.ndarray  # index into the name pools
    given: np.ndarray
    name: np.ndarray  # object array of true names
    birth_day: np.ndarray  # days since 1970
    city: np.ndarray  # index into reference.CITIES
    household: np.ndarray  # household number
    household_size: np.ndarray
    phone: np.ndarray  # object: the phone used at the start (shared within a household)
    own_phone: np.ndarray  # object: the person's own mobile (the household's for its head)
    new_phone: np.ndarray  # object: phone after a change, or None
    phone_changed_at: np.ndarray  # seconds, or -1
    email: np.ndarray  # object, or None
    national_id: np.ndarray  # object, or None (en_US)
    address: np.ndarray  # object
    postal_code: np.ndarray  # object
    acquired_at: np.ndarray  # seconds
    churned_at: np.ndarray  # seconds, or -1
    active_from: np.ndarray  # seconds: max(acquired, period start)
    active_to: np.ndarray  # seconds: churn or period end
    activity: np.ndarray  # lognormal multiplier of how much the person buys and engages
    crm: np.ndarray
    pos: np.ndarray
    platforms: np.ndarray  # bool (n, 3) in PLATFORMS order
    apps: np.ndarray  # bool (n, 4) in reference.APPS order
    unionid_ok: np.ndarray  # authorised the WeChat unionid

    @property
    def ecommerce(self) -> np.ndarray:
        return self.platforms.any(axis=1)

    @property
    def social(self) -> np.ndarray:
        return self.apps.any(axis=1)

    def phone_at(self, idx: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """The phone each person used at the given time."""
        changed = (self.phone_changed_at[idx] >= 0) & (seconds >= self.phone_changed_at[idx])
        return np.where(changed, self.new_phone[idx], self.phone[idx])

    def own_phone_at(self, idx: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """The person's own mobile at the given time: what an app account is bound to.

        Household members share one number at the till and in forms, but WeChat and Douyin bind
        an account to its owner's mobile. Only people living alone change numbers.
        """
        return np.where(
            self.household_size[idx] > 1, self.own_phone[idx], self.phone_at(idx, seconds)
        )


def _unique_phones(rng: np.random.Generator, n: int, locale: str) -> np.ndarray:
    placeholders = set(ref.PLACEHOLDER_PHONES[locale])
    out = np.empty(0, dtype=object)
    while len(out) < n:
        k = (n - len(out)) * 11 // 10 + 16
        if locale == "zh_CN":
            prefix = np.array(ref.MOBILE_PREFIXES, dtype=object)[
                rng.integers(0, len(ref.MOBILE_PREFIXES), k)
            ]
            rest = rng.integers(0, 100_000_000, k)
            new = prefix + np.char.zfill(rest.astype(str), 8).astype(object)
        else:
            area = np.array(ref.US_AREA_CODES, dtype=object)[
                rng.integers(0, len(ref.US_AREA_CODES), k)
            ]
            rest = rng.integers(2_000_000, 10_000_000, k)
            new = "+1" + area + rest.astype(str).astype(object)
        new = np.array([p for p in new if p not in placeholders], dtype=object)
        out = np.concatenate([out, new])
        _, first = np.unique(out, return_index=True)
        out = out[np.sort(first)]
    return out[:n]


def _national_ids(
    rng: np.random.Generator, city: np.ndarray, birth_day: np.ndarray, female: np.ndarray
) -> np.ndarray:
    """Resident IDs (GB 11643): region, birth date, sequence (odd = male), checksum."""
    n = len(city)
    region = np.array([c.admin_code for c in ref.CITIES], dtype="U6")[city]
    born = text.dates(birth_day).to_numpy(zero_copy_only=False).astype("U10")
    ymd = np.char.replace(born, "-", "")
    prefix = np.char.add(region, ymd)
    seq = rng.integers(0, 500, n) * 2 + np.where(female, 0, 1)
    body = np.char.add(prefix, np.char.zfill(seq.astype("U3"), 3))
    # resident IDs are unique: redraw the sequence number of any repeat
    while True:
        _, first = np.unique(body, return_index=True)
        repeat = np.ones(n, dtype=bool)
        repeat[first] = False
        if not repeat.any():
            break
        seq[repeat] = rng.integers(0, 500, int(repeat.sum())) * 2 + np.where(female[repeat], 0, 1)
        body[repeat] = np.char.add(prefix[repeat], np.char.zfill(seq[repeat].astype("U3"), 3))
    digits = body.view("U1").reshape(n, 17).astype(np.int64)
    check = ID_CHECK[(digits * ID_WEIGHTS).sum(axis=1) % 11]
    return np.char.add(body, check).astype(object)


def _households(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Household number per person; a share of persons live with 1-3 others."""
    household = np.arange(n, dtype=np.int64)
    in_multi = rng.permutation(n)[: int(round(n * share))]
    k = len(in_multi)
    sizes = rng.choice([2, 3, 4], k, p=[0.6, 0.3, 0.1])
    starts = np.cumsum(sizes) - sizes
    group = np.searchsorted(np.cumsum(sizes), np.arange(k), side="right")
    household[in_multi] = in_multi[starts[group]]
    return household


def _emails(
    rng: np.random.Generator, pools: Pools, surname: np.ndarray, given: np.ndarray, locale: str
) -> np.ndarray:
    n = len(surname)
    names = pools.names
    latin = (
        names.given_latin[given]
        + np.where(rng.random(n) < 0.4, ".", "")
        + names.surname_latin[surname]
    )
    if locale == "zh_CN":
        latin = names.surname_latin[surname] + names.given_latin[given]
    word = pools.words[rng.integers(0, len(pools.words), n)]
    local = np.where(rng.random(n) < 0.7, latin, word)
    local = np.char.lower(local.astype(str)).astype(object)
    digits = rng.integers(1, 9999, n).astype(str).astype(object)
    local = np.where(rng.random(n) < 0.6, local + digits, local)
    domains, weights = zip(*ref.EMAIL_DOMAINS[locale], strict=True)
    domain = np.array(domains, dtype=object)[
        rng.choice(len(domains), n, p=np.array(weights) / sum(weights))
    ]
    email = local + "@" + domain
    # make addresses unique: a repeated one gets the person number appended
    _, first = np.unique(email, return_index=True)
    repeated = np.ones(n, dtype=bool)
    repeated[first] = False
    idx = np.flatnonzero(repeated)
    email[idx] = local[idx] + "." + idx.astype(str).astype(object) + "@" + domain[idx]
    return email


def build_persons(config: GeneratorConfig, pools: Pools) -> Persons:
    rng = np.random.default_rng([config.seed, 1])
    n = config.persons
    noise = config.noise
    start = text.seconds_of(config.start)
    end = text.seconds_of(config.end)
    names = pools.names
    female = rng.random(n) < 0.62  # the brand sells beauty products
    surname = rng.choice(len(names.surnames), n, p=names.surname_p)
    given = np.where(
        female,
        rng.choice(len(names.given), n, p=names.given_p_female),
        rng.choice(len(names.given), n, p=names.given_p_male),
    )
    household = _households(rng, n, noise.household_share)
    head = household  # the household number is its first member's index
    # half of household members carry the head's surname (family), the others their own
    same_surname = (household != np.arange(n)) & (rng.random(n) < 0.5)
    surname = np.where(same_surname, surname[head], surname)
    if config.locale == "zh_CN":
        name = names.surnames[surname] + names.given[given]
    else:
        name = names.given[given] + " " + names.surnames[surname]
    # reflected into 18-75, not clipped: clipping piles thousands onto one birth date
    age_years = np.abs(rng.normal(34, 10, n) - 18) + 18
    age_years = 75 - np.abs(75 - age_years)
    birth_day = (start // text.DAY - (age_years * 365.25).astype(np.int64)).astype(np.int64)
    city_w = np.array([c.weight for c in ref.CITIES])
    city = rng.choice(len(ref.CITIES), n, p=city_w / city_w.sum())[head]
    household_size = np.bincount(household, minlength=n)[household]

    changer = (rng.random(n) < noise.phone_change) & (household_size == 1)
    phones = _unique_phones(rng, n + int(changer.sum()), config.locale)
    own_phone = phones[:n]
    phone = own_phone[head]
    new_phone = np.full(n, None, dtype=object)
    new_phone[changer] = phones[n:]

    acquired_before = rng.random(n) < 0.72
    acquired_at = np.where(
        acquired_before,
        start - rng.integers(1, 5 * 365 * text.DAY, n),
        start + rng.integers(0, max(end - start, 1), n),
    )
    active_from = np.maximum(acquired_at, start)
    churn = (rng.random(n) < 0.12) & (active_from < end - 7 * text.DAY)
    churned_at = np.where(
        churn, active_from + (rng.random(n) * (end - active_from)).astype(np.int64), -1
    )
    active_to = np.where(churn, churned_at, end)
    span = np.maximum(active_to - active_from, 1)
    phone_changed_at = np.where(changer, active_from + (rng.random(n) * span).astype(np.int64), -1)
    new_phone[phone_changed_at < 0] = None

    has_email = rng.random(n) < 0.75
    email = np.where(has_email, _emails(rng, pools, surname, given, config.locale), None)
    national_id = (
        _national_ids(rng, city, birth_day, female)
        if config.locale == "zh_CN"
        else np.full(n, None, dtype=object)
    )
    street = pools.streets[rng.integers(0, len(pools.streets), n)]
    number = rng.integers(1, 300, n).astype(str).astype(object)
    if config.locale == "zh_CN":
        flat = (
            rng.integers(1, 30, n).astype(str).astype(object)
            + "栋"
            + rng.integers(101, 2800, n).astype(str).astype(object)
            + "室"
        )
        address = street + number + "号" + np.where(rng.random(n) < 0.6, flat, "")
    else:
        apt = " Apt. " + rng.integers(1, 999, n).astype(str).astype(object)
        address = number + " " + street + np.where(rng.random(n) < 0.3, apt, "")
    address = address[head]
    prefix = np.array([c.postal_prefix for c in ref.CITIES], dtype=object)[city]
    postal_code = (prefix + np.char.zfill(rng.integers(0, 100, n).astype(str), 2).astype(object))[
        head
    ]

    crm = rng.random(n) < 0.55
    pos = rng.random(n) < 0.60
    n_platforms = rng.choice([0, 1, 2, 3], n, p=[0.40, 0.45, 0.12, 0.03])
    platform_score = rng.random((n, 3)) * np.array([0.35, 0.45, 0.20]) ** -1
    rank = np.argsort(np.argsort(-platform_score, axis=1), axis=1)
    platforms = rank < n_platforms[:, None]
    social = rng.random(n) < 0.55
    apps = (rng.random((n, 4)) < np.array([0.7, 0.6, 0.3, 0.35])) & social[:, None]
    nothing = ~(crm | pos | platforms.any(axis=1) | apps.any(axis=1))
    pos = pos | nothing  # everyone shows up somewhere
    unionid_ok = rng.random(n) < 0.7
    return Persons(
        n=n,
        person_id=text.ids("P", np.arange(1, n + 1), 7),
        female=female,
        surname=surname,
        given=given,
        name=name,
        birth_day=birth_day,
        city=city,
        household=household,
        household_size=household_size,
        phone=phone,
        own_phone=own_phone,
        new_phone=new_phone,
        phone_changed_at=phone_changed_at,
        email=email,
        national_id=national_id,
        address=address,
        postal_code=postal_code,
        acquired_at=acquired_at,
        churned_at=churned_at,
        active_from=active_from,
        active_to=active_to,
        activity=rng.lognormal(0.0, 0.8, n),
        crm=crm,
        pos=pos,
        platforms=platforms,
        apps=apps,
        unionid_ok=unionid_ok,
    )
