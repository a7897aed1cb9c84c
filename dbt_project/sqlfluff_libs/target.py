"""Stand-in for dbt's `target` context object (sqlfluff linting only): the DuckDB target."""

type = "duckdb"  # noqa: A001 - dbt's attribute name
name = "duckdb"
