"""`omni360-dbt`: the dbt command line the pipeline runs, on either engine. On the Spark engine
(`--target spark`) it first opens the Spark Connect session at the `spark_remote` var (else
OMNI360_SPARK_REMOTE) and registers the lake's tables and the omni360_* functions in it; dbt then
runs in the same process, and its `session` connections (profiles.yml) reuse that session. On
DuckDB it is dbt itself."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from orchestration import settings

BUILDS = ("build", "run", "test", "seed", "show", "compile")


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def _var(argv: list[str], name: str) -> str | None:
    given = _option(argv, "--vars")
    return json.loads(given).get(name) if given else None


def main() -> None:
    argv = sys.argv[1:]
    target = _option(argv, "--target") or os.environ.get("OMNI360_DBT_TARGET")
    if target == "spark" and argv and argv[0] in BUILDS:
        from orchestration.lib.spark.session import connect, prepare

        remote = _var(argv, "spark_remote") or settings.spark_remote()
        lake = Path(_var(argv, "lake_dir") or settings.lake_dir())
        prepare(connect(remote), lake)
        # dbt-spark's session connections call SparkSession.builder.getOrCreate(): the same
        # Connect session, found by its URL
        os.environ["SPARK_REMOTE"] = remote
        os.environ["OMNI360_SPARK_REMOTE"] = remote
    from dbt.cli.main import cli

    cli(argv, prog_name="dbt")


if __name__ == "__main__":
    main()
