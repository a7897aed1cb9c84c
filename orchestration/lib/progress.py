"""Progress lines from inside assets to whoever runs them in-process (the CLI).

A plain listener list rather than a `logging` logger: Dagster and dbt reconfigure logging during a
run, which silently drops handlers added beforehand.
"""

from __future__ import annotations

from collections.abc import Callable

_listeners: list[Callable[[str], None]] = []


def listen(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)


def clear() -> None:
    _listeners.clear()


def report(message: str) -> None:
    for listener in _listeners:
        listener(message)
