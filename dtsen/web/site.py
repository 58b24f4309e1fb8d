"""What every page of Cek Bansos and the caseworker desk shares: the store, the registry snapshot, the public rate
limit, the signed objection references, the templates, and the helpers every route uses (the page, the CSRF token,
the form read with its size and CSRF checks, the signed-in user and their role)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer

from dtsen import credentials

from . import labels, security
from .config import MAX_ATTACHMENT_BYTES, WebConfig
from .data import Registry
from .store import Store

HERE = Path(__file__).parent


class Refused(Exception):
    """A request the site refuses: its HTTP status and the message the citizen or caseworker reads."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Site:
    def __init__(self, cfg: WebConfig, store: Store, registry: Registry):
        self.cfg, self.store, self.registry = cfg, store, registry
        self.limiter = security.RateLimiter(cfg.check_rate)
        self.refs = URLSafeTimedSerializer(cfg.secret, salt="dtsen-sanggahan-ref")
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(
            labels=labels,
            rupiah=labels.rupiah,
            period=labels.period,
            tanggal=labels.date,
            mask=security.mask_name,
            demo=credentials.demo_mode(),
        )

    def csrf_token(self, request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = security.new_csrf_token()
        return request.session["csrf"]

    def page(self, request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request,
            name,
            {
                "csrf": self.csrf_token(request),
                "user": self.current_user(request),
                "snapshot": self.registry.snapshot,
                **ctx,
            },
            status_code=status,
        )

    def message(self, request: Request, title: str, text: str, status: int = 200) -> HTMLResponse:
        return self.page(request, "pesan.html", status=status, title=title, text=text)

    async def form_of(self, request: Request):
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

    def current_user(self, request: Request) -> dict | None:
        """The user of a live server-side session (the cookie carries only its token: a session ended by logout,
        deactivation or a password change is gone, whatever the cookie says)."""
        return self.store.session_user(request.session.get("sid"))

    def desk_user(self, request: Request, roles: tuple[str, ...] = ("caseworker", "supervisor", "admin")) -> dict:
        user = self.current_user(request)
        if not user:
            raise Refused(401, "Silakan masuk terlebih dahulu.")
        if user["role"] not in roles:
            raise Refused(403, "Peran Anda tidak mengizinkan halaman ini.")
        return user

    def client(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"
