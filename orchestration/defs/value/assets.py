"""Predictive customer value as an asset: CLV, probability of being alive, and the back-test."""

import math
import time
from datetime import date

import dagster as dg
import duckdb
import pandas as pd

from orchestration.lib import progress, run_state
from orchestration.lib.owners import owners
from orchestration.lib.sql import connect
from orchestration.lib.value import store
from orchestration.lib.value.clv import (
    CURRENCY,
    ClvConfig,
    backtest,
    score_customers,
)
from orchestration.resources import EngineResource, RunModeResource, WarehouseResource

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
    # the model is fitted again when the as-of date has moved this many days past the last fit,
    # or the customers with orders have grown by this share (or on --retrain); between fits the
    # tables stand, each row saying its observation_end_date (docs/value.md#when-it-is-refitted)
    refit_after_days: int = 7
    refit_growth: float = 0.10


@dg.multi_asset(
    name="customer_value",
    specs=[
        dg.AssetSpec(
            CUSTOMER_CLV,
            group_name=SCHEMA,
            owners=owners(SCHEMA),
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
            owners=owners(SCHEMA),
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
    context: dg.AssetExecutionContext,
    config: ValueConfig,
    warehouse: WarehouseResource,
    run_mode: RunModeResource,
    engine: EngineResource,
):
    started = time.perf_counter()
    run_state.start_build(warehouse.lake, context.run.run_id, reads_lake=False)
    con = connect(str(warehouse.warehouse))
    try:
        # on Spark: the scores and the back-test copied to Spark for the models that read them
        with engine.on_the_driver(con, warehouse, writes=list(store.OUTPUT_TABLES)):
            counts, latest = store.order_counts(con)
            as_of = date.fromisoformat(config.as_of_date) if config.as_of_date else latest
            as_of = as_of or date.today()  # no orders at all: empty tables
            fit = store.last_fit(con)
            why = (
                "retraining asked for"
                if run_mode.retrain
                else store.refit_reason(
                    fit,
                    as_of,
                    store.customers_with_orders(con),
                    after_days=config.refit_after_days,
                    growth=config.refit_growth,
                )
            )
            if why is None and fit is not None:
                yield from _kept(context, con, fit, as_of, config)
                return
            orders = store.read_orders(con)
            history_days = (as_of - orders["ordered_at"].min().date()).days if len(orders) else 0
            settings = ClvConfig(
                monthly_discount_rate=config.monthly_discount_rate,
                min_tenure_days=config.min_tenure_days,
                fit_sample_size=config.fit_sample_size,
                holdout_days=config.holdout_days
                or max(7, min(ClvConfig.holdout_days, history_days // 4)),
            )
            _say(context, f"value: fitting ({why}) on {len(orders):,} orders up to {as_of}")
            scored = score_customers(orders, as_of, settings)
            _say(
                context,
                f"value: {len(scored.customers):,} customers scored in {scored.seconds:.1f}s; "
                f"back-testing on the last {settings.holdout_days} days",
            )
            tested = backtest(orders, as_of, settings)
            del orders
            store.write(con, scored, tested)
            bad = store.invalid_predictions(con)
    finally:
        con.close()

    seconds = round(time.perf_counter() - started, 1)
    error = tested.purchases_error_pct
    progress.report(
        f"value: fitted ({why}): {len(scored.customers):,} customers → CLV "
        f"({scored.fallback_customers:,} "
        f"fallback), back-test purchases error "
        f"{'n/a' if error is None else f'{error:+.1f}%'} on {tested.customers:,} customers "
        f"(fits {scored.fit_seconds:.1f}s + {tested.fit_seconds:.1f}s, {seconds:.1f}s)"
    )
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV,
        metadata={
            "dagster/row_count": len(scored.customers),
            "refitted": True,
            "refit_because": why,
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
    yield _tolerance_check(
        tested.purchases_error_pct, tested.spend_error_pct, config.max_backtest_error_pct
    )


def _kept(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    fit: store.Fit,
    as_of: date,
    config: ValueConfig,
):
    """The last fit stands: its tables are checked again, not recomputed."""
    bad = store.invalid_predictions(con)
    progress.report(
        f"value: kept the fit as of {fit.observation_end} for {fit.customers:,} customers "
        f"(as-of date {as_of}; fitted again {config.refit_after_days} days after it or at "
        f"{config.refit_growth:.0%} more customers, or with --retrain)"
    )
    kept = {"refitted": False, "observation_end": str(fit.observation_end)}
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV, metadata={**kept, "dagster/row_count": fit.customers}
    )
    yield dg.MaterializeResult(asset_key=CLV_BACKTEST, metadata=kept)
    yield dg.AssetCheckResult(
        asset_key=CUSTOMER_CLV,
        check_name="predictions_are_finite",
        passed=bad == 0,
        metadata={"invalid_rows": bad, "customers": fit.customers, "observed": bad, "threshold": 0},
    )
    yield _tolerance_check(
        fit.purchases_error_pct, fit.spend_error_pct, config.max_backtest_error_pct
    )


def _tolerance_check(
    error: float | None, spend_error: float | None, tolerance: float
) -> dg.AssetCheckResult:
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
        description=(
            f"predicted hold-out purchases {error:+.2f}% off the actual ones "
            + (f"(spend {spend_error:+.2f}%) " if _figure(spend_error) is not None else "")
            + f"against a tolerance of ±{tolerance:g}%"
        ),
        metadata={
            "measured": True,
            "purchases_error_pct": round(error, 2),
            "spend_error_pct": _figure(spend_error),
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


def _say(context: dg.AssetExecutionContext, message: str) -> None:
    """A progress line inside the fit (tens of seconds at a million customers): to the CLI's
    output and to the Dagster run log."""
    context.log.info(message)
    progress.report(message)
