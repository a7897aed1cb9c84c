"""The command line: help for every subcommand, clear errors without stack traces."""

from __future__ import annotations

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
