"""Clustering of source records into customers: union-find that refuses merges a guard forbids.

Links are applied strongest first. A union is refused when the two clusters would hold two
different national IDs, clearly different birth dates, two accounts on one social app or shop
platform (an openid is one person's account on one app; a person keeps one account per shop
platform), a never-link pair, or more profile records than
the limit; the refusal (and its reason) is returned for the links table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
    """Clearly different: years two or more apart, or two of year, month and day differ.

    One differing part is tolerated as a typo (1990-05-12 vs 1990-05-21).
    """
    if abs(left.year - right.year) >= 2:
        return True
    differing = (left.year != right.year) + (left.month != right.month) + (left.day != right.day)
    return differing >= 2


class ConstrainedUnionFind:
    """Union-find over nodes 0..n-1 whose clusters carry the attributes the guards check."""

    def __init__(self, max_profiles: int) -> None:
        self.parent: list[int] = []
        self.clusters: list[_Cluster | None] = []
        self.max_profiles = max_profiles

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

    def conflict(self, left: int, right: int) -> str | None:
        """Why the clusters of `left` and `right` may not merge, or None if they may."""
        root_l, root_r = self.find(left), self.find(right)
        if root_l == root_r:
            return None
        a, b = self.clusters[root_l], self.clusters[root_r]
        assert a is not None and b is not None
        if any(self.find(node) == root_r for node in a.never) or any(
            self.find(node) == root_l for node in b.never
        ):
            return "never_link"
        if a.national_ids and b.national_ids and a.national_ids != b.national_ids:
            return "conflicting_national_id"
        if any(birth_dates_conflict(x, y) for x in a.birth_dates for y in b.birth_dates):
            return "conflicting_birth_date"
        if a.apps & b.apps:
            return "two_accounts_on_one_app"
        if a.profiles + b.profiles > self.max_profiles:
            return "max_cluster_size"
        return None

    def union(self, left: int, right: int, *, check: bool = True) -> str:
        """Merge two clusters; returns ACCEPTED, REDUNDANT or the reason it was refused.

        `check=False` skips every guard but never-link (for manual force links).
        """
        root_l, root_r = self.find(left), self.find(right)
        if root_l == root_r:
            return REDUNDANT
        reason = self.conflict(left, right)
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
