"""Start and stop the Spark processes omni360 talks to: a Spark Connect server (the driver, which
dbt and the Python steps reach at sc://localhost:<port>) in front of either Spark's local mode or
a standalone cluster of one master and N workers, all from the pyspark distribution.

Everything lives in one folder (`settings.spark_dir()`, next to the warehouse): the Hive metastore
(Derby, one process: the Connect server), the warehouse directory of the Parquet tables, the logs
and the process ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyspark.find_spark_home import _find_spark_home

from orchestration.lib.files import restrict_new_files

CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"
STARTUP_SECONDS = 120


class SparkStartError(RuntimeError):
    pass


@dataclass
class Cluster:
    """What `start` started (kept in `<spark dir>/cluster.json`)."""

    remote: str
    master: str
    pids: dict[str, int] = field(default_factory=dict)


def _state(folder: Path) -> Path:
    return folder / "cluster.json"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while _free(port):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            raise SparkStartError(
                f"{log.stem} did not start listening on port {port}; its log {log} ends:\n"
                + "\n".join(tail)
            )
        time.sleep(0.5)


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = _find_spark_home()
    # the workers' Python: this environment's, where omni360 (the UDFs) is installed
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env.setdefault("SPARK_LOCAL_IP", HOST)
    return env


def _launch(name: str, args: list[str], folder: Path) -> tuple[subprocess.Popen, Path]:
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(_find_spark_home()) / "bin" / args[0]), *args[1:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=_environment(),
            start_new_session=True,  # outlives the command that started it, until `stop`
        )
    return process, log


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):  # our own child, exited
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def reachable(remote: str) -> bool:
    """Whether something listens at a Spark Connect URL (sc://host:port)."""
    address = remote.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, _, port = address.rpartition(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host or HOST, int(port or 15002))) == 0


def disconnect() -> None:
    """Close this process's Spark Connect session, if it has one."""
    from pyspark.sql.connect.session import SparkSession

    session = SparkSession.getActiveSession() or SparkSession._get_default_session()
    if session is not None:
        session.stop()


def running(folder: Path) -> Cluster | None:
    """The cluster started from `folder`, if its Connect server is still up."""
    state = _state(folder)
    if not state.exists():
        return None
    cluster = Cluster(**json.loads(state.read_text()))
    port = int(cluster.remote.rsplit(":", 1)[1])
    return None if _free(port) else cluster


def start(
    folder: Path,
    *,
    workers: int = 0,
    port: int = 15002,
    master_port: int = 7077,
    driver_memory: str = "4g",
    worker_memory: str = "4g",
    worker_cores: int = 1,
) -> Cluster:
    """A Spark Connect server on `port`: in local mode (`workers=0`, every core of this machine)
    or in front of a standalone master with `workers` workers. Returns at once if one started
    from `folder` is already up."""
    folder = folder.resolve()
    if (cluster := running(folder)) is not None:
        return cluster
    if not _free(port):
        raise SparkStartError(
            f"port {port} is taken by another process: stop it, or choose another port "
            "(omni360 spark start --port, and OMNI360_SPARK_REMOTE to match)"
        )
    # its tables, logs and metastore hold raw personal data, as the warehouse file does: the
    # processes started here (and this one) create owner-only files
    restrict_new_files()
    folder.mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    master = f"local[{os.cpu_count() or 2}]"
    if workers:
        process, log = _launch(
            "master",
            [
                "spark-class",
                MASTER_CLASS,
                "--host",
                HOST,
                "--port",
                str(master_port),
                "--webui-port",
                "8090",
            ],
            folder,
        )
        pids["master"] = process.pid
        _wait_for(master_port, process, log)
        master = f"spark://{HOST}:{master_port}"
        for number in range(1, workers + 1):
            process, _ = _launch(
                f"worker-{number}",
                [
                    "spark-class",
                    WORKER_CLASS,
                    master,
                    "--host",
                    HOST,
                    "--cores",
                    str(worker_cores),
                    "--memory",
                    worker_memory,
                    "--work-dir",
                    str(folder / "work"),
                    "--webui-port",
                    str(8090 + number),
                ],
                folder,
            )
            pids[f"worker-{number}"] = process.pid
    warehouse, metastore = folder / "warehouse", folder / "metastore_db"
    conf = {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={metastore};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}",
        "spark.sql.session.timeZone": "UTC",
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": HOST,
        # the models are small per partition on one machine; Spark's default of 200 shuffle
        # partitions would spend most of a build scheduling empty tasks
        "spark.sql.shuffle.partitions": str(max(4, 2 * (workers or os.cpu_count() or 2))),
        "spark.executor.memory": worker_memory if workers else driver_memory,
    }
    args = [
        "spark-submit",
        "--class",
        CONNECT_CLASS,
        "--name",
        "omni360",
        "--master",
        master,
        "--driver-memory",
        driver_memory,
    ]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    process, log = _launch("connect-server", [*args, "spark-internal"], folder)
    pids["connect-server"] = process.pid
    cluster = Cluster(remote=f"sc://localhost:{port}", master=master, pids=pids)
    _state(folder).write_text(json.dumps(asdict(cluster)))
    try:
        _wait_for(port, process, log)
    except SparkStartError:
        stop(folder)
        raise
    return cluster


def stop(folder: Path) -> list[str]:
    """Stop what `start` started from `folder`; the names of the processes stopped."""
    state = _state(folder.resolve())
    if not state.exists():
        return []
    cluster = Cluster(**json.loads(state.read_text()))
    # this process's own session first: its client releases the session when the process exits,
    # and a server gone by then would block that exit on retries
    disconnect()
    stopped = []
    # the Connect server first, then the workers, then the master
    for name, pid in sorted(cluster.pids.items(), key=lambda item: item[0] != "connect-server"):
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
        except ProcessLookupError:
            continue
    for pid in cluster.pids.values():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
    state.unlink()
    return stopped
