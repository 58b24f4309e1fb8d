"""The consumption survey `susenas/<YYYY>/susenas.parquet`: the keluarga proxy columns plus `pengeluaran_per_kapita`
for a sample of families, delivered yearly; a month reads the latest usable year up to its own."""

from __future__ import annotations

import glob
import os

import duckdb

from ..engine import (
    IngestResult,
    absent,
    drop_staged,
    duplicates,
    reference_tables,
    stage,
    stage_quarantine,
    write_delivery,
)
from ..files import DeliveryFileError, read_parquet_file
from ..rules import (
    lit,
)
from .regsosek import KELUARGA_COLUMNS, keluarga_rows, keluarga_rules

TABLE = "sources.susenas"


def survey_years(landing: str, month: str) -> list[str]:
    """Survey years delivered up to the month's year, latest first."""
    year = int(month[:4])
    return [
        str(y)
        for y in sorted(
            (
                int(os.path.basename(p))
                for p in glob.glob(os.path.join(landing, "susenas", "*"))
                if os.path.basename(p).isdigit() and int(os.path.basename(p)) <= year
            ),
            reverse=True,
        )
    ]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """The latest usable survey year up to the month: a year whose file cannot be read, or whose every row is
    quarantined, is skipped with a warning and the year before is used (the year used is in the note)."""
    years = survey_years(landing, month)
    if not years:
        return absent("susenas", month, os.path.join(landing, "susenas", f"<= {month[:4]}"))
    reference_tables(con, month)
    cols = dict(KELUARGA_COLUMNS, pengeluaran_per_kapita="int")
    skipped: list[str] = []
    refused: dict[str, str] = {}
    first_error: DeliveryFileError | None = None
    for year in years:
        path = os.path.join(landing, "susenas", year, "susenas.parquet")
        try:
            raw = read_parquet_file(path, cols)
        except DeliveryFileError as e:
            first_error = first_error or e
            refused[path] = f"unusable ({e.problem}); the survey year before is used"
            skipped.append(f"{path}: {refused[path]}")
            continue
        st = stage(con, "_susenas", raw, keluarga_rules(with_consumption=True), [duplicates("_susenas", "id_keluarga")])
        (accepted,) = con.execute(f"SELECT count(*) FROM {st.accepted}").fetchall()[0]
        if accepted == 0:
            drop_staged(con, [st])
            refused[path] = "unusable (every row quarantined); the survey year before is used"
            skipped.append(f"{path}: {refused[path]}")
            continue
        q = stage_quarantine(con, "susenas", month, [st])
        warnings = skipped + raw.warnings
        rows = keluarga_rows(st, month, f", {lit(year)} AS survey_year, pengeluaran_per_kapita")
        files, by_reason = write_delivery(
            con,
            "susenas",
            month,
            [raw],
            [("sources.susenas", rows, "survey_year = ?", year)],
            q,
            warnings,
            refused=refused,
        )
        drop_staged(con, [st])
        return IngestResult(
            "susenas", month, True, files, by_reason, warnings, note=f"survey year {year}", refused=refused
        )
    raise first_error or DeliveryFileError(
        os.path.join(landing, "susenas"), "no usable survey year: " + "; ".join(skipped)
    )


def latest_survey_year(landing: str, month: str) -> str | None:
    years = survey_years(landing, month)
    return years[0] if years else None
