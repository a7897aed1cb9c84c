"""The Dagster UI after runs: the webserver, started on the sample run's instance as `dagster dev`
would be (workspace.yaml, DAGSTER_HOME beside the warehouse), shows every asset materialised by
those runs, a result for every check, an owner for every asset and a description for every check.
Asked through its GraphQL API, as the UI asks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration import settings
from tests.integration.conftest import SampleRun

QUERY = """
{
  assetNodes {
    assetKey { path }
    isMaterializable
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    assetMaterializations(limit: 1) { runId }
    assetChecksOrError {
      ... on AssetChecks {
        checks { name description executionForLatestMaterialization { runId status } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, query: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def nodes(sample_run: SampleRun) -> list[dict]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI360_")}
    env.update(
        DAGSTER_HOME=str(sample_run.warehouse.parent / "dagster"),
        OMNI360_DEMO_MODE="1",
        OMNI360_LANDING=str(sample_run.landing),
        OMNI360_WAREHOUSE=str(sample_run.warehouse),
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=settings.REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"the webserver did not start: {server.communicate()[0][-3000:]}")
                time.sleep(1)
        answer = _post(f"http://127.0.0.1:{port}/graphql", QUERY)
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0]
    assert "errors" not in answer, answer["errors"]
    # the code location loads under its own name, without the name-mismatch warning
    assert "does not match" not in output, output[-2000:]
    return answer["data"]["assetNodes"]


def test_every_asset_shows_a_materialisation_of_the_sample_runs(sample_run: SampleRun, nodes):
    runs = {sample_run.result.run_id, sample_run.rerun.run_id}
    assert len(nodes) > 80
    materialisable = [n for n in nodes if n["isMaterializable"]]
    # the ingest outputs (quarantine, load audit, manifest) are shown, written by the entities
    assert len(nodes) - len(materialisable) == 3
    missing = [
        "/".join(n["assetKey"]["path"])
        for n in materialisable
        if not n["assetMaterializations"] or n["assetMaterializations"][0]["runId"] not in runs
    ]
    assert missing == []


def test_every_check_shows_a_result_and_says_what_it_checks(sample_run: SampleRun, nodes):
    checks = [c for n in nodes for c in n["assetChecksOrError"]["checks"]]
    assert len(checks) > 500
    without_result = [
        c["name"]
        for c in checks
        if (c["executionForLatestMaterialization"] or {}).get("status")
        not in ("SUCCEEDED", "FAILED")
    ]
    assert without_result == []
    assert [c["name"] for c in checks if not c["description"]] == []
    statuses = {c["executionForLatestMaterialization"]["status"] for c in checks}
    assert "SUCCEEDED" in statuses


def test_every_asset_has_an_owner(nodes):
    assert [n["assetKey"]["path"] for n in nodes if not n["owners"]] == []
    teams = {o.get("team") for n in nodes for o in n["owners"]}
    assert teams == {"data-engineering", "analytics-engineering"}
