"""What makes a run build everything again: a landing file the lake has not seen, another
setting, another answer key; not a location, and not a file refused before."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.lib import run_state
from orchestration.lib.contracts import entity
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import scan_landing
from orchestration.lib.ingest.loader import unloaded_files
from tests.unit.test_ingest_hostile import DAY, load, member, members_file, write

MEMBERS = entity("crm", "members")


def test_the_inputs_fingerprint_follows_settings_and_the_answer_key_not_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    landing = tmp_path / "landing"
    write(landing, "_truth/records.parquet", b"key")
    before = run_state.inputs_fingerprint(landing)
    monkeypatch.setenv("OMNI360_WAREHOUSE", str(tmp_path / "elsewhere.duckdb"))
    assert run_state.inputs_fingerprint(landing) == before
    monkeypatch.setenv("OMNI360_TOKEN_SECRET", "another secret")
    secret = run_state.inputs_fingerprint(landing)
    assert secret != before and "another secret" not in secret
    monkeypatch.delenv("OMNI360_TOKEN_SECRET")
    write(landing, "_truth/records.parquet", b"another key")
    assert run_state.inputs_fingerprint(landing) != before


def test_files_loaded_or_refused_before_are_not_unloaded(tmp_path: Path):
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    write(landing, f"crm/members/{DAY}/m.csv", members_file(member("M0000001")))
    write(landing, f"crm/members/{DAY}/binary.csv", b"\x00\x01\x02" * 100)

    def unloaded() -> list[str]:
        return unloaded_files(MEMBERS, scan_landing(landing).files_for(MEMBERS), Lake(lake_dir))

    assert unloaded() == [f"crm/members/{DAY}/binary.csv", f"crm/members/{DAY}/m.csv"]
    result = load(landing, lake_dir)
    assert [o.status for o in result.outcomes] == ["refused", "loaded"]
    assert unloaded() == []
    # a copy under another name is new (it is recorded as a skipped copy); so is new content
    write(landing, f"crm/members/{DAY}/copy.csv", members_file(member("M0000001")))
    write(landing, f"crm/members/{DAY}/binary.csv", b"\x00\x03" * 100)
    assert unloaded() == [f"crm/members/{DAY}/binary.csv", f"crm/members/{DAY}/copy.csv"]


def test_a_run_is_recorded_with_the_lake_its_first_build_found(tmp_path: Path):
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    write(landing, f"crm/members/{DAY}/m.csv", members_file(member("M0000001")))
    load(landing, lake_dir)
    inputs = run_state.inputs_fingerprint(landing)
    # the seeds' build may come before the run's own ingestion: it notes no lake
    run_state.start_build(lake_dir, "run-a", reads_lake=False)
    assert run_state.record_complete_run(lake_dir, landing, "run-a", inputs) is None
    run_state.start_build(lake_dir, "run-a")
    found = run_state.lake_digest(Lake(lake_dir))
    # another process loads a file while run-a builds; run-a's later builds keep the first digest
    write(landing, f"crm/members/{DAY}/n.csv", members_file(member("M0000002")))
    load(landing, lake_dir, load_id="L2")
    run_state.start_build(lake_dir, "run-a")
    recorded = run_state.record_complete_run(lake_dir, landing, "run-a", inputs)
    assert recorded is not None and recorded.lake == found
    assert recorded.lake != run_state.lake_digest(Lake(lake_dir))  # the next run builds L2
    assert (lake_dir / run_state.STATE_FILE).exists()
    # a run overtaken by another run's build is not recorded, even after a later build of its
    # own (run-c, run-d, run-c), and the record is forgotten
    run_state.start_build(lake_dir, "run-c")
    run_state.start_build(lake_dir, "run-d", reads_lake=False)
    run_state.start_build(lake_dir, "run-c")
    assert not (lake_dir / run_state.STATE_FILE).exists()
    assert run_state.record_complete_run(lake_dir, landing, "run-c", inputs) is None
    # another run's step that writes the warehouse between two of run-f's (its seeds, its
    # identity resolution) overtakes run-f too
    run_state.start_build(lake_dir, "run-f", reads_lake=False)
    run_state.start_build(lake_dir, "run-g", reads_lake=False)
    run_state.start_build(lake_dir, "run-f")
    assert run_state.record_complete_run(lake_dir, landing, "run-f", inputs) is None
    # an entry that is not one of ours does not stop the builds
    (lake_dir / run_state.BUILDING_FILE).write_text('{"x": 1, "run-h": [2]}')
    # nor is a run whose code or settings changed while it ran
    run_state.start_build(lake_dir, "run-e")
    assert run_state.record_complete_run(lake_dir, landing, "run-e", "other inputs") is None
    assert run_state.record_complete_run(lake_dir, landing, "run-e", inputs) is not None
