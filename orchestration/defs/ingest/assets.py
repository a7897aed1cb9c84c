"""One asset per source entity: its landing files loaded into the raw layer of the lake."""

import dagster as dg
from pydantic import Field

from orchestration import settings
from orchestration.lib import progress
from orchestration.lib.contracts import ENTITIES, Entity, blocking_columns, entity
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import LandingScan, scan_landing
from orchestration.lib.ingest.loader import EntityLoadResult, load_entity, new_load_id
from orchestration.lib.ingest.parse import Limits
from orchestration.lib.owners import owners
from orchestration.resources import LocaleResource, WarehouseResource


class IngestConfig(dg.Config):
    """Size limits and blocking columns (docs/ingestion.md); defaults from the environment."""

    max_line_bytes: int = Field(default_factory=settings.max_line_bytes)
    max_field_bytes: int = Field(default_factory=settings.max_field_bytes)
    max_file_bytes: int = Field(default_factory=settings.max_file_bytes)
    blocking_columns: list[str] = Field(default_factory=settings.blocking_columns)

    @property
    def limits(self) -> Limits:
        return Limits(self.max_line_bytes, self.max_field_bytes, self.max_file_bytes)


def asset_key(target: Entity) -> dg.AssetKey:
    # [<dbt source name>, <table>]: the dbt sources link to these assets with no extra config
    return dg.AssetKey([target.source, target.name])


def _metadata(result: EntityLoadResult) -> dict[str, dg.MetadataValue | int | float | str]:
    rules = result.quarantine_rules
    table = "\n".join(f"| {rule} | {count} |" for rule, count in rules.most_common())
    return {
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "rows_with_warnings": result.rows_with_warnings,
        "rows_suppressed": result.rows_suppressed,
        "files_loaded": len(result.files("loaded")),
        "files_skipped_duplicate": len(result.files("skipped_duplicate")),
        "files_already_loaded": len(result.files("already_loaded")),
        "files_refused": len(result.files("refused")),
        "load_id": result.load_id,
        "elapsed_s": round(result.elapsed_s, 2),
        "quarantine_by_rule": dg.MetadataValue.md(
            "| rule | rows |\n|---|---|\n" + table if table else "nothing quarantined"
        ),
        "leftovers_removed": len(result.recovered),
    }


def ingest_groups(entities: tuple[Entity, ...] = ENTITIES) -> list[tuple[Entity, ...]]:
    """The entities, each with those it depends on (`depends_on`), in loading order.

    An entity checked against another one's rows (till receipts against the stores) loads in the
    same Dagster step after it: as two steps, every dbt model downstream of the second would wait
    one more step, and dagster splits the dbt project into one more build (about 5 s a run). So
    the first's blocking `rows_accounted` check no longer holds the second back: if the first's
    lake lost files, rows naming what they held are quarantined as unknown references.
    """
    group_of: dict[str, list[Entity]] = {}
    groups: list[list[Entity]] = []
    for target in entities:
        parents = [group_of[dep] for dep in target.depends_on if dep in group_of]
        group = parents[0] if parents else []
        for other in parents[1:]:
            if other is not group:
                group.extend(other)
                groups.remove(other)
                for member in other:
                    group_of[member.key] = group
        if not parents:
            groups.append(group)
        group.append(target)
        group_of[target.key] = group
    return [tuple(group) for group in groups]


def build_ingest_asset(targets: tuple[Entity, ...]) -> dg.AssetsDefinition:
    """One step loading `targets` in order (an entity after those it depends on)."""
    specs = [
        dg.AssetSpec(
            asset_key(table),
            group_name=target.source,
            owners=owners(target.source),
            description=table.description,
            deps=[asset_key(entity(*dep.split("."))) for dep in target.depends_on],
            kinds={"parquet", "python"},
            tags={"layer": "raw", **({"pii": ""} if any(c.pii for c in table.columns) else {})},
        )
        for target in targets
        for table in target.raw_tables
    ]
    checks = [
        spec
        for target in targets
        for spec in (
            dg.AssetCheckSpec(
                "rows_accounted",
                asset=asset_key(target),
                blocking=True,
                description="Every committed file: rows read = loaded + quarantined, "
                "counted again from the Parquet files.",
            ),
            dg.AssetCheckSpec(
                "files_accepted",
                asset=asset_key(target),
                description="No landing file of this entity was refused "
                "(changed after loading, wrong encoding, missing column, empty, unreadable…); "
                "an error the first time a file is refused, a warning while it stays refused.",
            ),
            dg.AssetCheckSpec(
                "columns_complete",
                asset=asset_key(target),
                description="Every file loaded in this run has every optional column of the "
                "contract; a missing (or renamed) one is loaded as null, named here with its "
                "file and rows. Set OMNI360_BLOCKING_COLUMNS to refuse such files instead.",
            ),
        )
    ]

    @dg.multi_asset(
        name="ingest_" + "_".join(f"{t.source}_{t.name}" for t in targets),
        specs=specs,
        check_specs=checks,
        can_subset=False,
    )
    def _ingest(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        warehouse: WarehouseResource,
        locale: LocaleResource,
    ):
        scan = scan_landing(warehouse.landing)
        lake = Lake(warehouse.lake)
        for target in targets:
            yield from _load(context, config, locale, scan, lake, target)

    return _ingest


