"""Configuration of the synthetic data generator and the summary it returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NoiseConfig:
    """Rates of every deliberate mess; each is a share in [0, 1]. See docs/generator.md."""

    # share of persons living in a household of 2-4 that registers everything with one phone
    household_share: float = 0.10
    # share of persons who change their phone number during the period (rows re-sent)
    phone_change: float = 0.03
    # share of phone values written in another format (+86 prefix, dashes, spaces, full-width)
    phone_format: float = 0.25
    # share of emails with changed letter case / with surrounding whitespace
    email_case: float = 0.15
    email_whitespace: float = 0.05
    # share of names with a typo (character swapped or replaced; letters transposed in en_US)
    name_typo: float = 0.03
    # zh_CN: share of names written in traditional characters / in pinyin
    name_traditional: float = 0.03
    name_pinyin: float = 0.02
    # en_US: share of names written with a nickname (Bob for Robert)
    name_nickname: float = 0.05
    # share of optional identity fields (phone, email, address, birth date...) left empty
    missing_optional: float = 0.08
    # share of CRM members registered a second time (new member_id, small differences)
    duplicate_member: float = 0.02
    # share of POS receipts where the cashier typed a placeholder phone (13800000000...)
    placeholder_phone: float = 0.04
    # share of records delivered 1-3 deliveries late
    late: float = 0.03
    # share of records whose line is repeated identically in the same file
    duplicate_row: float = 0.002
    # share of landing files delivered a second time, identical, in a later delivery folder
    redelivered_file: float = 0.02
    # share of records made malformed (each breaks exactly one rule)
    malformed: float = 0.001


@dataclass(frozen=True)
class GeneratorConfig:
    persons: int
    seed: int = 42
    locale: str = "zh_CN"  # or "en_US"
    start: dt.date = dt.date(2026, 1, 1)
    days: int = 120
    delivery: str = "weekly"  # daily | weekly | monthly
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    # write only the deliveries up to this date (None: all). The same population and period
    # with a later date writes the following deliveries and leaves every earlier file as it was
    until: dt.date | None = None

    def __post_init__(self) -> None:
        if self.persons < 1:
            raise ValueError("persons must be at least 1")
        if self.persons > 9_999_999:
            raise ValueError("persons must be below 10,000,000 (person ids have 7 digits)")
        if self.locale not in ("zh_CN", "en_US"):
            raise ValueError(f"locale must be zh_CN or en_US, not {self.locale!r}")
        if self.delivery not in ("daily", "weekly", "monthly"):
            raise ValueError(f"delivery must be daily, weekly or monthly, not {self.delivery!r}")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.until is not None and self.until <= self.start:
            raise ValueError(f"until ({self.until}) must come after the start ({self.start})")
        for f in dataclasses.fields(self.noise):
            rate = getattr(self.noise, f.name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"noise.{f.name} must be in [0, 1], not {rate}")

    @property
    def end(self) -> dt.date:
        """First day after the period."""
        return self.start + dt.timedelta(days=self.days)

    def delivered(self, day: dt.date) -> bool:
        """Whether the delivery of `day` is written (see `until`)."""
        return self.until is None or day <= self.until

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["start"] = self.start.isoformat()
        data["until"] = self.until.isoformat() if self.until else None
        return data

    def population(self) -> dict[str, Any]:
        """What makes two landing zones the same population and period (everything but `until`)."""
        return {k: v for k, v in self.as_json().items() if k != "until"}


@dataclass
class GenerationSummary:
    rows: dict[str, int]  # "source.entity" -> data lines written (incl. duplicates, malformed)
    files: int  # landing files written, incl. re-delivered copies
    malformed: int
    seconds: float
    redelivered: int = 0
    existing: int = 0  # of `files`, already there with the same bytes (an extended landing zone)
