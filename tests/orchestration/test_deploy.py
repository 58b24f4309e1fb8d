"""deploy/ holds files a team applies: every service's command exists in the environment the image is built from,
the code server starts from the compose file's own command line and answers the health check, the instance's
settings are all provided, and the Dockerfile copies what exists. Safe as written: no UI without authentication is
published, ports bind to loopback unless the operator says otherwise, secrets are files git ignores, every service
has a health check, and a service mounts for writing only what it writes."""

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
    assert {"postgres", "usercode", "daemon", "webserver", "api", "web", "spark-master", "spark-worker"} <= set(
        services
    )
    for name, svc in services.items():
        if name in ("postgres", "proxy"):
            continue
        assert svc["image"] == "dtsen:latest" and svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (BIN / svc["command"][0]).exists(), f"{name}: {svc['command'][0]} is not installed by uv.lock"


def test_instance_settings_are_all_provided():
    wanted = set(re.findall(r"env: (\w+)", (DEPLOY / "dagster.yaml").read_text()))
    for name in ("daemon", "webserver", "usercode"):
        assert wanted and wanted <= set(compose()["services"][name]["environment"]), name


def test_every_variable_of_the_compose_file_is_in_the_example():
    example = set(re.findall(r"^(\w+)=", (DEPLOY / ".env.example").read_text(), re.M))
    text = re.sub(r"(?m)^\s*#.*$", "", (DEPLOY / "docker-compose.yaml").read_text())
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    assert used and used <= example, used - example
    # a value without a default stops `docker compose` with a message instead of starting on an empty one
    assert not re.findall(r"(?<!\$)\$\{\w+\}", text)


def test_no_secret_has_a_value_in_the_example_or_the_compose_file():
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if re.search(r"PASSWORD|SECRET|KEY|TOKEN", name) and not line.startswith("#"):
            assert value == "", f".env.example: {name} has a value"
    for name, svc in compose()["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|PSEUDONYM_KEY$", var):
                assert str(value).startswith(("${", "/run/secrets/")), f"{name}: {var} is written in the compose file"


def test_only_dagster_s_own_processes_hold_its_database_password():
    holders = {
        name for name, svc in compose()["services"].items() if "DAGSTER_PG_PASSWORD" in svc.get("environment", {})
    }
    assert holders == {"usercode", "daemon", "webserver"}


def test_secrets_are_files_git_ignores():
    top = compose()["secrets"]
    for name, secret in top.items():
        assert secret["file"].startswith("./secrets/"), name
    for path in ["deploy/.env", *(f"deploy/{s['file'][2:]}" for s in top.values())]:
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
    for name, svc in compose()["services"].items():
        wanted = {
            m for v in (svc.get("environment") or {}).values() for m in re.findall(r"^/run/secrets/(\S+)$", str(v))
        }
        assert wanted <= set(svc.get("secrets", [])), f"{name} reads {wanted} but mounts {svc.get('secrets')}"


def test_no_ui_is_published_and_ports_bind_to_loopback_by_default():
    services = compose()["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"proxy", "api", "web"}
    for name in published:
        for port in services[name]["ports"]:
            assert str(port).startswith("${DTSEN_BIND:-127.0.0.1}:"), f"{name}: {port}"
    # the Dagster UI launches disbursement_job; the Spark UI kills applications: both only behind the proxy
    for name in ("webserver", "spark-master", "spark-worker", "usercode", "daemon", "postgres"):
        assert "ports" not in services[name], name


def test_the_proxy_asks_for_a_password_before_either_ui():
    services = compose()["services"]
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    assert services["proxy"]["secrets"] == ["ui_users"]
    assert re.search(r"basic_auth \{\s+import /run/secrets/ui_users\s+\}", caddy)
    sites = dict(re.findall(r"^\{\$DTSEN_SITE_ADDRESS:localhost\}:(\d+) \{\n(.*?)^\}", caddy, re.M | re.S))
    web = services["webserver"]["command"]
    spark = services["spark-master"]["command"]
    upstream = {
        f"webserver:{web[web.index('-p') + 1]}",
        f"spark-master:{spark[spark.index('--webui-port') + 1]}",
    }
    assert {re.search(r"reverse_proxy (\S+)", body).group(1) for body in sites.values()} == upstream
    assert all("import operators" in body for body in sites.values())
    assert {p.rsplit(":", 2)[-1] for p in services["proxy"]["ports"]} == set(sites)


def test_every_service_has_a_health_check():
    for name, svc in compose()["services"].items():
        assert svc.get("healthcheck", {}).get("test"), name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"


def test_each_service_mounts_for_writing_only_what_it_writes():
    services = compose()["services"]

    def mounts(name):
        return {v.split(":")[0]: v.split(":")[2:] for v in services[name].get("volumes", [])}

    writers = {name for name in services if mounts(name).get("platform") == []}
    assert writers == {"usercode"}
    assert mounts("usercode")["landing"] == []  # it takes in deliveries and exports the desk's decisions
    assert mounts("api")["platform"] == ["ro"] and mounts("web")["platform"] == ["ro"]
    assert "volumes" not in services["daemon"]  # it asks usercode to evaluate schedules and sensors
    assert mounts("webserver") == {"computelogs": ["ro"]}
    assert "landing" not in mounts("api") and "landing" not in mounts("web")


def test_the_webserver_reads_the_compute_logs_the_runs_write():
    logs = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["compute_logs"]
    assert logs["class"] == "LocalComputeLogManager"
    base = logs["config"]["base_dir"]
    for name in ("usercode", "webserver"):
        assert any(v.split(":")[:2] == ["computelogs", base] for v in compose()["services"][name]["volumes"]), name


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
