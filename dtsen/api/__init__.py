"""The data-exchange API: DTSEN served through the DCI Social Registry API v1.0.0 (see dtsen.api.server)."""

import os

from dtsen import warehouse as wh


def exchange_dir(warehouse: str | None = None) -> str:
    """Where the registry snapshots the API serves are written: beside the warehouse file."""
    return os.path.join(os.path.dirname(os.path.abspath(wh.warehouse_path(warehouse))), "exchange")


def state_path(warehouse: str | None = None) -> str:
    """The API's own SQLite store (audit log, transactions, subscriptions, notifications)."""
    return os.environ.get("DTSEN_API_STATE") or os.path.join(
        os.path.dirname(os.path.abspath(wh.warehouse_path(warehouse))), "api", "state.sqlite"
    )
