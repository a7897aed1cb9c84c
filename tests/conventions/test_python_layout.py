"""The Python layout: orchestration/lib is plain code, orchestration/defs is Dagster wiring.

Read from the source (ast), not by importing: a convention test must not run the code it checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

from orchestration import settings

ORCHESTRATION = settings.REPO_ROOT / "orchestration"
WIRING = ("orchestration.defs", "orchestration.definitions", "orchestration.cli")
SQL_VERBS = ("select ", "insert into", "create table", "create or replace", "delete from")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((ORCHESTRATION / folder).rglob("*.py"))


def test_lib_never_imports_the_dagster_wiring():
    offenders = {
        f"{path.relative_to(settings.REPO_ROOT)} imports {name}"
        for path in python_files("lib")
        for name in imports(path)
        if name.startswith(WIRING)
    }
    assert not offenders, sorted(offenders)


def test_defs_modules_do_not_import_each_other_in_a_circle():
    graph = {
        ".".join(path.relative_to(settings.REPO_ROOT).with_suffix("").parts): {
            name
            for name in imports(path)
            if name.startswith("orchestration.defs.") and not name.endswith("__init__")
        }
        for path in python_files("defs")
    }
    # `from orchestration.defs.x.assets import NAME` also records `...assets.NAME`: keep modules
    graph = {module: {d for d in deps if d in graph} for module, deps in graph.items()}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    circles = sorted(module for module in graph if reaches(module, module, {module}))
    assert not circles, circles


def test_defs_hold_no_sql():
    offenders = [
        str(path.relative_to(settings.REPO_ROOT))
        for path in python_files("defs")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(verb in node.value.lower() for verb in SQL_VERBS)
    ]
    assert not offenders, sorted(set(offenders))


def test_duckdb_connections_are_opened_in_one_place():
    """lib/sql.connect turns DuckDB's progress bar off: drawn on the process's own stdout, it
    went past `omni360 run`'s step log into the terminal between the run's progress lines."""
    offenders = [
        f"{path.relative_to(settings.REPO_ROOT)}:{node.lineno}"
        for path in python_files(".")
        if path != ORCHESTRATION / "lib" / "sql.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "connect"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "duckdb"
    ]
    assert not offenders, offenders
