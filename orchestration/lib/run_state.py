"""Whether a run has anything to build.

Every model, check and published table is a function of the lake, the code and the settings.
When none of them changed since the last run that built everything (no landing file to load, no
file loaded or withdrawn since, no erasure, the same code, dependencies and settings), building
again would give the same warehouse: `omni360 run` and the daily schedule then run only
ingestion and the delivery checks (freshness reads the wall clock), and say which run's
warehouse and snapshot stand (docs/operations.md#a-run-with-nothing-new). When the code and
settings are the same but the lake (or the answer key) changed, they leave out the assets
computed from the code alone (the dbt seeds, the calendar).

The record of that run is `<lake>/_ops/complete_run.json`, beside the full-refresh requests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.lib.contracts import ENTITIES
from orchestration.lib.files import write_atomic
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.ingest.landing import scan_landing
from orchestration.lib.ingest.loader import unloaded_files
from orchestration.lib.publish import read_manifest, snapshot_path
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT

STATE_FILE = Path("_ops") / "complete_run.json"
# per run whose dbt builds started: the lake as its first build found it, and whether another
# run's build started after it (then it is not recorded)
BUILDING_FILE = Path("_ops") / "building.json"
KEEP_BUILDS = 50
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
# where things are, not what they hold: the run's locations are compared through the lake and
# the warehouse (a Spark server or folder is not: another one means building everything)
LOCATION_SETTINGS = frozenset(
    {
        "OMNI360_WAREHOUSE",
        "OMNI360_LAKE",
        "OMNI360_LANDING",
        "OMNI360_PUBLISHED",
        "OMNI360_REPORTS",
    }
)


@dataclass(frozen=True)
class CompleteRun:
    run_id: str
    finished_at: str
    inputs: str  # fingerprint of the code, dependencies, settings and answer key
    lake: str  # digest of the lake's manifest as the run built it
    code: str | None = None  # the same without the answer key (None: recorded before it was)


# the ingestion assets are keyed [<source>, <entity>] plus ingest/*
INGESTION_PREFIXES = frozenset({target.source for target in ENTITIES} | {"ingest"})
# the inputs a run started with: its end records it as complete only if they still hold
INPUTS_TAG = "omni360/inputs"


@dataclass(frozen=True)
class Plan:
    selection: list[dg.AssetKey]
    tags: dict[str, str]
    unchanged: CompleteRun | None  # the complete run whose warehouse stands, when nothing is new


def ingestion_keys(keys: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
    """The ingestion assets among `keys`: what a run with nothing new to build runs."""
    return sorted((k for k in keys if k.path[0] in INGESTION_PREFIXES), key=str)


def code_only_keys(graph: Any) -> set[dg.AssetKey]:
    """The assets computed from the code alone: the graph's roots outside ingestion (the dbt
    seeds and the calendar). A run after new deliveries leaves them as the last complete run
    built them."""
    keys = graph.materializable_asset_keys
    ingestion = set(ingestion_keys(keys))
    return {k for k in keys if not graph.get(k).parent_keys and k not in ingestion}


def plan_run(
    graph: Any,  # Dagster's asset graph (its type is not public)
    *,
    landing: Path,
    lake: Path,
    warehouse: Path,
    published: Path,
    everything: bool = False,
) -> Plan:
    """What the main job runs now: only ingestion when nothing changed since the last complete
    run; everything but the assets computed from the code alone (the graph's roots outside
    ingestion: the dbt seeds and the calendar, a dbt build of their own) when only the lake
    changed; else, or with `everything`, everything. Whatever goes wrong in deciding means
    everything."""
    keys = graph.materializable_asset_keys
    try:
        code = code_fingerprint()
        inputs = inputs_fingerprint(landing, code)
        last = None if everything else last_complete_run(lake, warehouse, published)
        unchanged = last if last is not None and _nothing_new(last, inputs, landing, lake) else None
    except Exception:  # an unreadable landing zone or lake: the run says what is wrong
        return Plan(sorted(keys, key=str), {}, None)
    tags = {INPUTS_TAG: inputs}
    if unchanged is not None:
        return Plan(ingestion_keys(keys), tags, unchanged)
    # the seeds and the calendar do not read the answer key, which every delivery extends
    if last is not None and last.code == code:
        return Plan(sorted(set(keys) - code_only_keys(graph), key=str), tags, None)
    return Plan(sorted(keys, key=str), tags, None)


def inputs_fingerprint(landing: Path, code: str | None = None) -> str:
    """A digest of everything besides the lake that a run's results depend on: the code and
    settings (`code_fingerprint`, computed unless given) and the answer key (the accuracy
    checks read it)."""
    digest = hashlib.sha256((code or code_fingerprint()).encode())
    truth = landing / "_truth"
    for path in sorted(truth.iterdir()) if truth.is_dir() else []:
        if path.name.startswith("."):
            continue  # the accuracy checks' cache of normalised values, written by runs
        try:
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"{path.name}: unreadable".encode())
    return digest.hexdigest()


def code_fingerprint() -> str:
    """A digest of the code, the versions of the libraries that compute the results, and every
    OMNI360_* setting but the locations (the token secret only inside the digest)."""
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
    return digest.hexdigest()


def lake_digest(lake: Lake) -> str:
    """A digest of what the lake holds: every manifest entry (a load, a skip, a withdrawal)."""
    digest = hashlib.sha256()
    for target in ENTITIES:
        for entry in lake.manifest(target):
            digest.update(f"{entry.file_id}:{entry.status}:{entry.rows_loaded}\0".encode())
    return digest.hexdigest()


def reads_lake(
    deps: Mapping[dg.AssetKey, AbstractSet[dg.AssetKey]], selected: Iterable[dg.AssetKey]
) -> bool:
    """Whether a step of a multi-asset (`deps`: the parents of each of its assets) reads the lake
    when it builds `selected`: some selected asset has a parent outside the multi-asset. The
    dbt seeds, the calendar and models of seeds alone do not."""
    return any(parent not in deps for key in selected for parent in deps[key])


def start_build(lake: Path, run_id: str, *, reads_lake: bool = True) -> None:
    """A step of `run_id` that writes the warehouse starts (a dbt build, identity resolution,
    the CLV fit): until the run succeeds, the warehouse is no longer the last complete run's,
    and no other run with steps before this one can be recorded. The run's first build that
    `reads_lake` notes the lake it builds from (loads committed later are not in it, so the next
    run sees them as new); a build of the code-only roots may start before the run's own
    ingestion, so it notes nothing."""
    with _building(lake) as runs:
        forget_complete_run(lake)
        for other, noted in runs.items():
            if other != run_id:
                noted["overtaken"] = True
        noted = runs.setdefault(run_id, {"lake": None, "overtaken": False})
        if reads_lake and noted["lake"] is None:  # the run's first such build: the digest once
            try:
                noted["lake"] = lake_digest(Lake(lake))
            except Exception:  # an unreadable manifest: the run is not recorded
                noted["lake"] = None
        # the overtaken runs are kept (their later builds must not start afresh); the oldest go
        for old in list(runs)[: max(0, len(runs) - KEEP_BUILDS)]:
            del runs[old]


@contextlib.contextmanager
def _building(lake: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The runs whose dbt builds started, by run id (oldest first), read and written back under
    a lock: two runs' builds and records never interleave."""
    path = lake / BUILDING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            read = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            read = {}
        # an entry that is not one of ours is dropped (a run it named is then not recorded)
        runs = {
            str(run): noted
            for run, noted in (read.items() if isinstance(read, dict) else [])
            if isinstance(noted, dict) and {"lake", "overtaken"} <= noted.keys()
        }
        yield runs
        write_atomic(path, json.dumps(runs))


