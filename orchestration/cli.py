"""`omni360`: the command-line front door."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from orchestration import settings
from orchestration.lib.sql import connect

app = typer.Typer(
    name="omni360",
    help="omni360: an open-source customer-data warehouse for retailers. Generate a synthetic "
    "omnichannel landing zone, ingest it into a validated raw layer, and build the warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

LandingOpt = Annotated[
    Path,
    typer.Option(
        "--landing",
        help="Landing-zone root (<landing>/<source>/<entity>/<YYYY-MM-DD>/<file>). "
        "Default: $OMNI360_LANDING, else the committed sample seeds/sample.",
    ),
]
WarehouseOpt = Annotated[
    Path,
    typer.Option(
        "--warehouse",
        help="DuckDB warehouse file; the Parquet lake goes in a `lake/` folder next "
        "to it. Default: $OMNI360_WAREHOUSE, else warehouse/omni360.duckdb.",
    ),
]


RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="ISO 3166 region that phone numbers without a country code and postcodes are read "
        "in (CN, US, AU, …). Default: $OMNI360_REGION, else CN. A deployment setting: keep it "
        "the same for every run of one warehouse.",
    ),
]
SchemeOpt = Annotated[
    str | None,
    typer.Option(
        "--national-id-scheme",
        help="cn_ric (PRC resident ID, checksum), us_ssn, generic (any other country's number), "
        "none, or auto (cn_ric in CN, else none). Default: $OMNI360_NATIONAL_ID_SCHEME, else auto.",
    ),
]


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="duckdb (the embedded warehouse file) or spark (a Spark cluster through Spark "
        "Connect at $OMNI360_SPARK_REMOTE; without one running, a local one is started for the "
        "run). Default: $OMNI360_ENGINE, else duckdb. docs/spark.md",
    ),
]


def _locale(region: str | None, scheme: str | None):
    """The deployment's locale from the options (exported for dbt and the assets), checked."""
    from orchestration.lib.identity.locale import Locale

    settings.export_locale(region, scheme)
    try:
        return Locale(settings.region(), settings.national_id_scheme())
    except ValueError as error:
        _fail(str(error), 2)


def _say(message: str, started: float | None = None) -> None:
    stamp = f"[{time.perf_counter() - started:7.1f}s] " if started is not None else ""
    typer.echo(f"{stamp}{message}")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def generate(
    persons: Annotated[int, typer.Option(help="Number of true persons to simulate.", min=1)],
    out: Annotated[
        Path,
        typer.Option(help="Output folder: the landing zone, plus the answer key in <out>/_truth/."),
    ],
    seed: Annotated[
        int, typer.Option(help="Random seed; the same arguments give byte-identical output.")
    ] = 42,
    locale: Annotated[str, typer.Option(help="zh_CN (default) or en_US.")] = "zh_CN",
    start: Annotated[str, typer.Option(help="First day of the period, YYYY-MM-DD.")] = "2026-01-01",
    days: Annotated[int, typer.Option(help="Length of the period in days.", min=1)] = 120,
    delivery: Annotated[
        str, typer.Option(help="File delivery cadence: daily, weekly or monthly.")
    ] = "weekly",
    until: Annotated[
        str | None,
        typer.Option(
            help="Write only the deliveries up to this date (YYYY-MM-DD); later ones follow "
            "with --extend and a later --until. Default: every delivery of the period."
        ),
    ] = None,
    extend: Annotated[
        bool,
        typer.Option(
            "--extend",
            help="Add the deliveries after the last --until to a landing zone written with the "
            "same options; the files already there stay byte for byte the same.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete --out first if it exists.")
    ] = False,
) -> None:
    """Write a synthetic omnichannel landing zone for N persons, with its answer key."""
    from orchestration.lib.generator import GeneratorConfig
    from orchestration.lib.generator import generate as run_generator

    if locale not in ("zh_CN", "en_US"):
        _fail(f"--locale must be zh_CN or en_US, not {locale!r}")
    if delivery not in ("daily", "weekly", "monthly"):
        _fail(f"--delivery must be daily, weekly or monthly, not {delivery!r}")
    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"--start must be a date YYYY-MM-DD, not {start!r}")
    try:
        until_date = dt.date.fromisoformat(until) if until else None
    except ValueError:
        _fail(f"--until must be a date YYYY-MM-DD, not {until!r}")
    if out.exists() and force:
        shutil.rmtree(out)
    started = time.perf_counter()
    try:
        config = GeneratorConfig(
            persons=persons,
            seed=seed,
            locale=locale,
            start=start_date,
            days=days,
            delivery=delivery,
            until=until_date,
        )
        summary = run_generator(
            config,
            out,
            progress=lambda step, rows: _say(f"{step}: {rows:,} rows", started),
            extend=extend,
        )
    except FileExistsError as error:
        _fail(f"{error} (use --force to replace it, or --extend to add later deliveries)")
    except ValueError as error:
        _fail(str(error))
    total = sum(summary.rows.values())
    kept = f", {summary.existing:,} of them already there and unchanged" if extend else ""
    _say(
        f"done: {total:,} records in {summary.files:,} files{kept}, {summary.malformed:,} "
        f"deliberately malformed; answer key in {out / '_truth'}",
        started,
    )


