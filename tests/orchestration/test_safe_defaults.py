"""Safe by default: no file with personal data readable by another account, and no public secret outside a demo."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dtsen import builds, credentials, filemodes, privacy
from dtsen.api import config as api_config
from dtsen.publish import publish
from dtsen.web import config as web_config

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- file modes


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def test_after_the_demo_nothing_under_data_is_readable_by_another_account(demo):
    """`make run` as it leaves data/ (no analyst group configured): every file and folder owner-only, the
    warehouse, the deliveries, the payment files, the servers' snapshots and stores, the logs and the publication
    alike, whatever umask the caller had (the test session's is the usual 022)."""
    _, data, _ = demo
    modes = _modes(data)
    classes = {p.split(os.sep)[0] for p in modes}
    assert {"warehouse.duckdb", "landing", "outbox", "disbursement", "exchange", "published", "logs", "web"} <= classes
    open_to_others = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert open_to_others == {}
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0


def _tiny_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA rules; CREATE SCHEMA history")
    con.execute("CREATE TABLE marts.eligibility_pkh AS SELECT 'DF0000000001' AS family_id, 'abc' AS nik_pseudo")
    con.execute("CREATE TABLE rules.program_parameters AS SELECT 'PKH' AS program")
    con.execute("CREATE TABLE history.programme_monthly AS SELECT '2025-01' AS snapshot, 'PKH' AS program")
    builds.finish_build(con, builds.begin_build(con, "2025-01"))  # as the dbt asset records a finished build
    return con


def test_the_publication_is_shared_with_the_analysts_group_only(tmp_path, monkeypatch):
    """With DTSEN_ANALYST_GROUP the published files are the group's (0640, folders 0750) and the data root lets the
    group through without listing it (0710); nothing is open to every account."""
    group = grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setenv(filemodes.ANALYST_GROUP_ENV, group)
    root = tmp_path / "data"
    root.mkdir(mode=0o700)
    con = _tiny_warehouse(root / "warehouse.duckdb")
    publish(con, "2025-01", str(root / "published"))
    con.close()
    modes = _modes(root / "published")
    files = {p: m for p, m in modes.items() if (root / "published" / p).is_file()}
    dirs = {p: m for p, m in modes.items() if (root / "published" / p).is_dir()}
    assert files and all(m == 0o640 for m in files.values()), files
    assert dirs and all(m == 0o750 for m in dirs.values()), dirs
    assert all((root / "published" / p).stat().st_gid == os.getgid() for p in modes)
    assert stat.S_IMODE((root / "published").stat().st_mode) == 0o750
    assert stat.S_IMODE(root.stat().st_mode) == 0o710


def test_an_unknown_analyst_group_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(filemodes.ANALYST_GROUP_ENV, "no-such-group-here")
    with pytest.raises(ValueError, match="DTSEN_ANALYST_GROUP='no-such-group-here': no such group"):
        filemodes.analyst_gid()


# ---------------------------------------------------------------- secrets


def test_outside_demo_mode_a_missing_secret_is_refused_by_name(monkeypatch):
    monkeypatch.delenv(credentials.DEMO_ENV, raising=False)
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    with pytest.raises(credentials.SecretError) as e:
        privacy.pseudonym_key()
    assert "DTSEN_PSEUDONYM_KEY is not set" in str(e.value) and "DTSEN_PSEUDONYM_KEY_FILE" in str(e.value)
    monkeypatch.setenv(credentials.DEMO_ENV, "1")  # in demo mode the development key is used, and said so
    assert privacy.pseudonym_key() == privacy.DEVELOPMENT_KEY.encode() and privacy.using_development_key()


@pytest.mark.parametrize(
    "value", ["", "change-me", "change-me-to-a-long-random-secret", "CHANGEME", "<secret>", "xxxx"]
)
def test_placeholders_and_empty_values_are_refused(monkeypatch, value):
    monkeypatch.delenv(credentials.DEMO_ENV, raising=False)
    monkeypatch.setenv(web_config.WEB_SECRET.env, value)
    with pytest.raises(credentials.SecretError, match="DTSEN_WEB_SECRET"):
        credentials.read(web_config.WEB_SECRET)


def test_the_public_development_value_given_explicitly_is_refused(monkeypatch):
    monkeypatch.delenv(credentials.DEMO_ENV, raising=False)
    monkeypatch.setenv(privacy.KEY_ENV, privacy.DEVELOPMENT_KEY)
    with pytest.raises(credentials.SecretError, match="public development value"):
        privacy.pseudonym_key()


def test_secrets_are_read_from_files(monkeypatch, tmp_path):
    """Docker and Kubernetes secrets: `<VARIABLE>_FILE` names a file holding the value (its trailing newline off)."""
    monkeypatch.delenv(credentials.DEMO_ENV, raising=False)
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    (tmp_path / "key").write_text("a-real-secret-of-the-deployment\n")
    monkeypatch.setenv(f"{privacy.KEY_ENV}_FILE", str(tmp_path / "key"))
    assert privacy.pseudonym_key() == b"a-real-secret-of-the-deployment"
    monkeypatch.setenv(f"{privacy.KEY_ENV}_FILE", str(tmp_path / "missing"))
    with pytest.raises(credentials.SecretError, match=r"DTSEN_PSEUDONYM_KEY_FILE=.*cannot read"):
        privacy.pseudonym_key()


def test_the_api_refuses_its_development_clients_and_key_outside_demo(monkeypatch, tmp_path):
    monkeypatch.delenv(credentials.DEMO_ENV, raising=False)
    monkeypatch.delenv(api_config.CONFIG_ENV, raising=False)
    monkeypatch.delenv(api_config.KEY_ENV, raising=False)
    with pytest.raises(credentials.SecretError, match="DTSEN_API_CONFIG is not set"):
        api_config.load()
    # the development clients file named explicitly: still the public one
    monkeypatch.setenv(api_config.CONFIG_ENV, str(api_config.DEFAULT_CONFIG))
    with pytest.raises(credentials.SecretError, match="public development file"):
        api_config.load()
    # a deployment's own clients, but no key
    own = tmp_path / "clients.yaml"
    own.write_text(
        "clients:\n  ministry:\n    secret_hash: " + api_config.hash_secret("s3cret-of-the-ministry") + "\n"
        "    scopes: [registry.search]\n    regions: ['*']\n    fields: full\n"
    )
    monkeypatch.setenv(api_config.CONFIG_ENV, str(own))
    with pytest.raises(credentials.SecretError, match="DTSEN_API_SIGNING_KEY is not set"):
        api_config.load()
    monkeypatch.setenv(api_config.KEY_ENV, str(tmp_path / "none.pem"))
    with pytest.raises(credentials.SecretError, match="not a readable file"):
        api_config.load()


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DTSEN_")}
    return subprocess.run(
        [sys.executable, "-m", "orchestration.operate.cli", *args],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_servers_and_the_pipeline_refuse_to_start_without_their_secrets(tmp_path):
    """Outside demo mode, each command that would use a public development value says which secret is missing and
    how to provide it, and exits 2 without a traceback; every missing secret of a server at once."""
    serve = _cli("serve", "--data", str(tmp_path), "--port", "9")
    assert serve.returncode == 2 and "Traceback" not in serve.stderr
    assert "DTSEN_API_CONFIG is not set" in serve.stderr and "DTSEN_PSEUDONYM_KEY is not set" in serve.stderr
    assert "DTSEN_PSEUDONYM_KEY_FILE" in serve.stderr and "DTSEN_DEMO=1" in serve.stderr
    web = _cli("web", "--data", str(tmp_path), "--port", "9", env={"DTSEN_WEB_SECRET": "change-me"})
    assert web.returncode == 2 and "DTSEN_WEB_SECRET holds a placeholder" in web.stderr
    (tmp_path / "landing").mkdir()
    run = _cli("run", "--landing", str(tmp_path / "landing"), "--month", "2025-01", "--data", str(tmp_path))
    assert run.returncode == 2 and "DTSEN_PSEUDONYM_KEY is not set" in run.stderr
    token = _cli("api", "token", "--client", "dev")
    assert token.returncode == 2 and "DTSEN_API_CONFIG is not set" in token.stderr
