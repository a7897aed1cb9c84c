"""Who answers for an asset, by layer (Dagster shows owners on every asset and filters by them):
data engineers for loading, staging and identity; analytics engineers for what analysts query."""

from __future__ import annotations

OWNERS = {
    "marts": ["team:analytics-engineering"],
    "value": ["team:analytics-engineering"],
    "publish": ["team:analytics-engineering"],
}
DEFAULT_OWNERS = ["team:data-engineering"]


def owners(layer: str) -> list[str]:
    """The owners of an asset of `layer` (its group, or its key's first part)."""
    return OWNERS.get(layer, DEFAULT_OWNERS)
