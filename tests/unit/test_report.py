"""The quality history and the auditor's report, on small fabricated inputs."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, replace
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.lib.ingest.lake import ManifestEntry, quarantine_schema
from orchestration.lib.privacy.patterns import (
    PersonalDataFound,
    ensure_no_personal_data,
    find_personal_data,
    mask_text,
)
from orchestration.lib.quality import history, report
from orchestration.lib.quality.audit import observed_and_threshold, tolerated_failures
from orchestration.lib.quality.history import CheckResult, RunRecord

SECTIONS = (
    "summary",
    "checks",
    "row-accounting",
    "identity",
    "pii-scan",
    "consent",
    "personal-data",
    "erasure",
    "trends",
    "lineage",
    "sign-off",
)
RUN_ID = "0f3c9a52-7d41-4e8b-9c11-5a2b7e6d4f10"
AT = dt.datetime(2026, 5, 1, 8, 30)


class Page(HTMLParser):
    """Element ids, data-* attributes and the visible text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.data: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.tags.append(tag)
        self._in_style = tag == "style"
        if values.get("id"):
            self.ids.add(values["id"])
        if any(name.startswith("data-") for name in values):
            self.data.append(values)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def check(name: str, passed: bool = True, **changes) -> CheckResult:
    values = dict(
        run_id=RUN_ID,
        evaluated_at=AT,
        layer="marts",
        asset_key="marts/dim_customer",
        check_name=name,
        severity="ERROR",
        blocking=True,
        passed=passed,
        observed="0" if passed else "3",
        threshold="0",
        description=None,
    )
    values.update(changes)
    return CheckResult(**values)


def entity(source: str, name: str, read: int, quarantined: int, run_read: int) -> dict:
    def counts(rows: int, bad: int) -> dict[str, int]:
        return {
            "files": 2,
            "duplicates": 0,
            "rows_read": rows,
            "rows_loaded": rows - bad,
            "rows_quarantined": bad,
            "rows_suppressed": 0,
            "rows_erased": 0,
        }

    return {
        "source": source,
        "entity": name,
        "lake": counts(read, quarantined),
        "run": counts(run_read, 0),
    }


def fabricated_run(**changes) -> RunRecord:
    rows = report.row_accounting_of(
        [entity("crm", "members", 120, 4, 30), entity("pos", "transactions", 900, 1, 0)]
    )
    rows["top_reasons"] = {
        "crm": [
            {
                "entity": "members",
                "rule": "invalid_type",
                "column": "birth_date",
                "rows_in_lake": 4,
                "rows_in_run": 1,
            }
        ]
    }
    figures = {
        "row_accounting": rows,
        "identity": {
            "resolved": True,
            "figures": {
                "records": 60,
                "resolved_records": 58,
                "linkable_records": 50,
                "customers": 41,
                "ids_created": 41,
                "ids_merged": 0,
                "ids_split": 0,
                "largest_customer_profiles": 3,
                "largest_customer_records": 9,
            },
            "accepted_by_rule": {"same_email": 7},
            "refused": [
                {
                    "reason": "conflicting_national_id",
                    "meaning": "two different national IDs",
                    "is_guard": True,
                    "links": 2,
                }
            ],
            "guards_triggered": 2,
            "largest": [
                {
                    "customer_id": "C000000007",
                    "records": 9,
                    "profiles": 3,
                    "receipts": 6,
                    "sources": "crm, pos",
                }
            ],
            "oversized": [],
            "accuracy": {
                "precision": 0.99812,
                "recall": 0.9,
                "reference_share": 0.92,
                "f1": 0.94,
                "exact_cluster_rate": 0.8,
                "overmerged_customers": 1,
                "split_persons": 3,
                "predicted_pairs": 100,
                "correct_pairs": 99,
                "true_pairs": 110,
                "reference_pairs": 101,
            },
        },
        "consent": {
            "available": True,
            "customers": 41,
            "purposes": [
                {
                    "purpose": "Marketing by SMS",
                    "column": "marketing_sms",
                    "given": 12,
                    "refused": 20,
                    "never_recorded": 9,
                    "share_given": 12 / 41,
                }
            ],
        },
        "erasure": {
            "available": True,
            "total": 1,
            "completed": 1,
            "pending": 0,
            "verified": 1,
            "in_period": 1,
            "latest": [
                {
                    "request_id": "20260501T080000Z-1a2b3c4d",
                    "requested_at": "2026-05-01 08:00:00",
                    "completed_at": "2026-05-01 08:01:00",
                    "identifier_kind": "phone",
                    "subject_token": "9f86d081884c",
                    "customers": 1,
                    "rows_removed": 14,
                    "tables": 5,
                    "verified": True,
                    "in_period": True,
                }
            ],
        },
        "lineage": [
            {
                "layer": "raw",
                "assets": [{"asset": "crm/members", "status": "materialised", "upstream": []}],
            },
            {
                "layer": "marts",
                "assets": [
                    {
                        "asset": "marts/dim_customer",
                        "status": "failed or skipped",
                        "upstream": ["staging/stg_crm__members"],
                    }
                ],
            },
        ],
        "materialised": ["crm/members"],
        "not_run": [{"asset_key": "publish/marts_snapshot", "check_name": "matches"}],
    }
    values = dict(
        run_id=RUN_ID,
        job_name="omni360_main",
        status="FAILURE",
        started_at=AT,
        finished_at=AT + dt.timedelta(seconds=95),
        landing="/data/landing",
        warehouse="/data/omni360.duckdb",
        assets_materialised=1,
        checks_evaluated=3,
        checks_passed=1,
        checks_failed=1,
        checks_warned=1,
        checks_not_run=1,
        blocking_failures=1,
        rows_read=30,
        rows_loaded=30,
        rows_quarantined=0,
        report=figures,
    )
    values.update(changes)
    return RunRecord(**values)


