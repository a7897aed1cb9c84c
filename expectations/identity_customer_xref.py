"""The id map (identity.customer_xref, written by the resolver): keys unique, every customer id
minted and active, and every profile record resolved."""

import great_expectations.expectations as gxe

from expectations._shared import critical
from orchestration.lib.contracts import SOURCES
from orchestration.lib.quality.expectations import Suite

XREF = ("identity", "customer_xref")

ROWS = Suite(
    name="identity_customer_xref",
    asset=XREF,
    description="One row per resolved source record → its customer id, joined to customer_ids.",
    query="""
        select
            xref.record_key,
            xref.customer_id,
            ids.customer_id as minted_customer_id,
            ids.status as customer_id_status,
            xref.record_kind,
            xref.source_system
        from identity.customer_xref as xref
        left join identity.customer_ids as ids on xref.customer_id = ids.customer_id
    """,
    rules=(
        critical(
            "record_key_not_null",
            gxe.ExpectColumnValuesToNotBeNull(column="record_key"),
            "a record without a key cannot be traced back to its source.",
        ),
        critical(
            "record_key_unique",
            gxe.ExpectColumnValuesToBeUnique(column="record_key"),
            "a record resolved to two customers: its orders would count twice.",
        ),
        critical(
            "customer_id_not_null",
            gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
            "a resolved record without a customer.",
        ),
        critical(
            "customer_id_minted",
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="customer_id", column_B="minted_customer_id"
            ),
            "a customer id that customer_ids never minted: ids would not be stable.",
        ),
        critical(
            "customer_id_active",
            gxe.ExpectColumnValuesToBeInSet(column="customer_id_status", value_set=["active"]),
            "records point at a customer id recorded as merged into another.",
        ),
        critical(
            "record_kind_known",
            gxe.ExpectColumnValuesToBeInSet(column="record_kind", value_set=["profile", "receipt"]),
            "record_kind is profile or receipt.",
        ),
        critical(
            "source_system_known",
            gxe.ExpectColumnValuesToBeInSet(column="source_system", value_set=list(SOURCES)),
            "source_system is one of the four sources.",
        ),
    ),
    # social record keys carry the openid
    pii=frozenset({"record_key"}),
    on_driver=True,
)

RECONCILIATION = Suite(
    name="identity_customer_xref_reconciliation",
    asset=XREF,
    description="Source records (int_identity__source_records) against resolved records.",
    query="""
        select
            count(*) filter (where record_kind = 'profile') as profile_records,
            (select count(*) from identity.customer_xref where record_kind = 'profile')
                as resolved_profiles,
            count(*) filter (where record_kind = 'receipt') as receipt_records,
            (select count(*) from identity.customer_xref where record_kind = 'receipt')
                as resolved_receipts
        from identity.int_identity__source_records
    """,
    rules=(
        critical(
            "every_profile_resolved",
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="resolved_profiles", column_B="profile_records"
            ),
            "every member and account resolves to exactly one customer.",
            observe=("resolved_profiles", "profile_records"),
        ),
        critical(
            "receipts_resolved_at_most_once",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="receipt_records", column_B="resolved_receipts", or_equal=True
            ),
            "more receipts resolved than identified receipts exist: some resolved twice.",
            observe=("resolved_receipts", "receipt_records"),
        ),
    ),
    on_driver=True,
)

SUITES = (ROWS, RECONCILIATION)
