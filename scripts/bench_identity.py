"""Benchmark identity resolution on an ingested warehouse: wall time, peak memory, accuracy.

Three timed steps, each in its own subprocess so peak RSS is that step's
(`getrusage(RUSAGE_CHILDREN)` read after each):

1. dbt: staging and the identity models (normalisation, identifiers, exclusions) and their tests
2. the resolver (deterministic links, Splink, clustering, stable ids)
3. dbt: the golden records

Then, untimed, the accuracy against the answer key when `--truth` is given, and with
`--compare` the same figures for exact-key stitching alone and Splink alone (resolved on a copy
of the warehouse, for docs/identity.md). The warehouse must hold an ingested lake
(`omni360 ingest --landing L --warehouse W`).

    .venv/bin/python scripts/bench_identity.py --warehouse /tmp/w1m/omni360.duckdb --truth /tmp/g1m

The deployment's locale comes from OMNI360_REGION and OMNI360_NATIONAL_ID_SCHEME, as for
`omni360 run` (an en_US landing zone: OMNI360_REGION=US).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 300.0
TARGET_GIB = 8.0
DBT = str(Path(sys.executable).parent / "dbt")


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024


def _step(name: str, command: list[str], env: dict[str, str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT / "dbt_project", env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {"step": name, "seconds": round(seconds, 1), "peak_gib_so_far": round(_peak_gib(), 2)}


def _locale():
    from orchestration import settings
    from orchestration.lib.identity.locale import Locale

    return Locale(settings.region(), settings.national_id_scheme())


def child_resolve(warehouse: str) -> None:
    import duckdb

    from orchestration.lib.identity.duckdb_udfs import register
    from orchestration.lib.identity.resolve import ResolverConfig, resolve

    con = duckdb.connect(warehouse)
    register(con)
    config = ResolverConfig(national_ids_prove=_locale().national_ids_prove)
    result = resolve(con, run_id=f"bench-{int(time.time())}", config=config)
    print(json.dumps(result.__dict__, default=str))


def compare(warehouse: Path, truth: Path) -> None:
    """Accuracy of each resolver strategy, as a markdown table, resolved on a copy."""
    import tempfile

    import duckdb

    from orchestration.lib.identity.duckdb_udfs import register
    from orchestration.lib.identity.evaluate import evaluate
    from orchestration.lib.identity.resolve import ResolverConfig, resolve

    print("| strategy | precision | recall | exact-key reachable | F1 | over-merged | largest |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "compare.duckdb"
        shutil.copy(warehouse, copy)
        with duckdb.connect(str(copy)) as con:
            register(con)
            for strategy in ("exact_keys", "splink_only", "full"):
                config = ResolverConfig(
                    strategy=strategy, national_ids_prove=_locale().national_ids_prove
                )
                resolve(con, run_id=f"compare-{strategy}", config=config)
                e = evaluate(con, truth, locale=_locale())
                print(
                    f"| {strategy} | {e.precision:.4f} | {e.recall:.4f} | "
                    f"{e.reference_share:.4f} | {e.f1:.4f} | {e.overmerged_customers:,} | "
                    f"{e.largest_customer_records} / {e.largest_customer_profiles} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--child-resolve")
    args = parser.parse_args()
    if args.compare and not args.truth:
        parser.error("--compare needs --truth")
    if args.child_resolve:
        child_resolve(args.child_resolve)
        return
    warehouse = args.warehouse.resolve()
    env = {
        **os.environ,
        "OMNI360_WAREHOUSE": str(warehouse),
        "OMNI360_LAKE": str(warehouse.parent / "lake"),
    }
    # the deployment's locale (OMNI360_REGION, OMNI360_NATIONAL_ID_SCHEME) as the pipeline passes it
    dbt_args = ["--vars", json.dumps(_locale().dbt_vars())]
    # every model built from scratch, as a first run builds them: the incremental identity
    # models would otherwise find nothing new in a warehouse that was resolved before
    dbt_args.append("--full-refresh")
    steps = [
        _step(
            "dbt: staging + identity models and tests",
            [
                DBT,
                "build",
                "--select",
                "+int_identity__excluded_identifiers",
                "identity_force_links",
                "identity_never_links",
                *dbt_args,
                "--quiet",
            ],
            env,
        )
    ]
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--warehouse",
            str(warehouse),
            "--child-resolve",
            str(warehouse),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"resolver failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    steps.append(
        {
            "step": "resolver",
            "seconds": round(time.perf_counter() - started, 1),
            "peak_gib_so_far": round(_peak_gib(), 2),
            "inner_seconds": result["seconds"],
        }
    )
    steps.append(
        _step(
            "dbt: golden records",
            [
                DBT,
                "build",
                "--select",
                "int_identity__golden_records",
                *dbt_args,
                "--quiet",
            ],
            env,
        )
    )
    total = sum(step["seconds"] for step in steps)
    peak = _peak_gib()
    print(json.dumps({"steps": steps, "resolution": result}, indent=1, default=str))
    print(
        f"total {total:.1f} s (target {TARGET_SECONDS:.0f} s); "
        f"peak RSS {peak:.2f} GiB (target {TARGET_GIB:.0f} GiB)"
    )
    if args.truth:
        import duckdb

        from orchestration.lib.identity.duckdb_udfs import register
        from orchestration.lib.identity.evaluate import evaluate

        with duckdb.connect(str(warehouse), read_only=True) as con:
            register(con)
            figures = evaluate(con, args.truth, locale=_locale())
        print(json.dumps(figures.as_dict(), indent=1))
        if args.compare:
            compare(warehouse, args.truth)
    if total > TARGET_SECONDS or peak > TARGET_GIB:
        sys.exit("over target")


if __name__ == "__main__":
    main()
