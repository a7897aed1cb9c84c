"""The starter BI dashboard (Evidence, bi/): `scripts/dashboard.sh` builds it from the sample
run's published snapshot, and every page renders in headless Chromium with the network cut off:
no failed or outside request, no script error, the figures of the snapshot on the pages.

`OMNI360_SCREENSHOTS=docs/images pytest tests/integration/test_dashboard.py -m slow` also saves
the screenshots docs/bi.md shows.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration import settings
from tests.browser import browser, render
from tests.integration.conftest import SampleRun

# npm install (the first time) and Evidence's build: a minute or two
pytestmark = pytest.mark.slow

PAGES = {
    "": "Sales and customers",
    "lifecycle": "Lifecycle",
    "value": "Customer value",
    "retention": "Retention",
    "consent": "Consent coverage",
    "customers": "Customer profile",
}


@pytest.fixture(scope="module")
def site(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dashboard") / "site"
    snapshot = sample_run.warehouse.parent / "published" / "omni360_marts.duckdb"
    built = subprocess.run(
        [str(settings.REPO_ROOT / "scripts" / "dashboard.sh"), "--snapshot", str(snapshot),
         "--out", str(out)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "dashboard: 6 pages in" in built.stdout
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def pages(served: str) -> dict:
    shots = os.environ.get("OMNI360_SCREENSHOTS")
    with browser() as launched:
        return {
            name: render(
                launched,
                f"{served}/{name}",
                wait_for="h1",
                screenshot=Path(shots) / f"bi-{name or 'index'}.png" if shots else None,
                settle_ms=1500,
            )
            for name in PAGES
        }


def test_the_dashboard_ships_only_masked_data(site: Path):
    """The site carries the snapshot's masked columns, never a raw phone number."""
    data = b"".join(p.read_bytes() for p in site.rglob("*.parquet"))
    assert data
    assert b"phone_masked" in data and b"phone_token" not in data


def test_every_page_renders_with_no_error_and_no_outside_request(pages: dict):
    assert {name: r.problems for name, r in pages.items() if r.problems} == {}
    for name, title in PAGES.items():
        assert title in pages[name].text, name
        assert "Error" not in pages[name].text, (name, pages[name].text[:2000])


def test_the_pages_show_the_snapshots_figures(sample_run: SampleRun, pages: dict):
    snapshot = sample_run.warehouse.parent / "published" / "omni360_marts.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        orders = con.execute(
            "select sum(orders) from marts.rpt_kpi_monthly where channel = 'all'"
        ).fetchone()[0]
        top = con.execute(
            "select customer_id, orders from marts.dim_customer "
            "order by net_revenue desc nulls last, customer_id limit 1"
        ).fetchone()
        stages = [
            r[0]
            for r in con.execute(
                "select distinct lifecycle_stage from marts.dim_customer"
            ).fetchall()
        ]
        purposes = [
            r[0]
            for r in con.execute(
                "select distinct purpose from marts.fct_customer_consents"
            ).fetchall()
        ]
    assert f"{orders:,}" in pages[""].text
    assert all(stage in pages["lifecycle"].text for stage in stages)
    assert all(purpose in pages["consent"].text for purpose in purposes)
    assert "never recorded" in pages["consent"].text.lower()
    # the profile opens on the customer with the highest net revenue: their id and order count
    customer_id, customer_orders = top
    profile = pages["customers"].text
    assert customer_id in profile
    assert re.search(rf"\bOrders\s+{customer_orders}\b", profile), profile[:1500]
