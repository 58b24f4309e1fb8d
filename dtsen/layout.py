"""Where the platform keeps what it reads and writes: one data root and, below it, everything else.

The root is `DTSEN_DATA` (default `data`, beside the repository when run from it). Below it, by default:

| path | what |
|---|---|
| `warehouse.duckdb` | the embedded DuckDB warehouse (`DTSEN_WAREHOUSE` moves it) |
| `landing/` | the deliveries as agencies send them (`DTSEN_LANDING` moves it) |
| `published/` | the analysts' publication (Parquet and a read-only catalogue) |
| `reports/` | charts shown in the Dagster UI |
| `disbursement/` | payment files and manifests |
| `exchange/` | the registry snapshots the servers answer from (restricted) |
| `api/state.sqlite` | the data-exchange API's store (`DTSEN_API_STATE` moves it) |
| `web/cekbansos.sqlite`, `web/uploads/` | the caseworker desk's database and attachments (`DTSEN_WEB_DB`, a SQLAlchemy URL, and `DTSEN_WEB_UPLOADS` move them) |
| `dbt/<warehouse>/` | dbt's target folder for that warehouse: saved parse, run results, `dbt.log` (`dbt/<warehouse>-rebuild/`: a backfill's) |
| `logs/` | each run's console log |
| `outbox/` | the demo's synthetic agencies' exports before they are delivered |

Explicit arguments win over the environment, the environment over the defaults. Nothing else in the code base
writes a default path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "data"


@dataclass(frozen=True)
class DataLayout:
    root: str
    warehouse: str
    landing: str
    api_state: str
    web_db: str  # a SQLAlchemy URL
    uploads: str

    @classmethod
    def resolve(
        cls,
        root: str | None = None,
        warehouse: str | None = None,
        landing: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> DataLayout:
        env = os.environ if env is None else env
        base = os.path.abspath(root or env.get("DTSEN_DATA") or DEFAULT_ROOT)
        web = os.path.join(base, "web")
        return cls(
            root=base,
            warehouse=os.path.abspath(
                warehouse or env.get("DTSEN_WAREHOUSE") or os.path.join(base, "warehouse.duckdb")
            ),
            landing=os.path.abspath(landing or env.get("DTSEN_LANDING") or os.path.join(base, "landing")),
            api_state=os.path.abspath(env.get("DTSEN_API_STATE") or os.path.join(base, "api", "state.sqlite")),
            web_db=env.get("DTSEN_WEB_DB") or "sqlite:///" + os.path.join(web, "cekbansos.sqlite"),
            uploads=os.path.abspath(env.get("DTSEN_WEB_UPLOADS") or os.path.join(web, "uploads")),
        )

    def _below(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def published(self) -> str:
        return self._below("published")

    @property
    def reports(self) -> str:
        return self._below("reports")

    @property
    def disbursement(self) -> str:
        return self._below("disbursement")

    @property
    def exchange(self) -> str:
        return self._below("exchange")

    @property
    def web(self) -> str:
        return self._below("web")

    @property
    def logs(self) -> str:
        return self._below("logs")

    @property
    def outbox(self) -> str:
        return self._below("outbox")

    @property
    def dbt_target(self) -> str:
        """dbt's target folder of this warehouse's runs: its saved parse stays valid from one month to the next (dbt
        parses the whole project again whenever its profile, and so the warehouse path, changes)."""
        return self._below("dbt", Path(self.warehouse).stem)

    def dbt_target_of(self, area: str) -> str:
        """dbt's target folder of one build area of this warehouse (`dtsen.builds`): the current marts' is
        `dbt_target`, the rebuild area's beside it (its profile differs, so it keeps a saved parse of its own)."""
        return self.dbt_target if area == "main" else f"{self.dbt_target}-{area}"

    def log_file(self, job: str, month: str) -> str:
        return os.path.join(self.logs, f"{job}-{month}.log")