def _show_progress(started: float) -> None:
    from orchestration.lib import progress

    out = sys.stdout  # bound now: dbt's output is redirected to a log file during the run
    progress.clear()
    progress.listen(
        lambda message: print(
            f"[{time.perf_counter() - started:7.1f}s] {message}", file=out, flush=True
        )
    )


def _materialize(
    where: settings.Locations,
    selection: str,
    full_refresh: bool = False,
    retrain: bool = False,
    engine: str | None = None,
) -> int:
    """Run the selected assets in-process; print per-asset lines and a summary; return exit code."""
    if engine:
        os.environ["OMNI360_ENGINE"] = engine
    try:
        engine = settings.engine()
    except ValueError as error:
        _fail(str(error), 2)
    if engine == "spark" and selection == "all":
        from orchestration.lib.spark import server

        remote, folder = settings.spark_remote(), settings.spark_dir(where.warehouse)
        chosen = bool(os.environ.get("OMNI360_SPARK_REMOTE"))
        if server.reachable(remote) and not chosen and server.running(folder) is None:
            # another warehouse's server: its catalogue holds tables of the same names
            _fail(
                f"the Spark Connect server at {remote} was not started for this warehouse "
                f"(`omni360 spark start --warehouse {where.warehouse}`); stop it, or set "
                "OMNI360_SPARK_REMOTE to the server this warehouse uses",
                2,
            )
        if not server.reachable(remote):
            if chosen:
                _fail(f"no Spark Connect server at {remote} (OMNI360_SPARK_REMOTE)", 2)
            _say(f"spark: starting a local Spark Connect server in {folder} for this run")
            try:
                server.start(folder)
            except server.SparkStartError as error:
                _fail(str(error), 2)
            try:
                return _materialize(where, selection, full_refresh, retrain)
            finally:
                _say(f"spark: stopped {', '.join(server.stop(folder))}")

    from orchestration.lib.ingest.landing import scan_landing

    landing, warehouse = where.landing, where.warehouse
    try:
        scan = scan_landing(landing)
    except FileNotFoundError as error:
        _fail(str(error), 2)
    from orchestration.lib.privacy import tokens

    if selection == "all" and not os.environ.get(tokens.SECRET_VAR):
        if os.environ.get(tokens.DEMO_VAR) != "1":
            _fail(
                f"{tokens.SECRET_VAR} is not set: the marts carry keyed tokens of phones and "
                f"emails. Set it to a long random secret kept outside the repository, or "
                f"{tokens.DEMO_VAR}=1 to use the public demo secret."
            )
        typer.secho(
            f"warning: demo mode, tokens use the public demo secret ({tokens.SECRET_VAR} unset)",
            fg=typer.colors.YELLOW,
        )
    from orchestration.lib import files

    # the lake, the warehouse file and the logs hold raw personal data: owner-only
    files.restrict_new_files()
    if not warehouse.parent.exists():
        files.public_dir(warehouse.parent)  # the published snapshot inside it stays reachable
    files.make_private(warehouse)
    from orchestration.definitions import build_defs, instance_for
    from orchestration.lib.ingest.lake import Lake
    from orchestration.resources import EngineResource, RunModeResource, WarehouseResource

    # a withdrawn file or an erasure since the last full run: this run rebuilds everything
    # (RunModeResource.rebuilds reads the same requests; a successful run clears them)
    pending = Lake(where.lake).full_refresh_reasons() if selection == "all" else []
    if pending and not full_refresh:
        _say(f"full refresh: {'; '.join(pending)} since the last full run")
    definitions = build_defs(
        WarehouseResource.at(where),
        run_mode=RunModeResource(full_refresh=full_refresh, retrain=retrain),
        engine=EngineResource(engine=engine),
    )
    graph = definitions.resolve_asset_graph()
    from orchestration.lib import run_state

    plan = (
        run_state.plan_run(
            graph,
            landing=landing,
            lake=where.lake,
            warehouse=warehouse,
            published=where.published,
            everything=full_refresh or retrain,  # pending requests: see last_complete_run
        )
        if selection == "all"
        else run_state.Plan(run_state.ingestion_keys(graph.materializable_asset_keys), {}, None)
    )
    keys, unchanged = plan.selection, plan.unchanged
    started = time.perf_counter()
    _show_progress(started)
    if unchanged is not None:
        _say(
            f"nothing new since run {unchanged.run_id} ({unchanged.finished_at}): no landing file "
            "to load, the same code and settings. Only ingestion and its delivery checks run; "
            "that run's warehouse and published snapshot stand (--full-refresh builds everything)"
        )
    _say(
        f"landing {landing}: {sum(len(v) for v in scan.files.values())} files; "
        f"warehouse {warehouse}"
    )
    for problem in scan.layout_problems():
        typer.secho(f"layout problem: {problem}", fg=typer.colors.YELLOW)
    log_path = warehouse.parent / "logs" / f"run-{dt.datetime.now():%Y%m%dT%H%M%S}.log"
    files.private_dir(log_path.parent)
    # dbt's own output goes to a log file; the terminal gets one line per step
    # persistent (DAGSTER_HOME, else dagster/ next to the warehouse): the UI shows this run;
    # the audit reads the run's events from it
    instance = instance_for(where)
    job = definitions.resolve_job_def("omni360_main")
    from orchestration.lib import memory

    # the definitions live for the whole run: the collections after each step skip them
    with (
        memory.frozen(),
        open(log_path, "w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
    ):
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            tags=plan.tags,
            raise_on_error=False,
            # Dagster's console log is for the UI; _report says what failed, in fewer words
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    from orchestration.lib import progress

    progress.clear()  # the listener writes to this command's stdout, which ends with it
    _say(f"dbt and step output: {log_path}")
    code = _report(result, started)
    try:
        return _audit(instance, result.run_id, graph, where, started) or code
    finally:
        # closes the event log's kept connections: the run's files are checkpointed for readers
        instance.dispose()


def _audit(instance, run_id: str, graph, where: settings.Locations, started: float) -> int:
    """Record the run's check results and write its auditor's report, whether the run passed or
    not; 0, or 1 when they could not be written."""
    from orchestration.lib.quality.audit import finish_run

    try:
        path = finish_run(
            instance,
            run_id,
            asset_graph=graph,
            landing=where.landing,
            warehouse=where.warehouse,
            lake=where.lake,
            reports=where.reports,
        )
    except Exception as error:  # the run is over either way: say why its report is missing
        typer.secho(f"audit report not written: {error}", fg=typer.colors.RED, err=True)
        return 1
    _say(f"audit report: {path} (history in audit.check_results)", started)
    return 0


def _check_text(evaluation) -> str:
    """What a failed check says: its description, else its observed value against its threshold
    (a check without either says what to look at)."""
    if evaluation.description:
        return evaluation.description
    metadata = {key: value.value for key, value in evaluation.metadata.items()}
    if "observed" in metadata:
        return f"observed {metadata['observed']}, expected {metadata.get('threshold', '?')}"
    return "no description; see its metadata in the Dagster UI or audit.check_results"


def _report(result, started: float) -> int:
    import dagster as dg

    failed_checks = 0
    totals = {"rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0, "files_refused": 0}
    for event in result.get_asset_materialization_events():
        metadata = event.event_specific_data.materialization.metadata
        if "rows_read" in metadata:
            for name in totals:
                totals[name] += metadata[name].value
    _say(
        f"ingested: read {totals['rows_read']:,}, loaded {totals['rows_loaded']:,}, "
        f"quarantined {totals['rows_quarantined']:,}; files refused: "
        f"{totals['files_refused']} (details: omni360 status)",
        started,
    )
    warnings = 0
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        # a failed WARN check is worth reading, not a failed run
        warning = evaluation.severity == dg.AssetCheckSeverity.WARN
        warnings += warning
        failed_checks += not warning
        typer.secho(
            f"{'warning' if warning else 'check failed'}: "
            f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}: "
            f"{_check_text(evaluation)}",
            fg=typer.colors.YELLOW if warning else typer.colors.RED,
        )
    checks = result.get_asset_check_evaluations()
    _say(
        f"{len(result.get_asset_materialization_events())} assets materialised, "
        f"{len(checks) - failed_checks - warnings}/{len(checks)} checks passed, "
        f"{warnings} warnings",
        started,
    )
    if not result.success:
        for event in result.get_step_failure_events():
            error = event.event_specific_data.error
            message = (
                error.cause.message if error and error.cause else (error.message if error else "")
            )
            typer.secho(
                f"step failed: {event.step_key}: {message.strip()}", fg=typer.colors.RED, err=True
            )
        return 1
    return 1 if failed_checks else 0


@app.command()
def run(
    landing: LandingOpt = None,  # type: ignore[assignment]
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    region: RegionOpt = None,
    national_id_scheme: SchemeOpt = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild every model and resolve every record again, instead of only what "
            "new deliveries touch (the same results; after a withdrawal or an erasure this "
            "happens by itself).",
        ),
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="Train the identity model and refit CLV now rather than when they are stale "
            "(implies resolving every record again).",
        ),
    ] = False,
    engine: EngineOpt = None,
) -> None:
    """Materialise the whole asset graph in-process: ingest new files, then build what they
    touch (docs/operations.md#incremental-runs) and run every check."""
    _locale(region, national_id_scheme)
    where = settings.locations(landing, warehouse)
    raise typer.Exit(
        _materialize(where, "all", full_refresh=full_refresh, retrain=retrain, engine=engine)
    )


