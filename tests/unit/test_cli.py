"""The command line: help for every subcommand, clear errors without stack traces."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()


def test_help_lists_every_subcommand():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "run", "ingest", "status", "contracts"):
        assert command in result.output


def test_every_subcommand_explains_its_options():
    generate = runner.invoke(app, ["generate", "--help"]).output
    for option in ("--persons", "--seed", "--out", "--locale", "--start", "--days", "--force"):
        assert option in generate
    assert "--landing" in runner.invoke(app, ["run", "--help"]).output


def test_a_missing_landing_folder_is_a_clear_error(tmp_path: Path):
    result = runner.invoke(
        app,
        ["ingest", "--landing", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w.duckdb")],
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_generate_refuses_a_bad_locale_and_a_non_empty_folder(tmp_path: Path):
    bad = runner.invoke(
        app, ["generate", "--persons", "5", "--out", str(tmp_path / "a"), "--locale", "fr_FR"]
    )
    assert bad.exit_code == 1 and "zh_CN or en_US" in bad.output
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("x")
    busy = runner.invoke(app, ["generate", "--persons", "5", "--out", str(tmp_path / "b")])
    assert busy.exit_code == 1 and "--force" in busy.output


def test_generate_then_ingest_then_status(tmp_path: Path):
    out, warehouse = tmp_path / "landing", tmp_path / "wh" / "omni360.duckdb"
    assert (
        runner.invoke(
            app, ["generate", "--persons", "40", "--days", "14", "--out", str(out)]
        ).exit_code
        == 0
    )
    ingest = runner.invoke(app, ["ingest", "--landing", str(out), "--warehouse", str(warehouse)])
    assert ingest.exit_code == 0, ingest.output
    assert "crm/members:" in ingest.output and "checks passed" in ingest.output
    status = runner.invoke(app, ["status", "--warehouse", str(warehouse)])
    assert status.exit_code == 0 and "crm/members" in status.output
    assert "adds up" in status.output and " NO" not in status.output
    # the lake and the logs hold raw personal data: owner-only
    assert stat.S_IMODE((warehouse.parent / "lake").stat().st_mode) == 0o700
    assert stat.S_IMODE((warehouse.parent / "logs").stat().st_mode) == 0o700
