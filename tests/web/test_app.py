"""The web application's guards, in process (FastAPI's test client) on the demo's snapshot with a store of its own:
escaping, attachments, the public rate limit, security headers, and the ticket lookup."""

from __future__ import annotations

import re

import duckdb
import pytest
from fastapi.testclient import TestClient

from dtsen.web.app import create_app
from dtsen.web.config import WebConfig
from dtsen.web.store import Store


@pytest.fixture()
def client(demo, tmp_path):
    _, data, _ = demo
    cfg = WebConfig(
        data_dir=str(data),
        db_url=f"sqlite:///{tmp_path / 'desk.sqlite'}",
        secret="test-secret",
        secure_cookies=False,
        check_rate=3,
        uploads=str(tmp_path / "uploads"),
    )
    store = Store.open(cfg.db_url)
    snap = sorted(p.name for p in (data / "exchange").iterdir() if p.name[:2] == "20")[-1]
    village = duckdb.sql(f"SELECT min(village_code) FROM '{data}/exchange/{snap}/person.parquet'").fetchall()[0][0]
    store.add_user("petugas", "a-long-password", "caseworker", "Petugas", village[:4])
    with TestClient(create_app(cfg, store)) as c:
        yield c, village, tmp_path


def csrf(c, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text).group(1)


def propose(c, village, description, files=None):
    token = csrf(c, f"/usulan?prov={village[:2]}&kab={village[:4]}&kec={village[:6]}")
    return c.post(
        "/usulan",
        data={
            "csrf_token": token,
            "desa": village,
            "kepala_nama": "WARSINI",
            "alamat": "DUSUN UJI",
            "jumlah_anggota": "2",
            "alasan": description,
            "pengaju_nama": "KADER",
            "pengaju_kontak": "kader@desa.example",
        },
        files=files,
        follow_redirects=False,
    )


def test_what_a_citizen_writes_is_shown_escaped(client):
    c, village, _ = client
    r = propose(c, village, "<script>alert('x')</script> rumah bocor")
    assert r.status_code == 303
    ticket = r.headers["location"].split("/")[-1].split("?")[0]
    token = csrf(c, "/petugas/masuk")
    r = c.post(
        "/petugas/masuk",
        data={"csrf_token": token, "username": "petugas", "password": "a-long-password"},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("dtsen_session=") and "httponly" in cookie and "samesite=lax" in cookie
    queue = c.get("/petugas").text
    case_id = re.search(rf'href="/petugas/kasus/(\d+)">{ticket}', queue).group(1)
    page = c.get(f"/petugas/kasus/{case_id}").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in c.get("/").headers and c.get("/").headers["X-Frame-Options"] == "DENY"


def test_attachments_are_checked_by_their_bytes_and_size(client):
    c, village, tmp = client
    exe = ("foto.png", b"MZ\x90\x00this is a program", "image/png")
    assert propose(c, village, "keluarga miskin sekali", files={"lampiran": exe}).status_code == 415
    big = ("scan.pdf", b"%PDF-" + b"0" * (2 * 1024 * 1024), "application/pdf")
    assert propose(c, village, "keluarga miskin sekali", files={"lampiran": big}).status_code == 413
    ok = ("scan.pdf", b"%PDF-1.4 small", "application/pdf")
    assert propose(c, village, "keluarga miskin sekali", files={"lampiran": ok}).status_code == 303
    stored = list((tmp / "uploads").iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".pdf" and stored[0].stat().st_mode & 0o077 == 0


def test_public_searches_are_rate_limited_and_lookups_sanitised(client):
    c, village, _ = client
    q = f"/?prov={village[:2]}&kab={village[:4]}&kec={village[:6]}&desa={village}&nama=SITI"
    assert [c.get(q).status_code for _ in range(4)] == [200, 200, 200, 429]
    r = c.get("/tiket?nomor=%0d%0aSet-Cookie:%20x=1//evil.example", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tiket/SET-COOKIEX1EVILEXAMPLE"
    assert c.get("/tiket/NOPE-1").status_code == 404
