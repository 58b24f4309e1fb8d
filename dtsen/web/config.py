"""Settings of the web application (Cek Bansos and the caseworker desk), from the environment.

| variable | default | meaning |
|---|---|---|
| DTSEN_WEB_DB | <data root>/web/cekbansos.sqlite | the desk's own database (a SQLAlchemy URL; PostgreSQL: |
|  |  | postgresql+psycopg2://user:pw@host/db) |
| DTSEN_WEB_SECRET | (a secret: refused when missing outside demo mode) | signs the session cookies |
| DTSEN_WEB_SECURE_COOKIES | 0 | 1 behind HTTPS: session cookies only over HTTPS |
| DTSEN_WEB_CHECK_RATE | 20 | public searches per client and minute |
| DTSEN_WEB_UPLOADS | <data root>/web/uploads | attachments (never served inline) |
| DTSEN_WEB_CLOCK | (the real time) | training and demos on synthetic months: the desk's clock starts at this |
|  |  | ISO time and runs on |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dtsen import credentials
from dtsen.layout import DataLayout

DEVELOPMENT_SECRET = "dtsen-web-DEVELOPMENT-secret-do-not-use-in-production"
WEB_SECRET = credentials.Secret(
    "DTSEN_WEB_SECRET",
    "signs the caseworker desk's session cookies and the citizens' objection links",
    'make one with `python -c "import secrets; print(secrets.token_urlsafe(48))"`',
    DEVELOPMENT_SECRET,
)
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
ATTACHMENT_TYPES = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
}


def clock_from_env():
    """The desk's clock: real time, or (DTSEN_WEB_CLOCK) a simulated start that runs on at real speed."""
    import datetime as dt
    import time

    from .store import real_time

    start = os.environ.get("DTSEN_WEB_CLOCK")
    if not start:
        return real_time
    origin, began = dt.datetime.fromisoformat(start), time.monotonic()
    return lambda: (origin + dt.timedelta(seconds=time.monotonic() - began)).replace(microsecond=0)


@dataclass
class WebConfig:
    data_dir: str
    db_url: str
    secret: str
    secure_cookies: bool
    check_rate: int
    uploads: str

    @property
    def exchange_dir(self) -> str:
        return os.path.join(self.data_dir, "exchange")

    @property
    def published_dir(self) -> str:
        return os.path.join(self.data_dir, "published")


def database_url(layout: DataLayout) -> str:
    """The desk's database URL; for SQLite its folder is made (owner-only) first."""
    url = layout.web_db
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url[len("sqlite:///") :]), mode=0o700, exist_ok=True)
    return url


def load(layout: DataLayout | None = None) -> WebConfig:
    """The site's settings, its session secret included (refused outside demo mode when missing or public)."""
    layout = layout or DataLayout.resolve()
    secret, _ = credentials.read(WEB_SECRET)
    url = database_url(layout)
    return WebConfig(
        data_dir=layout.root,
        db_url=url,
        secret=secret,
        secure_cookies=os.environ.get("DTSEN_WEB_SECURE_COOKIES", "0") == "1",
        check_rate=int(os.environ.get("DTSEN_WEB_CHECK_RATE", "20")),
        uploads=layout.uploads,
    )
