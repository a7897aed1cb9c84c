"""The parse state a run keeps from one dbt build for the next."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.lib import dbt_state
from orchestration.lib.dbt_state import PARTIAL_PARSE, keep_partial_parse


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    return tmp_path / "project"


def test_a_builds_state_replaces_the_projects_and_leaves_nothing_else(
    tmp_path: Path, project: Path
):
    build = tmp_path / "build"
    build.mkdir()
    (build / PARTIAL_PARSE).write_bytes(b"state of this build")
    (project / "target").mkdir(parents=True)
    (project / "target" / PARTIAL_PARSE).write_bytes(b"state of the set-up")
    assert keep_partial_parse(build, project)
    assert (project / "target" / PARTIAL_PARSE).read_bytes() == b"state of this build"
    assert [p.name for p in (project / "target").iterdir()] == [PARTIAL_PARSE]


def test_a_build_without_state_keeps_nothing(tmp_path: Path, project: Path):
    assert not keep_partial_parse(tmp_path / "build", project)
    assert not (project / "target").exists()


def test_a_state_that_cannot_be_written_does_not_fail_the_build(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
):
    build = tmp_path / "build"
    build.mkdir()
    (build / PARTIAL_PARSE).write_bytes(b"state")

    def disk_full(source: Path, path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dbt_state, "copy_atomic", disk_full)
    assert not keep_partial_parse(build, project)


def test_the_target_folder_follows_dbt_target_path(project: Path, monkeypatch: pytest.MonkeyPatch):
    assert dbt_state.project_target(project) == project / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", "/elsewhere/target")
    assert dbt_state.project_target(project) == Path("/elsewhere/target")
