"""Hostile input through the whole pipeline: every file nobody should send, delivered on top of
the sample run, and a misdated delivery taken back out with `omni360 withdraw`.

For each file the run completes and publishes (a refused file is refused, not fatal), row
accounting adds up, and every customer the bad files do not touch has exactly the published
figures of the run without them. Works on copies of the sample run's warehouse folder.
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from orchestration import settings
from orchestration.cli import app
from orchestration.lib import progress
from orchestration.lib.contracts import ENTITIES
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.status import lake_status
from tests.integration.conftest import SampleRun, run_main_job

pytestmark = pytest.mark.slow

DAY = "2026-05-25"  # the sample's latest delivery: these files do not move the as-of date
TS = f"{DAY}T09:00:00+08:00"
FIVE_MB = 5 * 1024 * 1024
MEMBERS_HEADER = (
    "member_id,card_no,name,gender,birth_date,phone,email,national_id,address,city,province,"
    "postal_code,registered_at,home_store_id,tier,updated_at"
)
ENV = ("OMNI360_LANDING", "OMNI360_WAREHOUSE", "OMNI360_LAKE", "OMNI360_PUBLISHED")


def member(n: int, *, registered: str = TS, birth: str = "1990-03-04", name: str = "") -> str:
    """A member nobody in the sample is: own phone, card, email, name and street."""
    return (
        f"M9{n:06d},99{n:08d},{name or f'欧阳测{n}'},F,{birth},+86 199 0000 {n:04d},"
        f"h{n}@hostile.example,,测试路{n}号,拉萨市,西藏自治区,850000,{registered},,regular,"
        f"{registered}"
    )


def members_csv(*rows: str, header: str = MEMBERS_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def account(n: int, **fields) -> str:
    record = {
        "app_id": "wx_oa_main",
        "platform": "wechat_oa",
        "openid": f"oHostile{n:06d}",
        "nickname": f"测{n}",
        "followed_at": TS,
        "updated_at": TS,
        **fields,
    }
    return json.dumps(record, ensure_ascii=False)


def hostile_files() -> dict[str, bytes]:
    """Landing path → bytes: every kind of bad file, each with some good records beside."""
    members, accounts = f"crm/members/{DAY}", f"social/accounts/{DAY}"
    years = ("0001", "2099", "2999", "9999")
    order = {
        "account_id": "TMHOSTILE1",
        "platform": "tmall",
        "status": "paid",
        "fulfilment": "delivery",
        "currency": "CNY",
        "lines": [
            {"line_no": 1, "sku": "SKU-1", "product_name": "面霜", "quantity": 1, "unit_price": 9}
        ],
    }
    return {
        # a 5 MB line, and a 5 MB quoted field full of commas and quotes
        f"{members}/h_line.csv": members_csv(member(1), member(2, name="长" * (FIVE_MB // 3))),
        f"{members}/h_field.csv": members_csv(
            member(3), member(4).replace("测试路4号", '"' + '测,""试' * (FIVE_MB // 8) + '"')
        ),
        f"{accounts}/h_field.jsonl": "\n".join(
            [account(1), account(2, nickname="x" * FIVE_MB)]
        ).encode(),
        f"{accounts}/h_line.jsonl": (account(3) + "\n" + "{" * FIVE_MB + "\n").encode(),
        # binary bytes named .csv; a byte-order mark
        f"{members}/h_binary.csv": bytes(range(256)) * 64,
        f"{members}/h_bom.csv": b"\xef\xbb\xbf" + members_csv(member(5)),
        # renamed columns: required (refused), optional (loaded null, warned), optional but
        # blocking in this deployment (refused)
        f"{members}/h_renamed_required.csv": members_csv(
            member(6), header=MEMBERS_HEADER.replace("member_id", "member_no")
        ),
        f"{members}/h_renamed_optional.csv": members_csv(
            member(7), header=MEMBERS_HEADER.replace(",phone,", ",mobile,")
        ),
        f"{members}/h_renamed_blocking.csv": members_csv(
            member(8), header=MEMBERS_HEADER.replace(",email,", ",mail,")
        ),
        # implausible years: a required time quarantines, an optional date is nulled
        f"{members}/h_years.csv": members_csv(
            *(member(10 + i, registered=f"{y}-01-01T00:00:00+08:00") for i, y in enumerate(years)),
            *(member(20 + i, birth=f"{y}-01-01") for i, y in enumerate(years)),
        ),
        f"ecommerce/orders/{DAY}/h_years.jsonl": "\n".join(
            json.dumps({**order, "order_id": f"EOH{y}", "ordered_at": f"{y}-06-01T10:00:00Z"})
            for y in years
        ).encode(),
        # an account created after the last order, with no order of its own
        f"ecommerce/customers/{DAY}/h_new_account.csv": (
            "account_id,platform,phone,email,name,shipping_address,city,province,created_at,"
            f"updated_at\nTMHOSTILE1,tmall,19900009999,new@hostile.example,欧阳新,测试路99号,"
            f"拉萨市,西藏自治区,{DAY}T10:00:00+08:00,{DAY}T10:00:00+08:00\n"
        ).encode(),
        # invalid JSON beside a good line; gzip-compressed deliveries
        f"{accounts}/h_invalid.jsonl": "\n".join(
            ['{"app_id": "wx_oa_main", "openid": ', "[1, 2, 3]", account(4)]
        ).encode(),
        f"{members}/h_gzip.csv.gz": gzip.compress(members_csv(member(30))),
        f"{accounts}/h_gzip.jsonl.gz": gzip.compress(account(5).encode() + b"\n"),
    }


@dataclass
class Run:
    root: Path
    landing: Path
    result: dg.ExecuteInProcessResult
    before: dict[str, tuple]  # customer id → published dim_customer row, before the bad files
    after: dict[str, tuple]


def copy_sample_run(sample_run: SampleRun, root: Path) -> tuple[Path, Path]:
    shutil.copytree(sample_run.warehouse.parent, root / "warehouse", symlinks=True)
    shutil.copytree(sample_run.landing, root / "landing")
    return root / "warehouse", root / "landing"


def published_customers(warehouse_dir: Path) -> dict[str, tuple]:
    path = warehouse_dir / "published" / "omni360_marts.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select * from marts.dim_customer order by customer_id").fetchall()
    return {row[0]: row for row in rows}


def run_on(warehouse_dir: Path, landing: Path, **env: str) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as patch:
        for var in ENV:
            patch.delenv(var, raising=False)
        for var, value in env.items():
            patch.setenv(var, value)
        return run_main_job(settings.locations(landing, warehouse_dir / "omni360.duckdb"))


@pytest.fixture(scope="module")
def hostile(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> Run:
    warehouse_dir, landing = copy_sample_run(sample_run, tmp_path_factory.mktemp("hostile"))
    before = published_customers(warehouse_dir)
    for rel, content in hostile_files().items():
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).write_bytes(content)
    result = run_on(warehouse_dir, landing, OMNI360_BLOCKING_COLUMNS="crm.members.email")
    return Run(warehouse_dir, landing, result, before, published_customers(warehouse_dir))


def outcome_of(root: Path, rel: str) -> tuple[str, str | None, int, int]:
    """(status or refused, rule, rows loaded, rows quarantined) of one landing file."""
    lake = Lake(root / "lake")
    for target in ENTITIES:
        for entry in lake.manifest(target):
            if entry.source_file == rel:
                return entry.status, None, entry.rows_loaded, entry.rows_quarantined
        for (path, _), record in lake.refusals(target).items():
            if path == rel:
                return "refused", record["rule"], 0, 0
    raise AssertionError(f"{rel} is neither committed nor refused")


def check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    [found] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    ]
    return found


def test_the_run_completes_and_publishes_despite_every_bad_file(hostile: Run):
    assert hostile.result.success
    with duckdb.connect(
        str(hostile.root / "published" / "omni360_marts.duckdb"), read_only=True
    ) as con:
        [(run_id,)] = con.execute("select distinct run_id from _snapshot.manifest").fetchall()
    assert run_id == hostile.result.run_id


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        (f"crm/members/{DAY}/h_line.csv", ("loaded", None, 1, 1)),
        (f"crm/members/{DAY}/h_field.csv", ("loaded", None, 1, 1)),
        (f"social/accounts/{DAY}/h_field.jsonl", ("loaded", None, 1, 1)),
        (f"social/accounts/{DAY}/h_line.jsonl", ("loaded", None, 1, 1)),
        (f"crm/members/{DAY}/h_binary.csv", ("refused", "wrong_encoding", 0, 0)),
        (f"crm/members/{DAY}/h_bom.csv", ("loaded", None, 1, 0)),
        (f"crm/members/{DAY}/h_renamed_required.csv", ("refused", "missing_column", 0, 0)),
        (f"crm/members/{DAY}/h_renamed_optional.csv", ("loaded", None, 1, 0)),
        (f"crm/members/{DAY}/h_renamed_blocking.csv", ("refused", "missing_column", 0, 0)),
        (f"crm/members/{DAY}/h_years.csv", ("loaded", None, 4, 4)),
        (f"ecommerce/orders/{DAY}/h_years.jsonl", ("loaded", None, 0, 4)),
        (f"ecommerce/customers/{DAY}/h_new_account.csv", ("loaded", None, 1, 0)),
        (f"social/accounts/{DAY}/h_invalid.jsonl", ("loaded", None, 1, 2)),
        (f"crm/members/{DAY}/h_gzip.csv.gz", ("loaded", None, 1, 0)),
        (f"social/accounts/{DAY}/h_gzip.jsonl.gz", ("loaded", None, 1, 0)),
    ],
)
def test_each_bad_file_is_loaded_quarantined_or_refused_as_documented(
    hostile: Run, rel: str, expected: tuple
):
    assert outcome_of(hostile.root, rel) == expected


def test_the_quarantine_says_why(hostile: Run):
    glob = hostile.root / "lake" / "quarantine" / "*" / "*" / "*.parquet"
    rules = dict(
        duckdb.sql(
            f"select source_file || ':' || line_no, rule || '/' || coalesce(column_name, '') "
            f"from read_parquet('{glob}') where source_file like '%/h_%'"
        ).fetchall()
    )
    assert rules[f"crm/members/{DAY}/h_line.csv:3"] == "line_too_long/"
    assert rules[f"social/accounts/{DAY}/h_field.jsonl:2"] == "line_too_long/"
    assert {rules[f"crm/members/{DAY}/h_years.csv:{n}"] for n in (2, 3, 4, 5)} == {
        "out_of_range/registered_at"
    }
    assert {rules[f"ecommerce/orders/{DAY}/h_years.jsonl:{n}"] for n in (1, 2, 3, 4)} == {
        "out_of_range/ordered_at"
    }
    assert rules[f"social/accounts/{DAY}/h_invalid.jsonl:1"] == "invalid_json/"
    longest = duckdb.sql(f"select max(length(raw_content)) from read_parquet('{glob}')")
    assert longest.fetchall()[0][0] < 10_000  # excerpts, not 5 MB lines


def test_status_adds_up_for_every_entity(hostile: Run):
    status = lake_status(hostile.root / "lake")
    assert all(row.adds_up for row in status.entities), status.entities
    members = next(row for row in status.entities if row.entity == "crm/members")
    assert members.refused == 3
    result = CliRunner().invoke(app, ["status", "--warehouse", str(hostile.root / "x.duckdb")])
    assert result.exit_code == 0 and "NO" not in result.output


def test_losses_and_refusals_are_named_in_the_checks(hostile: Run):
    columns = check(hostile.result, "crm/members", "columns_complete")
    assert not columns.passed and columns.severity == dg.AssetCheckSeverity.WARN
    assert "h_renamed_optional.csv" in columns.description and "phone" in columns.description
    assert "1 rows" in columns.description and "mobile" in columns.description
    refused = check(hostile.result, "crm/members", "files_accepted")
    assert not refused.passed and refused.severity == dg.AssetCheckSeverity.ERROR
    for name in ("h_binary.csv", "h_renamed_required.csv", "h_renamed_blocking.csv"):
        assert name in refused.description
    with duckdb.connect(str(hostile.root / "omni360.duckdb"), read_only=True) as con:
        recorded = con.execute(
            "select passed, description from audit.check_results where run_id = ? "
            "and asset_key = 'crm/members' and check_name = 'columns_complete'",
            [hostile.result.run_id],
        ).fetchall()
    assert recorded and not recorded[0][0] and "h_renamed_optional.csv" in recorded[0][1]


def test_untouched_customers_have_exactly_the_figures_of_the_run_without_the_bad_files(
    hostile: Run,
):
    assert set(hostile.before) <= set(hostile.after)
    changed = [c for c, row in hostile.before.items() if hostile.after[c] != row]
    assert changed == []
    assert len(hostile.after) > len(hostile.before)  # the good records beside the bad ones


def test_a_new_account_with_no_order_has_a_stage(hostile: Run):
    with duckdb.connect(str(hostile.root / "omni360.duckdb"), read_only=True) as con:
        stages = con.execute(
            """
            select customers.lifecycle_stage, customers.orders
            from marts.dim_customer as customers
            inner join identity.customer_xref as xref using (customer_id)
            where xref.record_key = 'ecommerce:customers:TMHOSTILE1'
            """
        ).fetchall()
    assert stages == [("contact", 0)]


@pytest.fixture(scope="module")
def withdrawn(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A delivery misdated 2099 runs through, then is withdrawn and the warehouse rebuilt."""
    warehouse_dir, landing = copy_sample_run(sample_run, tmp_path_factory.mktemp("withdraw"))
    before = published_customers(warehouse_dir)
    misdated = "crm/members/2099-01-01/members_20990101.csv"
    (landing / misdated).parent.mkdir(parents=True)
    (landing / misdated).write_bytes(
        members_csv(member(40, registered="2098-12-31T10:00:00+08:00"))
    )
    shifted = run_on(warehouse_dir, landing)
    with duckdb.connect(
        str(warehouse_dir / "published" / "omni360_marts.duckdb"), read_only=True
    ) as con:
        shifted_as_of = con.execute(
            "select max(snapshot_date) from marts.fct_customer_lifecycle_snapshots where is_current"
        ).fetchall()[0][0]
    command = CliRunner().invoke(
        app,
        [
            "withdraw",
            misdated,
            "--reason",
            "the delivery folder is misdated",
            "--warehouse",
            str(warehouse_dir / "omni360.duckdb"),
        ],
    )
    progress.clear()
    rerun = run_on(warehouse_dir, landing)
    return {
        "root": warehouse_dir,
        "shifted": shifted,
        "shifted_as_of": shifted_as_of,
        "command": command,
        "rerun": rerun,
        "before": before,
        "after": published_customers(warehouse_dir),
        "file": misdated,
    }


