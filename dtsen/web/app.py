"""Cek Bansos and the caseworker desk: server-rendered pages (FastAPI + Jinja2, Bahasa Indonesia).

The application: its session, security headers and error pages, over the site (`dtsen.web.site`) and the routers
(`dtsen.web.routes`: the public pages, the caseworker desk, the admin's). Every form carries a CSRF token.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from .config import WebConfig, clock_from_env
from .data import NoSnapshot, Registry
from .forms import consistent, verification_of
from .routes import admin, desk, public
from .site import HERE, Refused, Site
from .store import Store

__all__ = ["Refused", "consistent", "create_app", "verification_of"]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(cfg: WebConfig, store: Store | None = None) -> FastAPI:
    store = store or Store.open(cfg.db_url, clock=clock_from_env())
    site = Site(cfg, store, Registry(cfg.exchange_dir, cfg.published_dir))
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
    app.state.site, app.state.store, app.state.registry = site, store, site.registry

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        if exc.status == 401:
            return RedirectResponse("/petugas/masuk", status_code=303)
        return site.message(request, "Tidak dapat diproses", exc.message, status=exc.status)

    @app.exception_handler(NoSnapshot)
    async def no_snapshot(request: Request, exc: NoSnapshot):
        return site.message(
            request, "Data belum tersedia", "Data DTSEN belum diterbitkan. Coba lagi nanti.", status=503
        )

    for module in (public, desk, admin):
        app.include_router(module.router)
    return app