CHECKS = [
    check("unique_dim_customer_customer_id"),
    check("not_null_dim_customer_customer_id", passed=False, description="3 rows are null"),
    check(
        "accuracy_against_answer_key",
        passed=False,
        severity="WARN",
        blocking=False,
        layer="identity",
        asset_key="identity/customer_xref",
    ),
    check("no_clear_pii", observed="0", threshold="0"),
]


def test_the_report_has_every_section_and_the_figures_it_was_given():
    page = Page(report.render_report(fabricated_run(), CHECKS))

    assert set(SECTIONS) <= page.ids
    text = page.visible
    figures = {a["data-figure"]: a for a in page.data if a.get("data-figure")}
    assert {"checks", "passed", "failed", "warnings", "not-run", "rows-read"} <= set(figures)
    assert "FAILED" in text  # an error-severity check failed
    assert "Blocking failures" in text and "not_null_dim_customer_customer_id" in text
    assert "1,020" in text  # rows read in the lake: 120 + 900
    assert "0.9981" in text  # precision, to four places
    assert "C000000007" in text and "conflicting_national_id" in text
    assert "29.3%" in text  # SMS consent given: 12 of 41
    assert "20260501T080000Z-1a2b3c4d" in text
    assert "publish/marts_snapshot" in text  # a check that never ran is listed
    assert "staging/stg_crm__members" in text  # lineage: what dim_customer reads
    outcomes = [a["data-outcome"] for a in page.data if a.get("class") == "check"]
    # those that did not pass come first, then again in the list of every check by layer
    assert sorted(outcomes[:2]) == ["failed", "warning"]
    assert sorted(outcomes[2:]) == ["failed", "passed", "passed", "warning"]


def test_a_run_whose_checks_all_passed_says_so_and_sections_without_data_say_why():
    run = fabricated_run(status="SUCCESS", checks_not_run=0, report={})
    page = Page(report.render_report(run, [check("unique_dim_customer_customer_id")]))

    assert set(SECTIONS) <= page.ids
    assert next(a for a in page.data if "data-status" in a)["data-status"] == "PASSED"
    text = page.visible
    assert "Identity resolution did not run in this run" in text
    assert "The PII scan did not run in this run" in text
    assert "marts.dim_customer has not been built" in text
    assert "None: no erasure request has been recorded" in text


