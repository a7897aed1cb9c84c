"""Great Expectations suites as code, one module per validated asset (docs/quality.md).

A module defines `SUITE` or `SUITES` (orchestration.lib.quality.expectations.Suite); `all_suites`
finds them all, and orchestration/defs/quality/checks.py turns each rule into an asset check.
"""

from __future__ import annotations

import importlib
import pkgutil

from orchestration.lib.quality.expectations import Suite


def all_suites() -> tuple[Suite, ...]:
    suites: list[Suite] = []
    for module in sorted(
        m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
    ):
        loaded = importlib.import_module(f"{__name__}.{module}")
        suites += [loaded.SUITE] if hasattr(loaded, "SUITE") else list(loaded.SUITES)
    names = [s.name for s in suites]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"suite names must be unique; duplicated: {duplicated}")
    return tuple(suites)
