"""A warning when a run moves the date-derived figures of the marts by more than a set amount."""

import dagster as dg

from orchestration.lib import progress
from orchestration.lib.publish import attach_read_only
from orchestration.lib.quality.date_figures import (
    ShiftLimits,
    date_figures,
    published_figures,
    shifts,
)
from orchestration.lib.sql import connect
from orchestration.resources import WarehouseResource

DIM_CUSTOMER = dg.AssetKey(["marts", "dim_customer"])
SNAPSHOTS = dg.AssetKey(["marts", "fct_customer_lifecycle_snapshots"])


class DateShiftConfig(dg.Config):
    max_as_of_days: int = ShiftLimits.max_as_of_days
    max_churn_rate_points: float = ShiftLimits.max_churn_rate_points
    max_stage_share_points: float = ShiftLimits.max_stage_share_points
    # True: a shift is an error that stops the publication, not a warning
    block_publication: bool = False


@dg.asset_check(
    asset=DIM_CUSTOMER,
    name="date_figures_stable",
    # blocking so that it runs before the publication it compares with; only an ERROR blocks
    blocking=True,
    additional_deps=[SNAPSHOTS],
    description="The as-of date, the churn rate and each lifecycle stage's share of customers "
    "moved no more than a set amount against the published snapshot (a misdated delivery moves "
    "them all); a warning unless block_publication is set.",
)
def date_figures_stable(
    config: DateShiftConfig, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    con = connect()
    try:
        attach_read_only(con, warehouse.warehouse, "wh", timeout_s=120.0)
        current = date_figures(con, "wh")
    finally:
        con.close()
    previous = published_figures(warehouse.published)
    limits = ShiftLimits(
        config.max_as_of_days, config.max_churn_rate_points, config.max_stage_share_points
    )
    found = shifts(current, previous, limits) if previous else []
    progress.report(
        f"as-of date {current.as_of_date}, churn rate {current.churn_rate:.1%}"
        + (f"; moved: {'; '.join(found)}" if found else "")
    )
    return dg.AssetCheckResult(
        passed=not found,
        severity=dg.AssetCheckSeverity.ERROR
        if config.block_publication
        else dg.AssetCheckSeverity.WARN,
        description="; ".join(found)
        or (
            f"as-of date {current.as_of_date}, churn rate {current.churn_rate:.1%}: "
            + ("within the limits of the published figures" if previous else "first publication")
        ),
        metadata={
            "current": dg.MetadataValue.json(current.as_dict()),
            "published": dg.MetadataValue.json(previous.as_dict() if previous else {}),
            "observed": f"as-of {current.as_of_date}, churn {current.churn_rate:.4f}",
            "threshold": f"as-of ±{limits.max_as_of_days} d, churn and stage shares "
            f"±{limits.max_churn_rate_points:.2f}/{limits.max_stage_share_points:.2f}",
        },
    )


defs = dg.Definitions(asset_checks=[date_figures_stable])
