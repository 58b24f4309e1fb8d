"""deploy/ holds files a team applies: every service's command exists in the environment the image is built from,
the code server starts from the compose file's own command line and answers the health check, the instance's
settings are all provided, and the Dockerfile copies what exists."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def test_every_service_runs_a_command_of_this_environment():
    services = compose()["services"]
    assert {"postgres", "usercode", "daemon", "webserver", "api", "spark-master", "spark-worker"} <= set(services)
    for name, svc in services.items():
        if name == "postgres":
            continue
        assert svc["image"] == "dtsen:latest" and svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (BIN / svc["command"][0]).exists(), f"{name}: {svc['command'][0]} is not installed by uv.lock"


def test_instance_settings_are_all_provided():
    wanted = set(re.findall(r"env: (\w+)", (DEPLOY / "dagster.yaml").read_text()))
    env = compose()["services"]["daemon"]["environment"]
    assert wanted and wanted <= set(env)
    example = set(re.findall(r"^(\w+)=", (DEPLOY / ".env.example").read_text(), re.M))
    needed = {m for v in env.values() for m in re.findall(r"\$\{(\w+)\}", str(v))}  # no default in the compose file
    assert needed <= example


def test_workspace_points_at_the_code_server():
    ws = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    cmd = compose()["services"]["usercode"]["command"]
    assert ws["host"] == "usercode" and str(ws["port"]) == cmd[cmd.index("-p") + 1]
    assert ws["location_name"] == cmd[cmd.index("--location-name") + 1]


def test_dockerfile_copies_what_exists():
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), src


def test_the_code_server_starts_from_the_compose_command(tmp_path):
    cmd = list(compose()["services"]["usercode"]["command"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd[cmd.index("-h") + 1] = "127.0.0.1"
    cmd[cmd.index("-p") + 1] = str(port)
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path), "DTSEN_DEMO": "1"}
    server = subprocess.Popen(
        [str(BIN / cmd[0]), *cmd[1:]], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        health = None
        deadline = time.monotonic() + 120
        for _ in range(120):
            health = subprocess.run(
                [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            if health.returncode == 0 or server.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert health is not None and health.returncode == 0, server.stderr.read1(4000) if server.poll() else health
    finally:
        server.terminate()
        server.wait(timeout=30)
