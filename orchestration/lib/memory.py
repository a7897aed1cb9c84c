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
import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_clears: list[Callable[[], None]] = []
# the CLI's process holds about 0.7 GiB between steps
COLLECT_ABOVE_BYTES = 1 << 30


def lru_cache(maxsize: int) -> Callable[[Callable[..., Any]], Any]:
    """`functools.lru_cache`, emptied by `release()`."""

    def decorate(fn: Callable[..., Any]) -> Any:
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        _clears.append(cached.cache_clear)
        return cached

    return decorate


def release() -> None:
    """Empty the caches, collect the garbage of a step that left much behind (cycles keep a
    step's Arrow tables and frames alive until a full collection), and hand freed heap pages back
    to the system (glibc keeps them for the process otherwise)."""
    for clear in _clears:
        clear()
    if _resident_bytes() > COLLECT_ABOVE_BYTES:
        gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL(libc).malloc_trim(0)


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """Keep what lives now (Dagster's definitions: 0.75M objects) out of the collections made
    inside, which then cost milliseconds instead of 0.3 s; for a process about to run many
    steps. Unfrozen after, so the collection at exit still frees them (DuckDB's bindings report
    every object they see leaked otherwise)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _resident_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):  # not Linux: never collect
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
