"""Write batches into delivery files, with late arrivals, duplicates, malformed lines and
re-delivered files, and record every line in the answer key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.lib.generator import malform
from orchestration.lib.generator.config import GeneratorConfig
from orchestration.lib.generator.render import Batch, csv_header, lines_of
from orchestration.lib.generator.text import seconds_of

RECORD_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("entity", pa.string()),
        ("record_id", pa.string()),
        ("person_id", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("is_malformed", pa.bool_()),
    ]
)
MALFORMED_COLUMNS = ("file", "line", "source", "entity", "record_id", "rule", "column", "detail")
MAX_LATE = 3  # deliveries


def delivery_dates(config: GeneratorConfig) -> list[dt.date]:
    """Delivery dates: from the first after the period start to MAX_LATE after its end."""
    dates: list[dt.date] = []
    day = config.start + dt.timedelta(days=1)
    while True:
        if config.delivery == "daily":
            is_delivery = True
        elif config.delivery == "weekly":
            is_delivery = day.weekday() == 0
        else:
            is_delivery = day.day == 1
        if is_delivery:
            dates.append(day)
            if day >= config.end and sum(d >= config.end for d in dates) > MAX_LATE:
                return dates
        day += dt.timedelta(days=1)


@dataclass
class Schedule:
    dates: list[dt.date]

    @property
    def midnights(self) -> np.ndarray:
        return np.array([seconds_of(d) for d in self.dates], dtype=np.int64)

    def index_for(self, seconds: np.ndarray) -> np.ndarray:
        """The first delivery whose midnight comes after the time (files are cut at 00:00)."""
        idx = np.searchsorted(self.midnights, seconds, side="right")
        return np.minimum(idx, len(self.dates) - 1)


@dataclass
class LandingWriter:
    out: Path
    config: GeneratorConfig
    schedule: Schedule
    person_id: pa.Array
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    existing: int = 0  # files already there, the same bytes (a continued landing zone)
    _redelivery_drawn: bool = False  # a re-delivery was drawn, written or not (see `until`)
    malformed_rows: list[tuple] = field(default_factory=list)
    redelivered: list[tuple[str, str]] = field(default_factory=list)
    _records: pq.ParquetWriter | None = None

    def open(self) -> None:
        (self.out / "_truth").mkdir(parents=True, exist_ok=True)
        self._records = pq.ParquetWriter(
            self.out / "_truth" / "records.parquet",
            RECORD_SCHEMA,
            compression="zstd",
            write_statistics=False,
        )

    def close(self) -> None:
        if self._records is not None:
            self._records.close()
            self._records = None

    def deliveries(self, batch: Batch, rng: np.random.Generator) -> np.ndarray:
        """Delivery index per record: the next delivery, some arriving 1-3 deliveries late."""
        if batch.delivery is not None:
            return batch.delivery
        base = self.schedule.index_for(batch.seconds)
        late = rng.random(len(batch)) < self.config.noise.late
        shift = np.where(late, rng.integers(1, MAX_LATE + 1, len(batch)), 0)
        return np.minimum(base + shift, len(self.schedule.dates) - 1)

    def write(self, batch: Batch, rng: np.random.Generator) -> np.ndarray:
        """Write the batch's files; return each record's delivery index."""
        entity = batch.entity
        n = len(batch)
        delivery = self.deliveries(batch, rng)
        bad_rows, bad = self._malformed(batch, rng)
        dup_rows = self._duplicates(batch, bad_rows, rng)
        is_bad = np.zeros(n, dtype=bool)
        is_bad[bad_rows] = True
        bad_at = {int(r): m for r, m in zip(bad_rows, bad, strict=True)}

        # copies of duplicated rows land in the same file, a little later in it
        row = np.concatenate([np.arange(n), dup_rows])
        key = np.concatenate(
            [batch.seconds, batch.seconds[dup_rows] + rng.integers(1, 3 * 86_400, len(dup_rows))]
        )
        deliv = np.concatenate([delivery, delivery[dup_rows]])
        order = np.lexsort((np.arange(len(row)), key, deliv))
        row, deliv = row[order], deliv[order]
        bounds = np.flatnonzero(np.diff(deliv)) + 1
        # an empty batch (e.g. no refunds in a tiny run) writes no file
        starts = np.concatenate([[0], bounds]) if len(row) else np.array([], dtype=int)
        ends = np.concatenate([bounds, [len(row)]]) if len(row) else np.array([], dtype=int)
        header = csv_header(entity) if entity.format == "csv" else b""
        first_line = 2 if header else 1
        person = pa.array(batch.person, mask=batch.person < 0)
        person_ids = self.person_id.take(person)
        written = 0
        for s, e in zip(starts, ends, strict=True):
            rows_here = row[s:e]
            day = self.schedule.dates[int(deliv[s])]
            rel = (
                f"{entity.source}/{entity.name}/{day.isoformat()}/"
                f"{entity.name}_{day:%Y%m%d}.{entity.format}"
            )
            if not self.config.delivered(day):
                # not delivered yet; the random draws below still happen, so that the files
                # written by a later `until` are the same as in one run
                if not is_bad[rows_here].any():
                    self._maybe_redeliver(batch, rel, int(deliv[s]), None, rng)
                continue
            data = header + _joined(_file_lines(batch, rows_here, is_bad, bad_at))
            self._put(rel, data)
            written += len(rows_here)
            line_no = np.arange(first_line, first_line + len(rows_here), dtype=np.int64)
            records = self._record_table(batch, person_ids, rows_here, rel, line_no, is_bad)
            self._records.write_table(records)
            for at in np.flatnonzero(is_bad[rows_here]):
                r = int(rows_here[at])
                m = bad_at[r]
                self.malformed_rows.append(
                    (
                        rel,
                        int(line_no[at]),
                        entity.source,
                        entity.name,
                        batch.record_id[r].as_py(),
                        m.rule,
                        m.column,
                        m.detail,
                    )
                )
            if not is_bad[rows_here].any():
                self._maybe_redeliver(batch, rel, int(deliv[s]), records, rng)
        self.rows[entity.key] = self.rows.get(entity.key, 0) + written
        return delivery

    def _put(self, rel: str, data: bytes) -> None:
        """Write one landing file; one already there (a continued landing zone) must be the same."""
        path = self.out / rel
        if path.exists():
            if path.read_bytes() != data:
                raise FileExistsError(
                    f"{rel} already exists with other contents: the landing zone was not "
                    "generated with the same population and period"
                )
            self.existing += 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.files += 1

    def _record_table(
        self,
        batch: Batch,
        person_ids: pa.Array,
        rows: np.ndarray,
        rel: str,
        line_no: np.ndarray,
        is_bad: np.ndarray,
    ) -> pa.Table:
        idx = pa.array(rows)
        n = len(rows)
        return pa.table(
            {
                "source": pa.array([batch.entity.source] * n, type=pa.string()),
                "entity": pa.array([batch.entity.name] * n, type=pa.string()),
                "record_id": batch.record_id.take(idx),
                "person_id": person_ids.take(idx),
                "file": pa.array([rel] * n, type=pa.string()),
                "line": pa.array(line_no),
                "is_malformed": pa.array(is_bad[rows]),
            },
            schema=RECORD_SCHEMA,
        )

    def _maybe_redeliver(
        self,
        batch: Batch,
        rel: str,
        delivery: int,
        records: pa.Table | None,
        rng: np.random.Generator,
    ) -> None:
        rate = self.config.noise.redelivered_file
        # at least one re-delivered file per dataset, so the case is always there to test
        force = rate > 0 and not self._redelivery_drawn and batch.entity.key == "pos.transactions"
        if not (rng.random() < rate or force):
            return
        later = delivery + int(rng.integers(1, 3))
        if later >= len(self.schedule.dates):
            return
        self._redelivery_drawn = True
        day = self.schedule.dates[later]
        if records is None or not self.config.delivered(day):
            return
        copy = f"{batch.entity.source}/{batch.entity.name}/{day.isoformat()}/{rel.split('/')[-1]}"
        self._put(copy, (self.out / rel).read_bytes())
        self.redelivered.append((rel, copy))
        self._records.write_table(
            records.set_column(
                records.schema.get_field_index("file"),
                "file",
                pa.array([copy] * records.num_rows, type=pa.string()),
            )
        )

    def _malformed(
        self, batch: Batch, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[malform.Malformed]]:
        rules = malform.rules_for(batch.entity)
        rate = self.config.noise.malformed
        if not rules or rate <= 0:
            return np.zeros(0, dtype=np.int64), []
        eligible = np.ones(len(batch), dtype=bool) if batch.resent is None else ~batch.resent
        candidates = np.flatnonzero(eligible)
        k = int(rng.binomial(len(candidates), rate))
        # at least one record per rule, so small datasets show every case
        k = min(max(k, len(rules)), len(candidates) // 20)
        rows = np.sort(rng.choice(candidates, k, replace=False)) if k else candidates[:0]
        # rules in turn from a random start, so every rule shows up once there are enough
        chosen = (int(rng.integers(len(rules))) + np.arange(k)) % len(rules)
        lines = lines_of(subset(batch, rows)).to_pylist()
        bad = [
            malform.malformed_line(batch.entity, line, rules[c], rng)
            for line, c in zip(lines, chosen, strict=True)
        ]
        return rows.astype(np.int64), bad

    def _duplicates(
        self, batch: Batch, bad_rows: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        k = int(rng.binomial(len(batch), self.config.noise.duplicate_row))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        rows = rng.choice(len(batch), k, replace=False)
        return np.sort(np.setdiff1d(rows, bad_rows)).astype(np.int64)

    def write_answer_files(self) -> None:
        truth = self.out / "_truth"
        import csv

        with open(truth / "malformed.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(MALFORMED_COLUMNS)
            writer.writerows(sorted(self.malformed_rows))
        with open(truth / "redelivered_files.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(("original_file", "copy_file"))
            writer.writerows(sorted(self.redelivered))


def subset(batch: Batch, rows: np.ndarray) -> Batch:
    """The batch's records at `rows` (text columns only, for rendering)."""
    idx = pa.array(rows)
    return Batch(
        batch.entity,
        {k: v.take(idx) for k, v in batch.columns.items()},
        batch.record_id.take(idx),
        batch.person[rows],
        batch.seconds[rows],
        raw_json=(
            batch.raw_json_for(rows)
            if batch.raw_json_for is not None
            else {k: v.take(idx) for k, v in batch.raw_json.items()}
        ),
    )


def _file_lines(
    batch: Batch, rows: np.ndarray, is_bad: np.ndarray, bad_at: dict[int, malform.Malformed]
) -> pa.Array:
    """One file's lines as bytes: rendered records, malformed ones swapped in."""
    lines = lines_of(subset(batch, rows)).cast(pa.binary())
    bad_pos = np.flatnonzero(is_bad[rows])
    if len(bad_pos) == 0:
        return lines
    source = np.arange(len(rows), dtype=np.int64)
    source[bad_pos] = len(rows) + np.arange(len(bad_pos))
    swapped = pa.array([bad_at[int(rows[i])].line for i in bad_pos], type=pa.binary())
    return pa.concat_arrays([lines, swapped]).take(pa.array(source))


def _joined(body: pa.Array) -> bytes:
    """The lines joined with LF, ending with LF."""
    if len(body) == 0:
        return b""
    lists = pa.ListArray.from_arrays(pa.array([0, len(body)], type=pa.int32()), body)
    joined = pc.binary_join(lists, b"\n")[0]
    return joined.as_buffer().to_pybytes() + b"\n"
