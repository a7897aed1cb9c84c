"""What the source builders share: config, pools, persons, stores and CRM members."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from orchestration.lib.generator import noise
from orchestration.lib.generator import reference as ref
from orchestration.lib.generator.config import GeneratorConfig
from orchestration.lib.generator.persons import Persons
from orchestration.lib.generator.pools import Catalogue, Pools
from orchestration.lib.generator.text import seconds_of


@dataclass
class Stores:
    store_id: np.ndarray  # object
    city: np.ndarray  # index into reference.CITIES
    home: np.ndarray  # home store index per person


@dataclass
class Members:
    """The primary CRM membership of each person (-1 / None when not a member)."""

    member_id: np.ndarray  # object per person, None when not a member
    card_no: np.ndarray  # object per person
    registered_at: np.ndarray  # seconds per person, huge when not a member


@dataclass
class World:
    config: GeneratorConfig
    pools: Pools
    catalogue: Catalogue
    persons: Persons
    stores: Stores | None = None
    members: Members | None = None
    # coupons used by orders: (coupon_id, person, issued_at, redeemed_at, order_id)
    order_coupons: dict[str, np.ndarray] = field(default_factory=dict)
    # purchases that earn points: (person, time, amount cents, reference id)
    purchases: list[tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]] = field(
        default_factory=list
    )

    @property
    def start(self) -> int:
        return seconds_of(self.config.start)

    @property
    def end(self) -> int:
        return seconds_of(self.config.end)

    @property
    def zh(self) -> bool:
        return self.config.locale == "zh_CN"

    def rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, step])

    def city_names(self, city: np.ndarray) -> np.ndarray:
        names = [c.name if self.zh else c.name_en for c in ref.CITIES]
        return np.array(names, dtype=object)[city]

    def province_names(self, city: np.ndarray) -> np.ndarray:
        names = [c.province if self.zh else c.province_en for c in ref.CITIES]
        return np.array(names, dtype=object)[city]

    def typed_phones(self, rng: np.random.Generator, plain: np.ndarray) -> np.ndarray:
        """Phones as a source holds them: some missing, some in another format."""
        gapped = noise.gaps(rng, plain, self.config.noise.missing_optional)
        return noise.phones(rng, gapped, self.config.noise.phone_format, self.config.locale)

    def typed_emails(self, rng: np.random.Generator, plain: np.ndarray) -> np.ndarray:
        gapped = noise.gaps(rng, plain, self.config.noise.missing_optional)
        return noise.emails(rng, gapped, self.config.noise)

    def typed_names(self, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
        p = self.persons
        names, _ = noise.names(
            rng,
            p.surname[person],
            p.given[person],
            self.pools.names,
            self.config.noise,
            self.config.locale,
        )
        return names
