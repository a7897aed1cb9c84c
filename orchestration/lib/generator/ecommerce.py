"""E-commerce: shop accounts (re-sent on change), orders with nested lines, refunds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchestration.lib.contracts import ORDER_LINES, entity
from orchestration.lib.generator import noise
from orchestration.lib.generator import text as tx
from orchestration.lib.generator.behaviour import (
    Baskets,
    baskets,
    items_of,
    spread_events,
    times_between,
    window_days,
)
from orchestration.lib.generator.persons import PLATFORMS
from orchestration.lib.generator.pos import basket_lines
from orchestration.lib.generator.render import Batch, json_arrays, json_objects
from orchestration.lib.generator.world import World

ACCOUNT_PREFIX = {"miniprogram": "MP", "tmall": "TM", "jd": "JD"}
REASONS = np.array(
    ["damaged", "wrong_item", "changed_mind", "late_delivery", "other"], dtype=object
)


@dataclass
class Accounts:
    person: np.ndarray
    platform: np.ndarray  # index into PLATFORMS
    account_id: np.ndarray  # object
    created_at: np.ndarray


def _accounts(w: World, rng: np.random.Generator) -> Accounts:
    p = w.persons
    person, platform = np.nonzero(p.platforms)
    created = np.minimum(
        p.acquired_at[person] + rng.integers(0, 60 * 86_400, len(person)),
        p.active_to[person] - 3600,
    )
    account_id = np.empty(len(person), dtype=object)
    for k, name in enumerate(PLATFORMS):
        sel = np.flatnonzero(platform == k)
        number = rng.permutation(len(sel)) + 1
        account_id[sel] = tx.ids(ACCOUNT_PREFIX[name], number, 7).to_numpy(zero_copy_only=False)
    return Accounts(person, platform, account_id, created)


def build_customers(w: World) -> tuple[Accounts, Batch]:
    rng = w.rng(40)
    p = w.persons
    nz = w.config.noise
    acc = _accounts(w, rng)
    n = len(acc.person)
    first = np.where(acc.created_at < w.start, acc.created_at, acc.created_at)
    changed = p.phone_changed_at[acc.person]
    resend = np.flatnonzero((changed > acc.created_at) & (changed < w.end))
    pos = np.concatenate([np.arange(n), resend])
    updated = np.concatenate([first, changed[resend] + rng.integers(600, 5 * 86_400, len(resend))])
    order = np.lexsort((pos, updated))
    pos, updated = pos[order], updated[order]
    who = acc.person[pos]
    m = len(pos)
    columns = {
        "account_id": tx.as_text(acc.account_id[pos]),
        "platform": tx.as_text(np.array(PLATFORMS, dtype=object)[acc.platform[pos]]),
        "phone": tx.as_text(w.typed_phones(rng, p.phone_at(who, updated))),
        "email": tx.as_text(w.typed_emails(rng, np.where(rng.random(m) < 0.6, p.email[who], None))),
        "name": tx.as_text(noise.gaps(rng, w.typed_names(rng, who), nz.missing_optional)),
        "shipping_address": tx.as_text(noise.gaps(rng, p.address[who], nz.missing_optional)),
        "city": tx.as_text(noise.gaps(rng, w.city_names(p.city[who]), nz.missing_optional)),
        "province": tx.as_text(noise.gaps(rng, w.province_names(p.city[who]), nz.missing_optional)),
        "created_at": tx.timestamps(acc.created_at[pos]),
        "updated_at": tx.timestamps(updated),
    }
    counts = np.bincount(pos, minlength=n)
    batch = Batch(
        entity("ecommerce", "customers"),
        columns,
        columns["account_id"],
        who,
        updated,
        resent=counts[pos] > 1,
    )
    return acc, batch


def _order_lines_json(w: World, ids: pa.Array, b: Baskets) -> Callable[[np.ndarray], dict]:
    """Renders the `lines` arrays of the given orders, when their file is written."""

    def render(orders: np.ndarray) -> dict[str, pa.Array]:
        items, offsets = items_of(b.offsets, orders)
        cols = basket_lines("order_id", ids, b, items, w)
        del cols["order_id"]
        return {"lines": json_arrays(json_objects(ORDER_LINES, cols), offsets)}

    return render


def build_orders(w: World, acc: Accounts) -> tuple[Batch, int, Baskets, np.ndarray]:
    """Orders (with nested lines), the number of line items, the baskets and the order times."""
    rng = w.rng(41)
    p = w.persons
    m = w.members
    start = np.maximum(acc.created_at, w.start)
    end = p.active_to[acc.person]
    mean = 0.9 * p.activity[acc.person] * window_days(start, end) / 120
    pos, at = spread_events(rng, np.arange(len(acc.person)), mean, start, end)
    who = acc.person[pos]
    n = len(pos)
    ids = tx.ids("EO", np.arange(1, n + 1), 9)
    b = baskets(rng, n, w.catalogue, mean_items=1.9)
    totals = b.totals()
    age_days = (w.end - at) / tx.DAY
    status = np.where(age_days > 10, "completed", np.where(age_days > 3, "shipped", "paid"))
    status = np.where(rng.random(n) < 0.06, "cancelled", status).astype(object)
    store_city = w.stores.city[w.stores.home[who]]
    collect = (store_city == p.city[who]) & (rng.random(n) < 0.08)
    fee = np.where(totals >= 9900, 0, 1000)
    # CRM members use a coupon on some orders; the coupon is issued a little before
    coupon = (m.registered_at[who] <= at - 86_400 * 2) & (rng.random(n) < 0.12)
    coupon_pos = np.flatnonzero(coupon)
    coupon_ids = tx.ids("CP", np.arange(1, len(coupon_pos) + 1), 8)
    issued = times_between(
        rng,
        np.maximum(m.registered_at[who[coupon_pos]], at[coupon_pos] - 20 * 86_400),
        at[coupon_pos] - 3600,
    )
    w.order_coupons = {
        "coupon_id": coupon_ids,
        "person": who[coupon_pos],
        "issued_at": issued,
        "redeemed_at": at[coupon_pos],
        "order_id": ids.take(pa.array(coupon_pos)),
    }
    coupon_code = np.full(n, None, dtype=object)
    coupon_code[coupon_pos] = coupon_ids.to_numpy(zero_copy_only=False)
    columns = {
        "order_id": ids,
        "account_id": tx.as_text(acc.account_id[pos]),
        "platform": tx.as_text(np.array(PLATFORMS, dtype=object)[acc.platform[pos]]),
        "ordered_at": tx.timestamps(at),
        "status": tx.as_text(status),
        "fulfilment": tx.as_text(np.where(collect, "click_and_collect", "delivery").astype(object)),
        "pickup_store_id": tx.as_text(
            np.where(collect, w.stores.store_id[w.stores.home[who]], None)
        ),
        "currency": tx.as_text(np.full(n, "CNY", dtype=object)),
        "shipping_fee": tx.with_nulls(tx.money(fee), rng.random(n) < 0.03),
        "coupon_code": tx.as_text(coupon_code),
    }
    batch = Batch(
        entity("ecommerce", "orders"),
        columns,
        ids,
        who,
        at,
        raw_json_for=_order_lines_json(w, ids, b),
    )
    # points for own-shop orders of members
    earn = (acc.platform[pos] == 0) & (m.registered_at[who] <= at) & (status != "cancelled")
    w.purchases.append((who[earn], at[earn], totals[earn], ids.filter(pa.array(earn))))
    return batch, int(b.offsets[-1]), b, at


def build_refunds(w: World, orders: Batch, b: Baskets, at: np.ndarray) -> Batch:
    rng = w.rng(42)
    status = orders.columns["status"].to_numpy(zero_copy_only=False)
    n = len(orders)
    pick = np.flatnonzero((status != "cancelled") & (rng.random(n) < 0.04))
    refunded = at[pick] + rng.integers(2 * 86_400, 20 * 86_400, len(pick))
    keep = refunded < w.end
    pick, refunded = pick[keep], refunded[keep]
    sizes = np.diff(b.offsets)[pick]
    whole = rng.random(len(pick)) < 0.6
    line = (rng.random(len(pick)) * sizes).astype(np.int64)  # 0-based item in the order
    item = b.offsets[pick] + line
    line_total = b.quantity[item] * b.unit_cents[item] - b.discount_cents[item]
    totals = b.totals()[pick]
    amount = np.where(whole, totals, line_total)
    order = np.lexsort((pick, refunded))
    pick, refunded, whole, line, amount = (x[order] for x in (pick, refunded, whole, line, amount))
    ids = tx.ids("RF", np.arange(1, len(pick) + 1), 7)
    reason = REASONS[rng.choice(5, len(pick), p=[0.2, 0.15, 0.4, 0.15, 0.1])]
    columns = {
        "refund_id": ids,
        "order_id": orders.record_id.take(pa.array(pick)),
        "line_no": tx.with_nulls(tx.integers(line + 1), whole),
        "refunded_at": tx.timestamps(refunded),
        "amount": tx.money(amount),
        "reason": tx.as_text(noise.gaps(rng, reason, 0.1)),
    }
    return Batch(entity("ecommerce", "refunds"), columns, ids, orders.person[pick], refunded)
