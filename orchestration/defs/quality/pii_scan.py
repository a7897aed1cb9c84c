"""No personal data in clear in the published marts: a blocking check on every mart.

One scan of the warehouse's published schema (orchestration/lib/privacy/scanner.py) answers one
`no_clear_pii` check per mart model. The checks are blocking, so a finding stops the publication
of the marts in the same run (publish/marts_snapshot depends on every mart); the previous
snapshot stays published.
"""

from collections.abc import Iterator, Sequence

import dagster as dg

from orchestration.defs.transform.assets import MARTS
from orchestration.lib import progress
from orchestration.lib.privacy.scanner import Finding, ScanResult, scan_duckdb
from orchestration.lib.publish import PUBLISHED_SCHEMAS
from orchestration.resources import WarehouseResource

CHECK_NAME = "no_clear_pii"
MAX_FINDINGS_SHOWN = 50


def table_of(key: dg.AssetKey) -> str:
    """marts/dim_customer → marts.dim_customer (dbt asset keys are [schema, model])."""
    return ".".join(key.path)


def check_results(
    scan: ScanResult, checks: Sequence[dg.AssetCheckKey], owned: set[str]
) -> Iterator[dg.AssetCheckResult]:
    """One result per check: its table's findings; findings in a published table that no mart
    asset owns (left over from a removed model, or written by hand) fail every check, since the
    publication would copy that table too."""
    orphans = [f for f in scan.findings if f.table not in owned]
    for key in checks:
        table = table_of(key.asset_key)
        findings = scan.findings_in(table)
        yield dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=not findings and not orphans,
            severity=dg.AssetCheckSeverity.ERROR,
            description=_describe(table, findings, orphans),
            metadata={
                "observed": len(findings) + len(orphans),
                "threshold": 0,
                "rows_with_pii": sum(f.count for f in findings + orphans),
                "findings": dg.MetadataValue.json(
                    [f.as_dict() for f in (findings + orphans)[:MAX_FINDINGS_SHOWN]]
                ),
                "tables_scanned": scan.tables,
                "columns_scanned": scan.columns_scanned,
                "scan_seconds": round(scan.seconds, 2),
            },
        )


def _describe(table: str, findings: list[Finding], orphans: list[Finding]) -> str:
    if not findings and not orphans:
        return f"{table}: no phone, email, national ID or bank card number in clear"
    lines = [str(f) for f in findings + orphans][:10]
    return (
        f"personal data in clear in the published schema: {'; '.join(lines)}. Mask it "
        "(macros/privacy/masking.sql) or keep it in a restricted schema, then run again."
    )


def build_pii_scan_check(marts: Sequence[dg.AssetKey]) -> dg.AssetChecksDefinition:
    owned = {table_of(key) for key in marts}

    @dg.multi_asset_check(
        name="pii_scan",
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                blocking=True,
                description="No column holds a phone number, email, national ID or bank card "
                "number in clear, and `*_token` columns hold only keyed tokens (64 hex).",
            )
            for key in marts
        ],
        can_subset=True,
    )
    def pii_scan(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        checks = sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string())
        selected = {table_of(key.asset_key) for key in checks}
        # the selected marts, plus any published table no mart owns
        scan = scan_duckdb(
            warehouse.warehouse,
            PUBLISHED_SCHEMAS,
            include=lambda table: table in selected or table not in owned,
        )
        progress.report(
            f"PII scan: {scan.tables} tables, {scan.columns_scanned} columns, "
            f"{scan.rows:,} rows, {len(scan.findings)} findings ({scan.seconds:.1f}s)"
        )
        yield from check_results(scan, checks, owned)

    return pii_scan


pii_scan = build_pii_scan_check(MARTS)
