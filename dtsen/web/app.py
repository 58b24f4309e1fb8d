"""Cek Bansos and the caseworker desk: server-rendered pages (FastAPI + Jinja2, Bahasa Indonesia).

Public: the status check by region and name (masked names, programmes of the current period, rate-limited, searches
logged without the searcher), proposals (usulan) and objections (sanggahan) with a ticket and its status page.
Desk (login): the queue of the caseworker's regency, the case page (home-visit verification, decision), the
supervisor's approval (never of their own decision), the family page (audited), attachments, users and the audit
log. Region scoping is enforced in every query on the server; every form carries a CSRF token.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from . import labels, security
from .config import ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES, WebConfig, clock_from_env
from .data import NoSnapshot, Registry
from .store import OBJECTION_REASONS, CaseError, Store, in_region

HERE = Path(__file__).parent
NAME_RE = re.compile(r"^[A-Za-z' .,-]{3,100}$")
CODE_RE = re.compile(r"^[0-9]{10}$")
NIK_RE = re.compile(r"^[0-9]{16}$")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(cfg: WebConfig, store: Store | None = None) -> FastAPI:
    store = store or Store.open(cfg.db_url, clock=clock_from_env())
    registry = Registry(cfg.exchange_dir, cfg.published_dir)
    limiter = security.RateLimiter(cfg.check_rate)
    refs = URLSafeTimedSerializer(cfg.secret, salt="dtsen-sanggahan-ref")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(
        labels=labels, rupiah=labels.rupiah, period=labels.period, tanggal=labels.date, mask=security.mask_name
    )

    app = FastAPI(title="Cek Bansos - DTSEN", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=cfg.secret,
        session_cookie="dtsen_session",
        max_age=8 * 3600,
        same_site="lax",
        https_only=cfg.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.store, app.state.registry = store, registry

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    # ------------------------------------------------------------------ helpers
    def csrf_token(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = security.new_csrf_token()
        return request.session["csrf"]

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            name,
            {"csrf": csrf_token(request), "user": current_user(request), "snapshot": registry.snapshot, **ctx},
            status_code=status,
        )

    def message(request: Request, title: str, text: str, status: int = 200) -> HTMLResponse:
        return page(request, "pesan.html", status=status, title=title, text=text)

    async def form_of(request: Request):
        try:  # refuse an oversized body before it is parsed (and spooled)
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            length = 0
        if length > MAX_ATTACHMENT_BYTES + 256 * 1024:
            raise Refused(413, "Kiriman terlalu besar (lampiran maksimal 2 MB).")
        form = await request.form(max_files=1, max_fields=200)
        if not security.csrf_ok(request.session.get("csrf"), form.get("csrf_token")):
            raise Refused(403, "Formulir kedaluwarsa atau tidak sah (CSRF). Muat ulang halaman dan coba lagi.")
        return form

    def current_user(request: Request) -> dict | None:
        uid = request.session.get("uid")
        return store.user(uid) if uid else None

    def desk_user(request: Request, roles: tuple[str, ...] = ("caseworker", "supervisor", "admin")) -> dict:
        user = current_user(request)
        if not user:
            raise Refused(401, "Silakan masuk terlebih dahulu.")
        if user["role"] not in roles:
            raise Refused(403, "Peran Anda tidak mengizinkan halaman ini.")
        return user

    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        if exc.status == 401:
            return RedirectResponse("/petugas/masuk", status_code=303)
        return message(request, "Tidak dapat diproses", exc.message, status=exc.status)

    @app.exception_handler(NoSnapshot)
    async def no_snapshot(request: Request, exc: NoSnapshot):
        return message(request, "Data belum tersedia", "Data DTSEN belum diterbitkan. Coba lagi nanti.", status=503)

    # ------------------------------------------------------------------ public: Cek Bansos
    @app.get("/", response_class=HTMLResponse)
    def check(request: Request, prov: str = "", kab: str = "", kec: str = "", desa: str = "", nama: str = ""):
        prov, kab, kec, desa = consistent(prov, kab, kec, desa)
        levels = {
            "provinces": registry.regions(None, "provinsi"),
            "regencies": registry.regions(prov, "kabupaten") if prov else [],
            "districts": registry.regions(kab, "kecamatan") if kab else [],
            "villages": registry.regions(kec, "desa") if kec else [],
        }
        results, error = None, None
        if desa and nama:
            if not limiter.allow(client(request)):
                return message(
                    request,
                    "Terlalu banyak pencarian",
                    "Anda melakukan terlalu banyak pencarian. Tunggu satu menit lalu coba lagi.",
                    429,
                )
            if not CODE_RE.match(desa) or not desa.startswith(kec) or not registry.region_name(desa):
                error = "Pilih desa/kelurahan dari daftar."
            elif not NAME_RE.match(nama.strip()):
                error = "Tulis nama sesuai KTP (minimal 3 huruf)."
            else:
                results = registry.public_search(desa, nama.strip())
                store.log_search(desa, len(results))
                for r in results:
                    r["ref"] = refs.dumps({"p": r["person_id"], "s": registry.snapshot})
        return page(
            request,
            "cek.html",
            prov=prov,
            kab=kab,
            kec=kec,
            desa=desa,
            nama=nama,
            results=results,
            error=error,
            **levels,
        )

    # ------------------------------------------------------------------ public: usulan / sanggahan
    async def save_attachment(upload) -> dict | None:
        if upload is None or not getattr(upload, "filename", ""):
            return None
        data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise Refused(413, "Lampiran terlalu besar (maksimal 2 MB).")
        kind = next((t for t, (magic, _) in ATTACHMENT_TYPES.items() if data.startswith(magic)), None)
        if kind is None or upload.content_type not in ATTACHMENT_TYPES:
            raise Refused(415, "Lampiran harus PDF, JPG atau PNG.")
        os.makedirs(cfg.uploads, mode=0o700, exist_ok=True)
        path = os.path.join(cfg.uploads, secrets.token_hex(16) + ATTACHMENT_TYPES[kind][1])
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(upload.filename))[:100]
        return {"name": name, "type": kind, "size": len(data), "path": path}

    def submitter(form) -> tuple[str, str]:
        name, contact = (form.get("pengaju_nama") or "").strip(), (form.get("pengaju_kontak") or "").strip()
        if not NAME_RE.match(name):
            raise Refused(400, "Tulis nama Anda (minimal 3 huruf).")
        if not 5 <= len(contact) <= 150:
            raise Refused(400, "Tulis nomor telepon atau email yang dapat dihubungi.")
        return name, contact

    @app.get("/usulan", response_class=HTMLResponse)
    def usulan_form(request: Request, prov: str = "", kab: str = "", kec: str = ""):
        prov, kab, kec, _ = consistent(prov, kab, kec, "")
        return page(
            request,
            "usulan.html",
            prov=prov,
            kab=kab,
            kec=kec,
            provinces=registry.regions(None, "provinsi"),
            regencies=registry.regions(prov, "kabupaten") if prov else [],
            districts=registry.regions(kab, "kecamatan") if kab else [],
            villages=registry.regions(kec, "desa") if kec else [],
        )

    @app.post("/usulan")
    async def usulan_submit(request: Request):
        form = await form_of(request)
        name, contact = submitter(form)
        desa = form.get("desa") or ""
        if not CODE_RE.match(desa) or not registry.region_name(desa):
            raise Refused(400, "Pilih desa/kelurahan keluarga yang diusulkan.")
        head = (form.get("kepala_nama") or "").strip()
        if not NAME_RE.match(head):
            raise Refused(400, "Tulis nama kepala keluarga yang diusulkan.")
        try:
            members = int(form.get("jumlah_anggota") or 0)
        except ValueError:
            members = 0
        if not 1 <= members <= 30:
            raise Refused(400, "Jumlah anggota keluarga antara 1 dan 30.")
        why = (form.get("alasan") or "").strip()
        if not 10 <= len(why) <= 2000:
            raise Refused(400, "Jelaskan alasan usulan (10 sampai 2000 huruf).")
        address = (form.get("alamat") or "").strip()[:300]
        attachment = await save_attachment(form.get("lampiran"))
        ticket = await run_in_threadpool(
            store.submit,
            "usulan",
            village_code=desa,
            submitter_name=name,
            submitter_contact=contact,
            description=why,
            proposed_head_name=head.upper(),
            proposed_address=address.upper(),
            proposed_members=members,
            attachment=attachment,
        )
        return RedirectResponse(f"/tiket/{ticket}?baru=1", status_code=303)

    @app.get("/sanggahan", response_class=HTMLResponse)
    def sanggahan_form(request: Request, ref: str = ""):
        target = _target(ref)
        return page(request, "sanggahan.html", ref=ref, person=target, reasons=OBJECTION_REASONS)

    def _target(ref: str) -> dict:
        try:
            data = refs.loads(ref, max_age=24 * 3600)
        except BadSignature:
            raise Refused(
                400, "Tautan sanggahan tidak sah atau kedaluwarsa. Cari kembali penerima di Cek Bansos."
            ) from None
        person = registry.person(data["p"])
        if not person:
            raise Refused(404, "Penerima tidak ditemukan pada data terbaru. Cari kembali di Cek Bansos.")
        return person

    @app.post("/sanggahan")
    async def sanggahan_submit(request: Request):
        form = await form_of(request)
        name, contact = submitter(form)
        person = _target(form.get("ref") or "")
        reason = form.get("alasan") or ""
        if reason not in OBJECTION_REASONS:
            raise Refused(400, "Pilih alasan sanggahan.")
        why = (form.get("keterangan") or "").strip()
        if not 10 <= len(why) <= 2000:
            raise Refused(400, "Jelaskan sanggahan Anda (10 sampai 2000 huruf).")
        attachment = await save_attachment(form.get("lampiran"))
        ticket = await run_in_threadpool(
            store.submit,
            "sanggahan",
            village_code=person["village_code"],
            submitter_name=name,
            submitter_contact=contact,
            description=why,
            reason=reason,
            target_person_id=person["person_id"],
            target_snapshot=registry.snapshot,
            attachment=attachment,
        )
        return RedirectResponse(f"/tiket/{ticket}?baru=1", status_code=303)

    @app.get("/tiket", response_class=HTMLResponse)
    def ticket_lookup(request: Request, nomor: str = ""):
        nomor = re.sub(r"[^A-Z0-9-]", "", nomor.strip().upper())[:32]
        if nomor:
            return RedirectResponse(f"/tiket/{nomor}", status_code=303)
        return page(request, "tiket.html", case=None, lookup=True)

    @app.get("/tiket/{ticket}", response_class=HTMLResponse)
    def ticket_status(request: Request, ticket: str, baru: int = 0):
        case = store.case_by_ticket(ticket.upper()[:32])
        if not case:
            return page(request, "tiket.html", case=None, lookup=True, not_found=True, status=404)
        outcome = registry.outcome(case)
        return page(
            request,
            "tiket.html",
            case=case,
            lookup=False,
            outcome=outcome,
            new=bool(baru),
            region=registry.region_name(case["village_code"]),
        )

    # ------------------------------------------------------------------ desk: login
    @app.get("/petugas/masuk", response_class=HTMLResponse)
    def login_form(request: Request):
        return page(request, "masuk.html", error=None)

    @app.post("/petugas/masuk")
    async def login(request: Request):
        form = await form_of(request)
        try:
            user = await run_in_threadpool(
                store.login, (form.get("username") or "")[:64], form.get("password") or "", client(request)
            )
        except CaseError as e:
            return page(request, "masuk.html", error=str(e), status=429)
        if not user:
            return page(request, "masuk.html", error="Nama pengguna atau kata sandi salah.", status=401)
        request.session.clear()
        request.session.update({"uid": user["id"], "csrf": security.new_csrf_token()})
        return RedirectResponse("/petugas", status_code=303)

    @app.post("/petugas/keluar")
    async def logout(request: Request):
        await form_of(request)
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    # ------------------------------------------------------------------ desk: queue, case, family
    @app.get("/petugas", response_class=HTMLResponse)
    def queue(request: Request):
        user = desk_user(request)
        return page(
            request,
            "antrian.html",
            queue=store.queue(user),
            region=registry.region_name(user["regency_code"]) if user["regency_code"] else "Semua wilayah",
        )

    def _case_page(request: Request, user: dict, case_id: int, error: str | None = None, status: int = 200):
        try:
            case = store.case(case_id, user)
        except CaseError as e:
            raise Refused(404, str(e)) from None
        store.log_view(user, "view_case", case["ticket"])
        target = registry.person(case["target_person_id"]) if case["target_person_id"] else None
        return page(
            request,
            "kasus.html",
            status=status,
            case=case,
            events=store.events(case_id),
            target=target,
            verification=json.loads(case["verification"]) if case["verification"] else None,
            region=registry.region_name(case["village_code"]),
            error=error,
            outcome=registry.outcome(case),
            member_rows=range(1, labels.MEMBER_ROWS + 1),
        )

    @app.get("/petugas/kasus/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: int):
        return _case_page(request, desk_user(request), case_id)

    async def _act(request: Request, case_id: int, action) -> Response:
        user = desk_user(request)
        form = await form_of(request)
        try:
            await run_in_threadpool(action, user, form)
        except CaseError as e:
            return _case_page(request, user, case_id, error=str(e), status=409)
        return RedirectResponse(f"/petugas/kasus/{case_id}", status_code=303)

    @app.post("/petugas/kasus/{case_id}/verifikasi")
    async def verify(request: Request, case_id: int):
        return await _act(request, case_id, lambda user, form: store.verify(case_id, user, *verification_of(form)))

    @app.post("/petugas/kasus/{case_id}/keputusan")
    async def decide(request: Request, case_id: int):
        return await _act(
            request,
            case_id,
            lambda user, form: store.decide(case_id, user, form.get("keputusan") or "", form.get("alasan") or ""),
        )

    @app.post("/petugas/kasus/{case_id}/persetujuan")
    async def approve(request: Request, case_id: int):
        return await _act(
            request,
            case_id,
            lambda user, form: store.approve(
                case_id, user, form.get("persetujuan") == "setuju", form.get("catatan") or ""
            ),
        )

    @app.get("/petugas/kasus/{case_id}/lampiran")
    def attachment(request: Request, case_id: int):
        user = desk_user(request)
        try:
            case = store.case(case_id, user)
        except CaseError as e:
            raise Refused(404, str(e)) from None
        if not case["attachment_path"] or not os.path.exists(case["attachment_path"]):
            raise Refused(404, "Kasus ini tidak memiliki lampiran.")
        store.log_view(user, "view_attachment", case["ticket"])
        return FileResponse(
            case["attachment_path"],
            media_type="application/octet-stream",
            filename=case["attachment_name"] or "lampiran",
            headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/petugas/keluarga/{family_id}", response_class=HTMLResponse)
    def family_page(request: Request, family_id: str):
        user = desk_user(request)
        data = registry.family(family_id)
        if not data or not in_region(user, data["family"]["regency_code"]):
            store.log_view(user, "view_family_refused", family_id[:64])
            raise Refused(404, "Keluarga tidak ditemukan di wilayah Anda.")
        store.log_view(user, "view_family", family_id)
        earlier = store.cases_of(
            [m["person_id"] for m in data["members"]],
            sorted({r["family_id_src"] for r in data["records"] if r["source"] == "usulan"}),
        )
        return page(
            request,
            "keluarga.html",
            data=data,
            earlier=earlier,
            region=registry.region_name(data["family"]["village_code"]),
        )

    # ------------------------------------------------------------------ desk: users and audit
    @app.get("/petugas/audit", response_class=HTMLResponse)
    def audit_page(request: Request):
        user = desk_user(request, ("supervisor", "admin"))
        store.log_view(user, "view_audit", "audit")
        rows = store.audit_rows()
        if user["role"] != "admin":  # a supervisor sees the views of their own region's staff
            staff = {u["username"] for u in store.list_users() if u["regency_code"] == user["regency_code"]}
            rows = [r for r in rows if r["username"] in staff]
        return page(request, "audit.html", rows=rows)

    @app.get("/admin/pengguna", response_class=HTMLResponse)
    def users_page(request: Request):
        desk_user(request, ("admin",))
        return page(request, "pengguna.html", users=store.list_users(), error=None)

    @app.post("/admin/pengguna")
    async def add_user(request: Request):
        user = desk_user(request, ("admin",))
        form = await form_of(request)
        try:
            await run_in_threadpool(
                store.add_user,
                (form.get("username") or "").strip(),
                form.get("password") or "",
                form.get("role") or "",
                (form.get("nama") or "").strip(),
                (form.get("kabupaten") or "").strip() or None,
            )
        except (CaseError, Exception) as e:  # a taken user name is an IntegrityError
            msg = str(e) if isinstance(e, CaseError) else "Nama pengguna sudah dipakai atau data tidak lengkap."
            return page(request, "pengguna.html", users=store.list_users(), error=msg, status=400)
        store.log_view(user, "add_user", (form.get("username") or "")[:64])
        return RedirectResponse("/admin/pengguna", status_code=303)

    return app


def consistent(prov: str, kab: str, kec: str, desa: str) -> tuple[str, str, str, str]:
    """Each level only when it lies inside the level above (a changed province clears the rest)."""
    out, parent = [], ""
    for code, n in ((prov, 2), (kab, 4), (kec, 6), (desa, 10)):
        ok = len(code) == n and code.isdigit() and code.startswith(parent) and (parent or n == 2)
        if not ok:
            out += [""] * (4 - len(out))
            break
        out.append(code)
        parent = code
    return tuple(out)  # type: ignore[return-value]


def verification_of(form) -> tuple[dict, list[dict]]:
    """The home-visit form: the family's proxies and up to MEMBER_ROWS members (empty rows skipped), every value
    checked against its code list (a bad value refuses the form with the field named)."""
    family = {}
    for col, (label, codes) in labels.FAMILY_CODES.items():
        family[col] = _code(form.get(col), codes, label, required=True)
    for col, label in labels.FAMILY_NUMBERS.items():
        raw = (form.get(col) or "0").strip()
        if not raw.isdigit() or int(raw) > 10_000_000:
            raise CaseError(f"{label}: isi dengan angka bulat 0 atau lebih.")
        family[col] = int(raw)
    members = []
    for i in range(1, labels.MEMBER_ROWS + 1):
        name = (form.get(f"a{i}_nama") or "").strip().upper()
        if not name:
            continue
        where = f"Anggota {i}"
        if not NAME_RE.match(name):
            raise CaseError(f"{where}: nama tidak sah.")
        m = {"nama": name}
        for col in ("nik", "no_kk"):
            v = (form.get(f"a{i}_{col}") or "").strip()
            if v and not NIK_RE.match(v):
                raise CaseError(f"{where}: {col.upper().replace('_', ' ')} harus 16 angka (atau kosong).")
            m[col] = v or None
        born = (form.get(f"a{i}_tanggal_lahir") or "").strip()
        try:
            day = dt.date.fromisoformat(born)
        except ValueError:
            raise CaseError(f"{where}: tanggal lahir tidak sah (TTTT-BB-HH).") from None
        if day > dt.date.today():
            raise CaseError(f"{where}: tanggal lahir di masa depan.")
        m["tanggal_lahir"] = day.isoformat()
        for col, (label, codes) in labels.MEMBER_CODES.items():
            m[col] = _code(
                form.get(f"a{i}_{col}"), codes, f"{where}: {label}", required=col in ("jenis_kelamin", "hubungan_kk")
            )
        members.append(m)
    return family, members


def _code(raw, codes: dict, label: str, required: bool):
    raw = (raw or "").strip()
    if not raw:
        if required:
            raise CaseError(f"{label}: wajib diisi.")
        return None
    for k in codes:
        if str(k) == raw:
            return k
    raise CaseError(f"{label}: pilihan tidak sah.")
