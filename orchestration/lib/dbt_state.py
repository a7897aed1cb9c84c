"""dbt's parse state, kept from one dbt build of a run to the next.

dagster-dbt gives every dbt invocation its own target folder and seeds it with the project's
`partial_parse.msgpack`. That file comes from the `dbt parse` of the set-up, made with other
vars than a run passes (its warehouse, lake and locale), so dbt parsed the whole project again
in each of a run's builds (about 3 s each, five builds a run). Keeping the state of the last
build as the project's lets the next build with the same vars parse only what changed; dbt still
parses in full whenever the vars, the target, the profile or dbt itself differ. Should dbt's
partial parsing ever go wrong on an edited project, deleting the file makes the next build parse
in full (docs/operations.md#incremental-runs).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from orchestration.lib.files import copy_atomic

PARTIAL_PARSE = "partial_parse.msgpack"
log = logging.getLogger(__name__)


def project_target(project_dir: Path) -> Path:
    """The target folder dagster-dbt seeds each build's from (it honours DBT_TARGET_PATH)."""
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return target if target.is_absolute() else project_dir / target


def keep_partial_parse(invocation_target: Path, project_dir: Path) -> bool:
    """Make the parse state a dbt invocation wrote the project's; False when there was none to
    keep or it could not be written (a cache: the build's result stands either way)."""
    written = invocation_target / PARTIAL_PARSE
    if not written.is_file():
        return False
    try:
        copy_atomic(written, project_target(project_dir) / PARTIAL_PARSE)
    except OSError as error:
        log.warning("dbt's parse state was not kept for the next build: %s", error)
        return False
    return True
