"""dbt's parse state, kept from one dbt build of a run to the next.

dagster-dbt gives every dbt invocation its own target folder and seeds it with the project's
`target/partial_parse.msgpack`. That file comes from the `dbt parse` of the set-up, made with
other vars than a run passes (its warehouse, lake and locale), so dbt parsed the whole project
again in each of a run's builds (about 3 s each, five builds a run). Keeping the state of the
last build as the project's lets the next build with the same vars parse only what changed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PARTIAL_PARSE = "partial_parse.msgpack"


def keep_partial_parse(invocation_target: Path, project_target: Path) -> bool:
    """Make the parse state a dbt invocation wrote the project's (atomically: another run may be
    reading it); False when the invocation wrote none."""
    written = invocation_target / PARTIAL_PARSE
    if not written.is_file():
        return False
    project_target.mkdir(parents=True, exist_ok=True)
    partial = project_target / f".{PARTIAL_PARSE}.{os.getpid()}.tmp"
    shutil.copyfile(written, partial)
    os.replace(partial, project_target / PARTIAL_PARSE)
    return True
