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


def login(c, username: str, password: str = "a-long-password", client_ip: str | None = None):
    token = csrf(c, "/petugas/masuk")
    headers = {"X-Forwarded-For": client_ip} if client_ip else None
    return c.post(
        "/petugas/masuk",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=False,
        headers=headers,
    )


def test_one_persons_wrong_passwords_lock_only_their_name(client):
    """An office behind one address: a caseworker's five wrong passwords lock that name from there, not every
    colleague behind the same address, and not the same name from another place."""
    c, village, _ = client
    store = c.app.state.store
    store.add_user("rekan", "a-long-password", "caseworker", "Rekan", village[:4])
    for _ in range(5):
        assert login(c, "petugas", "wrong-password").status_code == 401
    assert login(c, "petugas").status_code == 429  # locked: even the right password is not checked
    c.cookies.clear()
    assert login(c, "rekan").status_code == 303  # a colleague behind the same address signs in
    assert store.login("petugas", "a-long-password", "10.9.9.9")  # the same name from elsewhere is not locked


def _session_works(c) -> bool:
    return c.get("/petugas", follow_redirects=False).status_code == 200


def test_sessions_live_on_the_server_and_end_on_logout_deactivation_and_password_change(client):
    c, village, _ = client
    store = c.app.state.store
    store.add_user("kepala", "an-admin-password", "admin", "Kepala")
    admin = next(u for u in store.list_users() if u["username"] == "kepala")
    # logout ends the session: the old cookie replayed is nobody's
    assert login(c, "petugas").status_code == 303 and _session_works(c)
    old = dict(c.cookies)
    c.post("/petugas/keluar", data={"csrf_token": csrf(c, "/petugas")}, follow_redirects=False)
    c.cookies.update(old)
    assert not _session_works(c)
    # deactivation ends every session of the user at once
    c.cookies.clear()
    assert login(c, "petugas").status_code == 303 and _session_works(c)
    store.set_active(admin, "petugas", False)
    assert not _session_works(c)
    store.set_active(admin, "petugas", True)
    # a password change (the user's own) ends them too, and the new password is the one
    c.cookies.clear()
    assert login(c, "petugas").status_code == 303
    r = c.post(
        "/petugas/kata-sandi",
        data={"csrf_token": csrf(c, "/petugas/kata-sandi"), "sekarang": "a-long-password",
              "baru": "a-new-long-password", "ulangi": "a-new-long-password"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and not _session_works(c)
    c.cookies.clear()
    assert login(c, "petugas").status_code == 401 and login(c, "petugas", "a-new-long-password").status_code == 303
    # an admin's reset does the same
    store.reset_password(admin, "petugas", "reset-by-the-admin")
    assert not _session_works(c)


def test_a_forged_session_cookie_opens_nothing(client):
    """A cookie signed with the site's secret but naming a user id (what the old cookie held) is nobody's: only a
    session the server issued and still holds is one."""
    import base64
    import json

    import itsdangerous

    c, _, _ = client
    signer = itsdangerous.TimestampSigner("test-secret")
    forged = signer.sign(base64.b64encode(json.dumps({"uid": 1, "sid": "made-up"}).encode())).decode()
    c.cookies.set("dtsen_session", forged)
    assert c.get("/petugas", follow_redirects=False).status_code == 303


def test_the_public_search_cannot_list_a_village(client, demo):
    """Two letters find nobody; a search answers at most three persons; a child under 17 appears only as a PIP
    recipient in their own right."""
    c, village, _ = client
    _, data, _ = demo
    base = f"/?prov={village[:2]}&kab={village[:4]}&kec={village[:6]}&desa={village}&nama="
    page = c.get(base + "S%20S").text
    assert "minimal satu kata lengkap" in page and 'class="result"' not in page
    registry = c.app.state.registry
    snap = sorted(p.name for p in (data / "exchange").iterdir() if p.name[:2] == "20")[-1]
    people = duckdb.sql(
        f"SELECT village_code, name, age, pip_recipient FROM '{data}/exchange/{snap}/person.parquet' "
        "WHERE NOT coalesce(is_deceased, false)"
    ).fetchall()
    child = next(p for p in people if p[2] is not None and p[2] < 17 and not p[3])
    assert child[1] not in {r["name"] for r in registry.public_search(child[0], child[1])}
    common = max({w for p in people for w in p[1].split() if len(w) >= 3},
                 key=lambda w: sum(w in p[1].split() for p in people if p[0] == village))  # fmt: skip
    assert len(registry.public_search(village, common)) <= 3


def test_the_public_ticket_page_says_the_decision_in_the_platforms_words(client):
    c, village, _ = client
    store = c.app.state.store
    store.add_user("atasan", "a-long-password", "supervisor", "Atasan", village[:4])
    r = propose(c, village, "keluarga miskin sekali")
    ticket = r.headers["location"].split("/")[-1].split("?")[0]
    case = store.case_by_ticket(ticket)
    worker = next(u for u in store.list_users() if u["username"] == "petugas")
    boss = next(u for u in store.list_users() if u["username"] == "atasan")
    store.decide(case["id"], worker, "reject", "RUMAH TEMBOK DAN MOTOR DUA: CATATAN PETUGAS")
    store.approve(case["id"], boss, True)
    page = c.get(f"/tiket/{ticket}").text
    assert "usulan tidak disetujui setelah verifikasi" in page
    assert "CATATAN PETUGAS" not in page and "desil" not in page.lower()