@app.command()
def ingest(
    landing: LandingOpt = None,  # type: ignore[assignment]
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    region: RegionOpt = None,
    national_id_scheme: SchemeOpt = None,
) -> None:
    """Only the ingestion assets: load new landing files into the raw layer and quarantine."""
    _locale(region, national_id_scheme)
    raise typer.Exit(_materialize(settings.locations(landing, warehouse), "ingest"))


@app.command()
def status(
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    show_files: Annotated[
        bool, typer.Option("--files", help="Also list every refused and withdrawn file.")
    ] = False,
) -> None:
    """Show what has been loaded: files and rows per entity, where every row read went
    (read = loaded + quarantined + suppressed or erased), refused and withdrawn files, and the
    top quarantine rules."""
    from orchestration.lib.ingest.status import lake_status

    lake = settings.locations(warehouse=warehouse).lake
    found = lake_status(lake)
    if not found.entities:
        _fail(f"nothing loaded yet in {lake}; run `omni360 ingest` first")
    typer.echo(
        f"{'entity':<26}{'files':>6}{'dups':>5}{'withdr.':>8}{'refused':>8}{'read':>11}"
        f"{'loaded':>11}{'quarant.':>10}{'erased':>8}  adds up"
    )
    for row in found.entities:
        typer.echo(
            f"{row.entity:<26}{row.files:>6}{row.duplicates:>5}{row.withdrawn:>8}{row.refused:>8}"
            f"{row.read:>11,}{row.loaded:>11,}{row.quarantined:>10,}{row.erased:>8,}  "
            + ("yes" if row.adds_up else "NO")
        )
    typer.echo(
        "read = loaded + quarantined + erased (rows of erased subjects: suppressed on arrival or "
        "removed later); withdrawn files' rows are quarantined (rule withdrawn)"
    )
    if found.rules:
        typer.echo("\ntop quarantine rules:")
        for name, rule, count in found.rules:
            typer.echo(f"  {name:<26}{rule:<20}{count:>8,}")
    if show_files and (found.refused or found.withdrawn):
        typer.echo("\nrefused files (not loaded; retried on every run):")
        for line in found.refused:
            typer.echo(f"  {line}")
        typer.echo("withdrawn files:")
        for item in found.withdrawn:
            typer.echo(
                f"  {item['source_file']}: {item['rows']:,} rows quarantined, "
                f"{item['withdrawn_at']}: {item['reason']}"
            )
    elif found.refused or found.withdrawn:
        typer.echo(
            f"\n{len(found.refused)} refused and {len(found.withdrawn)} withdrawn files: "
            "`omni360 status --files` lists them"
        )
    if not all(row.adds_up for row in found.entities):
        _fail("row accounting does not add up for the entities marked NO; see the lake audit")


