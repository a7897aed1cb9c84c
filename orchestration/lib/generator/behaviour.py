"""Behaviour helpers: skewed event counts, times in activity windows, baskets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.lib.generator.pools import Catalogue
from orchestration.lib.generator.text import DAY


def event_counts(rng: np.random.Generator, mean: np.ndarray, dispersion: float = 1.2) -> np.ndarray:
    """Negative-binomial counts with the given means: most people few, some very many."""
    mean = np.maximum(np.asarray(mean, dtype=np.float64), 1e-9)
    p = dispersion / (dispersion + mean)
    return rng.negative_binomial(dispersion, p)


def times_between(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, opening_hours: bool = False
) -> np.ndarray:
    """Uniform times in [start, end); with opening hours, between 10:00 and 22:00."""
    span = np.maximum(end - start, 1)
    t = start + (rng.random(len(start)) * span).astype(np.int64)
    if opening_hours:
        day = t - t % DAY
        t = day + 36_000 + rng.integers(0, 12 * 3600, len(t))
        t = np.clip(t, start, np.maximum(end - 1, start))
    return t


def spread_events(
    rng: np.random.Generator,
    owners: np.ndarray,
    mean: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    opening_hours: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Events of each owner in its window: (owner position per event, time), in time order."""
    counts = event_counts(rng, mean)
    pos = np.repeat(np.arange(len(owners)), counts)
    t = times_between(rng, start[pos], end[pos], opening_hours)
    order = np.lexsort((pos, t))
    return pos[order], t[order]


def window_days(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return np.maximum(end - start, 0) / DAY


@dataclass
class Baskets:
    """Line items of many baskets (orders or receipts), flattened."""

    offsets: np.ndarray  # basket i holds items offsets[i]:offsets[i+1]
    basket: np.ndarray  # basket index per item
    line_no: np.ndarray
    product: np.ndarray  # catalogue index
    quantity: np.ndarray
    unit_cents: np.ndarray
    discount_cents: np.ndarray
    has_discount: np.ndarray
    no_category: np.ndarray  # the category left empty (optional field)

    def totals(self) -> np.ndarray:
        net = self.quantity * self.unit_cents - self.discount_cents
        return np.bincount(self.basket, weights=net, minlength=len(self.offsets) - 1).astype(
            np.int64
        )


def baskets(
    rng: np.random.Generator, n: int, catalogue: Catalogue, mean_items: float = 1.8
) -> Baskets:
    sizes = np.minimum(rng.geometric(1.0 / mean_items, n), 8)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    basket = np.repeat(np.arange(n), sizes)
    line_no = np.arange(total) - offsets[basket] + 1
    product = rng.choice(len(catalogue.sku), total, p=catalogue.popularity)
    quantity = rng.choice([1, 2, 3, 4], total, p=[0.78, 0.16, 0.04, 0.02])
    unit = catalogue.price_cents[product]
    has_discount = rng.random(total) < 0.3
    share = rng.uniform(0.05, 0.2, total)
    discount = np.where(has_discount, (unit * quantity * share // 100) * 100, 0).astype(np.int64)
    no_category = rng.random(total) < 0.02
    return Baskets(
        offsets, basket, line_no, product, quantity, unit, discount, has_discount, no_category
    )


def items_of(offsets: np.ndarray, baskets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item positions of the given baskets, and the offsets of each basket among them."""
    lens = offsets[baskets + 1] - offsets[baskets]
    new_offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    items = np.repeat(offsets[baskets] - new_offsets[:-1], lens) + np.arange(new_offsets[-1])
    return items, new_offsets
