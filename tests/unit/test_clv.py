"""Predictive CLV (lib/value/clv.py) on a few hundred synthetic customers.

The models are fitted twice in all (scoring and back-test, module-scoped fixtures): compiling
them is most of the time.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from orchestration.lib.value.clv import (
    BACKTEST_COLUMNS,
    CUSTOMER_COLUMNS,
    FALLBACK,
    MODELLED,
    ClvConfig,
    backtest,
    backtest_table,
    predict,
    purchases,
    rfm,
    score_customers,
)

# PyTensor compiles without BLAS when installed from pip: slower, harmless for these models
pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")

END = date(2026, 12, 31)
DAYS = 365
CONFIG = ClvConfig(min_tenure_days=90, holdout_days=90)


def _orders(customers: int = 400, seed: int = 7) -> pd.DataFrame:
    """Buy-till-you-die customers (exponential gaps, a chance to leave after each purchase),
    two hand-made ones, and rows the purchase definition must drop or merge."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(END) - pd.Timedelta(days=DAYS - 1)
    rows = []
    for number in range(customers):
        rate = rng.gamma(0.8, 1 / 25)  # purchases a day
        leave = rng.beta(1, 5)
        day = rng.uniform(0, DAYS)
        while day < DAYS:
            rows.append((f"C{number:04d}", start + pd.Timedelta(days=day), rng.gamma(4, 60)))
            if rng.random() < leave:
                break
            day += rng.exponential(1 / rate)
    for day in range(DAYS - 300, DAYS, 7):  # a regular: every week for 300 days, until now
        rows.append(("HEAVY", start + pd.Timedelta(days=day, hours=12), 250.0))
    rows.append(("ONCE", start + pd.Timedelta(days=20, hours=12), 250.0))  # long ago, once
    rows += [
        (None, start + pd.Timedelta(days=100), 80.0),  # an anonymous receipt
        ("C0000", pd.Timestamp(END) + pd.Timedelta(days=2), 90.0),  # after the observation end
        ("C0001", start + pd.Timedelta(days=200), 0.0),  # refunded in full
    ]
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "net_amount"])


def _purchase_days(orders: pd.DataFrame, end: date) -> pd.DataFrame:
    """By hand: positive orders of known customers up to `end`, one row per customer and day."""
    kept = orders[
        orders["customer_id"].notna()
        & (orders["net_amount"] > 0)
        & (orders["ordered_at"].dt.date <= end)
    ]
    return (
        kept.assign(day=kept["ordered_at"].dt.date)
        .groupby(["customer_id", "day"], as_index=False)["net_amount"]
        .sum()
    )


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return _orders()


@pytest.fixture(scope="module")
def scored(orders):
    return score_customers(orders, END, CONFIG)


@pytest.fixture(scope="module")
def tested(orders):
    return backtest(orders, END, CONFIG)


def test_same_day_orders_are_one_purchase_and_empty_rows_are_dropped():
    orders = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", None, "B", "B"],
            "ordered_at": pd.to_datetime(
                [
                    "2026-03-01 09:00",
                    "2026-03-01 18:00",
                    "2026-03-05 10:00",
                    "2026-03-05 10:00",
                    "2026-03-02 10:00",
                    "2026-04-02 10:00",
                ]
            ),
            "net_amount": [10.0, 5.5, 20.0, 99.0, 0.0, 30.0],
        }
    )
    days = purchases(orders, date(2026, 3, 31))
    assert days["customer_id"].tolist() == ["A", "A"]
    assert days["net_amount"].tolist() == [15.5, 20.0]


def test_one_row_per_customer_with_every_column(scored, orders):
    customers = scored.customers
    assert list(customers.columns) == list(CUSTOMER_COLUMNS)
    assert customers["customer_id"].is_unique
    assert set(customers["customer_id"]) == set(_purchase_days(orders, END)["customer_id"])


def test_model_inputs_are_counted_in_purchase_days(scored, orders):
    days = _purchase_days(orders, END).sort_values(["customer_id", "day"])
    by_customer = days.groupby("customer_id").agg(
        count=("day", "size"),
        first=("day", "min"),
        last=("day", "max"),
        spend=("net_amount", "sum"),
        first_spend=("net_amount", "first"),
    )
    customers = scored.customers.set_index("customer_id").loc[by_customer.index]
    assert (customers["frequency"] == by_customer["count"] - 1).all()
    assert (
        customers["recency_days"]
        == (by_customer["last"] - by_customer["first"]).map(lambda delta: delta.days)
    ).all()
    assert (
        customers["tenure_days"] == by_customer["first"].map(lambda day: (END - day).days)
    ).all()
    repeat = by_customer["count"] > 1
    mean_repeat_spend = (by_customer["spend"] - by_customer["first_spend"]) / (
        by_customer["count"] - 1
    )
    assert customers.loc[repeat, "monetary_value"].to_numpy() == pytest.approx(
        mean_repeat_spend[repeat].to_numpy()
    )


def test_fallback_is_applied_exactly_to_one_time_and_recent_customers(scored, orders):
    days = _purchase_days(orders, END)
    by_customer = days.groupby("customer_id")["day"].agg(["size", "min"])
    tenure = (pd.Timestamp(END) - pd.to_datetime(by_customer["min"])).dt.days
    expected = set(by_customer.index[(by_customer["size"] == 1) | (tenure < 90)])
    customers = scored.customers.set_index("customer_id")
    assert set(customers.index[customers["clv_method"] == FALLBACK]) == expected
    assert set(customers["clv_method"]) == {FALLBACK, MODELLED}
    assert "ONCE" in expected and "HEAVY" not in expected


