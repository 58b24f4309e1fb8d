"""The admin's page: the desk's users, listed and added."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..site import Site
from ..store import CaseError

router = APIRouter()


@router.get("/admin/pengguna", response_class=HTMLResponse)
def users_page(request: Request):
    site: Site = request.app.state.site
    site.desk_user(request, ("admin",))
    return site.page(request, "pengguna.html", users=site.store.list_users(), error=None)


@router.post("/admin/pengguna")
async def add_user(request: Request):
    site: Site = request.app.state.site
    user = site.desk_user(request, ("admin",))
    form = await site.form_of(request)
    try:
        await run_in_threadpool(
            site.store.add_user,
            (form.get("username") or "").strip(),
            form.get("password") or "",
            form.get("role") or "",
            (form.get("nama") or "").strip(),
            (form.get("kabupaten") or "").strip() or None,
        )
    except (CaseError, Exception) as e:  # a taken user name is an IntegrityError
        msg = str(e) if isinstance(e, CaseError) else "Nama pengguna sudah dipakai atau data tidak lengkap."
        return site.page(request, "pengguna.html", users=site.store.list_users(), error=msg, status=400)
    site.store.log_view(user, "add_user", (form.get("username") or "")[:64])
    return RedirectResponse("/admin/pengguna", status_code=303)


@router.post("/admin/pengguna/{username}/status")
async def set_active(request: Request, username: str):
    site: Site = request.app.state.site
    admin = site.desk_user(request, ("admin",))
    form = await site.form_of(request)
    try:
        await run_in_threadpool(site.store.set_active, admin, username, form.get("aktif") == "1")
    except CaseError as e:
        return site.page(request, "pengguna.html", users=site.store.list_users(), error=str(e), status=400)
    return RedirectResponse("/admin/pengguna", status_code=303)


@router.post("/admin/pengguna/{username}/kata-sandi")
async def reset_password(request: Request, username: str):
    site: Site = request.app.state.site
    admin = site.desk_user(request, ("admin",))
    form = await site.form_of(request)
    try:
        await run_in_threadpool(site.store.reset_password, admin, username, form.get("password") or "")
    except CaseError as e:
        return site.page(request, "pengguna.html", users=site.store.list_users(), error=str(e), status=400)
    return RedirectResponse("/admin/pengguna", status_code=303)
