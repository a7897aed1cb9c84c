"""Find the files in a landing zone and the problems in its layout."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.contracts import ENTITY_BY_KEY, SOURCES, Entity

EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl"}  # each may be gzip-compressed: `.csv.gz`


@dataclass(frozen=True)
class LandingFile:
    path: Path
    rel_path: str  # relative to the landing root, with forward slashes
    entity: Entity
    delivery_date: dt.date


@dataclass(frozen=True)
class LayoutProblem:
    path: str
    problem: str
    action: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}. {self.action}"


@dataclass
class LandingScan:
    root: Path
    files: dict[str, list[LandingFile]] = field(default_factory=dict)  # entity key -> files
    problems: list[LayoutProblem] = field(default_factory=list)
    missing_sources: list[str] = field(default_factory=list)

    def files_for(self, entity: Entity) -> list[LandingFile]:
        return self.files.get(entity.key, [])

    def problems_for(self, entity: Entity) -> list[LayoutProblem]:
        prefix = f"{entity.source}/{entity.name}/"
        return [p for p in self.problems if p.path.startswith(prefix)]

    def layout_problems(self) -> list[LayoutProblem]:
        """Problems that belong to no known entity (unknown source or entity folders)."""
        known = tuple(f"{e.source}/{e.name}/" for e in ENTITY_BY_KEY.values())
        return [p for p in self.problems if not p.path.startswith(known)]


def _hidden(path: Path) -> bool:
    # `_truth/`, `.DS_Store`, editors' temp files: never part of the contract
    return path.name.startswith(("_", "."))


def scan_landing(root: Path) -> LandingScan:
    """Walk `<root>/<source>/<entity>/<YYYY-MM-DD>/<file>` and sort what is there."""
    root = root.resolve()
    scan = LandingScan(root=root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"landing folder {root} does not exist; pass --landing with the folder that holds "
            f"the source folders ({', '.join(SOURCES)})"
        )
    present = {p.name for p in root.iterdir() if p.is_dir() and not _hidden(p)}
    scan.missing_sources = [s for s in SOURCES if s not in present]
    for source_dir in sorted(p for p in root.iterdir() if not _hidden(p)):
        if not source_dir.is_dir() or source_dir.name not in SOURCES:
            scan.problems.append(
                LayoutProblem(
                    source_dir.name,
                    "unknown source folder"
                    if source_dir.is_dir()
                    else "file outside a source folder",
                    f"the landing root holds only the folders {', '.join(SOURCES)}; "
                    "move or remove it",
                )
            )
            continue
        _scan_source(root, source_dir, scan)
    return scan


def _scan_source(root: Path, source_dir: Path, scan: LandingScan) -> None:
    for entity_dir in sorted(p for p in source_dir.iterdir() if not _hidden(p)):
        rel = f"{source_dir.name}/{entity_dir.name}"
        entity = ENTITY_BY_KEY.get(f"{source_dir.name}.{entity_dir.name}")
        if entity is None or entity.name == "order_lines" or not entity_dir.is_dir():
            known = sorted(k.split(".")[1] for k in ENTITY_BY_KEY if k.startswith(source_dir.name))
            scan.problems.append(
                LayoutProblem(
                    rel,
                    f"unknown entity for source {source_dir.name}",
                    f"expected one of {', '.join(n for n in known if n != 'order_lines')} "
                    "(see docs/landing-zone.md)",
                )
            )
            continue
        for date_dir in sorted(p for p in entity_dir.iterdir() if not _hidden(p)):
            _scan_delivery(root, entity, date_dir, scan)


def _scan_delivery(root: Path, entity: Entity, date_dir: Path, scan: LandingScan) -> None:
    rel = date_dir.relative_to(root).as_posix()
    try:
        delivery = dt.date.fromisoformat(date_dir.name) if date_dir.is_dir() else None
    except ValueError:
        delivery = None
    if delivery is None:
        scan.problems.append(
            LayoutProblem(
                rel,
                "not a delivery-date folder",
                "put files in a folder named by their delivery date, YYYY-MM-DD",
            )
        )
        return
    expected = EXTENSIONS[entity.format]
    for path in sorted(p for p in date_dir.iterdir() if not _hidden(p)):
        rel_file = path.relative_to(root).as_posix()
        if path.is_dir() or not path.name.lower().endswith((expected, expected + ".gz")):
            scan.problems.append(
                LayoutProblem(
                    rel_file,
                    f"unknown file type (expected a {expected} or {expected}.gz file)",
                    f"{entity.key} is delivered as {entity.format}; convert the file or remove it",
                )
            )
            continue
        scan.files.setdefault(entity.key, []).append(
            LandingFile(path=path, rel_path=rel_file, entity=entity, delivery_date=delivery)
        )
