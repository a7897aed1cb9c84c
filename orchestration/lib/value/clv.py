"""Predictive customer value: BG/NBD + Gamma-Gamma (pymc-marketing, MAP fits).

One row per customer with the probability of being alive, the purchases and the discounted value
expected over the next 365 days, and a back-test on a hold-out period. Customers with too little
history get a fallback instead of an extrapolation. docs/value.md explains the method, the
fallback rule, the sampling, the discount rate and the back-test.

Units: a purchase is a day on which the customer placed at least one non-cancelled order with a
positive net amount (orders of one day are summed, as `rfm_summary` does). Recency and tenure
are reported in days and given to the models in weeks, the unit of the BG/NBD literature, whose
scale pymc-marketing's default priors suit (alpha around 10); `customer_lifetime_value` counts
4.345 weeks per month, so 12 months are 365 days.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xarray
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel

CURRENCY = "CNY"
MODELLED = "bgnbd_gammagamma"
FALLBACK = "fallback"
HORIZON_DAYS = 365
HORIZON_MONTHS = 12
DAYS_PER_WEEK = 7.0
MIN_REPEAT_CUSTOMERS = 10
ORDER_COLUMNS = ("customer_id", "ordered_at", "net_amount")
CUSTOMER_COLUMNS = (
    "customer_id",
    "frequency",
    "recency_days",
    "tenure_days",
    "monetary_value",
    "probability_alive",
    "predicted_purchases_365d",
    "expected_spend_per_purchase",
    "predicted_clv_365d",
    "clv_method",
)
BACKTEST_COLUMNS = (
    "decile",
    "is_total",
    "customers",
    "predicted_purchases",
    "actual_purchases",
    "predicted_spend",
    "actual_spend",
    "purchases_mae",
    "spend_mae",
    "purchases_error_pct",
    "spend_error_pct",
)


class TooLittleHistory(ValueError):
    """Too few repeat customers to fit the models."""


@dataclass(frozen=True)
class ClvConfig:
    # ~12.7 % a year: a retailer's cost of capital, and the rate the lifetimes documentation uses
    monthly_discount_rate: float = 0.01
    # customers whose first purchase is more recent than this get the fallback (see docs/value.md)
    min_tenure_days: int = 90
    # above this many customers the models are fitted on a random sample of this size
    fit_sample_size: int = 50_000
    # the back-test holds out the last days of the observation period
    holdout_days: int = 90
    seed: int = 42


@dataclass
class FittedModels:
    transactions: BetaGeoModel
    one_time: ModifiedBetaGeoModel
    spend: GammaGammaModel
    params: dict[str, float]
    fit_customers: int
    fit_repeat_customers: int
    seconds: float


@dataclass
class ClvResult:
    customers: pd.DataFrame  # CUSTOMER_COLUMNS, one row per customer
    observation_end: date
    params: dict[str, float]
    fit_customers: int
    fit_repeat_customers: int
    fit_seconds: float
    seconds: float
    models: FittedModels | None = field(default=None, repr=False)

    @property
    def fallback_customers(self) -> int:
        return int((self.customers["clv_method"] == FALLBACK).sum())


@dataclass
class BacktestResult:
    table: pd.DataFrame  # one row per decile of predicted value, then the totals row
    calibration_end: date
    observation_end: date
    customers: int
    params: dict[str, float]
    fit_seconds: float
    seconds: float
    # clv_method -> customers and aggregate % errors of purchases and spend
    by_method: dict[str, dict[str, float]] = field(default_factory=dict)

    def _total(self, column: str) -> float | None:
        if self.table.empty:
            return None
        value = self.table.loc[self.table["is_total"], column].iloc[0]
        return None if pd.isna(value) else float(value)

    @property
    def purchases_error_pct(self) -> float | None:
        """(predicted - actual) / actual hold-out purchases over all customers, in %."""
        return self._total("purchases_error_pct")

    @property
    def spend_error_pct(self) -> float | None:
        return self._total("spend_error_pct")

    @property
    def purchases_mae(self) -> float | None:
        return self._total("purchases_mae")

    @property
    def spend_mae(self) -> float | None:
        return self._total("spend_mae")


def _clv_api() -> Any:
    # PyTensor warns on first compile when pip's wheels find no BLAS to link; the fits are small
    # (MAP on at most fit_sample_size customers) and the warning would only alarm users. Set on
    # every use: a filter set at import time is lost when the importer restores its own
    warnings.filterwarnings(
        "ignore", message="PyTensor could not link to a BLAS", category=UserWarning
    )
    # imported on first use: pymc-marketing takes seconds to import, the code location should not
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz announces its 1.0 refactor
        import pymc_marketing.clv as clv
    return clv


def purchases(orders: pd.DataFrame, observation_end: date) -> pd.DataFrame:
    """One row per customer and purchase day up to `observation_end`: customer_id,
    purchased_on (midnight timestamp), net_amount (the day's net spend, > 0)."""
    missing = set(ORDER_COLUMNS) - set(orders.columns)
    if missing:
        raise ValueError(
            f"orders frame lacks column(s) {sorted(missing)}; it needs {list(ORDER_COLUMNS)}"
        )
    ordered_at = pd.to_datetime(orders["ordered_at"])
    if ordered_at.dt.tz is not None:
        ordered_at = ordered_at.dt.tz_convert("UTC").dt.tz_localize(None)
    frame = pd.DataFrame(
        {
            "customer_id": orders["customer_id"].astype("str"),
            "purchased_on": ordered_at.dt.normalize(),
            "net_amount": pd.to_numeric(orders["net_amount"]).astype("float64"),
        }
    )
    keep = (
        orders["customer_id"].notna().to_numpy()
        & (frame["net_amount"] > 0).to_numpy()
        & (frame["purchased_on"] <= pd.Timestamp(observation_end)).to_numpy()
    )
    return (
        frame[keep]
        .groupby(["customer_id", "purchased_on"], as_index=False, sort=True)["net_amount"]
        .sum()
    )


def rfm(days: pd.DataFrame, observation_end: date) -> pd.DataFrame:
    """The models' inputs per customer (pymc-marketing `rfm_summary`): frequency (repeat
    purchase days), recency_days (first to last purchase), tenure_days (first purchase to the
    observation end), monetary_value (mean net spend of the repeat purchase days, 0 if none)."""
    if days.empty:
        return pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype="str"),
                "frequency": pd.Series([], dtype="int64"),
                "recency_days": pd.Series([], dtype="int64"),
                "tenure_days": pd.Series([], dtype="int64"),
                "monetary_value": pd.Series([], dtype="float64"),
            }
        )
    # integer codes: rfm_summary sorts and groups several times faster than on strings
    codes, customer_ids = pd.factorize(days["customer_id"], sort=True)
    summary = _clv_api().rfm_summary(
        days[["purchased_on", "net_amount"]].assign(customer_id=codes),
        customer_id_col="customer_id",
        datetime_col="purchased_on",
        monetary_value_col="net_amount",
        observation_period_end=pd.Timestamp(observation_end),
        time_unit="D",
        sort_transactions=False,  # purchases() returns them by customer and day
    )
    return pd.DataFrame(
        {
            "customer_id": customer_ids[summary["customer_id"].to_numpy()],
            "frequency": summary["frequency"].round().astype("int64"),
            "recency_days": summary["recency"].round().astype("int64"),
            "tenure_days": summary["T"].round().astype("int64"),
            "monetary_value": summary["monetary_value"].astype("float64"),
        }
    ).sort_values("customer_id", ignore_index=True)


