"""Turn one landing file's bytes into a table of text fields, one row per physical line.

Structural problems of single lines (bad bytes, wrong field count, broken JSON) become a
`_parse_error` on that line, so the line is quarantined and still counted. Problems of the whole
file raise `FileRefused` with what to do about it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from orchestration.lib.contracts import Entity

PARSE_COLUMNS = ("_line_no", "_parse_error", "_parse_column", "_parse_detail")
# Above this share of undecodable lines the file is taken to be in another encoding.
MAX_BAD_UTF8_SHARE = 0.5


class FileRefused(Exception):
    """A whole-file problem: nothing of the file is loaded."""

    def __init__(self, rel_path: str, problem: str, action: str, rule: str) -> None:
        super().__init__(f"{rel_path}: {problem}. {action}")
        self.rel_path = rel_path
        self.problem = problem
        self.action = action
        self.rule = rule


@dataclass(frozen=True)
class ParsedFile:
    table: pa.Table  # PARSE_COLUMNS + one string column per contract column (jsonl: + _raw)
    raw: pa.Table  # _line_no, _raw: every data line as delivered
    rows_read: int
    extra_columns: tuple[str, ...] = ()
    missing_optional_columns: tuple[str, ...] = ()


def split_lines(data: bytes, rel_path: str) -> list[bytes]:
    if not data:
        raise FileRefused(
            rel_path,
            "empty file (0 bytes)",
            "re-export the file; a delivery with no records still needs its header "
            "(CSV) or can be left out (JSON lines)",
            "empty_file",
        )
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if b"\r" not in data:
        return lines
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def decode_lines(lines: list[bytes], rel_path: str) -> tuple[list[str], list[bool]]:
    """Decode as UTF-8; return the texts and which lines were not valid UTF-8."""
    try:
        return b"\n".join(lines).decode("utf-8").split("\n"), [False] * len(lines)
    except UnicodeDecodeError:
        pass
    texts: list[str] = []
    bad: list[bool] = []
    for line in lines:
        try:
            texts.append(line.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            texts.append(line.decode("utf-8", errors="backslashreplace"))
            bad.append(True)
    n_bad = sum(bad)
    if bad[0] or (n_bad >= 2 and n_bad > MAX_BAD_UTF8_SHARE * len(bad)):
        raise FileRefused(
            rel_path,
            f"not UTF-8 text ({n_bad} of {len(bad)} lines have invalid bytes"
            f"{', including the first line' if bad[0] else ''})",
            "re-export the file as UTF-8 (exports from Excel or Windows tools are often GBK)",
            "wrong_encoding",
        )
    return texts, bad


def parse_csv(data: bytes, entity: Entity, rel_path: str) -> ParsedFile:
    lines = split_lines(data, rel_path)
    texts, bad = decode_lines(lines, rel_path)
    header = [h.strip() for h in next(csv.reader([texts[0]]))]
    expected = entity.column_names
    missing_required = [c.name for c in entity.columns if c.required and c.name not in header]
    if missing_required:
        raise FileRefused(
            rel_path,
            f"missing required column(s) {', '.join(missing_required)} in the header",
            f"the header must name the columns of {entity.key}: {','.join(expected)}",
            "missing_column",
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise FileRefused(
            rel_path,
            f"column(s) named twice in the header: {duplicated}",
            "give every column one name",
            "duplicate_column",
        )
    body = texts[1:]
    errors: dict[int, tuple[str, str]] = {}
    suspects = enumerate(zip(body, bad[1:], strict=True)) if (any(bad) or "" in body) else ()
    for i, (text, is_bad) in suspects:
        if is_bad:
            errors[i + 2] = (
                "invalid_utf8",
                "line has bytes that are not UTF-8 (shown as \\x escapes in raw_content)",
            )
        elif text == "":
            errors[i + 2] = ("blank_line", "blank line")
    fields = _read_fields(body, header, errors)
    columns = {
        name: fields.column(name) if name in header else pa.nulls(fields.num_rows, pa.string())
        for name in expected
    }
    parsed = pa.table(
        {
            "_line_no": fields.column("_line_no"),
            "_parse_error": pa.nulls(fields.num_rows, pa.string()),
            "_parse_column": pa.nulls(fields.num_rows, pa.string()),
            "_parse_detail": pa.nulls(fields.num_rows, pa.string()),
            **columns,
        }
    )
    failed = pa.table(
        {
            "_line_no": pa.array(list(errors), pa.int64()),
            "_parse_error": pa.array([e[0] for e in errors.values()], pa.string()),
            "_parse_column": pa.nulls(len(errors), pa.string()),
            "_parse_detail": pa.array([e[1] for e in errors.values()], pa.string()),
            **{name: pa.nulls(len(errors), pa.string()) for name in expected},
        }
    )
    table = pa.concat_tables([parsed, failed]).cast(_parse_schema(expected))
    return ParsedFile(
        table=table,
        raw=_raw_table(body, first_line=2),
        rows_read=len(body),
        extra_columns=tuple(h for h in header if h not in expected),
        missing_optional_columns=tuple(c for c in expected if c not in header),
    )


def _read_fields(
    body: list[str], header: list[str], errors: dict[int, tuple[str, str]]
) -> pa.Table:
    """Split CSV lines into string fields with Arrow's parser, each line prefixed by its number.

    Lines with another field count than the header, or an unclosed quote, land in `errors`.
    """
    numbered = "\n".join(
        [f"{i},{text}" for i, text in enumerate(body, start=2) if i not in errors]
        if errors
        else [f"{i},{text}" for i, text in enumerate(body, start=2)]
    ).encode("utf-8")
    names = ["_line_no", *(f"__c{i}" for i in range(len(header)))]

    def reject(row: pacsv.InvalidRow) -> str:
        number, _, rest = (row.text or "").partition(",")
        fields = _split_csv_line(rest)
        if fields is None:
            errors[int(number)] = (
                "invalid_csv",
                "unbalanced quotes: a quoted field does not end on this line",
            )
        else:
            errors[int(number)] = (
                "column_count",
                f"{len(fields)} fields where the header has {len(header)}",
            )
        return "skip"

    if not numbered:
        return pa.table(
            {"_line_no": pa.array([], pa.int64()), **{h: pa.array([], pa.string()) for h in header}}
        )
    table = pacsv.read_csv(
        pa.BufferReader(numbered),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pacsv.ParseOptions(invalid_row_handler=reject, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={"_line_no": pa.int64(), **{n: pa.string() for n in names[1:]}},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table.rename_columns(["_line_no", *header])


def _raw_table(texts: list[str], first_line: int) -> pa.Table:
    return pa.table(
        {
            "_line_no": pa.array(range(first_line, first_line + len(texts)), pa.int64()),
            "_raw": pa.array(texts, pa.string()),
        }
    )


def _split_csv_line(text: str) -> list[str] | None:
    reader = csv.reader([text], strict=True)
    try:
        return next(reader)
    except csv.Error:
        return None


def parse_jsonl(data: bytes, entity: Entity, rel_path: str) -> ParsedFile:
    """JSON lines are parsed in SQL (see loader.py); here only bytes and blank lines."""
    lines = split_lines(data, rel_path)
    texts, bad = decode_lines(lines, rel_path)
    n = len(texts)
    raw = _raw_table(texts, first_line=1)
    errors: dict[int, tuple[str, str]] = {}
    if any(bad):
        for i in (i for i, is_bad in enumerate(bad) if is_bad):
            errors[i] = (
                "invalid_utf8",
                "line has bytes that are not UTF-8 (shown as \\x escapes in raw_content)",
            )
    blank = pc.equal(pc.utf8_trim_whitespace(raw.column("_raw")), "")
    if pc.any(blank).as_py():
        for i in pc.indices_nonzero(blank).to_pylist():
            errors.setdefault(i, ("blank_line", "blank line"))
    error_at = (
        pa.array([errors.get(i, (None, None))[0] for i in range(n)], pa.string())
        if errors
        else pa.nulls(n, pa.string())
    )
    detail_at = (
        pa.array([errors.get(i, (None, None))[1] for i in range(n)], pa.string())
        if errors
        else pa.nulls(n, pa.string())
    )
    table = pa.table(
        {
            "_line_no": raw.column("_line_no"),
            "_parse_error": error_at,
            "_parse_column": pa.nulls(n, pa.string()),
            "_parse_detail": detail_at,
            "_raw": raw.column("_raw"),
        }
    )
    return ParsedFile(table=table, raw=raw, rows_read=n)


def _parse_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [("_line_no", pa.int64())]
        + [(c, pa.string()) for c in PARSE_COLUMNS[1:]]
        + [(c, pa.string()) for c in columns]
    )


def parse_file(data: bytes, entity: Entity, rel_path: str) -> ParsedFile:
    if entity.format == "csv":
        return parse_csv(data, entity, rel_path)
    return parse_jsonl(data, entity, rel_path)
