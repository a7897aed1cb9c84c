"""Stand-in for dbt's `adapter` context object (sqlfluff linting only).

`adapter.dispatch('name', 'omni360')(args)` renders a call of the same shape as the DuckDB
implementation: a function named after the macro.
"""


def dispatch(macro_name, macro_namespace=None):
    def render(*args, **kwargs):
        return f"{macro_name}({', '.join(str(arg) for arg in args)})"

    return render
