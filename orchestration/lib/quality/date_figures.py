"""Date-derived figures of the marts, and how far a run moves them against the published ones.

One misdated delivery can move the as-of date and with it every customer's lifecycle stage,
days since last order and churn rate. Ingestion keeps implausible dates out of the lake; this is
the second line: the figures of this run against those BI users see now (the published
snapshot), with a warning when any moved by more than a set amount.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.publish import attach_read_only, snapshot_path
from orchestration.lib.sql import connect


@dataclass(frozen=True)
class DateFigures:
    as_of_date: dt.date | None
    customers: int
    churn_rate: float  # churned customers / customers who have ordered
    stage_shares: dict[str, float]  # lifecycle stage → share of all customers

    def as_dict(self) -> dict:
        return {
            "as_of_date": str(self.as_of_date),
            "customers": self.customers,
            "churn_rate": round(self.churn_rate, 4),
            "stage_shares": {k: round(v, 4) for k, v in sorted(self.stage_shares.items())},
        }


@dataclass(frozen=True)
class ShiftLimits:
    max_as_of_days: int = 35  # a monthly delivery moves it ~31 days
    max_churn_rate_points: float = 0.10
    max_stage_share_points: float = 0.10


def date_figures(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> DateFigures:
    """The figures of `marts` in the connection's database, or in the attached `catalog`."""
    marts = f"{catalog}.marts" if catalog else "marts"
    as_of = con.execute(
        f"select max(snapshot_date) from {marts}.fct_customer_lifecycle_snapshots where is_current"
    ).fetchall()[0][0]
    customers, buyers, churned = con.execute(
        f"""
        select count(*), count(*) filter (where orders > 0),
            count(*) filter (where lifecycle_stage = 'churned')
        from {marts}.dim_customer
        """
    ).fetchall()[0]
    stages = con.execute(
        f"select coalesce(lifecycle_stage, '(none)'), count(*) from {marts}.dim_customer group by 1"
    ).fetchall()
    return DateFigures(
        as_of_date=as_of,
        customers=customers,
        churn_rate=churned / buyers if buyers else 0.0,
        stage_shares={stage: count / customers for stage, count in stages} if customers else {},
    )


def published_figures(published_dir: Path, lock_timeout_s: float = 60.0) -> DateFigures | None:
    """The figures BI users see now, or None before the first publication."""
    path = snapshot_path(published_dir)
    if not path.is_file():
        return None
    con = connect()
    try:
        attach_read_only(con, path, "published", lock_timeout_s)
        return date_figures(con, "published")
    except duckdb.CatalogException:  # an older snapshot without these marts
        return None
    finally:
        con.close()


def shifts(current: DateFigures, previous: DateFigures, limits: ShiftLimits) -> list[str]:
    """What moved by more than its limit, in words."""
    found = []
    if current.as_of_date and previous.as_of_date:
        days = (current.as_of_date - previous.as_of_date).days
        if abs(days) > limits.max_as_of_days:
            found.append(
                f"the as-of date moved {days:+,} days ({previous.as_of_date} → "
                f"{current.as_of_date}; limit {limits.max_as_of_days}): is a delivery misdated?"
            )
    churn = current.churn_rate - previous.churn_rate
    if abs(churn) > limits.max_churn_rate_points:
        found.append(
            f"the churn rate moved {churn * 100:+.1f} points ({previous.churn_rate:.1%} → "
            f"{current.churn_rate:.1%}; limit {limits.max_churn_rate_points * 100:.0f})"
        )
    for stage in sorted(set(current.stage_shares) | set(previous.stage_shares)):
        before = previous.stage_shares.get(stage, 0.0)
        after = current.stage_shares.get(stage, 0.0)
        if abs(after - before) > limits.max_stage_share_points:
            found.append(
                f"the share of customers in stage {stage} moved {(after - before) * 100:+.1f} "
                f"points ({before:.1%} → {after:.1%}; limit "
                f"{limits.max_stage_share_points * 100:.0f})"
            )
    return found
