"""SQL text built in Python, and opening and attaching DuckDB files: one place for each.

Identifiers and literals are quoted here and only here (DuckDB's rules, which are the SQL
standard's: double quotes for names, single quotes for text, each doubled inside).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb


class WarehouseBusy(RuntimeError):
    """Another process holds the DuckDB file for writing for longer than we were willing to wait."""


def identifier(name: str) -> str:
    """A quoted SQL name: `order` → `"order"`."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str | Path) -> str:
    """A quoted SQL string: `O'Brien` → `'O''Brien'`."""
    return "'" + str(text).replace("'", "''") + "'"


def connect(
    database: str | Path = ":memory:", *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection without a progress bar: DuckDB draws one for every query over 2 s on
    the process's own stdout, past the log file `omni360 run` sends step output to, so users saw
    bars between the run's progress lines."""
    con = duckdb.connect(str(database), read_only=read_only)
    # a setting of the connection, not of the database (one file opened twice must be opened
    # with the same config)
    con.execute("set enable_progress_bar = false")
    return con


def attach_read_only(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, timeout_s: float = 0.0
) -> None:
    """ATTACH a DuckDB file read-only, waiting up to `timeout_s` while another process writes it.

    ATTACH from a fresh connection always opens the file as it is now, whereas
    duckdb.connect(path) reuses a database this process already has open (an older snapshot).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            con.execute(f"attach {literal(path)} as {identifier(alias)} (read_only)")
            return
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() + delay > deadline:
                raise WarehouseBusy(
                    f"{path} is being written by another process (DuckDB allows one writer "
                    f"and no other readers meanwhile); waited {timeout_s:.0f}s. Run it again "
                    f"when that has finished. DuckDB said: {error}"
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
