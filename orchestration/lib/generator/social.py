"""Social: app accounts (openid per app, unionid across WeChat apps), engagement, community
groups and referrals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.contracts import entity
from orchestration.lib.generator import noise
from orchestration.lib.generator import reference as ref
from orchestration.lib.generator import text as tx
from orchestration.lib.generator.behaviour import spread_events, times_between, window_days
from orchestration.lib.generator.render import Batch
from orchestration.lib.generator.world import World

APP_IDS = np.array([a[0] for a in ref.APPS], dtype=object)
PLATFORM_OF_APP = np.array([a[1] for a in ref.APPS], dtype=object)
NO_TIME = np.iinfo(np.int64).max


@dataclass
class SocialAccounts:
    person: np.ndarray
    app: np.ndarray  # index into reference.APPS
    openid: pa.Array
    followed_at: np.ndarray
    unfollowed_at: np.ndarray  # NO_TIME when still following


def _accounts(w: World, rng: np.random.Generator) -> SocialAccounts:
    p = w.persons
    person, app = np.nonzero(p.apps)
    # lists are per person; order accounts by app so ids are drawn per app
    order = np.lexsort((person, app))
    person, app = person[order], app[order]
    openid_parts = []
    for k, (_, _, prefix, _) in enumerate(ref.APPS):
        openid_parts.append(tx.random_ids(rng, prefix, int((app == k).sum()), 16))
    openid = pa.concat_arrays(openid_parts)
    followed = np.minimum(
        p.acquired_at[person] + rng.integers(-30 * 86_400, 30 * 86_400, len(person)),
        p.active_to[person] - 3600,
    )
    churned = p.churned_at[person]
    unfollow = np.where((churned >= 0) & (rng.random(len(person)) < 0.6), churned, NO_TIME)
    extra = (rng.random(len(person)) < 0.05) & (unfollow == NO_TIME)
    unfollow[extra] = times_between(
        rng, np.maximum(followed[extra], w.start) + 86_400, np.full(int(extra.sum()), w.end)
    )
    unfollow[unfollow >= w.end] = NO_TIME
    return SocialAccounts(person, app, openid, followed, unfollow)


def build_accounts(w: World) -> tuple[SocialAccounts, Batch]:
    rng = w.rng(50)
    p = w.persons
    acc = _accounts(w, rng)
    n = len(acc.person)
    # the state is re-sent when someone unfollows
    gone = np.flatnonzero(acc.unfollowed_at != NO_TIME)
    pos = np.concatenate([np.arange(n), gone])
    is_update = np.arange(len(pos)) >= n
    updated = np.concatenate([acc.followed_at, acc.unfollowed_at[gone]])
    order = np.lexsort((pos, updated))
    pos, updated, is_update = pos[order], updated[order], is_update[order]
    who = acc.person[pos]
    app = acc.app[pos]
    wechat = np.array([a[3] for a in ref.APPS])[app]
    unionids = tx.random_ids(rng, "u", p.n, 20).to_numpy(zero_copy_only=False).astype(object)
    unionid = np.where(wechat & p.unionid_ok[who], unionids[who], None)
    # who shares a phone is decided per account, so both versions say the same
    shares_phone = (rng.random(n) < np.array([0.1, 0.45, 0.6, 0.15])[acc.app])[pos]
    phone = np.where(shares_phone, p.own_phone_at(who, updated), None)
    nick = w.pools.nicknames[rng.integers(0, len(w.pools.nicknames), n)][pos]
    columns = {
        "app_id": tx.as_text(APP_IDS[app]),
        "platform": tx.as_text(PLATFORM_OF_APP[app]),
        "openid": acc.openid.take(pa.array(pos)),
        "unionid": tx.as_text(unionid),
        "nickname": tx.as_text(noise.gaps(rng, nick, 0.03)),
        "phone": tx.as_text(noise.phones(rng, phone, w.config.noise.phone_format, w.config.locale)),
        "followed_at": tx.timestamps(acc.followed_at[pos]),
        "unfollowed_at": tx.with_nulls(tx.timestamps(np.where(is_update, updated, 0)), ~is_update),
        "updated_at": tx.timestamps(updated),
    }
    record_id = tx.cat(columns["app_id"], ":", columns["openid"])
    counts = np.bincount(pos, minlength=n)
    batch = Batch(
        entity("social", "accounts"), columns, record_id, who, updated, resent=counts[pos] > 1
    )
    return acc, batch


def _account_window(w: World, acc: SocialAccounts) -> tuple[np.ndarray, np.ndarray]:
    start = np.maximum(acc.followed_at, w.start)
    end = np.minimum(np.minimum(acc.unfollowed_at, w.persons.active_to[acc.person]), w.end)
    return start, np.maximum(end, start)


def build_engagement(w: World, acc: SocialAccounts) -> Batch:
    rng = w.rng(51)
    p = w.persons
    start, end = _account_window(w, acc)
    per_app = np.array([2.0, 0.8, 0.0, 2.5])[acc.app]  # events per 120 days
    mean = per_app * p.activity[acc.person] * window_days(start, end) / 120
    pos, at = spread_events(rng, np.arange(len(acc.person)), mean, start, end)
    app = acc.app[pos]
    n = len(pos)
    kinds = np.array(["article_read", "like", "comment", "share", "live_watch"], dtype=object)
    probs = np.array(
        [
            [0.65, 0.15, 0.05, 0.15, 0.0],
            [0.0, 0.5, 0.1, 0.4, 0.0],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0.0, 0.45, 0.15, 0.1, 0.3],
        ]
    )
    kind = np.empty(n, dtype=np.int64)
    for k in range(len(probs)):  # event types drawn per app
        sel = np.flatnonzero(app == k)
        kind[sel] = rng.choice(len(kinds), len(sel), p=probs[k])
    content = pc.if_else(
        pa.array(kind == 4),
        tx.ids("LIVE", rng.integers(1, 200, n), 3),
        pc.if_else(
            pa.array(app == 3),
            tx.ids("VID", rng.integers(1, 3000, n), 5),
            tx.ids("ART", rng.integers(1, 800, n), 4),
        ),
    )
    no_content = rng.random(n) < 0.02
    timed = (kind == 0) | (kind == 4)
    duration = np.where(kind == 4, rng.integers(30, 3600, n), rng.integers(5, 400, n))
    ids = tx.ids("EV", np.arange(1, n + 1), 10)
    columns = {
        "event_id": ids,
        "app_id": tx.as_text(APP_IDS[app]),
        "openid": acc.openid.take(pa.array(pos)),
        "event_type": tx.as_text(kinds[kind]),
        "occurred_at": tx.timestamps(at),
        "content_id": tx.with_nulls(content, no_content),
        "duration_seconds": tx.with_nulls(tx.integers(duration), ~timed),
    }
    return Batch(entity("social", "engagement"), columns, ids, acc.person[pos], at)


def build_group_events(w: World, acc: SocialAccounts) -> Batch:
    rng = w.rng(52)
    start, end = _account_window(w, acc)
    wecom = np.flatnonzero((acc.app == 2) & (end > start) & (rng.random(len(acc.app)) < 0.5))
    groups = max(5, len(wecom) // 150)
    group = rng.integers(1, groups + 1, len(wecom))
    joined = times_between(rng, start[wecom], end[wecom])
    leave = rng.random(len(wecom)) < 0.2
    left = times_between(rng, joined + 60, np.maximum(end[wecom], joined + 120))
    leave &= left < w.end
    pos = np.concatenate([wecom, wecom[leave]])
    grp = np.concatenate([group, group[leave]])
    at = np.concatenate([joined, left[leave]])
    action = np.array(["join"] * len(wecom) + ["leave"] * int(leave.sum()), dtype=object)
    order = np.lexsort((pos, at))
    pos, grp, at, action = pos[order], grp[order], at[order], action[order]
    ids = tx.ids("GE", np.arange(1, len(pos) + 1), 8)
    columns = {
        "event_id": ids,
        "group_id": tx.ids("G", grp, 4),
        "app_id": tx.as_text(APP_IDS[acc.app[pos]]),
        "openid": acc.openid.take(pa.array(pos)),
        "action": tx.as_text(action),
        "occurred_at": tx.timestamps(at),
    }
    return Batch(entity("social", "group_events"), columns, ids, acc.person[pos], at)


def build_referrals(w: World, acc: SocialAccounts) -> Batch:
    """New mini-program users invited by an existing one (the record's person: the inviter)."""
    rng = w.rng(53)
    mp = np.flatnonzero(acc.app == 1)
    by_follow = mp[np.argsort(acc.followed_at[mp], kind="stable")]
    follow_sorted = acc.followed_at[by_follow]
    new = mp[(acc.followed_at[mp] >= w.start + 86_400) & (rng.random(len(mp)) < 0.25)]
    invited = acc.followed_at[new] - rng.integers(600, 3 * 86_400, len(new))
    earlier = np.searchsorted(follow_sorted, invited, side="left")
    ok = earlier > 0
    new, invited, earlier = new[ok], invited[ok], earlier[ok]
    inviter = by_follow[(rng.random(len(new)) * earlier).astype(np.int64)]
    ok = acc.person[inviter] != acc.person[new]
    new, invited, inviter = new[ok], invited[ok], inviter[ok]
    order = np.lexsort((new, invited))
    new, invited, inviter = new[order], invited[order], inviter[order]
    ids = tx.ids("RI", np.arange(1, len(new) + 1), 7)
    columns = {
        "referral_id": ids,
        "app_id": tx.as_text(np.full(len(new), "wx_mp_shop", dtype=object)),
        "inviter_openid": acc.openid.take(pa.array(inviter)),
        "invitee_openid": acc.openid.take(pa.array(new)),
        "invited_at": tx.timestamps(invited),
    }
    return Batch(entity("social", "referrals"), columns, ids, acc.person[inviter], invited)
