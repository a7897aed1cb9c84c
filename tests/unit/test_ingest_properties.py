"""Property-based tests: random malformed lines thrown at the CSV and JSON-lines ingestion.

Whatever the lines, no exception escapes, the file is loaded or refused with a rule, and every
line read is either loaded or quarantined (rows read = loaded + quarantined = lines delivered).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.lib.contracts import entity
from orchestration.lib.ingest.accounting import accounting_mismatches
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import scan_landing
from orchestration.lib.ingest.loader import load_entity
from orchestration.lib.ingest.parse import Limits

# small limits, so that random lines cross them too
LIMITS = Limits(max_line_bytes=400, max_field_bytes=60, max_file_bytes=1 << 20)
REFUSAL_RULES = {"wrong_encoding", "empty_file", "invalid_header", "missing_column"}
TS = "2026-01-03T10:00:00+08:00"
STORES_HEADER = "store_id,store_name,city,region,opened_on"
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("OMNI360_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

valid_store = st.builds(
    lambda i, region: f"S{i:03d},店{i},北京市,{region},2019-05-01",
    st.integers(0, 999),
    st.sampled_from(["north", "east", "nowhere"]),
)
csv_field = st.one_of(
    st.text(max_size=30),
    st.text(alphabet='",\r\x00\ufeff', max_size=5),
    st.sampled_from(["", '"', '""', '"a,b"', "2999-01-01", "0001-01-01", "-1", "x" * 100]),
)
csv_line = st.one_of(
    valid_store,
    st.lists(csv_field, max_size=8).map(",".join),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    st.integers(350, 900).map(lambda n: "S1," + "y" * n + ",北京市,north,"),
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
order = st.fixed_dictionaries(
    {
        "order_id": st.one_of(st.just("EO1"), st.text(max_size=8), json_value),
        "account_id": st.one_of(st.just("TM1"), json_value),
        "platform": st.sampled_from(["tmall", "jd", "ebay"]),
        "ordered_at": st.sampled_from([TS, "9999-12-31T00:00:00+00:00", "yesterday", ""]),
        "status": st.sampled_from(["paid", "lost"]),
        "fulfilment": st.just("delivery"),
        "currency": st.sampled_from(["CNY", "USD"]),
        "lines": st.one_of(
            json_value,
            st.lists(
                st.fixed_dictionaries(
                    {
                        "line_no": st.one_of(st.integers(-1, 3), json_value),
                        "sku": st.text(max_size=5),
                        "product_name": st.text(max_size=80),
                        "quantity": st.one_of(st.integers(-2, 3), st.text(max_size=3)),
                        "unit_price": st.one_of(st.just("9.00"), json_value),
                    }
                ),
                max_size=3,
            ),
        ),
    }
)
json_line = st.one_of(
    order.map(lambda o: json.dumps(o, ensure_ascii=False)),
    json_value.map(json.dumps),
    st.text(max_size=40),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)


def _encode(line: str | bytes) -> bytes:
    return line if isinstance(line, bytes) else line.replace("\n", " ").encode("utf-8")


def _load(key: str, content: bytes, name: str) -> None:
    target = entity(*key.split("."))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "landing" / target.source / target.name / "2026-01-05").mkdir(parents=True)
        (root / "landing" / target.source / target.name / "2026-01-05" / name).write_bytes(content)
        scan = scan_landing(root / "landing")
        lake = Lake(root / "lake")
        result = load_entity(target, scan.files_for(target), lake, "P1", limits=LIMITS)
        [outcome] = result.outcomes
        if outcome.status == "refused":
            assert outcome.rule in REFUSAL_RULES, outcome.message
            return
        lines = content.removeprefix(b"\xef\xbb\xbf").split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        expected = len(lines) - (1 if target.format == "csv" else 0)
        assert outcome.status == "loaded", outcome
        assert outcome.rows_read == expected
        assert outcome.rows_loaded + outcome.rows_quarantined == expected
        assert accounting_mismatches(lake, target) == []


@PROPERTY_SETTINGS
@given(st.lists(csv_line, min_size=1, max_size=25), st.booleans())
def test_random_csv_lines_are_each_loaded_or_quarantined(lines, trailing_newline: bool):
    body = b"\n".join(_encode(line) for line in lines)
    content = STORES_HEADER.encode() + b"\n" + body + (b"\n" if trailing_newline else b"")
    _load("pos.stores", content, "stores.csv")


@PROPERTY_SETTINGS
@given(st.lists(json_line, min_size=1, max_size=20))
def test_random_json_lines_are_each_loaded_or_quarantined(lines):
    content = b"\n".join(_encode(line) for line in lines) + b"\n"
    _load("ecommerce.orders", content, "orders.jsonl")
