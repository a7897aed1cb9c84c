"""The deployment's locale: the region phone numbers and postcodes are read in, and which national
ID scheme applies. One setting (docs/identity.md#region-and-locale), read by the dbt models (as
vars), by ingestion's suppression list, by `explain` and by `erase`.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.lib.identity import normalise

DEFAULT_REGION = "CN"


@dataclass(frozen=True)
class Locale:
    # ISO 3166 code: phone numbers written without a country code are read in this region,
    # postcodes follow its pattern
    region: str = DEFAULT_REGION
    # cn_ric | us_ssn | generic | none | auto (cn_ric in CN, else none)
    national_id_scheme: str = "auto"

    def __post_init__(self) -> None:
        region = self.region.strip().upper()
        if len(region) != 2 or not region.isalpha():
            raise ValueError(
                f"region must be an ISO 3166 two-letter code such as CN, US or AU, not "
                f"{self.region!r}"
            )
        scheme = self.national_id_scheme.strip().lower()
        if scheme not in (*normalise.NATIONAL_ID_SCHEMES, "auto"):
            raise ValueError(
                f"national-ID scheme must be one of {', '.join(normalise.NATIONAL_ID_SCHEMES)} "
                f"or auto, not {self.national_id_scheme!r}"
            )
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "national_id_scheme", scheme)

    @property
    def scheme(self) -> str:
        """The national-ID scheme in force: `auto` is the PRC's in CN, none elsewhere."""
        if self.national_id_scheme != "auto":
            return self.national_id_scheme
        return "cn_ric" if self.region == "CN" else "none"

    @property
    def national_ids_prove(self) -> bool:
        """Two different numbers are two people only under a checksummed scheme: elsewhere a
        different number may be a mistyped one."""
        return self.scheme == "cn_ric"

    def dbt_vars(self) -> dict[str, str]:
        return {"identity_default_region": self.region, "identity_national_id_scheme": self.scheme}

    def phone(self, value: str | None) -> str | None:
        return normalise.phone_e164(value, self.region)

    def national_id(self, value: str | None) -> str | None:
        return normalise.national_id(value, self.scheme)
