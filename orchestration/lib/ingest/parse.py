"""Turn one landing file's bytes into a table of text fields, one row per physical line.

Structural problems of single lines (bad bytes, a line over the size limit, wrong field count,
broken JSON) become a `_parse_error` on that line, so the line is quarantined and still counted.
Problems of the whole file raise `FileRefused` with what to do about it.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from orchestration.lib.contracts import Entity

PARSE_COLUMNS = ("_line_no", "_parse_error", "_parse_column", "_parse_detail")
# Above this share of undecodable lines the file is taken to be in another encoding.
MAX_BAD_UTF8_SHARE = 0.5
# What the quarantine keeps of a line over the size limit
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Limits:
    """Size limits, enforced before a line is parsed (docs/ingestion.md#size-limits)."""

    max_line_bytes: int = 1 << 20  # a longer line is quarantined (`line_too_long`)
    max_field_bytes: int = 1 << 16  # a longer field is quarantined (`field_too_long`)
    max_file_bytes: int = 4 << 30  # a larger file (after decompression) is refused


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


def read_delivery(data: bytes, rel_path: str, limits: Limits) -> bytes:
    """The file's content: gzip-compressed deliveries (`.gz`) decompressed, within the limit."""
    if not rel_path.lower().endswith(".gz"):
        if len(data) > limits.max_file_bytes:
            raise _too_large(rel_path, len(data), limits)
        return data
    try:
        content = _gunzip(data, limits.max_file_bytes + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise FileRefused(
            rel_path,
            f"not a readable gzip file ({error}); it looks like {describe_bytes(data)}",
            "re-send it compressed with gzip, or uncompressed without the .gz suffix",
            "corrupt_gzip",
        ) from None
    if len(content) > limits.max_file_bytes:
        raise _too_large(rel_path, len(content), limits)
    return content


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of `data`, decompressed up to `limit` bytes; a stream cut short (no
    end-of-stream marker) raises EOFError rather than passing for a shorter file."""
    parts, size, rest = [], 0, data
    while rest:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        part = stream.decompress(rest, limit - size)
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
        if not stream.eof:
            raise EOFError("the compressed stream is cut short")
        rest = stream.unused_data.lstrip(b"\x00")
    return b"".join(parts)


def _too_large(rel_path: str, size: int, limits: Limits) -> FileRefused:
    return FileRefused(
        rel_path,
        f"{'at least ' if size > limits.max_file_bytes else ''}{size:,} bytes, over the limit of "
        f"{limits.max_file_bytes:,} bytes per file (OMNI360_MAX_FILE_BYTES)",
        "split the delivery into smaller files, or raise the limit",
        "file_too_large",
    )


def describe_bytes(data: bytes) -> str:
    """What a file that is not UTF-8 text looks like, from its first bytes."""
    head = data[:4096]
    magic = (
        (b"\x1f\x8b", "gzip-compressed data (name the file .csv.gz or .jsonl.gz)"),
        (b"PK\x03\x04", "a ZIP archive, such as an Excel .xlsx workbook (export it as CSV)"),
        (b"\xd0\xcf\x11\xe0", "a legacy Excel .xls workbook (export it as CSV)"),
        (b"%PDF", "a PDF document"),
        (b"\xff\xfe", "UTF-16 text (little-endian byte-order mark FF FE)"),
        (b"\xfe\xff", "UTF-16 text (big-endian byte-order mark FE FF)"),
    )
    for prefix, what in magic:
        if head.startswith(prefix):
            return what
    if head.count(b"\x00") > len(head) // 4:
        return "UTF-16 text without a byte-order mark, or binary data (many NUL bytes)"
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    if controls > len(head) // 20:
        return f"binary data ({controls} control bytes in the first {len(head):,})"
    first_bad = _first_invalid_utf8(data)
    where = (
        f"; the first invalid byte is at offset {first_bad:,}: "
        f"{data[first_bad : first_bad + 8].hex(' ')}"
        if first_bad is not None
        else ""
    )
    sample = data[:65536]
    sample = sample[: sample.rfind(b"\n") + 1] or sample  # whole lines: no character cut
    try:
        if any("\u4e00" <= char <= "\u9fff" for char in sample.decode("gb18030")):
            return "GBK/GB18030 (Chinese Windows) text" + where
    except UnicodeDecodeError:
        pass
    return "text in a single-byte encoding such as Windows-1252 or Latin-1" + where


def _first_invalid_utf8(data: bytes) -> int | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return None


def split_lines(data: bytes, rel_path: str) -> list[bytes]:
    """Physical lines: LF or CRLF line ends (CR alone when the file has no LF at all)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data:
        raise FileRefused(
            rel_path,
            "empty file (no bytes but perhaps a byte-order mark)",
            "re-export the file; a delivery with no records still needs its header "
            "(CSV) or can be left out (JSON lines)",
            "empty_file",
        )
    separator = b"\r" if b"\n" not in data else b"\n"  # classic Mac files end lines with CR
    lines = data.split(separator)
    if lines[-1] == b"":
        lines.pop()
    if separator == b"\r" or b"\r" not in data:
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
        looks_like = describe_bytes(b"\n".join(lines))
        raise FileRefused(
            rel_path,
            f"not UTF-8 text ({n_bad} of {len(bad)} lines have invalid bytes"
            f"{', including the first line' if bad[0] else ''}); it looks like "
            f"{looks_like}",
            "re-export the file as UTF-8 (exports from Excel or Windows tools are often GBK)",
            "wrong_encoding",
        )
    return texts, bad


def oversized_lines(lines: list[bytes], limits: Limits, first_line: int) -> dict[int, int]:
    """Line number → size of every line over the limit; cut to an excerpt in place, so nothing
    downstream holds or parses it."""
    if sum(len(line) for line in lines) <= limits.max_line_bytes:
        return {}
    oversized = {}
    for i, line in enumerate(lines):
        if len(line) > limits.max_line_bytes:
            oversized[i + first_line] = len(line)
            lines[i] = line[: EXCERPT_CHARS * 4].decode("utf-8", "ignore")[:EXCERPT_CHARS].encode()
    return oversized


def _oversized_error(size: int, limits: Limits) -> tuple[str, str]:
    return (
        "line_too_long",
        f"line of {size:,} bytes, over the limit of {limits.max_line_bytes:,} "
        f"(OMNI360_MAX_LINE_BYTES); raw_content holds its first {EXCERPT_CHARS} characters",
    )


def parse_csv(
    data: bytes,
    entity: Entity,
    rel_path: str,
    limits: Limits | None = None,
    blocking_columns: frozenset[str] = frozenset(),
) -> ParsedFile:
    limits = limits or Limits()
    lines = split_lines(data, rel_path)
    oversized = oversized_lines(lines, limits, first_line=1)
    if 1 in oversized:
        raise FileRefused(
            rel_path,
            f"the header line has {oversized[1]:,} bytes, over the limit of "
            f"{limits.max_line_bytes:,} (OMNI360_MAX_LINE_BYTES)",
            "check that the file is a CSV file with one header line naming the columns",
            "invalid_header",
        )
    texts, bad = decode_lines(lines, rel_path)
    header = _header(texts[0], rel_path)
    expected = entity.column_names
    absent = [c for c in entity.columns if c.name not in header]
    refused = [c.name for c in absent if c.required or c.name in blocking_columns]
    if refused:
        kind = "required" if all(c.required for c in absent if c.name in refused) else "blocking"
        extra = [h for h in header if h not in expected]
        raise FileRefused(
            rel_path,
            f"missing {kind} column(s) {', '.join(refused)} in the header"
            + (f"; it has columns the contract does not name: {', '.join(extra)}" if extra else ""),
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
    errors: dict[int, tuple[str, str]] = {
        number: _oversized_error(size, limits) for number, size in oversized.items()
    }
    # lines Arrow's parser would run into the next one (a quote left open, a CR inside the
    # line) are caught here, so that every line keeps its number
    quotes = b'"' in data
    suspects = (
        enumerate(zip(body, bad[1:], strict=True))
        if any(bad) or "" in body or quotes or (b"\r" in data and any("\r" in t for t in body))
        else ()
    )
    for i, (text, is_bad) in suspects:
        if i + 2 in errors:
            continue
        if is_bad:
            errors[i + 2] = (
                "invalid_utf8",
                "line has bytes that are not UTF-8 (shown as \\x escapes in raw_content)",
            )
        elif text == "":
            errors[i + 2] = ("blank_line", "blank line")
        elif "\r" in text:
            errors[i + 2] = ("invalid_csv", "a carriage return (CR) inside the line")
        elif quotes and '"' in text and _split_csv_line(text) is None:
            # a quote left open (`0","` opens one after a literal quote, with an even count)
            errors[i + 2] = (
                "invalid_csv",
                "unbalanced quotes: a quoted field does not end on this line",
            )
    fields = _read_fields(body, header, errors, limits)
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


def _header(text: str, rel_path: str) -> list[str]:
    try:
        return [h.strip() for h in next(csv.reader([text], strict=True))]
    except (csv.Error, StopIteration) as error:
        raise FileRefused(
            rel_path,
            f"the header line cannot be read as CSV ({error})",
            "the first line must name the columns, comma-separated",
            "invalid_header",
        ) from None


def _read_fields(
    body: list[str], header: list[str], errors: dict[int, tuple[str, str]], limits: Limits
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

    unnumbered: list[str] = []

    def reject(row: pacsv.InvalidRow) -> str:
        number, _, rest = (row.text or "").partition(",")
        if not number.isdigit():  # the parser split a line where no line ends: never expected
            unnumbered.append(row.text or "")
            return "skip"
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
        # a block must hold the longest line allowed, or Arrow fails on the whole file
        read_options=pacsv.ReadOptions(
            column_names=names,
            use_threads=True,
            block_size=max(1 << 20, 2 * limits.max_line_bytes + 64),
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=reject, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={"_line_no": pa.int64(), **{n: pa.string() for n in names[1:]}},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if unnumbered:
        raise ValueError(f"the CSV parser split a line where none ends: {unnumbered[0][:80]!r}")
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


def parse_jsonl(
    data: bytes, entity: Entity, rel_path: str, limits: Limits | None = None
) -> ParsedFile:
    """JSON lines are parsed in SQL (see loader.py); here only bytes, sizes and blank lines."""
    limits = limits or Limits()
    lines = split_lines(data, rel_path)
    oversized = oversized_lines(lines, limits, first_line=0)
    texts, bad = decode_lines(lines, rel_path)
    n = len(texts)
    raw = _raw_table(texts, first_line=1)
    errors: dict[int, tuple[str, str]] = {
        i: _oversized_error(size, limits) for i, size in oversized.items()
    }
    if any(bad):
        for i in (i for i, is_bad in enumerate(bad) if is_bad and i not in errors):
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


def parse_file(
    data: bytes,
    entity: Entity,
    rel_path: str,
    limits: Limits | None = None,
    blocking_columns: frozenset[str] = frozenset(),
) -> ParsedFile:
    """Parse a delivered file (decompressed when it is `.gz`)."""
    limits = limits or Limits()
    content = read_delivery(data, rel_path, limits)
    if entity.format == "csv":
        return parse_csv(content, entity, rel_path, limits, blocking_columns)
    return parse_jsonl(content, entity, rel_path, limits)