def record_complete_run(
    lake: Path, landing: Path, run_id: str, inputs: str | None
) -> CompleteRun | None:
    """Note that `run_id`, started with `inputs`, built everything from the lake its first dbt
    build found; when the inputs changed during the run (or were not noted), or another run's
    build started after this run's first, forget any complete run instead."""
    code = code_fingerprint()
    current = inputs_fingerprint(landing, code)
    with _building(lake) as runs:
        noted = runs.get(run_id) or {}
        if (
            inputs is None
            or inputs != current
            or noted.get("overtaken", True)
            or not noted.get("lake")
        ):
            forget_complete_run(lake)
            return None
        run = CompleteRun(
            run_id=run_id,
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            inputs=inputs,
            lake=noted["lake"],
            code=code,  # part of `inputs`, which still holds: what the run started with
        )
        write_atomic(lake / STATE_FILE, json.dumps(asdict(run)))
        return run


def forget_complete_run(lake: Path) -> None:
    """A run that builds more than ingestion has started: until it succeeds, the warehouse is
    no longer the last complete run's."""
    (lake / STATE_FILE).unlink(missing_ok=True)


def last_complete_run(lake: Path, warehouse: Path, published: Path) -> CompleteRun | None:
    """The last run that built everything, while the warehouse file is there and the published
    snapshot is that run's (a warehouse deleted to be rebuilt from the lake is not; any later
    run that built models published after it) and no full refresh is pending (a withdrawal, an
    erasure); else None. The warehouse itself is not opened: a run may be writing it."""
    path = lake / STATE_FILE
    try:
        if not path.is_file() or not warehouse.is_file() or Lake(lake).full_refresh_reasons():
            return None
        run = CompleteRun(**json.loads(path.read_text(encoding="utf-8")))
        published_by = read_manifest(snapshot_path(published)).run_id
    except Exception:  # unreadable or missing: build
        return None
    return run if published_by == run.run_id else None


def _nothing_new(run: CompleteRun, inputs: str, landing: Path, lake: Path) -> bool:
    if run.inputs != inputs or run.lake != lake_digest(Lake(lake)):
        return False
    scan = scan_landing(landing)
    return not any(unloaded_files(t, scan.files_for(t), Lake(lake)) for t in ENTITIES)
