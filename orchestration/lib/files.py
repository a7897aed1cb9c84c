"""Files on disk: atomic writes, and who may read them.

The lake, the warehouse file and the run logs hold raw personal data: they are owner-only
(folders 0700, files 0600). The published snapshot and the auditor's reports hold none (masked
marts; reports pass a personal-data safety net): readable by others (0755/0644), so BI tools and
auditors running as other users can open them. See docs/compliance.md#file-permissions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

PRIVATE_UMASK = 0o077  # whatever a run creates is owner-only unless made public on purpose
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
PUBLIC_DIR, PUBLIC_FILE = 0o755, 0o644


def restrict_new_files() -> int:
    """From now on this process (and the dbt it starts) creates owner-only files; returns the
    previous umask."""
    return os.umask(PRIVATE_UMASK)


def write_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Write `path` through a temporary file and a rename (`_replacing`): readers see the old or
    the new text, never half of it. `durable` also waits until the bytes are on disk."""
    with _replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())


def copy_atomic(source: Path, path: Path) -> None:
    """Copy `source` over `path` through a temporary file and a rename (`_replacing`): readers
    see the old or the new bytes."""
    with _replacing(path) as tmp:
        shutil.copyfile(source, tmp)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path`, named for this process and thread (two writers never
    write the same one), renamed over `path` when the block succeeds and removed in any case."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def make_private(path: Path) -> None:
    """Owner-only: a folder 0700, a file 0600 (no-op when it does not exist)."""
    if path.is_dir():
        path.chmod(PRIVATE_DIR)
    elif path.is_file():
        path.chmod(PRIVATE_FILE)


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) owner-only; an existing folder is made owner-only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)
    return path


def public_dir(path: Path) -> Path:
    """Create `path` readable by others (its missing parents too, so they can reach it)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in [path, *missing]:
        folder.chmod(PUBLIC_DIR)
    return path


def make_public(path: Path) -> None:
    """Readable by others: a folder and everything in it 0755/0644, or one file 0644."""
    if path.is_file():
        path.chmod(PUBLIC_FILE)
        return
    if not path.is_dir():
        return
    path.chmod(PUBLIC_DIR)
    for item in path.rglob("*"):
        item.chmod(PUBLIC_DIR if item.is_dir() else PUBLIC_FILE)
