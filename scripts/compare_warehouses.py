"""Compare two warehouses built from the same landing zone: the same customers, the same marts
(orchestration/lib/compare.py says how). Prints one line per difference and a summary; exits 1
when anything differs.

    .venv/bin/python scripts/compare_warehouses.py /tmp/before/omni360.duckdb \
        /tmp/after/omni360.duckdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.lib.compare import compare_warehouses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--schema",
        action="append",
        help="a schema whose tables to compare (repeat for several; default: marts)",
    )
    args = parser.parse_args()
    comparison = compare_warehouses(args.before, args.after, tuple(args.schema or ["marts"]))
    print("\n".join(comparison.lines))
    sys.exit(0 if comparison.identical else 1)


if __name__ == "__main__":
    main()
