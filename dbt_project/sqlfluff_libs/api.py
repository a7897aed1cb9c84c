"""Stand-in for dbt's `api` context object (sqlfluff linting only)."""


class Column:
    @staticmethod
    def translate_type(type_name):
        return type_name
