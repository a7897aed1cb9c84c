"""The check pages of a run: one self-contained page per suite and an index of every suite added,
with the status the auditor's report gives, and nothing from outside the reports folder."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pandas as pd
import pytest

from orchestration.lib.privacy.patterns import PersonalDataFound
from orchestration.lib.quality.expectations import (
    CRITICAL,
    WARNING,
    ExpectationResult,
    Severity,
    Suite,
    SuiteResult,
)
from orchestration.lib.quality.pages import CheckPages, suite_status


def rule(
    name: str,
    passed: bool,
    severity: Severity = CRITICAL,
    *,
    samples: tuple | None = None,
    pii: bool = False,
    unexpected: int | None = None,
    error: str | None = None,
) -> ExpectationResult:
    return ExpectationResult(
        suite="s",
        name=name,
        expectation="expect_column_values_to_be_in_set",
        columns=("status",),
        passed=passed,
        severity=severity,
        observed=f"{unexpected or 0} of 40 rows unexpected",
        threshold="status in {paid, completed}",
        rows=40,
        unexpected_count=unexpected if unexpected is not None else (0 if passed else 2),
        unexpected_percent=None if unexpected is None else unexpected / 40 * 100,
        samples=samples,
        pii=pii,
        description=f"rule {name} says what it saw",
        error=error,
    )


def suite_result(
    name: str, *rules: ExpectationResult, error: str | None = None, asset: str = "orders"
) -> SuiteResult:
    suite = Suite(
        name=name,
        asset=("marts", asset),
        description=f"the {name} suite",
        rules=(),
        frame=lambda lake, parameters: pd.DataFrame(),
        reads_warehouse=False,
    )
    return SuiteResult(suite, 0 if error else 40, 0.25, 1.5, tuple(rules), error)


def status_on(page: Path) -> str:
    found = re.search(r'class="status [a-z]+" data-status="([a-z ]+)"', page.read_text("utf-8"))
    assert found, page
    return found.group(1)


def test_a_suite_whose_only_failures_are_warnings_passed_with_warnings(tmp_path: Path):
    result = suite_result(
        "warned",
        rule("known", True),
        rule("fresh", False, WARNING, samples=("lost",), unexpected=2),
    )
    pages = CheckPages(tmp_path, "run-1").add([result])
    assert suite_status(result) == "passed with warnings"
    assert status_on(pages["warned"]) == "passed with warnings"
    index = (tmp_path / "index.html").read_text("utf-8")
    assert 'data-suite="warned" data-status="passed with warnings"' in index


def test_a_failed_critical_rule_fails_the_suite(tmp_path: Path):
    result = suite_result(
        "broken", rule("fresh", False, WARNING), rule("known", False, CRITICAL), rule("ok", True)
    )
    pages = CheckPages(tmp_path, "run-1").add([result])
    assert suite_status(result) == "failed" and status_on(pages["broken"]) == "failed"
    passing = suite_result("fine", rule("known", True))
    assert suite_status(passing) == "passed"
    assert status_on(CheckPages(tmp_path, "run-1").add([passing])["fine"]) == "passed"


def test_the_index_lists_the_suites_of_every_add_of_the_run(tmp_path: Path):
    # as two check steps (two processes) of one run would
    first = CheckPages(tmp_path / "checks", "run-2").add([suite_result("orders", rule("a", True))])
    second = CheckPages(tmp_path / "checks", "run-2").add(
        [
            suite_result("customers", rule("b", False, WARNING), asset="customers"),
            suite_result("lines", rule("c", False), asset="lines"),
        ]
    )
    assert set(first) == {"orders"} and set(second) == {"customers", "lines"}
    index = (tmp_path / "checks" / "index.html").read_text("utf-8")
    for name in ("orders", "customers", "lines"):
        assert f'href="{name}.html"' in index and (tmp_path / "checks" / f"{name}.html").is_file()
    assert index.count('<tr class="suite"') == 3
    # adding a suite again (a retried step) replaces its row
    CheckPages(tmp_path / "checks", "run-2").add([suite_result("orders", rule("a", False))])
    index = (tmp_path / "checks" / "index.html").read_text("utf-8")
    assert index.count('<tr class="suite"') == 3
    assert 'data-suite="orders" data-status="failed"' in index


def test_pages_reference_nothing_outside_the_reports(tmp_path: Path):
    CheckPages(tmp_path, "run-3").add(
        [
            suite_result("a", rule("x", False, samples=("lost", None), unexpected=2)),
            suite_result("b", rule("y", False, WARNING), error="could not read the data: IOError"),
        ]
    )
    pages = sorted(tmp_path.glob("*.html"))
    assert [p.name for p in pages] == ["a.html", "b.html", "index.html"]
    for page in pages:
        html = page.read_text("utf-8")
        for external in ("http://", "https://", 'src="//', 'href="//', "src='//", "href='//"):
            assert external not in html, (page.name, external)
        assert "<script" not in html and "url(" not in html and "@import" not in html
        for link in re.findall(r'(?:href|src)="([^"]*)"', html):
            assert link.startswith("#") or re.fullmatch(r"(\.\./)?[a-z_]+\.html", link), link


def test_a_suite_page_shows_every_rule_with_its_figures(tmp_path: Path):
    result = suite_result(
        "orders",
        rule("status_known", False, samples=("lost", 7), unexpected=2),
        rule("phone_e164", False, WARNING, pii=True, unexpected=3),
        rule("email_set", False, WARNING, pii=True, unexpected=0),
        rule("amount", False, error="TypeError"),
    )
    html = CheckPages(tmp_path, "run-4").add([result])["orders"].read_text("utf-8")
    assert "the orders suite" in html and "<code>marts/orders</code>" in html
    rows = html.split('<tr class="rule"')[1:]
    assert [re.search(r'data-rule="(\w+)"', r).group(1) for r in rows] == [
        "status_known",
        "phone_e164",
        "email_set",
        "amount",
    ]
    status, phone, email, amount = rows
    assert "expect_column_values_to_be_in_set" in status and "status in {paid, completed}" in status
    assert "&#34;lost&#34;" in status and "<code>7</code>" in status and "5%" in status
    assert "withheld (personal data)" in phone and "withheld" not in email
    assert "TypeError" in amount and 'data-outcome="failed"' in amount
    assert 'data-outcome="warning"' in phone


def test_a_suite_that_could_not_read_its_frame_shows_why(tmp_path: Path):
    result = suite_result(
        "broken",
        rule("a", False, error="not measured"),
        error="could not read the data: CatalogException: marts.not_there",
    )
    html = CheckPages(tmp_path, "run-5").add([result])["broken"].read_text("utf-8")
    assert "could not read the data: CatalogException: marts.not_there" in html


def test_pages_are_readable_by_auditors_like_the_report(tmp_path: Path):
    previous = os.umask(0o077)  # as a run creates files
    try:
        CheckPages(tmp_path / "run" / "checks", "run-6").add([suite_result("a", rule("x", True))])
    finally:
        os.umask(previous)
    root = tmp_path / "run" / "checks"
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    for path in root.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_values_shaped_like_personal_data_are_withheld_from_the_page(tmp_path: Path):
    # a column not declared personal whose samples are phone numbers: the safety net finds them
    phone = "13912345678"
    leaky = suite_result(
        "leaky",
        rule("x", False, samples=(phone,), unexpected=1),
        rule("y", False, WARNING, samples=("lost",), unexpected=1),
    )
    pages = CheckPages(tmp_path, "run-7").add([leaky])
    written = "".join(p.read_text("utf-8") for p in tmp_path.iterdir() if p.is_file())
    assert phone not in written and "lost" not in written
    html = pages["leaky"].read_text("utf-8")
    assert "withheld (shaped like personal data)" in html and "phone_cn" in html
    assert status_on(pages["leaky"]) == "failed"  # the figures that hold no values stay
    assert "values withheld" in (tmp_path / "index.html").read_text("utf-8")


def test_a_page_that_would_still_hold_personal_data_is_not_written(tmp_path: Path):
    leaky = suite_result("leaky", rule("x", True))
    leaky = SuiteResult(
        Suite(
            name="leaky",
            asset=("marts", "orders"),
            description="call 13912345678 when it fails",
            rules=(),
            frame=lambda lake, parameters: pd.DataFrame(),
            reads_warehouse=False,
        ),
        *(leaky.rows, leaky.read_seconds, leaky.validate_seconds, leaky.results),
    )
    with pytest.raises(PersonalDataFound):
        CheckPages(tmp_path, "run-8").add([leaky])
    assert list(tmp_path.iterdir()) == []


def test_float_samples_read_as_figures_not_as_card_numbers(tmp_path: Path):
    ratio = 0.013157894736842105  # its 17 digits pass the Luhn check of a card number
    result = suite_result("volume", rule("x", False, WARNING, samples=(ratio,), unexpected=1))
    html = CheckPages(tmp_path, "run-9").add([result])["volume"].read_text("utf-8")
    assert "<code>0.013157895</code>" in html and "withheld" not in html