def _load(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    locale: LocaleResource,
    scan: LandingScan,
    lake: Lake,
    target: Entity,
):
    key = asset_key(target)
    result = load_entity(
        target,
        scan.files_for(target),
        lake,
        new_load_id(context.run.run_id),
        layout_problems=scan.problems_for(target),
        limits=config.limits,
        blocking_columns=blocking_columns(config.blocking_columns)[target.key],
        locale=locale.locale,
        progress=lambda o: (
            context.log.info(
                f"{o.source_file}: {o.status} read={o.rows_read} loaded={o.rows_loaded} "
                f"quarantined={o.rows_quarantined}"
            )
            if o.status != "already_loaded"
            else None
        ),
    )
    progress.report(
        f"{target.source}/{target.name}: {len(result.files('loaded'))} new files, "
        f"read {result.rows_read:,} loaded {result.rows_loaded:,} "
        f"quarantined {result.rows_quarantined:,} ({result.elapsed_s:.1f}s)"
    )
    for refusal in result.refusals:
        context.log.error(refusal)
    if target.source in scan.missing_sources:
        context.log.warning(f"landing folder {target.source}/ is absent: nothing to load")
    metadata = _metadata(result)
    for table in target.raw_tables:
        table_meta = (
            dict(metadata)
            if table is target
            else {"rows_loaded": result.child_rows_loaded, "load_id": result.load_id}
        )
        yield dg.MaterializeResult(asset_key=asset_key(table), metadata=table_meta)
    mismatches = accounting_mismatches(lake, target)
    yield dg.AssetCheckResult(
        asset_key=key,
        check_name="rows_accounted",
        passed=not mismatches,
        metadata={
            "mismatches": dg.MetadataValue.json(mismatches[:50]),
            "files_checked": len(lake.manifest(target)),
        },
        description="; ".join(mismatches[:5]) or None,
    )
    new, known = (
        result.new_refusals,
        [r for r in result.refusals if r not in result.new_refusals],
    )
    yield dg.AssetCheckResult(
        asset_key=key,
        check_name="files_accepted",
        passed=not result.refusals,
        # an operator hears of a refused file once as an error; unchanged, it stays a warning
        severity=dg.AssetCheckSeverity.ERROR if new else dg.AssetCheckSeverity.WARN,
        metadata={
            "refused": dg.MetadataValue.json(result.refusals[:50]),
            "refused_for_the_first_time": len(new),
            "observed": len(result.refusals),
            "threshold": 0,
        },
        description="\n".join(new[:10] + [f"still refused: {r}" for r in known[:10]]) or None,
    )
    yield columns_check(key, result)


def columns_check(key: dg.AssetKey, result: EntityLoadResult) -> dg.AssetCheckResult:
    incomplete = result.incomplete_files
    lines = [
        f"{o.source_file}: optional column(s) {', '.join(o.missing_columns)} missing, "
        f"{o.rows_loaded:,} rows loaded with them null"
        + (
            f" (the file has columns the contract does not name: {', '.join(o.extra_columns)})"
            if o.extra_columns
            else ""
        )
        for o in incomplete
    ]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="columns_complete",
        passed=not incomplete,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files": dg.MetadataValue.json(
                [
                    {
                        "file": o.source_file,
                        "missing_columns": list(o.missing_columns),
                        "extra_columns": list(o.extra_columns),
                        "rows": o.rows_loaded,
                    }
                    for o in incomplete[:50]
                ]
            ),
            "observed": sum(len(o.missing_columns) for o in incomplete),
            "threshold": 0,
            "rows_affected": sum(o.rows_loaded for o in incomplete),
        },
        description="; ".join(lines[:10]) or None,
    )


@dg.asset(
    key=["ingest", "landing_scan"],
    group_name="ingest",
    owners=owners("ingest"),
    kinds={"python"},
    check_specs=[
        dg.AssetCheckSpec(
            "landing_layout_valid",
            asset=["ingest", "landing_scan"],
            description="Every folder and file in the landing zone fits the contract's layout.",
        )
    ],
)
def landing_scan(warehouse: WarehouseResource):
    """What is in the landing zone: files per entity, absent sources, layout problems."""
    scan = scan_landing(warehouse.landing)
    problems = [str(p) for p in scan.layout_problems()]
    yield dg.MaterializeResult(
        metadata={
            "landing": str(scan.root),
            "files": sum(len(f) for f in scan.files.values()),
            "files_per_entity": dg.MetadataValue.json(
                {k: len(v) for k, v in sorted(scan.files.items())}
            ),
            "missing_sources": dg.MetadataValue.json(scan.missing_sources),
        }
    )
    yield dg.AssetCheckResult(
        check_name="landing_layout_valid",
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"problems": dg.MetadataValue.json(problems[:50])},
        description="\n".join(problems[:10]) or None,
    )


# Written by every entity asset, read by dbt as sources: shown in the graph, not materialised.
ingest_outputs = [
    dg.AssetSpec(
        ["ingest", name],
        group_name="ingest",
        owners=owners("ingest"),
        description=doc,
        kinds={"parquet"},
        deps=[asset_key(e) for e in ENTITIES],
    )
    for name, doc in (
        ("quarantine", "Rejected rows of every entity, with rule and reason."),
        ("load_audit", "What each run did with each landing file."),
        ("loaded_files", "The manifest: every landing file committed, with its delivery date."),
    )
]

defs = dg.Definitions(
    assets=[*(build_ingest_asset(g) for g in ingest_groups()), landing_scan, *ingest_outputs]
)
