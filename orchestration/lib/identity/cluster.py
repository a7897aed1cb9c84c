"""Clustering of source records into customers: union-find that refuses merges a guard forbids.

Links are applied strongest first. A union is refused when the two clusters would hold two
different national IDs (not one mistyped), clearly different birth dates (not a slip), two
accounts on one social app or shop platform (an openid is one person's account on one app; a
person keeps one account per shop platform), a never-link pair, or more profile records than
the limit; the refusal (and its reason) is returned for the links table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from jellyfish import damerau_levenshtein_distance

ACCEPTED = "accepted"
REDUNDANT = "redundant"  # both records were already in one cluster


_NONE: frozenset = frozenset()  # shared by the millions of clusters that hold no such value


@dataclass(slots=True)
class _Cluster:
    national_ids: frozenset[str] = _NONE
    birth_dates: frozenset[date] = _NONE
    never: frozenset[int] = _NONE  # nodes this cluster must never join
    profiles: int = 0
    named: bool = False
    wechat: bool = False  # holds a WeChat unionid: a person, even without a name
    apps: frozenset[str] = _NONE  # social apps and shop platforms it has an account on


def _union(left: frozenset, right: frozenset) -> frozenset:
    return left | right if left and right else left or right


def birth_dates_conflict(left: date, right: date) -> bool:
    """Clearly different dates: anything but the same date, the day and month transposed, or
    one part differing by a slip (a month or a day; a year by one digit, 1990 vs 1980).

    A parent and a child of one household differ in the year and in the month or day.
    """
    if left == right:
        return False
    if left.year == right.year and (left.month, left.day) == (right.day, right.month):
        return False
    differing = (left.year != right.year) + (left.month != right.month) + (left.day != right.day)
    if differing >= 2:
        return True
    if left.year != right.year:
        return sum(a != b for a, b in zip(f"{left.year:04d}", f"{right.year:04d}", strict=True)) > 1
    return False


def birth_dates_disagree(left: frozenset[date], right: frozenset[date]) -> bool:
    """Two clusters' birth dates are two people's: none of one agrees with any of the other (a
    cluster holding two dates, one mistyped, joins a record that has either)."""
    return bool(left and right) and not any(
        not birth_dates_conflict(x, y) for x in left for y in right
    )


def national_ids_conflict(left: frozenset[str], right: frozenset[str]) -> bool:
    """Two different numbers, not one number typed with one slip (checksummed schemes null a
    mistyped number before it gets here; `generic` numbers keep theirs)."""
    return any(a != b and damerau_levenshtein_distance(a, b) > 1 for a in left for b in right)


class ConstrainedUnionFind:
    """Union-find over nodes 0..n-1 whose clusters carry the attributes the guards check."""

    def __init__(self, max_profiles: int, national_ids_prove: bool = True) -> None:
        self.parent: list[int] = []
        self.clusters: list[_Cluster | None] = []
        self.max_profiles = max_profiles
        # a checksummed national ID (the PRC's) proves who someone is: two different ones are
        # two people. Without a checksum a different number may be a mistyped one, and only
        # weighs against the link (in the Splink model).
        self.national_ids_prove = national_ids_prove

    def add(
        self,
        *,
        national_id: str | None = None,
        birth_date: date | None = None,
        is_profile: bool = False,
        is_named: bool = False,
        has_unionid: bool = False,
        account_app: str | None = None,
    ) -> int:
        node = len(self.parent)
        self.parent.append(node)
        self.clusters.append(
            _Cluster(
                national_ids=frozenset((national_id,)) if national_id else _NONE,
                birth_dates=frozenset((birth_date,)) if birth_date else _NONE,
                profiles=int(is_profile),
                named=is_named,
                wechat=has_unionid,
                apps=frozenset((account_app,)) if account_app else _NONE,
            )
        )
        return node

    def forbid(self, left: int, right: int) -> None:
        """A never-link pair: the clusters holding them may never merge."""
        for node, other in ((left, right), (right, left)):
            cluster = self._cluster(node)
            cluster.never = cluster.never | {other}

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def _cluster(self, node: int) -> _Cluster:
        cluster = self.clusters[self.find(node)]
        assert cluster is not None
        return cluster

    def is_named(self, node: int) -> bool:
        return self._cluster(node).named

    def has_unionid(self, node: int) -> bool:
        return self._cluster(node).wechat

    def apps_overlap(self, roots: list[int]) -> bool:
        """Two of these clusters hold accounts on one app or platform: two persons."""
        seen: set[str] = set()
        for root in roots:
            apps = self._cluster(root).apps
            if seen & apps:
                return True
            seen |= apps
        return False

    def profiles(self, node: int) -> int:
        return self._cluster(node).profiles

    def conflict(self, left: int, right: int, *, same_id: bool = False) -> str | None:
        """Why the clusters of `left` and `right` may not merge, or None if they may.

        `same_id`: the link is the same national ID on both records, which outranks their
        birth dates (one of which is then wrong)."""
        root_l, root_r = self.find(left), self.find(right)
        if root_l == root_r:
            return None
        a, b = self.clusters[root_l], self.clusters[root_r]
        assert a is not None and b is not None
        if any(self.find(node) == root_r for node in a.never) or any(
            self.find(node) == root_l for node in b.never
        ):
            return "never_link"
        if self.national_ids_prove and national_ids_conflict(a.national_ids, b.national_ids):
            return "conflicting_national_id"
        if not same_id and birth_dates_disagree(a.birth_dates, b.birth_dates):
            return "conflicting_birth_date"
        if a.apps & b.apps:
            return "two_accounts_on_one_app"
        if a.profiles + b.profiles > self.max_profiles:
            return "max_cluster_size"
        return None

    def union(self, left: int, right: int, *, check: bool = True, same_id: bool = False) -> str:
        """Merge two clusters; returns ACCEPTED, REDUNDANT or the reason it was refused.

        `check=False` skips every guard but never-link (for manual force links); `same_id`: see
        `conflict`.
        """
        root_l, root_r = self.find(left), self.find(right)
        if root_l == root_r:
            return REDUNDANT
        reason = self.conflict(left, right, same_id=same_id)
        if reason and (check or reason == "never_link"):
            return reason
        a, b = self.clusters[root_l], self.clusters[root_r]
        assert a is not None and b is not None
        if a.profiles + len(a.never) < b.profiles + len(b.never):
            root_l, root_r, a, b = root_r, root_l, b, a
        self.parent[root_r] = root_l
        a.national_ids = _union(a.national_ids, b.national_ids)
        a.birth_dates = _union(a.birth_dates, b.birth_dates)
        a.never = _union(a.never, b.never)
        a.profiles += b.profiles
        a.named = a.named or b.named
        a.wechat = a.wechat or b.wechat
        a.apps = _union(a.apps, b.apps)
        self.clusters[root_r] = None
        return ACCEPTED

    def roots(self) -> list[int]:
        return [self.find(node) for node in range(len(self.parent))]
