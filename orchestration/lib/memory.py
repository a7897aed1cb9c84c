"""Memory the CLI's single process gives back between the steps of a run.

`omni360 run` runs every Python step (ingestion, identity resolution, the checks, CLV, publication)
in one process, and each dbt build runs beside it: what a step leaves behind adds to the peak of
the builds after it. The identifier normalisers cache every distinct value they see, and the
answer-key evaluation alone leaves about 1 GiB of them at a million persons. So they cache
through `lru_cache` here, and a hook on the main job calls `release()` after every step
(orchestration/defs/operations/jobs.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any

_clears: list[Callable[[], None]] = []


def lru_cache(maxsize: int) -> Callable[[Callable[..., Any]], Any]:
    """`functools.lru_cache`, emptied by `release()`."""

    def decorate(fn: Callable[..., Any]) -> Any:
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        _clears.append(cached.cache_clear)
        return cached

    return decorate


def release() -> None:
    """Empty the caches and hand freed heap pages back to the system (glibc keeps them for the
    process otherwise). No `gc.collect()`: cache entries hold no cycles, and a full collection
    over Dagster's objects costs 0.3 s, after each of a run's 140 steps."""
    for clear in _clears:
        clear()
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL(libc).malloc_trim(0)
