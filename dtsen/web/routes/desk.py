"""The caseworker desk: login, the queue of the user's regency, the case (home-visit verification, decision, the
supervisor's approval, never of their own decision), attachments, the family page (audited) and the audit log.
Region scoping is enforced in every query on the server."""

from __future__ import annotations

import json
import os

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import labels, security
from ..forms import verification_of
from ..site import Refused, Site
from ..store import CaseError, in_region

router = APIRouter()


@router.get("/petugas/masuk", response_class=HTMLResponse)
def login_form(request: Request):
    site: Site = request.app.state.site
    return site.page(request, "masuk.html", error=None)


@router.post("/petugas/masuk")
async def login(request: Request):
    site: Site = request.app.state.site
    form = await site.form_of(request)
    try:
        user = await run_in_threadpool(
            site.store.login, (form.get("username") or "")[:64], form.get("password") or "", site.client(request)
        )
    except CaseError as e:
        return site.page(request, "masuk.html", error=str(e), status=429)
    if not user:
        return site.page(request, "masuk.html", error="Nama pengguna atau kata sandi salah.", status=401)
    token = await run_in_threadpool(site.store.open_session, user["id"])
    request.session.clear()
    request.session.update({"sid": token, "csrf": security.new_csrf_token()})
    return RedirectResponse("/petugas", status_code=303)


@router.post("/petugas/keluar")
async def logout(request: Request):
    site: Site = request.app.state.site
    await site.form_of(request)
    await run_in_threadpool(site.store.revoke_session, request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("/petugas/kata-sandi", response_class=HTMLResponse)
def password_form(request: Request):
    site: Site = request.app.state.site
    site.desk_user(request)
    return site.page(request, "kata_sandi.html", error=None)


@router.post("/petugas/kata-sandi")
async def change_password(request: Request):
    site: Site = request.app.state.site
    user = site.desk_user(request)
    form = await site.form_of(request)
    if (form.get("baru") or "") != (form.get("ulangi") or ""):
        return site.page(request, "kata_sandi.html", error="Kata sandi baru dan ulangannya berbeda.", status=400)
    try:
        await run_in_threadpool(site.store.change_password, user, form.get("sekarang") or "", form.get("baru") or "")
    except CaseError as e:
        return site.page(request, "kata_sandi.html", error=str(e), status=400)
    request.session.clear()  # every session of the user ended with the change: sign in again
    return RedirectResponse("/petugas/masuk?sandi=diubah", status_code=303)


@router.get("/petugas", response_class=HTMLResponse)
def queue(request: Request):
    site: Site = request.app.state.site
    user = site.desk_user(request)
    return site.page(
        request,
        "antrian.html",
        queue=site.store.queue(user),
        region=site.registry.region_name(user["regency_code"]) if user["regency_code"] else "Semua wilayah",
    )


def _case_page(site: Site, request: Request, user: dict, case_id: int, error: str | None = None, status: int = 200):
    try:
        case = site.store.case(case_id, user)
    except CaseError as e:
        raise Refused(404, str(e)) from None
    site.store.log_view(user, "view_case", case["ticket"])
    target = site.registry.person(case["target_person_id"]) if case["target_person_id"] else None
    return site.page(
        request,
        "kasus.html",
        status=status,
        case=case,
        events=site.store.events(case_id),
        target=target,
        verification=json.loads(case["verification"]) if case["verification"] else None,
        region=site.registry.region_name(case["village_code"]),
        error=error,
        outcome=site.registry.outcome(case),
        member_rows=range(1, labels.MEMBER_ROWS + 1),
    )


@router.get("/petugas/kasus/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int):
    site: Site = request.app.state.site
    return _case_page(site, request, site.desk_user(request), case_id)


async def _act(site: Site, request: Request, case_id: int, action) -> Response:
    user = site.desk_user(request)
    form = await site.form_of(request)
    try:
        await run_in_threadpool(action, user, form)
    except CaseError as e:
        return _case_page(site, request, user, case_id, error=str(e), status=409)
    return RedirectResponse(f"/petugas/kasus/{case_id}", status_code=303)


@router.post("/petugas/kasus/{case_id}/verifikasi")
async def verify(request: Request, case_id: int):
    site: Site = request.app.state.site
    return await _act(
        site, request, case_id, lambda user, form: site.store.verify(case_id, user, *verification_of(form))
    )


@router.post("/petugas/kasus/{case_id}/keputusan")
async def decide(request: Request, case_id: int):
    site: Site = request.app.state.site
    return await _act(
        site,
        request,
        case_id,
        lambda user, form: site.store.decide(case_id, user, form.get("keputusan") or "", form.get("alasan") or ""),
    )


@router.post("/petugas/kasus/{case_id}/persetujuan")
async def approve(request: Request, case_id: int):
    site: Site = request.app.state.site
    return await _act(
        site,
        request,
        case_id,
        lambda user, form: site.store.approve(
            case_id, user, form.get("persetujuan") == "setuju", form.get("catatan") or ""
        ),
    )


@router.get("/petugas/kasus/{case_id}/lampiran")
def attachment(request: Request, case_id: int):
    site: Site = request.app.state.site
    user = site.desk_user(request)
    try:
        case = site.store.case(case_id, user)
    except CaseError as e:
        raise Refused(404, str(e)) from None
    if not case["attachment_path"] or not os.path.exists(case["attachment_path"]):
        raise Refused(404, "Kasus ini tidak memiliki lampiran.")
    site.store.log_view(user, "view_attachment", case["ticket"])
    return FileResponse(
        case["attachment_path"],
        media_type="application/octet-stream",
        filename=case["attachment_name"] or "lampiran",
        headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/petugas/keluarga/{family_id}", response_class=HTMLResponse)
def family_page(request: Request, family_id: str):
    site: Site = request.app.state.site
    user = site.desk_user(request)
    data = site.registry.family(family_id)
    if not data or not in_region(user, data["family"]["regency_code"]):
        site.store.log_view(user, "view_family_refused", family_id[:64])
        raise Refused(404, "Keluarga tidak ditemukan di wilayah Anda.")
    site.store.log_view(user, "view_family", family_id)
    earlier = site.store.cases_of(
        [m["person_id"] for m in data["members"]],
        sorted({r["family_id_src"] for r in data["records"] if r["source"] == "usulan"}),
    )
    return site.page(
        request,
        "keluarga.html",
        data=data,
        earlier=earlier,
        region=site.registry.region_name(data["family"]["village_code"]),
    )


@router.get("/petugas/audit", response_class=HTMLResponse)
def audit_page(request: Request):
    site: Site = request.app.state.site
    user = site.desk_user(request, ("supervisor", "admin"))
    site.store.log_view(user, "view_audit", "audit")
    rows = site.store.audit_rows()
    if user["role"] != "admin":  # a supervisor sees the views of their own region's staff
        staff = {u["username"] for u in site.store.list_users() if u["regency_code"] == user["regency_code"]}
        rows = [r for r in rows if r["username"] in staff]
    return site.page(request, "audit.html", rows=rows)
