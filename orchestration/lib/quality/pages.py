"""Static HTML pages of the Great Expectations results of a run, at `<reports>/<run id>/checks/`:
one page per suite (`<suite>.html`) and an index of them (`index.html`).

Each page is self-contained (inline CSS, no scripts, no link outside the reports), so it reads the
same offline. A suite's status is the one the auditor's report gives: passed, failed (a critical
rule failed) or passed with warnings (only warning rules failed).

Pages are built from scrubbed results only (`ExpectationResult`: no value of a personal-data
column, no row position) and pass the personal-data safety net before they are written. A suite
page in which the net still finds something shaped like personal data (a column not declared
personal, or a false alarm) is written without its observed values, descriptions, samples and
errors, and says so; one that would still hold some is refused. The steps
of a run, possibly in several processes, add their suites one call at a time: each suite leaves a
small JSON summary next to its page, and the index is rebuilt from all of them under a file lock.

Plain code: no Dagster objects (see orchestration/defs/quality/checks.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orchestration.lib.files import make_public, public_dir, write_atomic
from orchestration.lib.privacy.patterns import ensure_no_personal_data, find_personal_data
from orchestration.lib.quality.expectations import (
    CRITICAL,
    ExpectationResult,
    SuiteResult,
    sample_text,
)
from orchestration.lib.quality.rendering import environment

PASSED, FAILED, WARNED = "passed", "failed", "passed with warnings"
STATUS_CLASS = {PASSED: "passed", FAILED: "failed", WARNED: "warning"}  # classes of _style
INDEX = "index.html"
WITHHELD = "withheld (personal data)"
REDACTED = "withheld (shaped like personal data)"
_LOCK = ".pages.lock"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def suite_status(result: SuiteResult) -> str:
    """Passed if every rule passed; failed if a critical rule failed; else passed with warnings."""
    failed = [item for item in result.results if not item.passed]
    if not failed:
        return PASSED
    return FAILED if any(item.severity == CRITICAL for item in failed) else WARNED


class CheckPages:
    """The check pages of one run at `root`. Several steps (or processes) of the run call `add`
    for their own suites; the index lists every suite added so far."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.root = root
        self.run_id = run_id

    @property
    def index(self) -> Path:
        return self.root / INDEX

    def page(self, suite: str) -> Path:
        return self.root / f"{_file_name(suite)}.html"

    def summary(self, suite: str) -> Path:
        return self.root / f"{_file_name(suite)}.json"

    def add(self, results: Sequence[SuiteResult]) -> dict[str, Path]:
        """Write the page and summary of each suite, then the index; return each suite's page."""
        if not results:
            return {}
        checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        # rendered and checked before anything is written: a refused page leaves no trace
        files: dict[Path, str] = {}
        for result in results:
            summary = suite_summary(result, checked_at)
            page = self.page(result.suite.name)
            html = self._render_suite(result, summary)
            findings = find_personal_data(html)
            if findings:
                kinds = ", ".join(sorted({finding.kind for finding in findings}))
                summary["withheld"] = (
                    f"{len(findings)} value(s) shaped like personal data ({kinds}) were found, so "
                    "observed values, descriptions, samples and errors are withheld from this page"
                )
                html = self._render_suite(result, summary, redacted=True)
            files[page] = html
            files[self.summary(result.suite.name)] = json.dumps(
                summary, indent=2, ensure_ascii=False
            )
        for path, text in files.items():
            ensure_no_personal_data(text, str(path))
        public_dir(self.root)
        with _locked(self.root / _LOCK):
            for path, text in files.items():
                write_atomic(path, text, durable=False)
            summaries = [
                json.loads(path.read_text(encoding="utf-8"))
                for path in sorted(self.root.glob("*.json"))
            ]
            html = self._render_index(summaries)
            ensure_no_personal_data(html, str(self.index))
            write_atomic(self.index, html, durable=False)
            # auditors read the reports under their own accounts: they hold no personal data
            make_public(self.root)
        return {result.suite.name: self.page(result.suite.name) for result in results}

    def _render_suite(
        self, result: SuiteResult, summary: dict[str, Any], *, redacted: bool = False
    ) -> str:
        return (
            environment()
            .get_template("suite.html.j2")
            .render(
                run_id=self.run_id,
                suite=summary,
                error=REDACTED if redacted and result.error else result.error,
                rules=[rule_view(item, redacted=redacted) for item in result.results],
            )
        )

    def _render_index(self, summaries: list[dict[str, Any]]) -> str:
        suites = sorted(summaries, key=lambda s: (s["asset"], s["suite"]))
        statuses = [s["status"] for s in suites]
        return (
            environment()
            .get_template("suites.html.j2")
            .render(
                run_id=self.run_id,
                suites=suites,
                counts={status: statuses.count(status) for status in STATUS_CLASS},
            )
        )


def suite_summary(result: SuiteResult, checked_at: str) -> dict[str, Any]:
    """What the index shows of a suite, kept as JSON next to its page: figures and names only."""
    status = suite_status(result)
    failed = [item for item in result.results if not item.passed]
    return {
        "suite": result.suite.name,
        "description": result.suite.description,
        "asset": "/".join(result.suite.asset),
        "status": status,
        "status_class": STATUS_CLASS[status],
        "rows": None if result.error else result.rows,
        "rules": len(result.results),
        "passed": len(result.results) - len(failed),
        "failed_critical": sum(1 for item in failed if item.severity == CRITICAL),
        "failed_warning": sum(1 for item in failed if item.severity != CRITICAL),
        "seconds": round(result.read_seconds + result.validate_seconds, 3),
        "failed_to_run": result.error is not None,
        "read_on": result.read_on,
        "validated_on": result.validated_on,
        "page": f"{_file_name(result.suite.name)}.html",
        "checked_at": checked_at,
        "withheld": None,
    }


def rule_view(item: ExpectationResult, *, redacted: bool = False) -> dict[str, Any]:
    """One row of a suite page, every figure already as text; `redacted` withholds whatever
    came from the rows (observed value, description, samples, error)."""
    if redacted:
        samples: list[str] | str | None = REDACTED if item.samples else None
    elif item.samples is not None:
        samples = [sample_text(value) for value in item.samples]
    elif item.pii and item.unexpected_count:
        samples = WITHHELD
    else:
        samples = None
    return {
        "name": item.name,
        "description": REDACTED if redacted else item.description,
        "expectation": item.expectation,
        "columns": list(item.columns),
        "severity": item.severity,
        "passed": item.passed,
        "outcome": rule_outcome(item),
        "observed": REDACTED if redacted else _figure(item.observed),
        "threshold": item.threshold,
        "unexpected_count": _figure(item.unexpected_count),
        "unexpected_percent": (
            "—" if item.unexpected_percent is None else f"{item.unexpected_percent:.4g}%"
        ),
        "samples": samples,
        "error": REDACTED if redacted and item.error else item.error,
    }


def rule_outcome(item: ExpectationResult) -> str:
    """passed, failed (a critical rule) or warning (a failed warning rule), as the report says."""
    if item.passed:
        return "passed"
    return "failed" if item.severity == CRITICAL else "warning"


def _figure(value: str | int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.6g}"


def _file_name(suite: str) -> str:
    if not _FILE_NAME.match(suite) or suite == INDEX.removesuffix(".html"):
        raise ValueError(
            f"suite {suite!r}: cannot be a page name; use letters, digits, '_', '.' or '-' "
            "(and not 'index')"
        )
    return suite


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