def test_predictions_are_finite_and_probabilities_between_zero_and_one(scored):
    customers = scored.customers
    assert customers["probability_alive"].between(0, 1).all()
    for column in ("predicted_purchases_365d", "expected_spend_per_purchase", "predicted_clv_365d"):
        assert np.isfinite(customers[column]).all()
        assert (customers[column] >= 0).all()


def test_a_recent_regular_is_worth_more_than_a_one_time_buyer_from_long_ago(scored):
    customers = scored.customers.set_index("customer_id")
    heavy, once = customers.loc["HEAVY"], customers.loc["ONCE"]
    assert heavy["probability_alive"] > once["probability_alive"]
    assert heavy["predicted_purchases_365d"] > 5 * once["predicted_purchases_365d"]
    assert heavy["predicted_clv_365d"] > 5 * once["predicted_clv_365d"]


def test_a_one_time_buyer_is_less_likely_alive_the_longer_ago_the_purchase(scored):
    one_time = scored.customers[scored.customers["frequency"] == 0].sort_values("tenure_days")
    assert (one_time["probability_alive"] < 1).all()
    assert one_time["probability_alive"].is_monotonic_decreasing
    assert one_time["predicted_purchases_365d"].is_monotonic_decreasing


def test_a_short_history_is_not_extrapolated_beyond_the_model(scored, orders):
    summary = rfm(purchases(orders, END), END)
    unfloored = predict(scored.models, summary, ClvConfig(min_tenure_days=0))
    short = (summary["tenure_days"] < 90).to_numpy()
    kept = scored.customers.set_index("customer_id").loc[summary["customer_id"]]
    assert short.any()
    assert (
        kept["predicted_purchases_365d"].to_numpy()[short]
        <= unfloored["predicted_purchases"].to_numpy()[short] + 1e-9
    ).all()
    assert kept["predicted_purchases_365d"].to_numpy()[~short] == pytest.approx(
        unfloored["predicted_purchases"].to_numpy()[~short]
    )


def test_a_one_time_buyer_gets_the_population_spend_not_the_value_of_the_order(scored):
    customers = scored.customers
    one_time = customers[customers["frequency"] == 0]
    mean_spend = scored.params["mean_spend_per_purchase"]
    assert one_time["expected_spend_per_purchase"].to_numpy() == pytest.approx(mean_spend)
    # discounted, the value stays below the undiscounted purchases x spend
    assert (
        one_time["predicted_clv_365d"] <= one_time["predicted_purchases_365d"] * mean_spend + 1e-6
    ).all()


def test_fitted_parameters_are_reported(scored):
    for name in ("bgnbd_r", "bgnbd_alpha_weeks", "bgnbd_a", "bgnbd_b"):
        assert scored.params[name] > 0
    assert scored.params["gamma_gamma_q"] > 1
    assert scored.fit_customers == len(scored.customers)


def test_backtest_has_ten_deciles_and_a_totals_row(tested):
    table = tested.table
    assert list(table.columns) == list(BACKTEST_COLUMNS)
    assert table["decile"].dropna().tolist() == list(range(1, 11))
    assert table["is_total"].tolist() == [False] * 10 + [True]
    deciles, total = table[~table["is_total"]], table[table["is_total"]].iloc[0]
    assert deciles["customers"].sum() == total["customers"] == tested.customers
    assert deciles["customers"].max() - deciles["customers"].min() <= 1
    for column in ("predicted_purchases", "actual_purchases", "predicted_spend", "actual_spend"):
        assert deciles[column].sum() == pytest.approx(total[column])
    # deciles of predicted spend, lowest first
    assert (deciles["predicted_spend"] / deciles["customers"]).is_monotonic_increasing


def test_backtest_actuals_are_the_holdout_purchases_of_customers_seen_before_it(tested, orders):
    calibration_end = END - timedelta(days=90)
    assert tested.calibration_end == calibration_end
    days = _purchase_days(orders, END)
    seen = set(days.loc[days["day"] <= calibration_end, "customer_id"])
    holdout = days[(days["day"] > calibration_end) & days["customer_id"].isin(seen)]
    total = tested.table[tested.table["is_total"]].iloc[0]
    assert tested.customers == len(seen)
    assert total["actual_purchases"] == len(holdout)
    assert total["actual_spend"] == pytest.approx(holdout["net_amount"].sum())
    expected_error = 100 * (total["predicted_purchases"] / len(holdout) - 1)
    assert tested.purchases_error_pct == pytest.approx(expected_error)


def test_backtest_table_on_literal_rows():
    scored = pd.DataFrame(
        {
            "customer_id": [f"C{number:02d}" for number in range(20)],
            "predicted_purchases": np.linspace(2.0, 0.1, 20),
            "predicted_spend": np.linspace(200.0, 10.0, 20),
            "actual_purchases": [2, 1] * 10,
            "actual_spend": [100.0, 0.0] * 10,
        }
    )
    table = backtest_table(scored)
    top = table.iloc[9]  # the two highest predicted spends: C00 and C01
    assert (top["decile"], top["customers"], top["actual_purchases"]) == (10, 2, 3)
    assert top["purchases_mae"] == pytest.approx((abs(2.0 - 2) + abs(1.9 - 1)) / 2)
    total = table.iloc[-1]
    assert total["actual_spend"] == 1000.0
    assert total["spend_error_pct"] == pytest.approx(100 * (2100.0 / 1000.0 - 1))
