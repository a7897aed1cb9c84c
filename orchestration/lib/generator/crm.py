"""CRM: members (with re-sent versions and double registrations), consents, points,
coupons and tickets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.lib.contracts import entity
from orchestration.lib.generator import noise
from orchestration.lib.generator import text as tx
from orchestration.lib.generator.behaviour import spread_events, times_between, window_days
from orchestration.lib.generator.render import Batch
from orchestration.lib.generator.world import Members, World

NOT_A_MEMBER = np.iinfo(np.int64).max
PURPOSES = ("marketing_sms", "marketing_wechat", "marketing_email", "personalisation", "analytics")
CAMPAIGNS = ("NEWYEAR-2026", "38-2026", "618-2026", "MEMBER-DAY", "BIRTHDAY", "WELCOME")


def _versions(
    w: World, rng: np.random.Generator, person: np.ndarray, registered: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each member: (member position, updated_at): first version, phone change, tier."""
    p = w.persons
    first = np.where(
        registered < w.start,
        registered + (rng.random(len(person)) * (w.start - registered)).astype(np.int64),
        registered,
    )
    changed = p.phone_changed_at[person]
    phone_row = np.flatnonzero((changed > registered) & (changed < w.end))
    tier_row = np.flatnonzero((rng.random(len(person)) < 0.05) & (p.active_to[person] > w.start))
    tier_at = times_between(
        rng, np.maximum(registered[tier_row], w.start), p.active_to[person[tier_row]]
    )
    pos = np.concatenate([np.arange(len(person)), phone_row, tier_row])
    at = np.concatenate(
        [first, changed[phone_row] + rng.integers(60, 86_400, len(phone_row)), tier_at]
    )
    order = np.lexsort((pos, at))
    return pos[order], at[order]


def build_members(w: World) -> tuple[Members, Batch]:
    rng = w.rng(10)
    p = w.persons
    noise_cfg = w.config.noise
    person = np.flatnonzero(p.crm)
    registered = np.minimum(
        p.acquired_at[person] + rng.integers(0, 20 * 86_400, len(person)),
        p.active_to[person] - 3600,
    )
    # a second registration of the same person: later, new id and card, small differences
    dup = person[rng.random(len(person)) < noise_cfg.duplicate_member]
    dup_registered = times_between(
        rng, np.maximum(registered[np.searchsorted(person, dup)], w.start), np.full(len(dup), w.end)
    )
    all_person = np.concatenate([person, dup])
    all_registered = np.concatenate([registered, dup_registered])
    by_time = np.lexsort((all_person, all_registered))
    number = np.empty(len(all_person), dtype=np.int64)
    number[by_time] = np.arange(1, len(all_person) + 1)
    member_id = tx.ids("M", number, 7).to_numpy(zero_copy_only=False).astype(object)
    cards = 8_800_000_000 + rng.choice(100_000_000, len(all_person), replace=False)
    card_no = cards.astype(str).astype(object)
    is_dup = np.arange(len(all_person)) >= len(person)
    tier = rng.choice(
        np.array(["regular", "silver", "gold"], dtype=object), len(all_person), p=[0.7, 0.22, 0.08]
    )

    pos, updated = _versions(w, rng, all_person, all_registered)
    who = all_person[pos]
    n = len(pos)
    phone_true = p.phone_at(who, updated)
    phone = w.typed_phones(rng, phone_true)
    names = w.typed_names(rng, who)
    dup_row = is_dup[pos]
    # a double registration differs from the first: a typo in the name or another phone format
    typo_rows = np.flatnonzero(dup_row & (rng.random(n) < 0.5))
    typo_names, _ = noise.names(
        rng,
        p.surname[who[typo_rows]],
        p.given[who[typo_rows]],
        w.pools.names,
        noise_cfg.__class__(name_typo=1.0),
        w.config.locale,
    )
    names[typo_rows] = typo_names
    other_rows = np.flatnonzero(dup_row & (phone_true != None))  # noqa: E711
    phone[other_rows] = noise.phones(rng, phone_true[other_rows], 1.0, w.config.locale)
    gender = np.where(p.female[who], "F", "M").astype(object)
    gender[rng.random(n) < 0.03] = "U"
    has_nid = w.zh & (rng.random(len(all_person)) < 0.35)
    home_store = w.stores.store_id[w.stores.home[who]]
    columns = {
        "member_id": tx.as_text(member_id[pos]),
        "card_no": tx.as_text(card_no[pos]),
        "name": tx.as_text(names),
        "gender": tx.as_text(noise.gaps(rng, gender, noise_cfg.missing_optional)),
        "birth_date": tx.with_nulls(
            tx.dates(p.birth_day[who]), rng.random(n) < noise_cfg.missing_optional
        ),
        "phone": tx.as_text(phone),
        "email": tx.as_text(w.typed_emails(rng, p.email[who])),
        "national_id": tx.as_text(np.where(has_nid[pos], p.national_id[who], None)),
        "address": tx.as_text(noise.gaps(rng, p.address[who], noise_cfg.missing_optional)),
        "city": tx.as_text(noise.gaps(rng, w.city_names(p.city[who]), noise_cfg.missing_optional)),
        "province": tx.as_text(
            noise.gaps(rng, w.province_names(p.city[who]), noise_cfg.missing_optional)
        ),
        "postal_code": tx.as_text(noise.gaps(rng, p.postal_code[who], noise_cfg.missing_optional)),
        "registered_at": tx.timestamps(all_registered[pos]),
        "home_store_id": tx.as_text(noise.gaps(rng, home_store, 0.15)),
        "tier": tx.as_text(tier[pos]),
        "updated_at": tx.timestamps(updated),
    }
    counts = np.bincount(pos, minlength=len(all_person))
    batch = Batch(
        entity("crm", "members"),
        columns,
        columns["member_id"],
        who,
        updated,
        resent=counts[pos] > 1,
    )
    members = Members(
        member_id=np.full(p.n, None, dtype=object),
        card_no=np.full(p.n, None, dtype=object),
        registered_at=np.full(p.n, NOT_A_MEMBER, dtype=np.int64),
    )
    members.member_id[person] = member_id[: len(person)]
    members.card_no[person] = card_no[: len(person)]
    members.registered_at[person] = registered
    return members, batch


