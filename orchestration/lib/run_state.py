"""Whether a run has anything to build.

Every model, check and published table is a function of the lake, the code and the settings.
When none of them changed since the last run that built everything (no landing file to load, no
file loaded or withdrawn since, no erasure, the same code, dependencies and settings), building
again would give the same warehouse: `omni360 run` and the daily schedule then run only
ingestion and the delivery checks (freshness reads the wall clock), and say which run's
warehouse and snapshot stand (docs/operations.md#a-run-with-nothing-new).

The record of that run is `<lake>/_ops/complete_run.json`, beside the full-refresh requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from orchestration.lib.contracts import ENTITIES
from orchestration.lib.files import write_atomic
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import LandingScan
from orchestration.lib.ingest.loader import unloaded_files
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT

STATE_FILE = Path("_ops") / "complete_run.json"
# what the warehouse is computed by: the dbt project, the Python steps and the GE suites
CODE = (
    DBT_PROJECT_DIR / "models",
    DBT_PROJECT_DIR / "macros",
    DBT_PROJECT_DIR / "seeds",
    DBT_PROJECT_DIR / "tests",
    DBT_PROJECT_DIR / "dbt_project.yml",
    DBT_PROJECT_DIR / "profiles.yml",
    REPO_ROOT / "orchestration",
    REPO_ROOT / "expectations",
)
CODE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".py", ".json"}
DEPENDENCIES = (
    "dbt-core",
    "dbt-duckdb",
    "dbt-spark",
    "duckdb",
    "dagster",
    "dagster-dbt",
    "great-expectations",
    "splink",
    "pymc-marketing",
    "pyspark",
)
# where things are, not what they hold: the run's locations are compared through the lake
LOCATION_SETTINGS = frozenset(
    {
        "OMNI360_WAREHOUSE",
        "OMNI360_LAKE",
        "OMNI360_LANDING",
        "OMNI360_PUBLISHED",
        "OMNI360_REPORTS",
        "OMNI360_SPARK_DIR",
        "OMNI360_SPARK_REMOTE",
    }
)


@dataclass(frozen=True)
class CompleteRun:
    run_id: str
    finished_at: str
    inputs: str  # fingerprint of the code, dependencies, settings and answer key
    lake: str  # digest of the lake's manifest and full-refresh requests


def inputs_fingerprint(landing: Path) -> str:
    """A digest of everything besides the lake that a run's results depend on: the code, the
    versions of the libraries that compute them, every OMNI360_* setting but the locations (the
    token secret only inside the digest), and the answer key (the accuracy checks read it)."""
    digest = hashlib.sha256()
    for root in CODE:
        paths = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in paths:
            if path.is_file() and path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO_ROOT)).encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    for name in DEPENDENCIES:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    for key in sorted(k for k in os.environ if k.startswith("OMNI360_")):
        if key in LOCATION_SETTINGS:
            continue
        digest.update(f"{key}={os.environ[key]}\0".encode())
    truth = landing / "_truth"
    for path in sorted(truth.iterdir()) if truth.is_dir() else []:
        if path.name.startswith("."):
            continue  # the accuracy checks' cache of normalised values, written by runs
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def lake_digest(lake: Lake) -> str:
    """A digest of what the lake holds: every manifest entry (a load, a skip, a withdrawal) and
    the pending full-refresh requests (an erasure)."""
    digest = hashlib.sha256()
    for target in ENTITIES:
        for entry in lake.manifest(target):
            digest.update(f"{entry.file_id}:{entry.status}:{entry.rows_loaded}\0".encode())
    digest.update(json.dumps(lake.full_refresh_reasons()).encode())
    return digest.hexdigest()


def record_complete_run(lake_root: Path, landing: Path, run_id: str) -> CompleteRun:
    """Note that `run_id` built everything from the lake as it is now."""
    lake = Lake(lake_root)
    run = CompleteRun(
        run_id=run_id,
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        inputs=inputs_fingerprint(landing),
        lake=lake_digest(lake),
    )
    write_atomic(lake_root / STATE_FILE, json.dumps(asdict(run)))
    return run


def forget_complete_run(lake_root: Path) -> None:
    (lake_root / STATE_FILE).unlink(missing_ok=True)


def unchanged_since(scan: LandingScan, lake_root: Path, landing: Path) -> CompleteRun | None:
    """The last complete run, when nothing it was built from has changed since; else None."""
    path = lake_root / STATE_FILE
    if not path.is_file():
        return None
    try:
        run = CompleteRun(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return None  # unreadable: build
    lake = Lake(lake_root)
    if run.inputs != inputs_fingerprint(landing) or run.lake != lake_digest(lake):
        return None
    if any(unloaded_files(t, scan.files_for(t), lake) for t in ENTITIES):
        return None
    return run