def test_a_warning_alone_gives_passed_with_warnings():
    run = fabricated_run(status="SUCCESS", checks_not_run=0)
    summary = report.summarise(run, [check("a"), check("b", passed=False, severity="WARN")])
    assert summary["status"] == "PASSED WITH WARNINGS"
    assert (summary["passed"], summary["warnings"], summary["failed"]) == (1, 1, 0)


def test_text_from_checks_is_escaped_not_rendered_as_markup():
    hostile = check("x", passed=False, description='<script>alert("x")</script><b>bold</b>')
    html = report.render_report(fabricated_run(), [hostile])
    page = Page(html)

    assert "script" not in page.tags and "b" not in page.tags
    assert "&lt;script&gt;" in html
    assert '<script>alert("x")</script>' in page.visible


def test_the_safety_net_refuses_a_planted_phone_number_and_writes_nothing(tmp_path: Path):
    planted = check("x", passed=False, description="value 13812345678 is not allowed")
    with pytest.raises(PersonalDataFound, match="phone") as refused:
        report.write_report(tmp_path, fabricated_run(), [planted])
    assert "13812345678" not in str(refused.value)  # the message masks what it found
    assert not (tmp_path / RUN_ID / "index.html").exists()


def test_the_safety_net_refuses_a_planted_email_and_full_width_phone():
    with pytest.raises(PersonalDataFound, match="email"):
        ensure_no_personal_data("<td>zhang.wei@example.cn</td>", "page")
    with pytest.raises(PersonalDataFound):
        ensure_no_personal_data("<td>１３９１２３４５６７８</td>", "page")
    with pytest.raises(PersonalDataFound, match="national_id"):
        ensure_no_personal_data("<td>110105199003071234</td>", "page")


def test_the_safety_net_lets_a_clean_report_through(tmp_path: Path):
    path = report.write_report(tmp_path, fabricated_run(), CHECKS)
    assert path == tmp_path / RUN_ID / "index.html"
    assert find_personal_data(path.read_text(encoding="utf-8")) == []


def test_masking_hides_identifiers_in_check_text():
    masked = mask_text("rejected 138-1234-5678 and li.na@qq.com in line 4")
    assert "1234" not in masked and "li.na" not in masked
    assert masked.endswith("in line 4")
    assert find_personal_data(masked) == []


def test_the_history_keeps_one_row_per_evaluation_when_a_run_is_recorded_again():
    con = duckdb.connect()
    run = fabricated_run()

    assert history.record_run(con, run, CHECKS) == len(CHECKS)
    assert history.record_run(con, replace(run, status="FAILURE"), CHECKS) == 0
    later = check("unique_dim_customer_customer_id", evaluated_at=AT + dt.timedelta(minutes=1))
    assert history.record_run(con, run, [*CHECKS, later]) == 1

    assert con.execute("select count(*) from audit.check_results").fetchone()[0] == len(CHECKS) + 1
    assert con.execute("select count(*) from audit.runs").fetchone()[0] == 1
    stored = history.read_run(con, RUN_ID)
    assert stored is not None and stored.report == json.loads(json.dumps(run.report))
    assert set(history.read_checks(con, RUN_ID)) == {*CHECKS, later}
    assert history.latest_run_id(con) == RUN_ID


def test_erased_customers_are_removed_from_recorded_figures():
    con = duckdb.connect()
    history.record_run(con, fabricated_run(), CHECKS)
    con.execute("create schema identity")
    con.execute(
        "create table identity.customer_ids as "
        "select 'C000000007' as customer_id, 'erased' as status"
    )

    assert history.forget_erased_customers(con) == 1
    figures = history.read_run(con, RUN_ID).report
    assert figures["identity"]["largest"][0]["customer_id"] == "[erased]"


def test_the_index_lists_runs_newest_first(tmp_path: Path):
    con = duckdb.connect()
    older = fabricated_run(run_id="11111111-aaaa", started_at=AT - dt.timedelta(days=1))
    history.record_run(con, older, CHECKS[:1])
    history.record_run(con, fabricated_run(), CHECKS)

    page = Page(report.write_index(tmp_path, history.list_runs(con)).read_text(encoding="utf-8"))
    assert [a["data-run-id"] for a in page.data if "data-run-id" in a] == [
        RUN_ID,
        "11111111-aaaa",
    ]


