"""Consent on the committed sample: a withdrawal delivered later takes effect on the next run.

Starts from a copy of the sample run's warehouse and lake, delivers one new consent file into a
copy of the landing zone, and materialises only the consent ingestion and the consent models
downstream of it (not the whole job), with their checks.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.integration.conftest import SampleRun

CONSENTS = dg.AssetKey(["crm", "consents"])
RERUN = [
    CONSENTS,
    dg.AssetKey(["staging", "stg_crm__consents"]),
    dg.AssetKey(["intermediate", "int_customer__consent_events"]),
    dg.AssetKey(["intermediate", "int_customer__consents"]),
    dg.AssetKey(["intermediate", "int_customer__consent_history"]),
    dg.AssetKey(["marts", "fct_customer_consents"]),
    dg.AssetKey(["marts", "fct_customer_consent_history"]),
    dg.AssetKey(["marts", "rpt_marketing_audience"]),
]
WITHDRAWAL_ID = "CS_TEST_WITHDRAWAL"


def _rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_the_marketing_audience_holds_only_current_grants(sample_run: SampleRun):
    (ungranted, audience) = _rows(
        sample_run.warehouse,
        """
        select
            count(*) filter (where consents.is_granted is not true),
            count(*)
        from marts.rpt_marketing_audience as audience
        left join marts.fct_customer_consents as consents
            on audience.customer_id = consents.customer_id and audience.purpose = consents.purpose
        """,
    )[0]
    assert audience > 100 and ungranted == 0


def test_a_withdrawal_removes_the_customer_from_the_audience_on_the_next_run(
    sample_run: SampleRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "omni360.duckdb"
    shutil.copytree(sample_run.landing, landing, ignore=shutil.ignore_patterns("_truth"))
    shutil.copytree(sample_run.lake, warehouse.parent / "lake")
    shutil.copy(sample_run.warehouse, warehouse)

    # a customer in the SMS audience, the member record whose grant decided it, and when
    customer_id, member_id, granted_at, channels = _rows(
        warehouse,
        """
        select audience.customer_id, events.member_id, audience.granted_at,
            (select list(channel order by channel) from marts.rpt_marketing_audience as other
             where other.customer_id = audience.customer_id)
        from marts.rpt_marketing_audience as audience
        inner join intermediate.int_customer__consent_events as events
            on audience.decided_by_consent_id = events.consent_id
        where audience.channel = 'sms'
        order by audience.customer_id
        limit 1
        """,
    )[0]
    withdrawn_at = granted_at + dt.timedelta(days=3)
    delivery = landing / "crm" / "consents" / "2026-06-01"
    delivery.mkdir(parents=True)
    (delivery / "consents_20260601.csv").write_text(
        "consent_id,member_id,channel,purpose,status,recorded_at,policy_version\n"
        f"{WITHDRAWAL_ID},{member_id},app,marketing_sms,withdrawn,"
        f"{withdrawn_at.isoformat()}+00:00,2026.1\n",
        encoding="utf-8",
    )

    for var, path in (
        ("OMNI360_LANDING", landing),
        ("OMNI360_WAREHOUSE", warehouse),
        ("OMNI360_LAKE", warehouse.parent / "lake"),
        ("OMNI360_PUBLISHED", warehouse.parent / "published"),
    ):
        monkeypatch.setenv(var, str(path))
    from orchestration.definitions import defs

    result = (
        defs()
        .resolve_implicit_global_asset_job_def()
        .execute_in_process(
            asset_selection=RERUN, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
    )
    assert result.success
    [ingested] = [m for m in result.get_asset_materialization_events() if m.asset_key == CONSENTS]
    assert ingested.materialization.metadata["rows_loaded"].value == 1

    in_sms_audience = _rows(
        warehouse,
        "select channel from marts.rpt_marketing_audience where customer_id = ?",
        [customer_id],
    )
    assert ("sms",) not in in_sms_audience
    # the other channels' grants are untouched
    assert sorted(c for (c,) in in_sms_audience) == [c for c in channels if c != "sms"]

    history = _rows(
        warehouse,
        """
        select status, valid_from, valid_to, is_current, started_by_consent_id
        from marts.fct_customer_consent_history
        where customer_id = ? and purpose = 'marketing_sms'
        order by valid_from
        """,
        [customer_id],
    )
    *_, granted, withdrawn = history
    assert granted[0] == "granted" and granted[2] == withdrawn_at and not granted[3]
    assert withdrawn == ("withdrawn", withdrawn_at, None, True, WITHDRAWAL_ID)
    assert _rows(
        warehouse,
        "select status, decided_at, decided_by_consent_id from marts.fct_customer_consents "
        "where customer_id = ? and purpose = 'marketing_sms'",
        [customer_id],
    ) == [("withdrawn", withdrawn_at, WITHDRAWAL_ID)]
