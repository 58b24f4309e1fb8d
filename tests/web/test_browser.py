"""Cek Bansos and the caseworker desk in a real browser (Debian's Chromium driven by Playwright), over loopback, on a
copy of `make run`'s demo: the public check finds a known recipient and masks the name; an objection and a proposal
are filed, verified and decided by a caseworker, approved by a supervisor, exported, taken in by the next month's
run, and visible in the marts and on the ticket pages; another regency's caseworker gets nothing; CSRF and login
throttling hold. Screenshots of every page go to $DTSEN_SCREENSHOTS (README's pictures) or the test's folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from dtsen.web.security import mask_name
from dtsen.web.store import Store
from tests.conftest import REPO, _env, cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Chromium is not installed (Debian's chromium package; .ci/run installs it)"
)
PASSWORD = "browser-test-password"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(demo, tmp_path_factory):
    """A copy of the demo's data folder with the web server running on it (and its own Dagster home)."""
    home, data, _ = demo
    root = tmp_path_factory.mktemp("web")
    copy = root / "data"
    shutil.copytree(data, copy)
    own_home = root / "dagster_home"
    shutil.copytree(home, own_home, ignore=shutil.ignore_patterns("storage", "history", "schedules", "logs"))
    port = free_port()
    env = _env(own_home)
    env["DTSEN_WEB_SECRET"] = "browser-test-secret"
    # the demo's months are in 2025: the desk works on the day after the latest one, as it would have then
    snap = latest(copy)
    env["DTSEN_WEB_CLOCK"] = f"{next_month(snap)}-03T09:00:00"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.operate.cli", "web", "--data", str(copy), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):  # bounded: at most ~30 s
        try:
            urllib.request.urlopen(url + "/tiket", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read()) from None
            time.sleep(0.3)
    else:
        proc.kill()
        raise AssertionError("the web server did not answer within 30 s")
    shots = Path(os.environ.get("DTSEN_SCREENSHOTS") or root / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    yield {"url": url, "data": copy, "home": own_home, "shots": shots}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def next_month(month: str) -> str:
    return f"{int(month[:4]) + (month[5:] == '12')}-{int(month[5:]) % 12 + 1:02d}"


def latest(data: Path) -> str:
    return sorted(p.name for p in (data / "exchange").iterdir() if p.name[:2] == "20")[-1]


def choose_region(page, village: str) -> None:
    """Province -> regency -> district -> village, as a person would (each choice reloads the next list)."""
    for name, code in (("prov", village[:2]), ("kab", village[:4]), ("kec", village[:6])):
        page.select_option(f"select[name={name}]", code)
        page.wait_for_load_state("load")
    page.wait_for_selector("select[name=desa]")


def login(page, url: str, username: str, password: str = PASSWORD):
    page.goto(url + "/petugas/masuk")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#masuk")
    page.wait_for_load_state("load")


def logout(page):
    page.click("header form button")
    page.wait_for_load_state("load")


def test_citizens_caseworkers_and_the_next_month(site, browser):
    url, data, shots = site["url"], site["data"], site["shots"]
    snap = latest(data)
    persons = str(data / "exchange" / snap / "person.parquet")
    # a known PKH recipient, head of a family, whose name is unique in the village
    person_id, name, village, family_id, age = duckdb.sql(f"""
        SELECT person_id, name, village_code, family_id, age FROM '{persons}' p
        WHERE pkh_recipient AND is_head AND NOT is_deceased
          AND (SELECT count(*) FROM '{persons}' q WHERE q.village_code = p.village_code
               AND split_part(q.name, ' ', 1) = split_part(p.name, ' ', 1)) = 1
        ORDER BY person_id LIMIT 1""").fetchall()[0]
    regency = village[:4]
    other = duckdb.sql(f"SELECT min(regency_code) FROM '{persons}' WHERE regency_code <> '{regency}'").fetchall()[0][0]
    store = Store.open("sqlite:///" + str(data / "web" / "cekbansos.sqlite"))
    store.add_user("petugas_a", PASSWORD, "caseworker", "Petugas A", regency)
    store.add_user("supervisor_a", PASSWORD, "supervisor", "Supervisor A", regency)
    store.add_user("petugas_b", PASSWORD, "caseworker", "Petugas B", other)
    store.add_user("admin", PASSWORD, "admin", "Admin Pusat")
    store.close()

    ctx = browser.new_context(viewport={"width": 412, "height": 915})  # a phone
    page = ctx.new_page()
    # 1. the public check: the recipient is found, the name masked, nothing identifying shown
    page.goto(url + "/")
    choose_region(page, village)
    page.select_option("select[name=desa]", village)
    page.fill("#nama", name.split()[0])
    page.click("#cari")
    page.wait_for_selector(".result")
    assert page.inner_text(".masked-name") == mask_name(name)
    html = page.content()
    assert name not in html and "NIK" not in html and "desil" not in html.lower()
    assert "YA, penerima" in page.inner_text(".result")
    page.screenshot(path=str(shots / "cek.png"), full_page=True)
    # 2. an objection against that recipient, with an attachment
    page.click("text=Ajukan sanggahan")
    page.select_option("#alasan", "tidak_miskin")
    page.fill("#keterangan", "Rumahnya besar dan memiliki mobil.")
    page.fill("#pengaju_nama", "WARGA PENGUJI")
    page.fill("#pengaju_kontak", "0812-1111-2222")
    page.set_input_files("#lampiran", files=[{"name": "foto.png", "mimeType": "image/png", "buffer": PNG}])
    page.screenshot(path=str(shots / "sanggahan.png"), full_page=True)
    page.click("#kirim")
    page.wait_for_selector("#ticket")
    objection = page.inner_text("#ticket")
    assert objection.startswith("SGH-") and page.inner_text("#status") == "Baru diterima"
    page.screenshot(path=str(shots / "tiket.png"), full_page=True)
    # 3. a proposal for a family in the same village
    page.goto(f"{url}/usulan?prov={village[:2]}&kab={village[:4]}&kec={village[:6]}")
    page.select_option("#desa_usulan", village)
    page.fill("#kepala_nama", "WARSINI PENGUJI")
    page.fill("#alamat", "DUSUN UJI RT 001 RW 001")
    page.fill("#jumlah_anggota", "2")
    page.fill("#alasan", "Janda dengan satu anak, rumah berlantai tanah.")
    page.fill("#pengaju_nama", "KADER PENGUJI")
    page.fill("#pengaju_kontak", "kader@desa.example")
    page.screenshot(path=str(shots / "usulan.png"), full_page=True)
    page.click("#kirim")
    page.wait_for_selector("#ticket")
    proposal = page.inner_text("#ticket")
    assert proposal.startswith("USL-")

    # 4. the caseworker: queue, the home visit, decisions, the family page
    login(page, url, "petugas_a")
    queue = page.inner_text("#open")
    assert objection in queue and proposal in queue
    page.screenshot(path=str(shots / "antrian.png"), full_page=True)
    page.click(f"text={proposal}")
    for col, value in {
        "status_bangunan": "3",
        "jenis_lantai": "6",
        "jenis_dinding": "4",
        "jenis_atap": "6",
        "sumber_air_minum": "6",
        "fasilitas_bab": "4",
        "sumber_penerangan": "4",
        "bahan_bakar_masak": "4",
        "aset_kulkas": "0",
        "aset_motor": "0",
        "aset_mobil": "0",
        "desa_terpencil": "0",
    }.items():
        page.select_option(f"#{col}", value)
    page.fill("#luas_lantai_m2", "16")
    for i, (nama, born, sex, rel, school) in enumerate(
        [("WARSINI PENGUJI", "1978-05-06", "P", "1", "none"), ("DIAN PENGUJI", "2014-08-09", "P", "3", "SD")], 1
    ):
        page.fill(f"input[name=a{i}_nama]", nama)
        page.fill(f"input[name=a{i}_tanggal_lahir]", born)
        page.select_option(f"select[name=a{i}_jenis_kelamin]", sex)
        page.select_option(f"select[name=a{i}_hubungan_kk]", rel)
        page.select_option(f"select[name=a{i}_pendidikan]", "1")
        page.select_option(f"select[name=a{i}_pekerjaan]", "1" if rel == "1" else "0")
        page.select_option(f"select[name=a{i}_jenjang_sekolah]", school)
    page.click("#simpan-verifikasi")
    page.wait_for_load_state("load")
    assert page.inner_text("#status") == "Sudah diverifikasi"
    page.fill("#alasan", "Kunjungan rumah: layak, lantai tanah, tanpa aset.")
    page.click("#putuskan")
    page.wait_for_load_state("load")
    assert page.inner_text("#status") == "Menunggu persetujuan"
    assert page.query_selector("#approval-form") is None  # a caseworker cannot approve
    page.screenshot(path=str(shots / "kasus.png"), full_page=True)
    page.goto(url + "/petugas")
    page.click(f"text={objection}")
    page.click("#family-link")
    page.wait_for_selector("#members")
    assert person_id in page.inner_text("#members") and page.inner_text("#rules").count("PKH") >= 1
    page.screenshot(path=str(shots / "keluarga.png"), full_page=True)
    page.go_back()
    page.fill("#alasan", "Dikunjungi: memiliki mobil dan rumah permanen.")
    page.click("#putuskan")
    page.wait_for_load_state("load")
    logout(page)

    # 5. the supervisor approves both (two people for every change)
    login(page, url, "supervisor_a")
    assert objection in page.inner_text("#awaiting") and proposal in page.inner_text("#awaiting")
    for ticket in (objection, proposal):
        page.goto(url + "/petugas")
        page.click(f"text={ticket}")
        page.click("#setujui")
        page.wait_for_load_state("load")
        assert page.inner_text("#status") == "Disetujui"
    page.goto(url + "/petugas/audit")
    assert f"{family_id}" in page.inner_text("#audit")  # the caseworker's view of the family is in the log
    page.screenshot(path=str(shots / "audit.png"), full_page=True)
    assert page.goto(url + "/admin/pengguna").status == 403  # users are the admin's
    logout(page)
    login(page, url, "admin")
    page.goto(url + "/admin/pengguna")
    assert "petugas_b" in page.inner_text("main")
    page.screenshot(path=str(shots / "pengguna.png"), full_page=True)
    logout(page)

    # 6. another regency's caseworker gets nothing, however they ask
    login(page, url, "petugas_b")
    body = page.inner_text("main")
    assert objection not in body and proposal not in body
    store = Store.open("sqlite:///" + str(data / "web" / "cekbansos.sqlite"))
    case_id = store.case_by_ticket(objection)["id"]
    store.close()
    for path in (f"/petugas/kasus/{case_id}", f"/petugas/keluarga/{family_id}", f"/petugas/kasus/{case_id}/lampiran"):
        r = page.goto(url + path)
        assert r.status == 404 and "wilayah Anda" in page.inner_text("#message"), path
    csrf = page.eval_on_selector("header input[name=csrf_token]", "e => e.value")
    r = page.request.post(
        url + f"/petugas/kasus/{case_id}/keputusan",
        form={"csrf_token": csrf, "keputusan": "reject", "alasan": "bukan wilayah saya"},
    )
    assert r.status == 404 and "wilayah Anda" in r.text()
    logout(page)

    # 7. CSRF and login throttling
    r = page.request.post(url + "/petugas/masuk", form={"username": "petugas_a", "password": PASSWORD})
    assert r.status == 403 and "CSRF" in r.text()
    r = page.request.post(url + "/usulan", form={"csrf_token": "forged", "pengaju_nama": "X"})
    assert r.status == 403
    for _ in range(5):
        login(page, url, "petugas_a", "wrong-password-here")
        assert "salah" in page.inner_text("#login-error")
    login(page, url, "petugas_a")
    assert "Terlalu banyak" in page.inner_text("#login-error")
    page.screenshot(path=str(shots / "masuk.png"), full_page=True)

    # 8. the month's export becomes a delivery, the next month's run takes it in
    month = next_month(snap)
    exp = cli(
        site["home"],
        "web-export",
        "--month",
        month,
        "--data",
        str(data),
    )
    assert exp.returncode == 0, exp.stderr
    assert '"usulan": 1' in exp.stdout and '"sanggahan": 1' in exp.stdout
    run = cli(
        site["home"],
        "run",
        "--landing",
        str(data / "landing"),
        "--month",
        month,
        "--data",
        str(data),
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        excl = con.execute(
            "SELECT unit, family_id, reason FROM marts.exclusions WHERE case_number = ?", [objection]
        ).fetchall()
        assert excl == [("family", family_id, "objection_not_poor")]
        explained = con.execute(
            "SELECT decision, explanation FROM marts.appeal_explanation WHERE family_id = ? AND program = 'PKH'",
            [family_id],
        ).fetchall()[0]
        assert explained[0] == "not_eligible" and objection in explained[1]
        left = con.execute(
            "SELECT change, reason FROM history.programme_changes WHERE snapshot = ? AND "
            "family_id = ? AND program = 'PKH'",
            [month, family_id],
        ).fetchall()
        assert left == [("left", "objection")], left
        linked = con.execute(
            "SELECT c.person_id, c.family_id, w.proxies_source FROM dtsen.crosswalk c "
            "JOIN welfare.family_welfare w ON w.family_id = c.family_id AND w.snapshot = c.snapshot "
            "WHERE c.snapshot = ? AND c.source = 'usulan' AND c.record_id LIKE ?",
            [month, proposal + "-%"],
        ).fetchall()
        assert len(linked) == 2 and {r[2] for r in linked} == {"usulan"}
    finally:
        con.close()
    # the ticket pages say so once the web picks up the new month (within its refresh interval)
    for _ in range(40):
        page.goto(f"{url}/tiket/{objection}")
        if page.query_selector("#outcome"):
            break
        time.sleep(0.5)
    assert "Berlaku sejak" in page.inner_text("#outcome")
    page.goto(f"{url}/tiket/{proposal}")
    assert "keluarga tercatat di DTSEN (2 orang)" in page.inner_text("#outcome")
    page.screenshot(path=str(shots / "tiket_berlaku.png"), full_page=True)
    ctx.close()
    # who looked at the recipient: the desk's views are in `dtsen audit` beside the API's requests
    audit = cli(site["home"], "audit", "--id", person_id, "--data", str(data))
    assert audit.returncode == 0, audit.stderr
    views = [line for line in audit.stdout.splitlines() if '"channel": "desk"' in line]
    assert any('"view_family"' in v and family_id in v and "petugas_a" in v for v in views), audit.stdout
