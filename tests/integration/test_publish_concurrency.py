"""Publishing for BI while readers read: a reader in another process never sees a missing,
partial or mixed snapshot, and never gets an error. Also the Dagster asset: it publishes, checks
what it published, and refuses to publish marts whose blocking checks failed."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.publish.assets import SNAPSHOT, build_publish_asset
from orchestration.lib.publish import publish_snapshot, read_manifest
from orchestration.resources import WarehouseResource

# sizes alternate so that a table of one publication next to a table of another, or a table cut
# short, cannot match the manifest
DATA_SETS = ({"customers": 3_000, "orders": 40_000}, {"customers": 9_000, "orders": 2_000})
REPUBLISHES = 12

# What a BI client does (docs/bi.md), written independently of orchestration.lib.publish.
READER = textwrap.dedent(
    """
    import json, os, random, sys, time
    import duckdb

    published, stop = sys.argv[1], sys.argv[2]
    path = os.path.join(published, "omni360_marts.duckdb")
    FINGERPRINT = "select count(*), coalesce(sum(hash(*columns(*))), 0)::varchar from {}"
    reads, parquet_reads, held_reads = 0, 0, 0
    runs, errors, inconsistent = set(), [], []

    def check(con, sleep):
        manifest = con.execute(
            "select schema_name, table_name, row_count, checksum, run_id from _snapshot.manifest"
        ).fetchall()
        if not manifest:
            inconsistent.append("empty manifest")
        run_id = manifest[0][4]
        for schema, table, rows, checksum, _ in manifest:
            time.sleep(sleep)  # widen the window in which a swap can happen mid-read
            name = f'"{schema}"."{table}"'
            actual = con.execute(FINGERPRINT.format(name)).fetchall()[0]
            if actual != (rows, checksum):
                inconsistent.append(f"{run_id} {name}: {actual} != manifest {(rows, checksum)}")
            tags = con.execute(f"select distinct generation from {name}").fetchall()
            if tags != [(run_id,)]:
                inconsistent.append(f"manifest of {run_id}, {name} holds {tags}")
        return run_id, manifest

    while not os.path.exists(stop):
        try:
            con = duckdb.connect(path, read_only=True)
            try:
                run_id, manifest = check(con, random.choice((0, 0, 0.002)))
                runs.add(run_id)
                if reads % 5 == 4:  # hold the connection across a republish: nothing changes
                    time.sleep(0.3)
                    if check(con, 0) != (run_id, manifest):
                        inconsistent.append(f"{run_id} changed under an open connection")
                    held_reads += 1
            finally:
                con.close()
            reads += 1
            if reads == 1:
                print("ready", flush=True)
            # Parquet: resolve `current` once, then read inside that version folder
            version = os.path.realpath(os.path.join(published, "parquet", "current"))
            pq = duckdb.connect()
            try:
                tables = pq.execute(
                    "select schema_name, table_name, row_count, run_id from read_parquet(?)",
                    [os.path.join(version, "_snapshot", "manifest.parquet")],
                ).fetchall()
                for schema, table, rows, run_id in tables:
                    file = os.path.join(version, schema, table + ".parquet")
                    actual = pq.execute(
                        "select count(*), list(distinct generation) from read_parquet(?)", [file]
                    ).fetchall()[0]
                    if actual != (rows, [run_id]):
                        inconsistent.append(f"parquet {file}: {actual} != {(rows, [run_id])}")
            finally:
                pq.close()
            parquet_reads += 1
        except Exception as error:  # any error at all is a failure of the publication protocol
            errors.append(repr(error))
            if reads == 0:
                print("ready", flush=True)
    print(json.dumps({
        "reads": reads, "parquet_reads": parquet_reads, "held_reads": held_reads,
        "runs": sorted(runs), "errors": errors[:10], "inconsistent": inconsistent[:10],
    }))
    """
)


def fill_warehouse(warehouse: Path, generation: str, customers: int, orders: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.dim_customer as select range as customer_id, "
            "'customer ' || range as customer_name, ? as generation "
            f"from range({customers})",
            [generation],
        )
        con.execute(
            "create or replace table marts.fct_orders as select range as order_id, "
            f"range % {customers} as customer_id, (range % 97)::decimal(12, 2) as amount, "
            f"? as generation from range({orders})",
            [generation],
        )
        con.execute(
            "create or replace view marts.rpt_revenue_by_customer as select customer_id, "
            "any_value(generation) as generation, sum(amount) as revenue "
            "from marts.fct_orders group by customer_id"
        )


def test_a_reader_in_another_process_never_sees_a_partial_or_mixed_snapshot(tmp_path):
    warehouse, published, stop = tmp_path / "wh.duckdb", tmp_path / "published", tmp_path / "stop"
    # keep every Parquet version: pruning is tested in tests/unit; here a slow reader must not
    # find its version folder retired under it
    keep = REPUBLISHES + 1
    fill_warehouse(warehouse, "run-00", **DATA_SETS[0])
    publish_snapshot(warehouse, published, run_id="run-00", keep_parquet_versions=keep)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for i in range(1, REPUBLISHES + 1):
            run_id = f"run-{i:02d}"
            fill_warehouse(warehouse, run_id, **DATA_SETS[i % 2])
            result = publish_snapshot(
                warehouse, published, run_id=run_id, keep_parquet_versions=keep
            )
            assert result.manifest.run_id == run_id
            time.sleep(0.1)
        publishing_s = time.perf_counter() - started
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()

    assert reader.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["inconsistent"] == []
    assert report["reads"] >= 10, report  # about 30 on an idle 2-core machine
    assert report["parquet_reads"] >= 10, report
    assert report["held_reads"] >= 2, report
    # the reader saw the snapshot change several times while it was being republished
    assert len(report["runs"]) >= 4, report
    assert publishing_s < 30
    assert read_manifest(published / "omni360_marts.duckdb").run_id == f"run-{REPUBLISHES:02d}"
    assert not list(published.rglob("*.tmp*"))


class MartConfig(dg.Config):
    check_passes: bool = True
    crash: bool = False


MART = dg.AssetKey(["marts", "fct_orders"])


@dg.asset(
    key=MART,
    check_specs=[dg.AssetCheckSpec("amount_not_negative", asset=MART, blocking=True)],
)
def fct_orders(config: MartConfig):
    if config.crash:
        raise RuntimeError("the mart failed to build (simulated)")
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="amount_not_negative", passed=config.check_passes)


def run_publication(tmp_path: Path, instance: dg.DagsterInstance, **kwargs):
    resource = WarehouseResource(
        landing_dir=str(tmp_path / "landing"),
        warehouse_path=str(tmp_path / "wh.duckdb"),
        lake_dir=str(tmp_path / "lake"),
        published_dir=str(tmp_path / "published"),
    )
    return dg.materialize(
        [fct_orders, build_publish_asset([MART], [dg.AssetCheckKey(MART, "amount_not_negative")])],
        resources={"warehouse": resource},
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )


def mart_config(check_passes: bool = True, crash: bool = False) -> dict:
    config = {"check_passes": check_passes, "crash": crash}
    return {"ops": {"marts__fct_orders": {"config": config}}}


def test_the_dagster_asset_publishes_after_the_marts_and_checks_the_published_file(tmp_path):
    fill_warehouse(tmp_path / "wh.duckdb", "any", customers=10, orders=50)

    result = run_publication(tmp_path, dg.DagsterInstance.ephemeral(), run_config=mart_config(True))

    assert result.success
    metadata = result.asset_materializations_for_node("publish__marts_snapshot")[0].metadata
    assert metadata["tables"].value == 3
    assert metadata["rows_by_table"].value["marts.fct_orders"] == 50
    [check] = [c for c in result.get_asset_check_evaluations() if c.asset_key == SNAPSHOT]
    assert check.check_name == "snapshot_matches_warehouse" and check.passed
    assert read_manifest(tmp_path / "published" / "omni360_marts.duckdb").run_id == result.run_id


def test_a_failed_blocking_check_on_a_mart_keeps_the_previous_snapshot_published(tmp_path):
    fill_warehouse(tmp_path / "wh.duckdb", "good", customers=10, orders=50)
    instance = dg.DagsterInstance.ephemeral()
    good = run_publication(tmp_path, instance, run_config=mart_config(True))
    snapshot = tmp_path / "published" / "omni360_marts.duckdb"
    published = snapshot.read_bytes()
    fill_warehouse(tmp_path / "wh.duckdb", "bad", customers=10, orders=70)

    same_run = run_publication(tmp_path, instance, run_config=mart_config(False))
    alone = run_publication(tmp_path, instance, selection=[SNAPSHOT])

    assert good.success
    assert not same_run.success
    assert not same_run.asset_materializations_for_node("publish__marts_snapshot")
    assert not alone.success
    [failure] = alone.get_step_failure_events()
    assert "blocking checks on the marts failed" in failure.event_specific_data.error.message
    assert snapshot.read_bytes() == published
    assert read_manifest(snapshot).run_id == good.run_id


def test_a_mart_check_that_never_ran_does_not_block_a_later_publication(tmp_path):
    fill_warehouse(tmp_path / "wh.duckdb", "any", customers=10, orders=50)
    instance = dg.DagsterInstance.ephemeral()

    crashed = run_publication(tmp_path, instance, run_config=mart_config(crash=True))
    alone = run_publication(tmp_path, instance, selection=[SNAPSHOT])

    assert not crashed.success
    assert alone.success
    assert read_manifest(tmp_path / "published" / "omni360_marts.duckdb").run_id == alone.run_id