def build_consents(w: World) -> Batch:
    rng = w.rng(20)
    m = w.members
    person = np.flatnonzero(m.member_id != None)  # noqa: E711
    share = np.array([0.6, 0.5, 0.3, 0.4, 0.5])
    granted = rng.random((len(person), len(PURPOSES))) < share
    who_pos, purpose = np.nonzero(granted)
    who = person[who_pos]
    at = m.registered_at[who] + rng.integers(0, 600, len(who))
    # some grants are withdrawn later in the period
    withdraw = np.flatnonzero(rng.random(len(who)) < 0.1)
    w_at = times_between(
        rng, np.maximum(at[withdraw], w.start) + 3600, np.full(len(withdraw), w.end)
    )
    keep = w_at < w.end
    withdraw, w_at = withdraw[keep], w_at[keep]
    who = np.concatenate([who, who[withdraw]])
    purpose = np.concatenate([purpose, purpose[withdraw]])
    status = np.array(
        ["granted"] * (len(who) - len(withdraw)) + ["withdrawn"] * len(withdraw), dtype=object
    )
    at = np.concatenate([at, w_at])
    order = np.lexsort((who, at))
    who, purpose, status, at = who[order], purpose[order], status[order], at[order]
    channels = np.array(["app", "wechat", "store", "web", "call_centre"], dtype=object)
    channel = channels[rng.choice(5, len(who), p=[0.3, 0.35, 0.25, 0.07, 0.03])]
    policy = np.where(at < w.start, "2025.2", "2026.1").astype(object)
    ids = tx.ids("CS", np.arange(1, len(who) + 1), 8)
    columns = {
        "consent_id": ids,
        "member_id": tx.as_text(m.member_id[who]),
        "channel": tx.as_text(channel),
        "purpose": tx.as_text(np.array(PURPOSES, dtype=object)[purpose]),
        "status": tx.as_text(status),
        "recorded_at": tx.timestamps(at),
        "policy_version": tx.as_text(policy),
    }
    return Batch(entity("crm", "consents"), columns, ids, who, at)