def test_a_misdated_delivery_is_published_with_a_warning(withdrawn: dict):
    assert withdrawn["shifted"].success
    assert str(withdrawn["shifted_as_of"]) == "2099-01-01"
    shift = check(withdrawn["shifted"], "marts/dim_customer", "date_figures_stable")
    assert not shift.passed and shift.severity == dg.AssetCheckSeverity.WARN
    assert "as-of date moved" in shift.description and "churn rate" in shift.description


def test_withdrawing_it_restores_every_published_figure(withdrawn: dict):
    assert withdrawn["command"].exit_code == 0, withdrawn["command"].output
    assert "1 rows moved to quarantine" in withdrawn["command"].output
    assert withdrawn["rerun"].success
    assert withdrawn["after"] == withdrawn["before"]
    assert outcome_of(withdrawn["root"], withdrawn["file"])[:2] == ("withdrawn", None)
    # against the (misdated) published figures the rebuild moves them back, and says so
    back = check(withdrawn["rerun"], "marts/dim_customer", "date_figures_stable")
    assert "2099-01-01 → 2026-05-25" in back.description
    with duckdb.connect(str(withdrawn["root"] / "omni360.duckdb"), read_only=True) as con:
        [(retired,)] = con.execute(
            "select count(*) from identity.customer_ids where status = 'retired'"
        ).fetchall()
    assert retired == 1  # the withdrawn member's id, never reused