def is_fallback(summary: pd.DataFrame, config: ClvConfig) -> pd.Series:
    """No repeat purchase, or a first purchase less than `min_tenure_days` ago."""
    return (summary["frequency"] < 1) | (summary["tenure_days"] < config.min_tenure_days)


def _model_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The models' input: frequency, recency and T in weeks; customer_id is the row position
    (xarray aligns integer coordinates several times faster than strings)."""
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(summary)),
            "frequency": summary["frequency"].to_numpy(dtype="float64"),
            "recency": (summary["recency_days"] / DAYS_PER_WEEK).to_numpy(),
            "T": (summary["tenure_days"] / DAYS_PER_WEEK).to_numpy(),
        }
    )


def _values(array: xarray.DataArray, rows: int) -> np.ndarray:
    """A MAP prediction as a vector in row order (customer_id is the row position)."""
    array = array.isel({dim: 0 for dim in ("chain", "draw") if dim in array.dims})
    positions = np.arange(rows)
    if np.array_equal(array["customer_id"].to_numpy(), positions):
        return array.to_numpy().astype("float64")
    return array.to_series().reindex(positions).to_numpy(dtype="float64")


def _scalar(array: xarray.DataArray) -> float:
    """A fitted parameter (MAP: one chain, one draw)."""
    return float(np.asarray(array).reshape(-1)[0])


def fit(summary: pd.DataFrame, config: ClvConfig) -> FittedModels:
    """MAP fits of BG/NBD and MBG/NBD (every customer) and Gamma-Gamma (repeat customers), on a
    random sample of `fit_sample_size` customers when there are more."""
    if summary["frequency"].gt(0).sum() < MIN_REPEAT_CUSTOMERS:
        raise TooLittleHistory(
            f"{len(summary):,} customers but fewer than {MIN_REPEAT_CUSTOMERS} with a repeat "
            "purchase: too little history to fit the purchase and spend models. It needs "
            "more order history in marts.fct_orders."
        )
    started = time.perf_counter()
    clv = _clv_api()
    sample = summary
    if len(summary) > config.fit_sample_size:
        rng = np.random.default_rng(config.seed)
        rows = np.sort(rng.choice(len(summary), config.fit_sample_size, replace=False))
        sample = summary.iloc[rows]
    repeat = sample[(sample["frequency"] > 0) & (sample["monetary_value"] > 0)]
    # the default priors (kappa = a + b >= 1) keep the BG/NBD prediction at frequency 0 finite
    transactions = clv.BetaGeoModel()
    transactions.fit(data=_model_frame(sample), method="map", progressbar=False)
    one_time = clv.ModifiedBetaGeoModel()
    one_time.fit(data=_model_frame(sample), method="map", progressbar=False)
    spend = clv.GammaGammaModel()
    spend.fit(
        data=pd.DataFrame(
            {
                "customer_id": np.arange(len(repeat)),
                "frequency": repeat["frequency"].to_numpy(dtype="float64"),
                "monetary_value": repeat["monetary_value"].to_numpy(),
            }
        ),
        method="map",
        progressbar=False,
    )
    params = {
        **{f"bgnbd_{name}": _scalar(transactions.fit_result[name]) for name in ("r", "a", "b")},
        "bgnbd_alpha_weeks": _scalar(transactions.fit_result["alpha"]),
        **{f"mbgnbd_{name}": _scalar(one_time.fit_result[name]) for name in ("r", "a", "b")},
        "mbgnbd_alpha_weeks": _scalar(one_time.fit_result["alpha"]),
        **{f"gamma_gamma_{name}": _scalar(spend.fit_result[name]) for name in ("p", "q", "v")},
    }
    if params["gamma_gamma_q"] <= 1:
        raise ValueError(
            f"the Gamma-Gamma fit gave q = {params['gamma_gamma_q']:.3f} <= 1: spend per purchase "
            "has no finite mean. Look for extreme net_amount values in marts.fct_orders."
        )
    params["mean_spend_per_purchase"] = _scalar(spend.expected_new_customer_spend())
    params["new_customer_purchases_365d"] = _scalar(
        transactions.expected_purchases_new_customer(
            pd.DataFrame({"customer_id": [0]}), t=HORIZON_DAYS / DAYS_PER_WEEK
        )
    )
    # Gamma-Gamma assumes spend per purchase does not depend on how often one buys
    params["frequency_spend_correlation"] = (
        float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
        if len(repeat) > 2
        else float("nan")
    )
    return FittedModels(
        transactions=transactions,
        one_time=one_time,
        spend=spend,
        params=params,
        fit_customers=len(sample),
        fit_repeat_customers=len(repeat),
        seconds=round(time.perf_counter() - started, 2),
    )


def _purchase_predictions(
    model: BetaGeoModel,
    frame: pd.DataFrame,
    spend_per_purchase: np.ndarray,
    horizon_days: float,
    config: ClvConfig,
    discounted_value: bool,
) -> dict[str, np.ndarray]:
    """probability_alive, predicted_purchases and optionally value from one purchase model."""
    rows = len(frame)
    frame = frame.assign(customer_id=np.arange(rows))
    predicted = {
        "probability_alive": _values(model.expected_probability_alive(frame), rows),
        "predicted_purchases": _values(
            model.expected_purchases(frame, future_t=horizon_days / DAYS_PER_WEEK), rows
        ),
    }
    if discounted_value:
        value = _clv_api().customer_lifetime_value(
            transaction_model=model,
            data=frame.assign(future_spend=spend_per_purchase),
            future_t=HORIZON_MONTHS,
            discount_rate=config.monthly_discount_rate,
            time_unit="W",
        )
        predicted["value"] = _values(value, rows)
    return predicted


def predict(
    models: FittedModels,
    summary: pd.DataFrame,
    config: ClvConfig,
    horizon_days: float = HORIZON_DAYS,
    discounted_value: bool = False,
) -> pd.DataFrame:
    """Predictions for every customer of `summary`, vectorised: probability_alive, purchases and
    spend over `horizon_days` (undiscounted), expected spend per purchase, optionally the value
    of the next 12 months discounted at the monthly rate (`value`), and clv_method.

    The fallback (docs/value.md): customers without a repeat purchase are predicted by MBG/NBD
    instead of BG/NBD, and customers with less than `min_tenure_days` of history as if their
    first purchase had been `min_tenure_days` ago."""
    fallback = is_fallback(summary, config).to_numpy()
    # BG/NBD lets a customer drop out only after a repeat purchase: without one, P(alive) is 1
    # and future purchases are overstated. MBG/NBD, fitted on the same data, also lets them
    # leave right after the first purchase.
    one_time = (summary["frequency"] == 0).to_numpy()
    # a few weeks of history are never extrapolated: their purchases are spread over at least
    # min_tenure_days (customers first seen late are often old, infrequent ones)
    frame = _model_frame(
        summary.assign(tenure_days=np.maximum(summary["tenure_days"], config.min_tenure_days))
    )
    # at frequency 0 Gamma-Gamma gives the population mean: one order's value is not extrapolated
    spend_per_purchase = _values(
        models.spend.expected_customer_spend(
            frame[["customer_id", "frequency"]].assign(
                monetary_value=summary["monetary_value"].to_numpy()
            )
        ),
        len(frame),
    )
    predicted = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "probability_alive": np.nan,
            "predicted_purchases": np.nan,
            "expected_spend_per_purchase": spend_per_purchase,
        }
    )
    if discounted_value:
        predicted["value"] = np.nan
    for rows, model in ((~one_time, models.transactions), (one_time, models.one_time)):
        if rows.any():
            part = _purchase_predictions(
                model,
                frame[rows],
                spend_per_purchase[rows],
                horizon_days,
                config,
                discounted_value,
            )
            for column, values in part.items():
                predicted.loc[rows, column] = values
    predicted["probability_alive"] = predicted["probability_alive"].clip(0.0, 1.0)
    predicted["predicted_spend"] = (
        predicted["predicted_purchases"] * predicted["expected_spend_per_purchase"]
    )
    predicted["clv_method"] = np.where(fallback, FALLBACK, MODELLED)
    return predicted


def score_customers(
    orders: pd.DataFrame, observation_end: date, config: ClvConfig | None = None
) -> ClvResult:
    """Fit on the history up to `observation_end` and score every customer (CUSTOMER_COLUMNS)."""
    config = config or ClvConfig()
    started = time.perf_counter()
    summary = rfm(purchases(orders, observation_end), observation_end)
    if summary.empty:
        return ClvResult(
            customers=pd.DataFrame({column: [] for column in CUSTOMER_COLUMNS}),
            observation_end=observation_end,
            params={},
            fit_customers=0,
            fit_repeat_customers=0,
            fit_seconds=0.0,
            seconds=0.0,
        )
    models = fit(summary, config)
    predicted = predict(models, summary, config, discounted_value=True)
    customers = summary.assign(
        probability_alive=predicted["probability_alive"].to_numpy(),
        predicted_purchases_365d=predicted["predicted_purchases"].to_numpy(),
        expected_spend_per_purchase=predicted["expected_spend_per_purchase"].to_numpy(),
        predicted_clv_365d=predicted["value"].to_numpy(),
        clv_method=predicted["clv_method"].to_numpy(),
    )[list(CUSTOMER_COLUMNS)]
    return ClvResult(
        customers=customers,
        observation_end=observation_end,
        params=models.params,
        fit_customers=models.fit_customers,
        fit_repeat_customers=models.fit_repeat_customers,
        fit_seconds=models.seconds,
        seconds=round(time.perf_counter() - started, 2),
        models=models,
    )


def holdout_actuals(days: pd.DataFrame, calibration_end: date) -> pd.DataFrame:
    """customer_id, actual_purchases (purchase days), actual_spend after `calibration_end`."""
    later = days[days["purchased_on"] > pd.Timestamp(calibration_end)]
    return (
        later.groupby("customer_id", sort=True)
        .agg(actual_purchases=("purchased_on", "size"), actual_spend=("net_amount", "sum"))
        .reset_index()
    )


def backtest_table(scored: pd.DataFrame) -> pd.DataFrame:
    """By decile of predicted spend (1 = the lowest tenth, 10 = the highest), then the totals
    row. `scored` has customer_id, predicted_purchases, predicted_spend, actual_purchases,
    actual_spend."""
    if scored.empty:
        return pd.DataFrame({column: [] for column in BACKTEST_COLUMNS})
    ranked = scored.sort_values(["predicted_spend", "customer_id"], ignore_index=True)
    ranked["decile"] = np.arange(len(ranked)) * 10 // len(ranked) + 1
    ranked["purchases_abs_error"] = (
        ranked["predicted_purchases"] - ranked["actual_purchases"]
    ).abs()
    ranked["spend_abs_error"] = (ranked["predicted_spend"] - ranked["actual_spend"]).abs()
    sums = {
        "customers": ("customer_id", "size"),
        "predicted_purchases": ("predicted_purchases", "sum"),
        "actual_purchases": ("actual_purchases", "sum"),
        "predicted_spend": ("predicted_spend", "sum"),
        "actual_spend": ("actual_spend", "sum"),
        "purchases_mae": ("purchases_abs_error", "mean"),
        "spend_mae": ("spend_abs_error", "mean"),
    }
    deciles = ranked.groupby("decile", as_index=False).agg(**sums).assign(is_total=False)
    total = ranked.assign(decile=0).groupby("decile", as_index=False).agg(**sums)
    table = pd.concat([deciles, total.assign(decile=pd.NA, is_total=True)], ignore_index=True)
    table["decile"] = table["decile"].astype("Int64")
    table["purchases_error_pct"] = _pct_error(
        table["predicted_purchases"], table["actual_purchases"]
    )
    table["spend_error_pct"] = _pct_error(table["predicted_spend"], table["actual_spend"])
    return table[list(BACKTEST_COLUMNS)]


def errors_by_method(scored: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Customers and aggregate hold-out errors (%) of each clv_method."""
    sums = scored.groupby("clv_method").agg(
        customers=("customer_id", "size"),
        predicted_purchases=("predicted_purchases", "sum"),
        actual_purchases=("actual_purchases", "sum"),
        predicted_spend=("predicted_spend", "sum"),
        actual_spend=("actual_spend", "sum"),
    )
    sums["purchases_error_pct"] = _pct_error(sums["predicted_purchases"], sums["actual_purchases"])
    sums["spend_error_pct"] = _pct_error(sums["predicted_spend"], sums["actual_spend"])
    return {
        str(method): {
            "customers": int(row["customers"]),
            "purchases_error_pct": float(row["purchases_error_pct"]),
            "spend_error_pct": float(row["spend_error_pct"]),
        }
        for method, row in sums.iterrows()
    }