def _evaluation(metadata: dict, name: str = "c") -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["marts", "dim_customer"]),
        check_name=name,
        passed=True,
        metadata=metadata,
    )


def test_observed_and_threshold_come_from_the_check_or_from_dbt_failing_rows():
    assert observed_and_threshold(_evaluation({"observed": 3, "threshold": 0})) == ("3", "0")
    dbt_test = {"dagster_dbt/failed_row_count": 2, "unique_id": "test.omni360.unknown"}
    assert observed_and_threshold(_evaluation(dbt_test)) == ("2", "0")
    listed = {"mismatches": dg.MetadataValue.json(["a", "b"]), "files_checked": 4}
    assert observed_and_threshold(_evaluation(listed)) == ("2", "0")
    assert observed_and_threshold(_evaluation({"seconds": 1.5})) == (None, None)


def test_a_dbt_condition_becomes_the_failing_rows_it_tolerates():
    assert tolerated_failures("!= 0") == "0"
    assert tolerated_failures("> 10") == "10"
    assert tolerated_failures(">= 5") == "4"
    assert tolerated_failures("between 1 and 2") == "between 1 and 2"


def test_row_accounting_reads_rules_and_counts_never_the_quarantined_lines(tmp_path: Path):
    lake = tmp_path / "lake"
    folder = lake / "_ops" / "manifest" / "crm" / "members"
    folder.mkdir(parents=True)
    for file_id, load_id, read, bad in (
        ("a", "20260501T000000Z-0f3c9a52", 10, 1),  # loaded by the run RUN_ID
        ("b", "20260401T000000Z-99999999", 5, 0),
    ):
        entry = ManifestEntry(
            file_id,
            f"{file_id}.csv",
            "crm",
            "members",
            "2026-05-01",
            1,
            "x",
            load_id,
            "2026-05-01",
            "loaded",
            None,
            read,
            read - bad,
            bad,
            0,
            0,
        )
        (folder / f"{file_id}.json").write_text(json.dumps(asdict(entry)), encoding="utf-8")
    quarantine = lake / "quarantine" / "crm" / "members"
    quarantine.mkdir(parents=True)
    row = {
        "source": "crm", "entity": "members", "source_file": "a.csv", "line_no": 3,
        "record_key": "M1", "rule": "invalid_type", "column_name": "phone",
        "reason": "phone '13812345678' is not valid", "raw_content": "M1,张伟,13812345678",
        "load_id": "20260501T000000Z-0f3c9a52", "quarantined_at": AT,
    }  # fmt: skip
    pq.write_table(pa.Table.from_pylist([row], quarantine_schema()), quarantine / "a.parquet")

    rows = report.row_accounting(lake, RUN_ID)

    members = next(e for e in rows["entities"] if e["entity"] == "members")
    assert members["lake"]["rows_read"] == 15 and members["run"]["rows_read"] == 10
    assert rows["totals"]["lake"]["rows_quarantined"] == 1
    assert rows["top_reasons"]["crm"] == [
        {"entity": "members", "rule": "invalid_type", "column": "phone", "rows_in_lake": 1,
         "rows_in_run": 1}
    ]  # fmt: skip
    html = report.render_report(fabricated_run(report={"row_accounting": rows}), CHECKS)
    assert "13812345678" not in html and "张伟" not in html