@app.command()
def withdraw(
    source_file: Annotated[
        str,
        typer.Argument(
            help="The committed landing file, relative to the landing root "
            "(ecommerce/orders/2026-03-02/orders_20260302.jsonl)."
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit.")],
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
) -> None:
    """Withdraw a committed delivery file: its rows move from the raw layer to quarantine
    (rule `withdrawn`, with your reason) and it is never loaded again; the next `omni360 run`
    rebuilds the warehouse without it. The sanctioned alternative to editing the lake by hand."""
    from orchestration.lib.files import restrict_new_files
    from orchestration.lib.ingest.lake import Lake
    from orchestration.lib.ingest.loader import new_load_id
    from orchestration.lib.ingest.withdraw import WithdrawError
    from orchestration.lib.ingest.withdraw import withdraw as withdraw_file

    restrict_new_files()
    lake = settings.locations(warehouse=warehouse).lake
    if not lake.is_dir():
        _fail(f"no lake at {lake}; run `omni360 run` first", 2)
    try:
        done = withdraw_file(Lake(lake), source_file, reason, load_id=new_load_id("withdraw"))
    except WithdrawError as error:
        _fail(str(error), 2)
    if done.already_withdrawn:
        typer.echo(f"{done.entry.source_file} was already withdrawn ({done.entry.withdrawn_at})")
        return
    typer.echo(
        f"withdrew {done.entry.source_file} ({done.entity.key}): {done.rows_moved:,} rows moved "
        f"to quarantine (rule withdrawn)"
        + (f", {done.child_rows_removed:,} nested rows removed" if done.child_rows_removed else "")
        + ". Run `omni360 run` to rebuild the warehouse and the published marts without it."
    )


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="A recorded run id. Default: the latest run.")
    ] = None,
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
) -> None:
    """Write the auditor's report of a recorded run again from the audit tables, and the index
    of all runs (<reports>/<run id>/index.html, <reports>/index.html)."""
    from orchestration.lib.privacy.patterns import PersonalDataFound
    from orchestration.lib.quality.audit import rerender

    where = settings.locations(warehouse=warehouse)
    if not where.warehouse.is_file():
        _fail(f"no warehouse at {where.warehouse}; run `omni360 run` first")
    try:
        written = rerender(where.warehouse, where.reports, run_id)
    except (LookupError, PersonalDataFound) as error:
        _fail(str(error))
    typer.echo(f"wrote {written}")


