"""generate(): persons, then each source's entities, written delivery by delivery."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.generator import crm, ecommerce, pos, social
from orchestration.lib.generator import reference as ref
from orchestration.lib.generator import text as tx
from orchestration.lib.generator.config import GenerationSummary, GeneratorConfig
from orchestration.lib.generator.persons import PLATFORMS, Persons, build_persons
from orchestration.lib.generator.pools import build_catalogue, build_pools
from orchestration.lib.generator.render import Batch
from orchestration.lib.generator.world import World
from orchestration.lib.generator.writer import LandingWriter, Schedule, delivery_dates

Progress = Callable[[str, int], None]


def _check_out(out: Path, config: GeneratorConfig, extend: bool) -> None:
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not extend:
        raise FileExistsError(f"output folder {out} exists and is not empty")
    written = out / "_truth" / "config.json"
    if not written.is_file():
        raise FileExistsError(f"{out} holds no generated landing zone ({written} is missing)")
    before = json.loads(written.read_text(encoding="utf-8"))
    now = config.population()
    keys = (now.keys() | before.keys()) - {"until"}
    changed = sorted(k for k in keys if before.get(k) != now.get(k))
    if changed:
        raise ValueError(
            f"{out} was generated for another population or period ({', '.join(changed)} "
            "differ): a landing zone can only be extended with the same settings and a later "
            "--until"
        )
    if before.get("until") is None or (
        config.until is not None and config.until.isoformat() < before["until"]
    ):
        raise ValueError(
            f"{out} already holds the deliveries up to {before.get('until') or 'the end'}: "
            "extend it with a later --until"
        )


def generate(
    config: GeneratorConfig, out: Path, progress: Progress | None = None, *, extend: bool = False
) -> GenerationSummary:
    """Write the landing zone and its answer key (`<out>/_truth/`) for `config`.

    `extend`: `out` holds the same population and period written up to an earlier `until`;
    the deliveries after it are added, and every file already there must come out the same
    bytes (FileExistsError otherwise). The answer key is rewritten for what is delivered."""
    started = time.perf_counter()
    out = Path(out)
    _check_out(out, config, extend)
    report = progress or (lambda step, rows: None)
    pools = build_pools(config.locale, config.seed)
    persons = build_persons(config, pools)
    report("persons", persons.n)
    world = World(config, pools, build_catalogue(config.locale, config.seed), persons)
    writer = LandingWriter(out, config, Schedule(delivery_dates(config)), persons.person_id)
    writer.open()
    try:
        _write_sources(world, writer, report)
    finally:
        writer.close()
    writer.write_answer_files()
    _write_persons(world, out / "_truth" / "persons.parquet")
    (out / "_truth" / "config.json").write_text(
        json.dumps(config.as_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return GenerationSummary(
        rows=dict(writer.rows),
        files=writer.files,
        existing=writer.existing,
        malformed=len(writer.malformed_rows),
        seconds=time.perf_counter() - started,
        redelivered=len(writer.redelivered),
    )


def _write_sources(w: World, writer: LandingWriter, report: Progress) -> None:
    step = iter(range(100, 200))

    def emit(batch: Batch) -> np.ndarray:
        delivery = writer.write(batch, w.rng(next(step)))
        report(batch.entity.key, len(batch))
        return delivery

    w.stores, stores = pos.build_stores(w)
    emit(stores)
    w.members, members = crm.build_members(w)
    emit(members)
    del members
    accounts, customers = ecommerce.build_customers(w)
    emit(customers)
    del customers
    orders, n_items, items, ordered_at = ecommerce.build_orders(w, accounts)
    emit(orders)
    writer.rows["ecommerce.order_lines"] = n_items
    report("ecommerce.order_lines", n_items)
    emit(ecommerce.build_refunds(w, orders, items, ordered_at))
    del orders, items, ordered_at, accounts
    receipts, lines, receipt_of_line = pos.build_transactions(w)
    delivery = emit(receipts)
    lines.delivery = delivery[receipt_of_line]  # lines travel with their receipt
    del receipts
    emit(lines)
    del lines, receipt_of_line
    emit(crm.build_consents(w))
    emit(crm.build_points(w))
    w.purchases.clear()
    emit(crm.build_coupons(w))
    emit(crm.build_tickets(w))
    social_accounts, accounts_batch = social.build_accounts(w)
    emit(accounts_batch)
    del accounts_batch
    emit(social.build_engagement(w, social_accounts))
    emit(social.build_group_events(w, social_accounts))
    emit(social.build_referrals(w, social_accounts))


def _timestamps_or_null(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"), mask=seconds < 0)


def _channels(p: Persons) -> pa.Array:
    flags = np.column_stack([p.crm, p.pos, p.platforms, p.apps])
    names = np.array(
        ["crm", "pos"]
        + [f"ecommerce:{x}" for x in PLATFORMS]
        + [f"social:{a[0]}" for a in ref.APPS],
        dtype=object,
    )
    counts = flags.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = names[np.nonzero(flags)[1]]
    return pa.ListArray.from_arrays(pa.array(offsets), tx.as_text(values))


def _write_persons(w: World, path: Path) -> None:
    p = w.persons
    final_phone = np.where(p.phone_changed_at >= 0, p.new_phone, p.phone)
    old_phone = np.where(p.phone_changed_at >= 0, p.phone, None)
    table = pa.table(
        {
            "person_id": p.person_id,
            "name": tx.as_text(p.name),
            "gender": tx.as_text(np.where(p.female, "F", "M").astype(object)),
            "birth_date": pa.array(p.birth_day.astype(np.int32), type=pa.date32()),
            "phone": tx.as_text(final_phone),
            "old_phone": tx.as_text(old_phone),
            "own_phone": tx.as_text(np.where(p.household_size > 1, p.own_phone, final_phone)),
            "phone_changed_at": _timestamps_or_null(p.phone_changed_at),
            "email": tx.as_text(p.email),
            "national_id": tx.as_text(p.national_id),
            "address": tx.as_text(p.address),
            "city": tx.as_text(w.city_names(p.city)),
            "province": tx.as_text(w.province_names(p.city)),
            "postal_code": tx.as_text(p.postal_code),
            "household_id": tx.ids("H", p.household + 1, 7),
            "household_size": pa.array(p.household_size.astype(np.int32)),
            "member_id": tx.as_text(w.members.member_id),
            "card_no": tx.as_text(w.members.card_no),
            "channels": _channels(p),
            "acquired_at": _timestamps_or_null(p.acquired_at),
            "churned_at": _timestamps_or_null(p.churned_at),
        }
    )
    pq.write_table(table, path, compression="zstd", write_statistics=False)
