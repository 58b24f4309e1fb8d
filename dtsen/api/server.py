"""The data-exchange API server (DCI Social Registry API v1.0.0): the FastAPI application over the service
(`dtsen.api.service`) and its routers (`dtsen.api.routes`: the token API, search, transaction status,
subscriptions)."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI

from dtsen import credentials
from dtsen.api.config import ApiConfig, warn
from dtsen.api.routes import search, subscriptions, token, txn
from dtsen.api.service import EVENT_TYPES, VERSION, Service

log = logging.getLogger("dtsen.api")

__all__ = ["EVENT_TYPES", "create_app"]


def create_app(config: ApiConfig, exchange_dir: str, state_path: str, http: httpx.Client | None = None) -> FastAPI:
    for line in [credentials.DEMO_NOTICE, *warn(config)] if credentials.demo_mode() else warn(config):
        log.warning("WARNING: %s", line)
    service = Service(config, exchange_dir, state_path, http)
    app = FastAPI(
        title="DTSEN data exchange (DCI Social Registry API v1.0.0)",
        version=VERSION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.service = service
    for module in (token, search, txn, subscriptions):
        app.include_router(module.router)

    @app.on_event("shutdown")
    def _shutdown():
        service.close()

    @app.get("/health")
    def health():
        snap = service.registry.current()
        return {
            "status": "ok" if snap else "no snapshot",
            "snapshot": snap and snap.snapshot,
            "persons": snap and snap.persons,
            "demo": credentials.demo_mode(),
        }

    return app
