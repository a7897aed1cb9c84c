"""Stand-ins for dbt's cross-database macros, so sqlfluff's jinja templater can render models.

Only for linting: they return SQL of the same shape as DuckDB's implementations.
"""


def concat(fields):
    return "concat(" + ", ".join(fields) + ")"


def safe_cast(field, type_name):
    return f"try_cast({field} as {type_name})"


def hash(field):
    return f"md5(cast({field} as varchar))"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def last_day(date, datepart):
    return f"last_day({date})"


def date_spine(datepart, start_date, end_date):
    series = f"generate_series({start_date}, {end_date}, interval 1 {datepart})"
    return f"select unnest({series}) as date_{datepart}"


def position(substring_text, string_text):
    return f"position({substring_text} in {string_text})"


def type_string():
    return "varchar"
