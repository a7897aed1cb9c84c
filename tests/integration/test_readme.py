"""Every command of the README's "Then, with `.venv/bin` on your PATH" block runs as written after
the quickstart: on a copy of the repository whose demo has run (`scripts/demo.sh` without its
set-up, which the test environment has done), one command after the other in the README's order,
each exiting 0. Scratch paths under /tmp/ go to the test's own folder; `dagster dev` must serve
its UI (and `dbt docs serve` its pages), then it is stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration import settings

# generates and runs 100k persons, FEBRL, three landing zones: minutes
pytestmark = pytest.mark.slow

README = settings.REPO_ROOT / "README.md"
BLOCK_AFTER = "Then, with `.venv/bin` on your `PATH`"


def readme_commands() -> list[str]:
    """The commands of the block, comments and comment-only lines dropped."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index(BLOCK_AFTER) :]
    block = block[block.index("```bash\n") + len("```bash\n") :]
    block = block[: block.index("```")]
    commands = []
    for line in block.splitlines():
        # a comment starts at '#' after two spaces (none of the commands has one inside it)
        command = re.split(r"\s{2,}#", line)[0].strip()
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def test_the_readme_block_is_what_this_test_runs():
    commands = readme_commands()
    assert commands[0].startswith("omni360 status")
    assert any(c.startswith("omni360 erase") for c in commands)
    assert any("dagster dev" in c for c in commands)


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as after `./scripts/demo.sh`: a copy with the demo's warehouse."""
    root = tmp_path_factory.mktemp("readme") / "omni360"
    ignore = shutil.ignore_patterns(
        ".venv",
        ".git",
        "warehouse",
        "target",
        "logs",
        "__pycache__",
        ".pytest_cache",
        "node_modules",
        ".evidence",
    )
    shutil.copytree(settings.REPO_ROOT, root, ignore=ignore, symlinks=True)
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    subprocess.run(
        [str(root / ".venv" / "bin" / "dbt"), "parse", "--quiet", "--profiles-dir", "."],
        cwd=root / "dbt_project",
        env=_env(root),
        check=True,
    )
    demo = subprocess.run(
        [str(root / ".venv" / "bin" / "omni360"), "run", "--landing", "seeds/sample",
         "--warehouse", "warehouse/omni360.duckdb"],
        cwd=root, env=_env(root), capture_output=True, text=True,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    return root


def _env(root: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OMNI360_") and k not in ("DAGSTER_HOME", "PYTHONPATH")
    }
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # the copy's code, not the checkout the shared environment is installed from (editable)
    env["PYTHONPATH"] = str(root)
    env["OMNI360_DEMO_MODE"] = "1"  # what scripts/demo.sh sets
    return env


# commands that serve a web page until stopped: the part of the command that says so, and the
# page to wait for
SERVERS = {"dagster dev": "/server_info", "dbt docs serve": "/", "dashboard.sh serve": "/"}


def _serve(command: str, root: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start a server as written (on the port it names, else 3917), wait until it answers, stop
    it: 0 if it served."""
    page = next(page for marker, page in SERVERS.items() if marker in command)
    port = re.search(r"--port (\d+)", command)
    if port is None:
        command += " --port 3917"
    url = f"http://127.0.0.1:{port.group(1) if port else 3917}{page}"
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline, served = time.monotonic() + 240, False
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5):
                served = True
                break
        except OSError:
            time.sleep(2)
    os.killpg(process.pid, signal.SIGINT)
    try:
        output = process.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0]
    return (0 if served else 1), output


def test_every_readme_command_runs_as_written_after_the_quickstart(demo_copy: Path):
    scratch = demo_copy.parent / "tmp"
    scratch.mkdir()
    env = _env(demo_copy)
    where = subprocess.run(
        ["python", "-c", "from orchestration import settings; print(settings.warehouse_path())"],
        cwd=demo_copy, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.strip() == str(demo_copy / "warehouse" / "omni360.duckdb")
    failures = []
    for written in readme_commands():
        command = written.replace("/tmp/", f"{scratch}/")
        started = time.monotonic()
        if any(marker in command for marker in SERVERS):
            code, output = _serve(command, demo_copy, env)
        else:
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=demo_copy,
                env=env,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            code, output = done.returncode, done.stdout + done.stderr
        print(f"{time.monotonic() - started:6.1f}s exit {code}: {written}")
        if code != 0:
            failures.append(f"{written}\n  exit {code}: {output[-1500:]}")
    assert failures == [], "\n\n".join(failures)