@app.command()
def contracts(
    write: Annotated[bool, typer.Option("--write", help="Rewrite the generated files.")] = False,
) -> None:
    """Check (or --write) docs/landing-zone.md and the dbt sources rendered from the contract."""
    from orchestration.lib.contract_docs import rendered_files, write_rendered

    if write:
        for path in write_rendered():
            typer.echo(f"wrote {path.relative_to(settings.REPO_ROOT)}")
        return
    stale = [
        p
        for p, text in rendered_files().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    for path in stale:
        typer.echo(f"out of date: {path.relative_to(settings.REPO_ROOT)}")
    if stale:
        typer.echo("run `omni360 contracts --write` to render them from the contract")
        raise typer.Exit(1)
    files = ", ".join(str(p.relative_to(settings.REPO_ROOT)) for p in rendered_files())
    typer.echo(f"contract documents up to date: {files}")


def _open_warehouse(warehouse: Path | None):

    path = (warehouse or settings.warehouse_path()).resolve()
    if not path.is_file():
        _fail(f"no warehouse at {path}; run `omni360 run` first")
    con = connect(str(path), read_only=True)
    tables = {
        row[0]
        for row in con.sql(
            "select table_name from information_schema.tables where table_schema = 'identity'"
        ).fetchall()
    }
    if "customer_xref" not in tables:
        _fail(f"{path} has no identity.customer_xref yet; run `omni360 run` first")
    return con


@app.command()
def evaluate(
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            help="The answer key: a landing zone written by `omni360 generate`, or its _truth/ "
            "folder.",
        ),
    ],
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    region: RegionOpt = None,
    national_id_scheme: SchemeOpt = None,
) -> None:
    """Compare the resolved customers with the answer key: pairwise precision, recall and F1
    over every identity-bearing record, what plain exact-key stitching could reach, the missed
    pairs by cause, and the golden record's accuracy (docs/identity.md#measured-accuracy)."""
    from orchestration.lib.identity.duckdb_udfs import register
    from orchestration.lib.identity.evaluate import evaluate as measure

    locale = _locale(region, national_id_scheme)
    con = _open_warehouse(warehouse)
    register(con)
    try:
        f = measure(con, truth.resolve(), locale=locale)
    except FileNotFoundError as error:
        _fail(str(error), 2)
    typer.echo(f"{'measure':<34}{'value':>12}")
    rows = [
        ("precision", f"{f.precision:.4f}"),
        ("recall (all true pairs)", f"{f.recall:.4f}"),
        ("F1", f"{f.f1:.4f}"),
        ("recall (linkable records only)", f"{f.linkable_recall:.4f}"),
        ("records (identity-bearing)", f"{f.records:,}"),
        ("  without a customer", f"{f.unresolved_records:,}"),
        ("  not in the answer key", f"{f.unmatched_records:,}"),
        ("pairs: true", f"{f.true_pairs:,}"),
        ("       predicted", f"{f.predicted_pairs:,}"),
        ("       correct", f"{f.correct_pairs:,}"),
        ("reference-reachable share", f"{f.reference_share:.4f}"),
        ("recall among those", f"{f.reference_recall:.4f}"),
        ("persons / customers", f"{f.persons:,} / {f.customers:,}"),
        ("exact cluster rate", f"{f.exact_cluster_rate:.4f}"),
        ("over-merged customers", f"{f.overmerged_customers:,}"),
        ("split persons", f"{f.split_persons:,}"),
        (
            "largest customer",
            f"{f.largest_customer_records:,} rec / {f.largest_customer_profiles:,} prof",
        ),
    ]
    for name, value in rows:
        typer.echo(f"{name:<34}{value:>12}")
    typer.echo("\nmissed true pairs by cause")
    for cause, pairs in f.missed_by_cause.items():
        typer.echo(f"  {cause:<44}{pairs:>12,}")
    if f.golden_accuracy:
        typer.echo("\ngolden record against the answer key (customers compared)")
        for attribute, share in f.golden_accuracy.items():
            typer.echo(f"  {attribute:<20}{share:>10.4f}  ({f.golden_compared[attribute]:,})")
        if f.golden_name_available is not None:
            typer.echo(
                f"  customers whose records hold their true name at all: "
                f"{f.golden_name_available:.4f} (no rule can do better)"
            )
        if f.golden_name_available_to_any is not None:
            typer.echo(
                f"  persons whose records hold their true name at all: "
                f"{f.golden_name_available_to_any:.4f} (the bound after a perfect resolution)"
            )
    typer.echo(
        "\nreference-reachable: the true pairs plain exact-key stitching of raw identifiers "
        "(or name + birth date) could connect, without the answer key or our normaliser"
    )


