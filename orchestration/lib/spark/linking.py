"""Candidate links found on Spark, for the Spark engine's identity resolution: the
deterministic links of shared identifiers, and Splink's candidate pairs blocked and scored.

The frozen model (trained on the driver: training samples pairs, scoring reads them all) is
written in Spark SQL (`probabilistic.settings_for_spark`) and Splink's Spark backend blocks and
scores every candidate pair on the cluster. The profiles reach Spark, and the scored pairs come
back, as Parquet in the hand-off folder, never through Python's memory; the pairs' account and
the guarded clustering stay on the driver (resolve.py). docs/spark.md says what differs.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from pyspark.sql import DataFrame, SparkSession
from splink import Linker, SparkAPI
from splink.internals.spark.jar_location import similarity_jar_location

from orchestration.lib.identity.probabilistic import (
    PROFILE_COLUMNS,
    TrainedModel,
    ordered_union,
    pairs_sql,
    settings_for_spark,
)
from orchestration.lib.identity.resolve import CandidateLinks, ordered_edges, stars_sql
from orchestration.lib.sql import connect, literal

log = logging.getLogger(__name__)
_VIEW_PREFIX = "omni360_ids_"


class _SparkAPI(SparkAPI):
    def _setup_for_execute_sql(self, sql: str, physical_name: str) -> str:
        # Splink's own Spark dialect subclasses sqlglot's generator, which the compiled sqlglot
        # installed beside dbt does not allow; its one change (double literals) is not needed
        return sqlglot.transpile(sql, read="spark", write="spark", pretty=True)[0]


class SparkLinks:
    """`resolve.CandidateLinks` on Spark: `score` is `probabilistic.score` (the same signature,
    the same pairs' columns) and `stars` `resolve.deterministic_edges`, each computed on the
    cluster. The session is opened at the first use (a run that links nothing never opens
    one)."""

    def __init__(self, session: Callable[[], SparkSession], handoff: Path) -> None:
        self._session = session
        self._spark: SparkSession | None = None
        self.folder = handoff / "splink"
        # profiles left by a scoring that was killed: personal data, and nobody else's (identity
        # resolution holds the warehouse for writing while it scores)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            spark = self._session()
            # Splink's similarity functions (jaro_winkler, damerau_levenshtein) are in its jar
            spark.addArtifacts(similarity_jar_location())
            self._spark = spark
        return self._spark

    def links(self) -> CandidateLinks:
        return CandidateLinks(score=self.score, stars=self.stars)

    @contextlib.contextmanager
    def _job(self) -> Iterator[Path]:
        """A hand-off folder for one job's files, removed after it (they hold personal data);
        the job's Spark work is tagged, so a failure or an interruption here stops it."""
        folder = self.folder / uuid.uuid4().hex
        tag = f"omni360-{folder.name}"
        self.spark.addTag(tag)
        try:
            yield folder
        except BaseException:
            # failed, or interrupted on this side (Dagster's terminate): the personal data goes
            # first (an interrupt may wait on a lost server), then Spark's jobs are stopped,
            # which would otherwise go on writing into the hand-off after it is cleared
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(Exception):
                self.spark.interruptTag(tag)
            raise
        finally:
            self.spark.removeTag(tag)
            # the files hold personal data: removed first, whatever Spark does next
            shutil.rmtree(folder, ignore_errors=True)
            if folder.exists():
                log.error("could not remove the hand-off folder %s", folder)
            self._drop_temporary_views()

    def stars(
        self, con: duckdb.DuckDBPyConnection, identifier_types: tuple[str, ...]
    ) -> dict[str, list]:
        """The deterministic links of the records being resolved (`_ids` on `con`): their
        identifiers go to Spark, which finds the stars of shared values (a shuffle by value)."""
        with self._job() as folder:
            ids, edges = folder / "ids", folder / "edges"
            ids.mkdir(parents=True)
            types = ", ".join(literal(name) for name in identifier_types)
            con.execute(
                "copy (select node, identifier_type, identifier_value from _ids "
                f"where identifier_type in ({types})) "
                f"to {literal(str(ids / 'part-0.parquet'))} (format parquet)"
            )
            view = f"{_VIEW_PREFIX}{folder.name}"
            self.spark.read.parquet(str(ids)).createOrReplaceTempView(view)
            found = sqlglot.transpile(
                stars_sql(view, identifier_types), read="duckdb", write="spark"
            )[0]
            self.spark.sql(found).write.mode("overwrite").parquet(str(edges))
            if not (edges / "_SUCCESS").exists():  # written where this process cannot see it
                raise RuntimeError(f"Spark's links are not in the hand-off folder {edges}")
            files = literal(str(edges / "*.parquet"))
            return ordered_edges(con, f"read_parquet({files})", identifier_types)

    def score(
        self,
        profiles: pa.Table,
        model: TrainedModel,
        *,
        threshold: float,
        focus: pa.Array | None = None,
    ) -> pd.DataFrame:
        logging.getLogger("splink").setLevel(logging.ERROR)
        table = profiles.select(PROFILE_COLUMNS)
        # Splink asks for `spark.default.parallelism`, which a Connect session does not have
        # (it falls back); pyspark's client would log the refusal as an error
        connect_log = logging.getLogger("pyspark.sql.connect.logging")
        level = connect_log.level
        connect_log.setLevel(logging.CRITICAL)
        try:
            db = _SparkAPI(spark_session=self.spark, break_lineage_method="persist")
        finally:
            connect_log.setLevel(level)
        # Splink registers its jar's functions with a warning when it cannot: say so now, not as
        # an unknown function in the middle of the scoring
        if not self.spark.catalog.functionExists("jaro_winkler"):
            raise RuntimeError(
                f"Splink's similarity functions are not on the Spark server: its jar "
                f"({similarity_jar_location()}) did not register. Check the server's log."
            )
        with self._job() as folder:
            settings = settings_for_spark(model.settings)
            everyone = self._to_spark(table, folder / "profiles")
            linker = Linker(db.register(everyone), settings, log_level=40)
            for column, frequencies in model.term_frequencies.items():
                tf = self._to_spark(frequencies, folder / f"tf_{column}")
                linker.table_management.register_term_frequency_lookup(db.register(tf), column)
            if focus is None:
                scored = [
                    linker.inference.predict(
                        threshold_match_probability=threshold, warning_mode="never"
                    )
                ]
            else:
                ids = self._to_spark(pa.table({"unique_id": focus}), folder / "focus")
                inside = db.register(everyone.join(ids, "unique_id", "left_semi"))
                outside = db.register(everyone.join(ids, "unique_id", "left_anti"))
                scored = [
                    linker.inference.predict_within(
                        inside, threshold_match_probability=threshold, warning_mode="never"
                    ),
                    linker.inference.predict_between(
                        inside, outside, threshold_match_probability=threshold, warning_mode="never"
                    ),
                ]
            written = []
            for i, pairs in enumerate(scored):
                frame = pairs.as_spark_dataframe()
                kept = [c for c in frame.columns if c.startswith(("unique_id_", "match_", "mw_"))]
                written.append(folder / f"pairs_{i}")
                frame.select(*kept).write.mode("overwrite").parquet(str(written[-1]))
            return _account(table, model, written)

    def _drop_temporary_views(self) -> None:
        """Splink persists its steps as temporary views and never drops them: they are dropped
        here with ours, and uncached (only they: other sessions' caches on the server are left
        alone). A failure is logged, not raised over the job's own error or result."""
        try:
            catalog = self.spark.catalog
            for view in catalog.listTables():
                if view.isTemporary and view.name.startswith(("__splink__", _VIEW_PREFIX)):
                    if catalog.isCached(view.name):
                        catalog.uncacheTable(view.name)
                    catalog.dropTempView(view.name)
        except Exception as error:
            log.warning("could not drop the temporary views on Spark: %s", error)

    def _to_spark(self, table: pa.Table, folder: Path) -> DataFrame:
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-0.parquet")
        return self.spark.read.parquet(str(folder))


def _account(profiles: pa.Table, model: TrainedModel, written: list[Path]) -> pd.DataFrame:
    """The scored pairs with their account, on the driver's DuckDB as `score` gives them."""
    con = connect()
    try:
        con.execute("set threads to 2")
        con.register("_profiles", profiles)
        names = []
        for i, folder in enumerate(written):
            names.append(f"_scored_{i}")
            files = literal(str(folder / "*.parquet"))
            con.execute(f"create temp table {names[-1]} as select * from read_parquet({files})")
        scored = names[0] if len(names) == 1 else ordered_union(con, names)
        return con.sql(pairs_sql(scored, model.settings)).df()
    finally:
        con.close()