def build_points(w: World) -> Batch:
    rng = w.rng(21)
    m = w.members
    person, at, cents, refs = [], [], [], []
    for who, t, amount, ref_ids in w.purchases:
        person.append(who)
        at.append(t + rng.integers(30, 600, len(t)))
        cents.append(amount)
        refs.append(ref_ids)
    who = np.concatenate(person) if person else np.zeros(0, dtype=np.int64)
    t = np.concatenate(at) if at else np.zeros(0, dtype=np.int64)
    points = (np.concatenate(cents) // 100) if cents else np.zeros(0, dtype=np.int64)
    reference = pa.concat_arrays(refs) if refs else pa.array([], pa.string())
    reason = np.full(len(who), "purchase", dtype=object)
    members = np.flatnonzero(m.member_id != None)  # noqa: E711
    active = members[w.persons.active_to[members] > np.maximum(m.registered_at[members], w.start)]
    extra_reasons = (
        ("redemption", 0.08, -500, -50),
        ("bonus", 0.05, 50, 500),
        ("expiry", 0.02, -300, -10),
        ("adjustment", 0.005, -100, 100),
    )
    for name, share, low, high in extra_reasons:
        sel = active[rng.random(len(active)) < share]
        whe = times_between(
            rng, np.maximum(m.registered_at[sel], w.start), w.persons.active_to[sel]
        )
        who = np.concatenate([who, sel])
        t = np.concatenate([t, whe])
        points = np.concatenate([points, rng.integers(low, high, len(sel)) // 10 * 10])
        reference = pa.concat_arrays([reference, pa.nulls(len(sel), pa.string())])
        reason = np.concatenate([reason, np.full(len(sel), name, dtype=object)])
    order = np.lexsort((np.arange(len(t)), t))
    who, t, points, reason = who[order], t[order], points[order], reason[order]
    reference = reference.take(pa.array(order))
    points = np.where(points == 0, 10, points)
    ids = tx.ids("PL", np.arange(1, len(who) + 1), 9)
    columns = {
        "entry_id": ids,
        "member_id": tx.as_text(m.member_id[who]),
        "occurred_at": tx.timestamps(t),
        "points": tx.integers(points),
        "reason": tx.as_text(reason),
        "reference_id": reference,
    }
    return Batch(entity("crm", "points_ledger"), columns, ids, who, t)


def build_coupons(w: World) -> Batch:
    rng = w.rng(22)
    m = w.members
    used = w.order_coupons
    members = np.flatnonzero(m.member_id != None)  # noqa: E711
    sel = members[
        (rng.random(len(members)) < 0.15)
        & (w.persons.active_to[members] > np.maximum(m.registered_at[members], w.start))
    ]
    issued = times_between(rng, np.maximum(m.registered_at[sel], w.start), w.persons.active_to[sel])
    n_used = len(used.get("person", []))
    who = np.concatenate([used["person"], sel]) if n_used else sel
    issued_at = np.concatenate([used["issued_at"], issued]) if n_used else issued
    redeemed_at = (
        np.concatenate([used["redeemed_at"], np.full(len(sel), -1)])
        if n_used
        else np.full(len(sel), -1)
    )
    ids_used = used["coupon_id"] if n_used else pa.array([], pa.string())
    first_new = n_used + 1
    ids = pa.concat_arrays([ids_used, tx.ids("CP", np.arange(first_new, first_new + len(sel)), 8)])
    ref = pa.concat_arrays(
        [used["order_id"] if n_used else pa.array([], pa.string()), pa.nulls(len(sel), pa.string())]
    )
    face = rng.choice([1000, 2000, 3000, 5000], len(who), p=[0.3, 0.4, 0.2, 0.1])
    campaign = np.array(CAMPAIGNS, dtype=object)[rng.integers(0, len(CAMPAIGNS), len(who))]
    redeemed = redeemed_at >= 0
    columns = {
        "coupon_id": ids,
        "member_id": tx.as_text(m.member_id[who]),
        "campaign": tx.as_text(campaign),
        "face_value": tx.money(face),
        "issued_at": tx.timestamps(issued_at),
        "redeemed_at": tx.with_nulls(tx.timestamps(np.maximum(redeemed_at, 0)), ~redeemed),
        "redeemed_ref": ref,
    }
    delivered = np.where(redeemed, redeemed_at, issued_at)
    return Batch(entity("crm", "coupons"), columns, ids, who, delivered)


def build_tickets(w: World) -> Batch:
    rng = w.rng(23)
    p = w.persons
    m = w.members
    everyone = np.arange(p.n)
    mean = 0.04 * window_days(p.active_from, p.active_to) / 120
    pos, opened = spread_events(rng, everyone, mean, p.active_from, p.active_to)
    who = everyone[pos]
    n = len(who)
    known = (m.registered_at[who] <= opened) & (rng.random(n) < 0.7)
    phone = w.typed_phones(rng, p.phone_at(who, opened))
    closed = opened + rng.integers(1800, 5 * 86_400, n)
    still_open = (rng.random(n) < 0.08) | (closed >= w.end)
    ids = tx.ids("TK", np.arange(1, n + 1), 7)
    channels = np.array(["phone", "wechat", "store", "email"], dtype=object)
    categories = np.array(["delivery", "product", "refund", "membership", "other"], dtype=object)
    score = rng.choice([1, 2, 3, 4, 5], n, p=[0.08, 0.07, 0.15, 0.3, 0.4])
    columns = {
        "ticket_id": ids,
        "member_id": tx.as_text(np.where(known, m.member_id[who], None)),
        "phone": tx.as_text(phone),
        "opened_at": tx.timestamps(opened),
        "closed_at": tx.with_nulls(tx.timestamps(closed), still_open),
        "channel": tx.as_text(channels[rng.choice(4, n, p=[0.35, 0.4, 0.15, 0.1])]),
        "category": tx.as_text(categories[rng.choice(5, n, p=[0.3, 0.25, 0.2, 0.15, 0.1])]),
        "satisfaction": tx.with_nulls(tx.integers(score), still_open | (rng.random(n) < 0.4)),
    }
    # a ticket is delivered when closed, or when opened if still open at export
    delivered = np.where(still_open, opened, closed)
    return Batch(entity("crm", "tickets"), columns, ids, who, delivered)
