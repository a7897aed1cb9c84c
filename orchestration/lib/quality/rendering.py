"""The Jinja environment of the quality pages in templates/: autoescaped, strict about missing
values, and the filters every page formats figures with (`num`, `when`, `ratio`, `pct`).

One environment per process, so templates are compiled once however many pages a run writes.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def num(value: Any) -> str:
    # thousands separators also keep long numbers from looking like phone numbers
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def when(value: dt.datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value[:19].replace("T", " ")
    return value.isoformat(sep=" ", timespec="seconds")


@functools.cache
def environment() -> jinja2.Environment:
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters.update(
        num=num,
        when=when,
        ratio=lambda value: "—" if value is None else f"{value:.4f}",
        pct=lambda value: "—" if value is None else f"{value:.1%}",
    )
    return templates
