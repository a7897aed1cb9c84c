"""Right to erasure on the sample: erase one customer, deliver their files again, find nothing.

Works on a copy of the sample run's warehouse folder (lake, warehouse, published snapshot,
reports), so the other integration tests keep theirs.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from orchestration import settings
from orchestration.cli import app
from orchestration.lib import progress
from orchestration.lib.contracts import ENTITIES
from orchestration.lib.erasure import find_subject, find_traces, terms_pattern
from orchestration.lib.identity import normalise
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.privacy.tokens import token
from tests.integration.conftest import SampleRun, run_main_job

# an erasure rebuilds the warehouse, and the re-delivery test runs the pipeline once more
pytestmark = pytest.mark.slow


@dataclass
class Erased:
    root: Path  # the copied warehouse folder
    landing: Path
    customer_id: str
    phone: str  # E.164
    terms: list[str]  # every identifier of the subject, as delivered and normalised
    member_file: str  # a landing file holding the subject's member row
    cli_output: str
    exit_code: int
    rerun_success: bool


def pick_subject(con: duckdb.DuckDBPyConnection) -> tuple[str, str, list[str]]:
    """A customer with a member record, an order, and a phone and email nobody else holds."""
    row = con.execute(
        """
        with phones as (
            select identifier_value as phone, count(distinct xref.customer_id) as holders,
                any_value(xref.customer_id) as customer_id
            from identity.int_identity__identifiers as ids
            inner join identity.customer_xref as xref using (record_key)
            where identifier_type = 'phone'
            group by identifier_value
        )
        select phones.customer_id, phones.phone
        from phones
        inner join marts.dim_customer as customers using (customer_id)
        where phones.holders = 1
            and customers.orders > 0
            and customers.customer_id in (
                select customer_id from identity.customer_xref where entity = 'members'
            )
            and customers.customer_id in (
                select customer_id from identity.customer_xref where entity = 'customers'
            )
        order by customers.orders desc, phones.phone
        limit 1
        """
    ).fetchone()
    assert row, "the sample has no customer with a member record, an order and their own phone"
    customer_id, phone = row
    terms = [
        value
        for (value,) in con.execute(
            """
            select distinct source_record_id from identity.customer_xref where customer_id = ?
            union
            select distinct identifier_value from identity.int_identity__identifiers
            where record_key in (
                select record_key from identity.customer_xref where customer_id = ?
            ) and identifier_type in ('phone', 'email', 'national_id')
            """,
            [customer_id, customer_id],
        ).fetchall()
    ]
    return customer_id, phone, terms


@pytest.fixture(scope="module")
def erased(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> Erased:
    root = tmp_path_factory.mktemp("erasure") / "warehouse"
    # symlinks kept: published/parquet/current is one
    shutil.copytree(sample_run.warehouse.parent, root, symlinks=True)
    landing = root.parent / "landing"
    shutil.copytree(sample_run.landing, landing)
    warehouse = root / "omni360.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        customer_id, phone, terms = pick_subject(con)
        member_id = con.execute(
            "select source_record_id from identity.customer_xref "
            "where customer_id = ? and entity = 'members' order by 1 limit 1",
            [customer_id],
        ).fetchone()[0]
    lake = root / "lake"
    with duckdb.connect() as con:
        raw_phones = con.execute(
            f"select distinct phone, email, _source_file from read_parquet("
            f"'{lake}/raw/crm/members/*.parquet') where member_id = ?",
            [member_id],
        ).fetchall()
    terms += [t for row in raw_phones for t in row[:2] if t] + [phone[-11:]]
    # positive control: before erasure the search finds the subject everywhere it should
    before, _ = find_traces([lake / "raw", root / "published"], [warehouse], [phone, *terms])
    assert any("omni360.duckdb" in t for t in before) and any("raw" in t for t in before)
    with pytest.MonkeyPatch.context() as patch:
        for var in ("OMNI360_LANDING", "OMNI360_WAREHOUSE", "OMNI360_LAKE", "OMNI360_PUBLISHED"):
            patch.delenv(var, raising=False)
        patch.delenv("OMNI360_REPORTS", raising=False)
        result = CliRunner().invoke(
            app,
            [
                "erase",
                "--identifier",
                f"phone:{phone}",
                "--landing",
                str(landing),
                "--warehouse",
                str(warehouse),
            ],
        )
        progress.clear()  # the command's progress printer wrote to its (now closed) output
        # re-delivery: the subject's member file again under a new name (skipped as identical)
        # and the subject's lines in a new file with new bytes (parsed, then suppressed)
        member_file = raw_phones[0][2]
        # bytes: the sample's files carry deliberately broken lines (invalid UTF-8)
        original = (landing / member_file).read_bytes()
        header, *lines = original.splitlines(keepends=True)
        mine = [line for line in lines if line.startswith(f"{member_id},".encode())]
        assert mine
        redelivery = landing / "crm" / "members" / "2026-05-25"
        redelivery.mkdir(parents=True)
        shutil.copy(landing / member_file, redelivery / "members_20260525.csv")
        (redelivery / "members_20260525_resend.csv").write_bytes(header + b"".join(mine))
        rerun = run_main_job(settings.locations(landing, warehouse))
    return Erased(
        root=root,
        landing=landing,
        customer_id=customer_id,
        phone=phone,
        terms=sorted({phone, *terms}),
        member_file=member_file,
        cli_output=result.output,
        exit_code=result.exit_code,
        rerun_success=rerun.success,
    )


def test_erase_reports_a_verified_erasure(erased: Erased):
    assert erased.exit_code == 0, erased.cli_output
    assert "verified: none of the subject's identifiers is found" in erased.cli_output
    # what the proof covers, and that records never linked to the subject are outside it
    assert "the proof covers the records linked to this customer" in erased.cli_output
    assert "never linked to them are outside it" in erased.cli_output
    assert "lake.raw.crm.members" in erased.cli_output
    # the staging tables (incremental copies of the raw layer) lose the rows before the rebuild
    assert "warehouse.staging.stg_crm__members" in erased.cli_output
    assert erased.rerun_success


def test_no_trace_of_the_subject_after_erasure_and_redelivery(erased: Erased):
    warehouse = erased.root / "omni360.duckdb"
    traces, searched = find_traces(
        [erased.root],  # lake (raw, quarantine, _ops), published, reports, logs, file bytes
        [warehouse, *erased.root.glob("published/*.duckdb")],
        erased.terms,
    )
    assert searched > 100
    assert traces == []
    # the DuckDB file's own bytes, outside any table
    found = re.findall(terms_pattern(erased.terms).encode(), warehouse.read_bytes())
    assert found == []


def test_the_redelivered_rows_were_suppressed_and_accounted_for(erased: Erased):
    lake = Lake(erased.root / "lake")
    members = next(e for e in ENTITIES if (e.source, e.name) == ("crm", "members"))
    entries = {e.source_file: e for e in lake.manifest(members)}
    resend = entries["crm/members/2026-05-25/members_20260525_resend.csv"]
    assert resend.rows_suppressed == resend.rows_read > 0 and resend.rows_loaded == 0
    copy = entries["crm/members/2026-05-25/members_20260525.csv"]
    assert copy.status == "skipped_duplicate"
    assert entries[erased.member_file].rows_erased > 0
    for target in ENTITIES:
        assert accounting_mismatches(lake, target) == [], target.key


def test_the_subjects_id_is_retired_and_the_audit_holds_a_token_only(erased: Erased):
    con = duckdb.connect(str(erased.root / "omni360.duckdb"), read_only=True)
    status = con.execute(
        "select status from identity.customer_ids where customer_id = ?", [erased.customer_id]
    ).fetchall()
    assert status == [("erased",)]
    requests = con.execute(
        "select identifier_kind, subject_token, verified, rows_removed from audit.erasure_requests"
    ).fetchall()
    assert len(requests) == 1
    kind, subject_token, verified, rows_removed = requests[0]
    assert (kind, verified) == ("phone", True)
    assert subject_token == token("phone", normalise.phone_e164(erased.phone))
    removed = json.loads(rows_removed)
    assert removed["lake.raw.crm.members"] > 0 and removed["warehouse.marts.dim_customer"] == 1
    audit_files = list((erased.root / "lake" / "_ops" / "erasure").glob("*.json"))
    assert len(audit_files) == 1
    assert json.loads(audit_files[0].read_text())["subject_token"] == subject_token


def test_the_audit_token_is_that_of_the_identifier_asked_for(sample_run: SampleRun):
    # the subject's other identifiers (emails, national IDs) never stand in for it
    with duckdb.connect(str(sample_run.warehouse), read_only=True) as con:
        customer_id, phone, _ = pick_subject(con)
        (member,) = con.execute(
            "select source_record_id from identity.customer_xref "
            "where customer_id = ? and entity = 'members' order by 1 limit 1",
            [customer_id],
        ).fetchone()
        for identifier, expected in (
            (f"member:{member}", token("member", member)),
            (f"phone:{phone}", token("phone", phone)),
        ):
            subject = find_subject(con, Lake(sample_run.lake), identifier)
            assert subject.customer_ids[0] == customer_id
            assert subject.subject_token == expected, identifier
            assert subject.keys.count() > 2  # the phone, an email, a member id at least
