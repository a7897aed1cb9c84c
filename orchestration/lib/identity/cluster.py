"""Clustering of source records into customers: union-find that refuses merges a guard forbids.

Links are applied strongest first. A union is refused when the two clusters would hold two
different national IDs (not one mistyped), clearly different birth dates (not a slip), two
accounts on one social app or shop platform (an openid is one person's account on one app; a
person keeps one account per shop platform), a never-link pair, or more profile records than
the limit; the refusal (and its reason) is returned for the links table.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Sequence
from datetime import date

from jellyfish import damerau_levenshtein_distance

ACCEPTED = "accepted"
REDUNDANT = "redundant"  # both records were already in one cluster
NAMED, WECHAT = 1, 2  # a cluster's flags: holds a named profile, holds a WeChat unionid


def birth_dates_conflict(left: date, right: date) -> bool:
    """Clearly different dates: anything but the same date, the day and month transposed, or
    one part differing by a slip (a month or a day; a year by one digit, 1990 vs 1980, or by two
    neighbouring digits swapped, 1909 vs 1990).

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
        return damerau_levenshtein_distance(f"{left.year:04d}", f"{right.year:04d}") > 1
    return False


def birth_dates_disagree(left: Collection[date], right: Collection[date]) -> bool:
    """Two clusters' birth dates are two people's: none of one agrees with any of the other (a
    cluster holding two dates, one mistyped, joins a record that has either)."""
    return bool(left and right) and not any(
        not birth_dates_conflict(x, y) for x in left for y in right
    )


def national_ids_conflict(left: Collection[str], right: Collection[str]) -> bool:
    """Two different numbers, not one number typed with one slip (checksummed schemes null a
    mistyped number before it gets here; `generic` numbers keep theirs)."""
    return any(a != b and damerau_levenshtein_distance(a, b) > 1 for a in left for b in right)


class ConstrainedUnionFind:
    """Union-find over nodes 0..n-1 whose clusters carry the attributes the guards check.

    Columnar, for memory that grows gently with millions of records: parents, profile counts and
    flags in arrays; the few values a cluster holds (national IDs, birth dates, apps, never-link
    partners) in dictionaries keyed by its root, only for clusters that hold any, as tuples."""

    def __init__(self, max_profiles: int, national_ids_prove: bool = True) -> None:
        self.parent = array("q")
        self.profile_count = array("l")
        self.flags = bytearray()  # NAMED | WECHAT
        self.national_ids: dict[int, tuple[str, ...]] = {}
        self.birth_dates: dict[int, tuple[date, ...]] = {}
        self.apps: dict[int, tuple[str, ...]] = {}
        self.never: dict[int, tuple[int, ...]] = {}
        # phones and emails ("phone:+86…", "email:…"), for rules that need a cluster's contacts
        self.contacts: dict[int, tuple[str, ...]] = {}
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
        return self.add_many(
            [national_id], [birth_date], [is_profile], [is_named], [has_unionid], [account_app]
        )

    def add_many(
        self,
        national_ids: Sequence[str | None],
        birth_dates: Sequence[date | None],
        is_profile: Sequence[bool],
        is_named: Sequence[bool],
        has_unionid: Sequence[bool],
        account_apps: Sequence[str | None],
    ) -> int:
        """Add nodes, one per position of the columns; returns the first one's number."""
        first = len(self.parent)
        count = len(is_profile)
        self.parent.extend(range(first, first + count))
        self.profile_count.extend(int(bool(p)) for p in is_profile)
        self.flags.extend(
            (NAMED if named else 0) | (WECHAT if wechat else 0)
            for named, wechat in zip(is_named, has_unionid, strict=True)
        )
        for values, store in (
            (national_ids, self.national_ids),
            (birth_dates, self.birth_dates),
            (account_apps, self.apps),
        ):
            for offset, value in enumerate(values):
                if value is not None:
                    store[first + offset] = (value,)
        return first

    def set_contacts(self, first: int, contacts: Sequence[Sequence[str]]) -> None:
        """The phones and emails of the nodes from `first` on, one sequence per node."""
        for offset, values in enumerate(contacts):
            if values:
                self.contacts[first + offset] = tuple(values)

    def contacts_differ(self, left: int, right: int) -> bool:
        """Both clusters hold a phone (or an email) and share none: two people's contacts."""
        mine = self.contacts.get(self.find(left), ())
        theirs = self.contacts.get(self.find(right), ())
        for kind in ("phone:", "email:"):
            a = {v for v in mine if v.startswith(kind)}
            b = {v for v in theirs if v.startswith(kind)}
            if a and b and not a & b:
                return True
        return False

    def birth_date_count(self, node: int) -> int:
        return len(self.birth_dates.get(self.find(node), ()))

    def forbid(self, left: int, right: int) -> None:
        """A never-link pair: the clusters holding them may never merge."""
        for node, other in ((left, right), (right, left)):
            root = self.find(node)
            self.never[root] = (*self.never.get(root, ()), other)

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def is_named(self, node: int) -> bool:
        return bool(self.flags[self.find(node)] & NAMED)

    def has_unionid(self, node: int) -> bool:
        return bool(self.flags[self.find(node)] & WECHAT)

    def apps_overlap(self, roots: list[int]) -> bool:
        """Two of these clusters hold accounts on one app or platform: two persons."""
        seen: set[str] = set()
        for root in roots:
            apps = self.apps.get(self.find(root), ())
            if seen.intersection(apps):
                return True
            seen.update(apps)
        return False

    def profiles(self, node: int) -> int:
        return self.profile_count[self.find(node)]

    def conflict(self, left: int, right: int, *, same_id: bool = False) -> str | None:
        """Why the clusters of `left` and `right` may not merge, or None if they may.

        `same_id`: the link is the same national ID on both records, which outranks their
        birth dates (one of which is then wrong)."""
        root_l, root_r = self.find(left), self.find(right)
        if root_l == root_r:
            return None
        if any(self.find(node) == root_r for node in self.never.get(root_l, ())) or any(
            self.find(node) == root_l for node in self.never.get(root_r, ())
        ):
            return "never_link"
        if self.national_ids_prove and national_ids_conflict(
            self.national_ids.get(root_l, ()), self.national_ids.get(root_r, ())
        ):
            return "conflicting_national_id"
        if not same_id and birth_dates_disagree(
            self.birth_dates.get(root_l, ()), self.birth_dates.get(root_r, ())
        ):
            return "conflicting_birth_date"
        if set(self.apps.get(root_l, ())).intersection(self.apps.get(root_r, ())):
            return "two_accounts_on_one_app"
        if self.profile_count[root_l] + self.profile_count[root_r] > self.max_profiles:
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
        size = self.profile_count
        weight_l = size[root_l] + len(self.never.get(root_l, ()))
        weight_r = size[root_r] + len(self.never.get(root_r, ()))
        if weight_l < weight_r:
            root_l, root_r = root_r, root_l
        self.parent[root_r] = root_l
        size[root_l] += size[root_r]
        self.flags[root_l] |= self.flags[root_r]
        for store in (self.national_ids, self.birth_dates, self.apps, self.never, self.contacts):
            moved = store.pop(root_r, None)
            if moved:
                kept = store.get(root_l, ())
                store[root_l] = tuple(dict.fromkeys((*kept, *moved)))
        return ACCEPTED

    def roots(self) -> list[int]:
        return [self.find(node) for node in range(len(self.parent))]