@app.command()
def erase(
    identifier: Annotated[
        str,
        typer.Option(
            "--identifier",
            help="phone:+8613800138000, member:M0000021, email:a@b.cn, unionid:…, card:…, "
            "national_id:… or customer:C000000001",
        ),
    ],
    landing: LandingOpt = None,  # type: ignore[assignment]
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    region: RegionOpt = None,
    national_id_scheme: SchemeOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Erase one data subject from every layer (right to erasure; docs/compliance.md#erasure).

    Removes their rows from the lake (raw and quarantine), the warehouse and the published
    snapshot, adds them to the suppression list so re-delivered files do not bring them back,
    rewrites the files, verifies that their identifiers are found nowhere, and records the
    request with a token of the subject."""
    from orchestration.lib import erasure

    locale = _locale(region, national_id_scheme)
    where = settings.locations(landing, warehouse)
    started = time.perf_counter()
    try:
        removed = erasure.remove(
            identifier,
            warehouse=where.warehouse,
            lake=where.lake,
            say=lambda message: _say(message, started),
            locale=locale,
        )
    except erasure.ErasureError as error:
        _fail(str(error), 2)
    _say("rebuilding the layers downstream of the lake (the main job)", started)
    rebuilt = _materialize(where, "all", engine=engine) == 0
    report = erasure.verify(
        removed,
        rebuilt=rebuilt,
        warehouse=where.warehouse,
        lake=where.lake,
        published=where.published,
        reports=where.reports,
        run_history=where.dagster_home,
    )
    for table, rows in sorted(report.rows_removed.items()):
        typer.echo(f"  {table:<60} {rows:>8,} rows removed")
    _say(
        f"request {report.request_id}: subject token {report.subject_token[:16]}…, "
        f"{report.records} source records, {sum(report.rows_removed.values()):,} rows removed, "
        f"{report.reports_scrubbed} reports scrubbed",
        started,
    )
    covered = ", ".join(f"{count:,} {what}" for what, count in report.covers.items())
    typer.echo(
        f"the proof covers the records linked to this customer and their identifiers: {covered}. "
        "Records of the subject never linked to them are outside it."
    )
    if report.review:
        typer.secho(
            f"{len(report.review)} records share a weaker attribute with the subject; review "
            "them (not deleted; erase one with `omni360 erase --identifier customer:<id>`):",
            fg=typer.colors.YELLOW,
        )
        for customer_id, record_key, why in report.review[:50]:
            typer.echo(f"  {customer_id:<12} {record_key:<56} {why}")
    if report.verified:
        typer.secho(
            f"verified: none of the subject's identifiers is found in {report.places_searched:,} "
            "places searched (warehouse tables, lake and published Parquet, reports, logs, "
            "file bytes)",
            fg=typer.colors.GREEN,
        )
        return
    if not report.rebuilt:
        typer.secho(
            "the rebuild failed: the marts and the published snapshot may still hold the "
            "subject; fix the failure and run `omni360 run` (the lake and suppression list are "
            "already clean)",
            fg=typer.colors.RED,
        )
    for trace in report.traces:
        typer.secho(f"still found: {trace}", fg=typer.colors.RED)
    raise typer.Exit(1)


@app.command()
def explain(
    identifier: Annotated[
        str,
        typer.Argument(
            help="customer:C000000001, member:M0000021, phone:13800138000, email:a@b.cn, "
            "unionid:..., card:..., national_id:... or record:crm:members:M0000021",
        ),
    ],
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    masked: Annotated[
        bool,
        typer.Option(
            "--masked",
            help="Names, phones and emails masked as in the marts, birth dates as the year:"
            " output that may leave the engineering team.",
        ),
    ] = False,
    region: RegionOpt = None,
    national_id_scheme: SchemeOpt = None,
) -> None:
    """Show a customer's source records, the rule or match weight behind each link, and its id
    history. Without --masked it prints personal data from the restricted identity schema."""
    from orchestration.lib.identity.explain import customer_ids_for
    from orchestration.lib.identity.explain import explain as explain_customer

    locale = _locale(region, national_id_scheme)
    con = _open_warehouse(warehouse)
    try:
        customers = customer_ids_for(con, identifier, locale)
    except ValueError as error:
        _fail(str(error), 2)
    if not customers:
        _fail(f"no customer holds {identifier}", 1)
    explained = [(c, explain_customer(con, c, masked=masked)) for c in customers]
    if not any(found.records or found.events for _, found in explained):
        _fail(f"no customer holds {identifier} (no source record and no id history)", 1)
    for customer_id, found in explained:
        merged = (
            f" (merged into {found.current_customer_id})"
            if found.current_customer_id != customer_id
            else ""
        )
        typer.secho(
            f"customer {customer_id}{merged}: {len(found.records)} source records", bold=True
        )
        if found.records:
            typer.echo(
                f"  {'record':<50} {'entity':<8}{'name':<14}{'phone':<16}{'email':<30}"
                f"{'birth date':<12}first seen"
            )
        for key, kind, name, phone, email, born, seen in found.records:
            typer.echo(
                f"  {key:<50} {kind:<8}{name or '':<14}{phone or '':<16}"
                f"{email or '':<30}{str(born or ''):<12}{seen:%Y-%m-%d}"
            )
        typer.secho("links:", bold=True)
        if found.links:
            typer.echo(f"  {'decision':<9}{'rule':<24}left record — right record, why")
        for left, right, rule, decision, reason, weight, levels in found.links:
            detail = f"weight {weight:+.1f} [{levels}]" if weight is not None else ""
            typer.echo(
                f"  {decision:<9}{rule:<24}{left} — {right} {reason or ''} {detail}".rstrip()
            )
        if found.events:
            typer.secho("id history:", bold=True)
            typer.echo(f"  {'when (UTC)':<17}{'event':<8}customer related records detail")
            for _run, at, event, cid, related, records, detail in found.events:
                typer.echo(
                    f"  {at:%Y-%m-%d %H:%M} {event:<8}{cid} {related or ''} "
                    f"{records or ''} {detail or ''}".rstrip()
                )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())


spark_app = typer.Typer(
    help="Start, stop and show the Spark processes of the Spark engine (docs/spark.md): a Spark "
    "Connect server, in local mode or in front of a standalone cluster started here.",
    no_args_is_help=True,
)
app.add_typer(spark_app, name="spark")


def _spark_folder(warehouse: Path | None) -> Path:
    """The Spark folder of the warehouse a `spark` command names (or the default one)."""
    return settings.spark_dir(settings.locations(warehouse=warehouse).warehouse)


@spark_app.command("start")
def spark_start(
    warehouse: WarehouseOpt = None,  # type: ignore[assignment]
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Start a standalone cluster (a master and this many workers) behind the "
            "Connect server; 0 = Spark's local mode in the server's own JVM.",
        ),
    ] = 0,
    port: Annotated[int, typer.Option("--port", help="The Spark Connect port.")] = 15002,
    driver_memory: Annotated[str, typer.Option("--driver-memory")] = "4g",
    worker_memory: Annotated[str, typer.Option("--worker-memory")] = "4g",
) -> None:
    """Start the Spark engine's processes for a warehouse; `omni360 run --engine spark` then
    uses them (OMNI360_SPARK_REMOTE=sc://localhost:<port>) until `omni360 spark stop`."""
    from orchestration.lib.spark import server

    folder = _spark_folder(warehouse)
    try:
        cluster = server.start(
            folder,
            workers=workers,
            port=port,
            driver_memory=driver_memory,
            worker_memory=worker_memory,
        )
    except server.SparkStartError as error:
        _fail(str(error), 2)
    typer.echo(f"Spark Connect at {cluster.remote}, master {cluster.master}")
    typer.echo(f"processes: {', '.join(f'{n} ({p})' for n, p in cluster.pids.items())}")
    typer.echo(f"logs, metastore and tables: {folder}")


@spark_app.command("stop")
def spark_stop(warehouse: WarehouseOpt = None) -> None:  # type: ignore[assignment]
    """Stop what `omni360 spark start` started for this warehouse."""
    from orchestration.lib.spark import server

    folder = _spark_folder(warehouse)
    stopped = server.stop(folder)
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else f"nothing running from {folder}")


@spark_app.command("status")
def spark_status(warehouse: WarehouseOpt = None) -> None:  # type: ignore[assignment]
    """Whether the Spark engine's processes for this warehouse are up."""
    from orchestration.lib.spark import server

    folder = _spark_folder(warehouse)
    cluster = server.running(folder)
    if cluster is None:
        _fail(f"not running (nothing started from {folder})", 1)
    typer.echo(f"Spark Connect at {cluster.remote}, master {cluster.master}")