def _pct_error(predicted: pd.Series, actual: pd.Series) -> pd.Series:
    actual = actual.astype("float64")
    return (100.0 * (predicted - actual) / actual.where(actual != 0)).astype("float64")


def backtest(
    orders: pd.DataFrame, observation_end: date, config: ClvConfig | None = None
) -> BacktestResult:
    """Fit on the calibration period (up to `holdout_days` before `observation_end`), predict
    purchases and spend in the hold-out for every customer seen in calibration (fallback rule
    included), and compare with what they did, by decile of predicted spend."""
    config = config or ClvConfig()
    started = time.perf_counter()
    calibration_end = observation_end - timedelta(days=config.holdout_days)
    days = purchases(orders, observation_end)
    summary = rfm(days[days["purchased_on"] <= pd.Timestamp(calibration_end)], calibration_end)
    if summary["frequency"].gt(0).sum() < MIN_REPEAT_CUSTOMERS:
        # not measurable (e.g. a sample shorter than the hold-out): an empty table
        return BacktestResult(
            table=backtest_table(pd.DataFrame()),
            calibration_end=calibration_end,
            observation_end=observation_end,
            customers=0,
            params={},
            fit_seconds=0.0,
            seconds=0.0,
        )
    models = fit(summary, config)
    predicted = predict(models, summary, config, horizon_days=config.holdout_days)
    scored = predicted.merge(
        holdout_actuals(days, calibration_end), on="customer_id", how="left"
    ).fillna({"actual_purchases": 0, "actual_spend": 0.0})
    return BacktestResult(
        table=backtest_table(scored),
        by_method=errors_by_method(scored),
        calibration_end=calibration_end,
        observation_end=observation_end,
        customers=len(scored),
        params=models.params,
        fit_seconds=models.seconds,
        seconds=round(time.perf_counter() - started, 2),
    )
