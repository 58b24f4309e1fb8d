"""A throw-away Spark standalone cluster for tests: one master and one worker started from the pyspark in the lock
file (its bin/spark-class, as deploy/docker-compose.yaml starts them), on loopback, free ports, own folders;
stopped and removed afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_class() -> str:
    return str(Path(sys.executable).parent / "spark-class")


def _alive_workers(webui: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=2) as r:
            return int(json.load(r).get("aliveworkers", 0))
    except OSError:
        return 0


@contextlib.contextmanager
def standalone_cluster(worker_memory: str = "2g", cores: int = 1, timeout: float = 90):
    """Yields the master's URL (spark://127.0.0.1:PORT) once a worker has registered."""
    from dtsen.linkage.spark import java_home

    root = tempfile.mkdtemp(prefix="dtsen_spark_cluster_")
    env = {
        **os.environ,
        "JAVA_HOME": java_home(),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": root,
        "SPARK_WORKER_DIR": os.path.join(root, "work"),
        "PYSPARK_PYTHON": sys.executable,
    }
    port, webui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = []
    try:
        with open(os.path.join(root, "master.log"), "w") as log:
            procs.append(
                subprocess.Popen(
                    [
                        spark_class(),
                        "org.apache.spark.deploy.master.Master",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--webui-port",
                        str(webui),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        with open(os.path.join(root, "worker.log"), "w") as log:
            procs.append(
                subprocess.Popen(
                    [
                        spark_class(),
                        "org.apache.spark.deploy.worker.Worker",
                        url,
                        "--host",
                        "127.0.0.1",
                        "--webui-port",
                        str(worker_ui),
                        "--cores",
                        str(cores),
                        "--memory",
                        worker_memory,
                        "--work-dir",
                        os.path.join(root, "work"),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout * 2)):
            if _alive_workers(webui) >= 1:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(
                    "the Spark standalone cluster did not start: "
                    + Path(root, "master.log").read_text()[-2000:]
                    + Path(root, "worker.log").read_text()[-2000:]
                )
            time.sleep(0.5)
        else:
            raise RuntimeError("no Spark worker registered in time")
        yield url
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        import shutil

        shutil.rmtree(root, ignore_errors=True)
