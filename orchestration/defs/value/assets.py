"""Predictive customer value as an asset: CLV, probability of being alive, and the back-test."""

import math
import time
from datetime import date

import dagster as dg
import duckdb
import pandas as pd

from orchestration.lib import progress
from orchestration.lib.value import store
from orchestration.lib.value.clv import (
    CURRENCY,
    BacktestResult,
    ClvConfig,
    backtest,
    score_customers,
)
from orchestration.resources import WarehouseResource

SCHEMA = store.SCHEMA
CUSTOMER_CLV = dg.AssetKey([SCHEMA, "customer_clv"])
CLV_BACKTEST = dg.AssetKey([SCHEMA, "clv_backtest"])
ORDERS = dg.AssetKey(store.ORDERS_TABLE.split("."))


class ValueConfig(dg.Config):
    # the last day of history the predictions start from; null = the latest order date
    as_of_date: str | None = None
    monthly_discount_rate: float = ClvConfig.monthly_discount_rate
    min_tenure_days: int = ClvConfig.min_tenure_days
    fit_sample_size: int = ClvConfig.fit_sample_size
    # null = a quarter of the order history, at most ClvConfig.holdout_days (90): a 120-day
    # history keeps 90 days to calibrate on
    holdout_days: int | None = None
    # backtest_within_tolerance warns above this absolute aggregate hold-out purchase error
    max_backtest_error_pct: float = 15.0


@dg.multi_asset(
    name="customer_value",
    specs=[
        dg.AssetSpec(
            CUSTOMER_CLV,
            group_name=SCHEMA,
            deps=[ORDERS],
            kinds={"duckdb", "pymc", "python"},
            tags={"layer": SCHEMA},
            description="One row per customer with an order: probability of being alive, "
            "purchases and CLV (CNY, discounted) predicted over the next 365 days by BG/NBD + "
            "Gamma-Gamma, or the fallback for customers with too little history "
            "(docs/value.md).",
        ),
        dg.AssetSpec(
            CLV_BACKTEST,
            group_name=SCHEMA,
            deps=[ORDERS],
            kinds={"duckdb", "pymc", "python"},
            tags={"layer": SCHEMA},
            description="The same method fitted without the last holdout_days of history: "
            "predicted against actual purchases and spend in the hold-out, by decile of "
            "predicted spend, and the totals row.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "predictions_are_finite",
            asset=CUSTOMER_CLV,
            blocking=True,
            description="Every probability is in [0, 1] and every predicted purchase count, "
            "spend and CLV is finite and not negative.",
        ),
        dg.AssetCheckSpec(
            "backtest_within_tolerance",
            asset=CLV_BACKTEST,
            description="Predicted hold-out purchases of all customers are within "
            "max_backtest_error_pct of the actual ones.",
        ),
    ],
)
def customer_value(
    context: dg.AssetExecutionContext, config: ValueConfig, warehouse: WarehouseResource
):
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse.warehouse))
    try:
        counts, latest = store.order_counts(con)
        orders = store.read_orders(con)
        as_of = date.fromisoformat(config.as_of_date) if config.as_of_date else latest
        as_of = as_of or date.today()  # no orders at all: empty tables
        history_days = (as_of - orders["ordered_at"].min().date()).days if len(orders) else 0
        settings = ClvConfig(
            monthly_discount_rate=config.monthly_discount_rate,
            min_tenure_days=config.min_tenure_days,
            fit_sample_size=config.fit_sample_size,
            holdout_days=config.holdout_days
            or max(7, min(ClvConfig.holdout_days, history_days // 4)),
        )
        context.log.info(f"customer value: {len(orders):,} orders up to {as_of}; fitting")
        scored = score_customers(orders, as_of, settings)
        context.log.info(f"customer value: scored in {scored.seconds:.1f}s; back-test")
        tested = backtest(orders, as_of, settings)
        del orders
        store.write(con, scored, tested)
        bad = store.invalid_predictions(con)
    finally:
        con.close()

    seconds = round(time.perf_counter() - started, 1)
    error = tested.purchases_error_pct
    progress.report(
        f"value: {len(scored.customers):,} customers → CLV ({scored.fallback_customers:,} "
        f"fallback), back-test purchases error "
        f"{'n/a' if error is None else f'{error:+.1f}%'} on {tested.customers:,} customers "
        f"(fits {scored.fit_seconds:.1f}s + {tested.fit_seconds:.1f}s, {seconds:.1f}s)"
    )
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV,
        metadata={
            "dagster/row_count": len(scored.customers),
            "observation_end": str(as_of),
            **counts,
            "customers": len(scored.customers),
            "fallback_customers": scored.fallback_customers,
            "fit_customers": scored.fit_customers,
            "fit_repeat_customers": scored.fit_repeat_customers,
            "fit_seconds": scored.fit_seconds,
            "seconds": seconds,
            "params": dg.MetadataValue.json(_finite(scored.params)),
            "predicted_clv_365d_total": _money(scored.customers, "predicted_clv_365d"),
            "monthly_discount_rate": settings.monthly_discount_rate,
            "currency": CURRENCY,
        },
    )
    yield dg.MaterializeResult(
        asset_key=CLV_BACKTEST,
        metadata={
            "dagster/row_count": len(tested.table),
            "calibration_end": str(tested.calibration_end),
            "holdout_days": settings.holdout_days,
            "customers": tested.customers,
            "purchases_error_pct": _figure(tested.purchases_error_pct),
            "spend_error_pct": _figure(tested.spend_error_pct),
            "purchases_mae": _figure(tested.purchases_mae),
            "spend_mae": _figure(tested.spend_mae),
            "errors_by_method": dg.MetadataValue.json(
                {method: _finite(figures) for method, figures in tested.by_method.items()}
            ),
            "fit_seconds": tested.fit_seconds,
            "params": dg.MetadataValue.json(_finite(tested.params)),
            "table": dg.MetadataValue.md(tested.table.round(3).to_markdown(index=False))
            if not tested.table.empty
            else "no customers before the hold-out",
        },
    )
    yield dg.AssetCheckResult(
        asset_key=CUSTOMER_CLV,
        check_name="predictions_are_finite",
        passed=bad == 0,
        metadata={
            "invalid_rows": bad,
            "customers": len(scored.customers),
            # observed/threshold: the figures the quality history keeps (audit.check_results)
            "observed": bad,
            "threshold": 0,
        },
    )
    yield _tolerance_check(tested, config.max_backtest_error_pct)


def _tolerance_check(tested: BacktestResult, tolerance: float) -> dg.AssetCheckResult:
    error = tested.purchases_error_pct
    if error is None:
        return dg.AssetCheckResult(
            asset_key=CLV_BACKTEST,
            check_name="backtest_within_tolerance",
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="not measured: no purchases in the hold-out by customers seen before it",
            metadata={"measured": False},
        )
    return dg.AssetCheckResult(
        asset_key=CLV_BACKTEST,
        check_name="backtest_within_tolerance",
        passed=abs(error) <= tolerance,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "measured": True,
            "purchases_error_pct": round(error, 2),
            "spend_error_pct": _figure(tested.spend_error_pct),
            "tolerance_pct": tolerance,
            "observed": f"{error:+.2f}%",
            "threshold": f"±{tolerance:g}%",
        },
    )


def _figure(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)


def _finite(params: dict[str, float]) -> dict[str, float | None]:
    return {name: _figure(value) for name, value in params.items()}


def _money(customers: pd.DataFrame, column: str) -> float:
    return round(float(customers[column].sum()), 2) if len(customers) else 0.0
