"""Atomic writes: readers see the old or the new text; a failed write leaves nothing behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from orchestration.lib import files


def test_a_failed_write_keeps_the_old_text_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch
):
    target = tmp_path / "dagster.yaml"
    files.write_atomic(target, "old\n")
    renamed: list[str] = []

    def crash(source, destination):
        renamed.append(Path(source).name)
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, "new\n")

    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dagster.yaml"]
    # the temporary file is named for this process and thread: two writers never share one
    assert renamed == [f".dagster.yaml.{os.getpid()}.{threading.get_ident()}.tmp"]
