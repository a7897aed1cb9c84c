"""POS: stores (master data), till receipts and their lines."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.lib.contracts import entity
from orchestration.lib.generator import noise
from orchestration.lib.generator import reference as ref
from orchestration.lib.generator import text as tx
from orchestration.lib.generator.behaviour import Baskets, baskets, spread_events, window_days
from orchestration.lib.generator.render import Batch
from orchestration.lib.generator.world import Stores, World

PAYMENTS = np.array(["cash", "bank_card", "wechat_pay", "alipay", "unionpay"], dtype=object)


def store_count(persons: int) -> int:
    return int(np.clip(persons // 5000, 12, 400))


def build_stores(w: World) -> tuple[Stores, Batch]:
    rng = w.rng(30)
    n = store_count(w.persons.n)
    weights = np.array([c.weight for c in ref.CITIES])
    city = np.sort(rng.choice(len(ref.CITIES), n, p=weights / weights.sum()))
    sites = ref.STORE_SITES_ZH if w.zh else ref.STORE_SITES_EN
    names: list[str] = []
    seen: set[str] = set()
    for c in city:
        base = ref.CITIES[c].name.removesuffix("市") if w.zh else ref.CITIES[c].name_en
        site = sites[int(rng.integers(len(sites)))]
        name = f"{base}{site}店" if w.zh else f"{base} {site} Store"
        k = 2
        while name in seen:  # a second store at the same site
            name = f"{base}{site}{k}店" if w.zh else f"{base} {site} Store {k}"
            k += 1
        seen.add(name)
        names.append(name)
    store_id = tx.ids("S", np.arange(1, n + 1), 3)
    opened = tx.seconds_of(w.config.start) // tx.DAY - rng.integers(60, 10 * 365, n)
    region = np.array([ref.CITIES[c].region for c in city], dtype=object)
    columns = {
        "store_id": store_id,
        "store_name": tx.as_text(np.array(names, dtype=object)),
        "city": tx.as_text(w.city_names(city)),
        "region": tx.as_text(region),
        "opened_on": tx.with_nulls(tx.dates(opened), rng.random(n) < 0.05),
    }
    stores = Stores(
        store_id=store_id.to_numpy(zero_copy_only=False).astype(object),
        city=city,
        home=_home_stores(rng, city, w.persons.city),
    )
    batch = Batch(
        entity("pos", "stores"),
        columns,
        store_id,
        np.full(n, -1),
        np.zeros(n, int),
        delivery=np.zeros(n, dtype=np.int64),
    )
    return stores, batch


def _home_stores(
    rng: np.random.Generator, store_city: np.ndarray, person_city: np.ndarray
) -> np.ndarray:
    """A store in the person's city when there is one, else any store."""
    home = rng.integers(0, len(store_city), len(person_city))
    for c in np.unique(store_city):
        local = np.flatnonzero(store_city == c)
        who = np.flatnonzero(person_city == c)
        home[who] = local[rng.integers(0, len(local), len(who))]
    return home


def basket_lines(
    parent_column: str, parent_ids: pa.Array, b: Baskets, items: np.ndarray, w: World
) -> dict[str, pa.Array]:
    """Text columns of the line items at `items` (POS lines or order lines)."""
    cat = w.catalogue
    product = b.product[items]
    return {
        parent_column: parent_ids.take(pa.array(b.basket[items])),
        "line_no": tx.integers(b.line_no[items]),
        "sku": tx.as_text(cat.sku[product]),
        "product_name": tx.as_text(cat.name[product]),
        "category": tx.with_nulls(tx.as_text(cat.category[product]), b.no_category[items]),
        "quantity": tx.integers(b.quantity[items]),
        "unit_price": tx.money(b.unit_cents[items]),
        "discount": tx.with_nulls(tx.money(b.discount_cents[items]), ~b.has_discount[items]),
    }


def build_transactions(w: World) -> tuple[Batch, Batch, np.ndarray]:
    """Receipts, their lines, and the receipt position of each line."""
    rng = w.rng(31)
    p = w.persons
    m = w.members
    nz = w.config.noise
    buyers = np.flatnonzero(p.pos)
    mean = 1.1 * p.activity[buyers] * window_days(p.active_from[buyers], p.active_to[buyers]) / 120
    pos, at = spread_events(
        rng, buyers, mean, p.active_from[buyers], p.active_to[buyers], opening_hours=True
    )
    who = buyers[pos]
    n = len(who)
    ids = tx.ids("T", np.arange(1, n + 1), 9)
    home = w.stores.home[who]
    store = np.where(rng.random(n) < 0.8, home, rng.integers(0, len(w.stores.store_id), n))
    b = baskets(rng, n, w.catalogue, mean_items=1.7)
    totals = b.totals()
    # identification: member card (members only), phone typed, placeholder phone, or nothing
    is_member = m.registered_at[who] <= at
    card = is_member & (rng.random(n) < 0.6)
    u = rng.random(n)
    placeholder = u < nz.placeholder_phone
    typed = (~placeholder) & (u < nz.placeholder_phone + 0.2)
    phone = np.full(n, None, dtype=object)
    phone[typed] = noise.phones(
        rng, p.phone_at(who[typed], at[typed]), nz.phone_format, w.config.locale
    )
    fakes = np.array(ref.PLACEHOLDER_PHONES[w.config.locale], dtype=object)
    phone[placeholder] = fakes[rng.choice(len(fakes), int(placeholder.sum()), p=[0.6, 0.25, 0.15])]
    payment = PAYMENTS[rng.choice(5, n, p=[0.05, 0.1, 0.45, 0.35, 0.05])]
    cashier = tx.ids("C", rng.integers(1, 40, n), 2)
    columns = {
        "transaction_id": ids,
        "store_id": tx.as_text(w.stores.store_id[store]),
        "transacted_at": tx.timestamps(at),
        "member_card_no": tx.as_text(np.where(card, m.card_no[who], None)),
        "phone": tx.as_text(phone),
        "total_amount": tx.money(totals),
        "payment_method": tx.as_text(noise.gaps(rng, payment, 0.03)),
        "cashier_id": tx.with_nulls(cashier, rng.random(n) < 0.1),
    }
    receipts = Batch(entity("pos", "transactions"), columns, ids, who, at)
    w.purchases.append((who[card], at[card], totals[card], ids.filter(pa.array(card))))
    line_cols = basket_lines("transaction_id", ids, b, np.arange(len(b.basket)), w)
    line_ids = tx.cat(line_cols["transaction_id"], ":", line_cols["line_no"])
    lines = Batch(
        entity("pos", "transaction_lines"), line_cols, line_ids, who[b.basket], at[b.basket]
    )
    return receipts, lines, b.basket