def test_consent_identity_and_erasure_figures_come_from_the_warehouse():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_customer as "
        "select * from (values ('C1'), ('C2'), ('C3')) as t(customer_id)"
    )
    # C1: SMS granted, WeChat withdrawn; C2: SMS withdrawn; C3: never asked anything
    con.execute(
        "create table marts.fct_customer_consents as select * from (values "
        "('C1', 'marketing_sms', true), ('C1', 'marketing_wechat', false), "
        "('C2', 'marketing_sms', false)) as t(customer_id, purpose, is_granted)"
    )
    consent = report.consent_coverage(con)
    by_purpose = {p["column"]: p for p in consent["purposes"]}
    assert consent["customers"] == 3
    figures = ("given", "refused", "never_recorded")
    assert tuple(by_purpose["marketing_sms"][f] for f in figures) == (1, 1, 1)
    assert tuple(by_purpose["marketing_email"][f] for f in figures) == (0, 0, 3)
    assert tuple(by_purpose["any_marketing"][f] for f in figures) == (1, 1, 1)

    assert report.identity_figures(con, RUN_ID, None) == {"resolved": False}
    assert report.erasure_requests(con, None, None) == {"available": False}
    con.execute("create schema audit")
    con.execute(
        "create table audit.erasure_requests as select '20260501-1' as request_id, "
        "timestamp '2026-05-01 08:00' as requested_at, timestamp '2026-05-01 08:01' as "
        "completed_at, 'phone' as identifier_kind, repeat('ab', 32) as subject_token, "
        '1::bigint as customers, \'{"raw.crm.members": 2, "marts.dim_customer": 1}\'::json '
        "as rows_removed, true as verified, 'done' as detail"
    )
    erasure = report.erasure_requests(con, AT - dt.timedelta(days=1), AT)
    assert (erasure["total"], erasure["verified"], erasure["in_period"]) == (1, 1, 1)
    assert erasure["latest"][0]["rows_removed"] == 3
    assert erasure["latest"][0]["subject_token"] == "ab" * 6  # shortened


def test_trends_chart_the_recorded_runs_up_to_this_one():
    con = duckdb.connect()
    older, newer = fabricated_run(), fabricated_run()
    runs = [
        replace(older, run_id="a" * 8 + RUN_ID[8:], started_at=AT - dt.timedelta(days=2)),
        replace(older, run_id="b" * 8 + RUN_ID[8:], started_at=AT - dt.timedelta(days=1)),
        replace(newer, started_at=AT),
        replace(newer, run_id="c" * 8 + RUN_ID[8:], started_at=AT + dt.timedelta(days=1)),
    ]
    for index, run in enumerate(runs):
        run = replace(run, checks_failed=index, rows_read=100, rows_quarantined=index * 5)
        history.record_run(con, run, [])
    trends = history.trends(con, RUN_ID)
    # oldest first, up to this run: the later run is not in its report
    assert [t["run_id"][:1] for t in trends] == ["a", "b", RUN_ID[:1]]
    page = Page(report.render_report(fabricated_run(), CHECKS, trends=trends))
    charts = {a["data-chart"]: a["data-values"] for a in page.data if a.get("data-chart")}
    assert charts["checks-failed"] == "0|1|2"
    assert charts["quarantine-rate"] == "0.00%|5.00%|10.00%"
    assert page.tags.count("rect") >= 3 * len(charts) - 3  # a zero still draws a sliver


def test_the_report_lists_the_personal_data_inventory_and_writes_its_checks_as_csv(
    tmp_path: Path,
):
    inventory = [
        {
            "place": "marts",
            "table": "marts.dim_customer",
            "columns": {"direct": ["phone_masked", "phone_token"], "quasi": ["city"]},
            "treatments": ["hmac_token", "mask_phone"],
            "readers": "data engineer; analysts",
        }
    ]
    run = fabricated_run(report={**fabricated_run().report, "inventory": inventory})
    path = report.write_report(tmp_path, run, CHECKS)
    page = Page(path.read_text(encoding="utf-8"))
    rows = [a for a in page.data if a.get("class") == "inventory"]
    assert [r["data-table"] for r in rows] == ["marts.dim_customer"]
    assert "mask_phone" in page.visible and "phone_token" in page.visible
    table = (path.parent / "checks.csv").read_text(encoding="utf-8").splitlines()
    assert table[0].startswith("layer,asset_key,check_name,outcome,severity")
    assert len(table) == 1 + len(CHECKS)
    assert any(",failed,ERROR," in line for line in table[1:])


def test_the_report_needs_nothing_from_the_network(tmp_path: Path):
    path = report.write_report(tmp_path, fabricated_run(), CHECKS)
    html = path.read_text(encoding="utf-8")
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html) == []
    assert re.findall(r"url\(\s*['\"]?(?:https?:)?//", html) == []
    assert "@import" not in html
