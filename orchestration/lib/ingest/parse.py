"""Turn one landing file's bytes into a table of text fields, one row per physical line.

Structural problems of single lines (bad bytes, wrong field count, broken JSON) become a
`_parse_error` on that line, so the line is quarantined and still counted. Problems of the whole
file raise `FileRefused` with what to do about it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pyarrow as pa

from orchestration.lib.contracts import Entity

PARSE_COLUMNS = ("_line_no", "_raw", "_parse_error", "_parse_column", "_parse_detail")
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
    table: pa.Table  # PARSE_COLUMNS + one string column per contract column (jsonl: only _raw)
    rows_read: int
    extra_columns: tuple[str, ...] = ()
    missing_optional_columns: tuple[str, ...] = ()


def split_lines(data: bytes, rel_path: str) -> list[bytes]:
    if not data:
        raise FileRefused(rel_path, "empty file (0 bytes)",
                          "re-export the file; a delivery with no records still needs its header "
                          "(CSV) or can be left out (JSON lines)", "empty_file")
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
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
    if bad and (bad[0] or sum(bad) > MAX_BAD_UTF8_SHARE * len(bad)):
        raise FileRefused(
            rel_path,
            f"not UTF-8 text ({sum(bad)} of {len(bad)} lines have invalid bytes"
            f"{', including the first line' if bad[0] else ''})",
            "re-export the file as UTF-8 (exports from Excel or Windows tools are often GBK)",
            "wrong_encoding",
        )
    return texts, bad


def _empty_parse_columns(n: int) -> dict[str, list]:
    return {c: [None] * n for c in PARSE_COLUMNS}


def parse_csv(data: bytes, entity: Entity, rel_path: str) -> ParsedFile:
    lines = split_lines(data, rel_path)
    texts, bad = decode_lines(lines, rel_path)
    header = next(csv.reader([texts[0]]))
    header = [h.strip() for h in header]
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
        raise FileRefused(rel_path, f"column(s) named twice in the header: {duplicated}",
                          "give every column one name", "duplicate_column")
    positions = {name: header.index(name) for name in expected if name in header}
    n_fields = len(header)
    body = texts[1:]
    n = len(body)
    parse = _empty_parse_columns(n)
    parse["_line_no"] = list(range(2, n + 2))
    parse["_raw"] = body
    fields: list[list[str] | None] = [None] * n
    for i, (text, is_bad) in enumerate(zip(body, bad[1:], strict=True)):
        if is_bad:
            _set_error(parse, i, "invalid_utf8", None,
                       "line has bytes that are not UTF-8 (shown as \\x escapes in raw_content)")
        elif text == "":
            _set_error(parse, i, "blank_line", None, "blank line")
        else:
            row = _split_csv_line(text)
            if row is None:
                _set_error(parse, i, "invalid_csv", None,
                           "unbalanced quotes: a quoted field does not end on this line")
            elif len(row) != n_fields:
                _set_error(parse, i, "column_count", None,
                           f"{len(row)} fields where the header has {n_fields}")
            else:
                fields[i] = row
    columns: dict[str, list[str | None]] = {}
    for name in expected:
        pos = positions.get(name)
        columns[name] = (
            [None] * n if pos is None else [row[pos] if row else None for row in fields]
        )
    table = pa.table({**parse, **columns},
                     schema=_parse_schema(expected))
    return ParsedFile(
        table=table,
        rows_read=n,
        extra_columns=tuple(h for h in header if h not in expected),
        missing_optional_columns=tuple(c for c in expected if c not in positions),
    )


def _split_csv_line(text: str) -> list[str] | None:
    reader = csv.reader([text], strict=True)
    try:
        return next(reader)
    except csv.Error:
        return None


def parse_jsonl(data: bytes, entity: Entity, rel_path: str) -> ParsedFile:
    """JSON lines are parsed in SQL (see validate.py); here only bytes and blank lines."""
    lines = split_lines(data, rel_path)
    texts, bad = decode_lines(lines, rel_path)
    n = len(texts)
    parse = _empty_parse_columns(n)
    parse["_line_no"] = list(range(1, n + 1))
    parse["_raw"] = texts
    for i, (text, is_bad) in enumerate(zip(texts, bad, strict=True)):
        if is_bad:
            _set_error(parse, i, "invalid_utf8", None,
                       "line has bytes that are not UTF-8 (shown as \\x escapes in raw_content)")
        elif text.strip() == "":
            _set_error(parse, i, "blank_line", None, "blank line")
    return ParsedFile(table=pa.table(parse, schema=_parse_schema(())), rows_read=n)


def _set_error(parse: dict[str, list], i: int, rule: str, column: str | None, detail: str) -> None:
    parse["_parse_error"][i] = rule
    parse["_parse_column"][i] = column
    parse["_parse_detail"][i] = detail


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
