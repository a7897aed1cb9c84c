"""Deliveries per source, from the lake's manifest of loaded files: freshness and volume.

Freshness is measured two ways: the lag of a source's latest delivery behind the newest delivery
of any source (a source that stopped delivering while the others go on), and its age on the wall
clock (a pipeline that stopped receiving anything; an old sample shows up here and only here).
Volume compares the rows of a source's latest delivery with the median of its previous deliveries.
All are warnings: a late or thin delivery delays nothing else.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.row_conditions import Column

from expectations._shared import warning
from orchestration.lib.contracts import ENTITIES, SOURCES
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.quality.expectations import Suite

PARAMETERS = {
    "max_lag_days": 2.0,  # behind the newest delivery of any source
    "max_age_days": 3.0,  # behind today (UTC)
    "volume_window": 7.0,  # previous deliveries the median is taken over
    "volume_min_history": 3.0,  # fewer previous deliveries: volume not judged
    "volume_min_ratio": 0.5,
    "volume_max_ratio": 2.0,
}


def deliveries(lake: Path, parameters: Mapping[str, float]) -> pd.DataFrame:
    """One row per source: its latest delivery, lag, age, and volume against recent ones."""
    rows: dict[tuple[str, str], int] = {}
    for entity in ENTITIES:
        for entry in Lake(lake).manifest(entity):
            if entry.status == "loaded":  # not the re-delivered copies skipped as duplicates
                key = (entry.source, entry.delivery_date)
                rows[key] = rows.get(key, 0) + entry.rows_read
    dates = [dt.date.fromisoformat(d) for _, d in rows]
    newest = max(dates, default=None)
    today = dt.datetime.now(dt.UTC).date()
    window, history = int(parameters["volume_window"]), int(parameters["volume_min_history"])
    frame = []
    for source in SOURCES:
        delivered = sorted((d, n) for (s, d), n in rows.items() if s == source)
        latest = dt.date.fromisoformat(delivered[-1][0]) if delivered else None
        previous = [n for _, n in delivered[:-1][-window:]]
        median = statistics.median(previous) if len(previous) >= history else None
        frame.append(
            {
                "source": source,
                "source_delivered": source if delivered else None,
                "deliveries": len(delivered),
                "latest_delivery": pd.Timestamp(latest) if latest else None,
                "lag_days": (newest - latest).days if latest and newest else None,
                "age_days": (today - latest).days if latest else None,
                "latest_rows": delivered[-1][1] if delivered else None,
                "median_rows": median,
                "volume_ratio": delivered[-1][1] / median if median else None,
            }
        )
    result = pd.DataFrame(frame)
    for column in ("lag_days", "age_days", "latest_rows", "median_rows", "volume_ratio"):
        result[column] = result[column].astype("float64")
    result["latest_delivery"] = result["latest_delivery"].astype("datetime64[ns]")
    return result


def _per_source(source: str) -> dict:
    return {"row_condition": Column("source") == source}


RULES = [
    warning(
        "every_source_delivered",
        gxe.ExpectColumnDistinctValuesToContainSet(column="source_delivered", value_set=SOURCES),
        "a source has never delivered a file that loaded.",
    )
]
for _source in SOURCES:
    RULES += [
        warning(
            f"freshness_lag_{_source}",
            gxe.ExpectColumnValuesToBeBetween(
                column="lag_days", max_value={"$PARAMETER": "max_lag_days"}, **_per_source(_source)
            ),
            f"{_source} delivers behind the other sources: its recent data is missing from the "
            "marts.",
            observe=("latest_delivery", "lag_days"),
        ),
        warning(
            f"freshness_age_{_source}",
            gxe.ExpectColumnValuesToBeBetween(
                column="age_days", max_value={"$PARAMETER": "max_age_days"}, **_per_source(_source)
            ),
            f"nothing new from {_source} for longer than expected (wall clock).",
            observe=("latest_delivery", "age_days"),
        ),
        warning(
            f"volume_{_source}",
            gxe.ExpectColumnValuesToBeBetween(
                column="volume_ratio",
                min_value={"$PARAMETER": "volume_min_ratio"},
                max_value={"$PARAMETER": "volume_max_ratio"},
                **_per_source(_source),
            ),
            f"{_source}'s latest delivery is unusually small or large against its recent "
            "deliveries (a partial export, a re-send, a new feed).",
            observe=("latest_delivery", "latest_rows", "median_rows", "volume_ratio"),
        ),
    ]

SUITE = Suite(
    name="ingest_deliveries",
    asset=("ingest", "landing_scan"),
    description="Freshness and volume of each source's deliveries (lake manifest).",
    frame=deliveries,
    rules=tuple(RULES),
    reads_warehouse=False,
    reads=tuple((e.source, e.name) for e in ENTITIES),
    parameters=PARAMETERS,
)
