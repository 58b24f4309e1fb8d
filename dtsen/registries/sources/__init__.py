"""The one registry of what arrives in the landing folder: every source, its contract's layout, its warehouse tables
and how it is ingested. Everything that lists sources (the Dagster assets and their checks, the landing sensor,
ingestion's dispatch, the landing folder's scan) reads this list; the contracts themselves are in the docs
(Data contracts) and each source's module beside this one.

Cadence: a MONTHLY source delivers `<name>/<YYYY-MM>/`, a YEARLY one `<name>/<YYYY>/` (the survey: a month reads the
latest year up to its own), a STANDING one `<name>/` (the region reference: the latest file holds for every month).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from ..engine import IngestResult
from . import dtks, lists, p3ke, region, regsosek, sanggahan, susenas, usulan

MONTHLY, YEARLY, STANDING = "monthly", "yearly", "standing"

Ingest = Callable[[duckdb.DuckDBPyConnection, str, str], IngestResult]


@dataclass(frozen=True)
class Source:
    name: str  # its landing folder and `source` in the warehouse (quarantine, ingest log)
    asset: str  # its Dagster asset: sources/<asset>
    cadence: str
    layout: str  # what arrives, as the docs and the UI show it
    table: str  # its main warehouse table
    key: str  # the record id in that table
    description: str
    ingest: Ingest | None  # None: another domain ingests it (the reconciliation files: disbursement)
    extra_tables: tuple[str, ...] = ()  # tables the same delivery fills
    persons: bool = False  # canonical person records: input of the linkage
    watched_by: str = "landing_sensor"
    excludes: bool = False  # a list that excludes people from aid: a sharp shrink is held (lists.SHRINK_FLOOR)

    @property
    def partition_column(self) -> str:
        """The column of `table` that names the delivery (the survey's rows carry their survey year)."""
        return "survey_year" if self.cadence == YEARLY else "delivery"


# fmt: off
SOURCES: tuple[Source, ...] = (
    Source(
        "referensi", "region_reference", STANDING, "`referensi/wilayah.csv`", region.TABLE, "kode",
        "Kemendagri region codes (referensi/wilayah.csv) as valid for the month; validates village codes.",
        region.ingest,
    ),
    Source(
        "dtks", "dtks", MONTHLY, "`dtks/<YYYY-MM>/dtks.csv`", dtks.TABLE, "record_id",
        "DTKS monthly full snapshot (`dtks/<YYYY-MM>/dtks.csv`) as canonical person records.",
        dtks.ingest, persons=True,
    ),
    Source(
        "regsosek", "regsosek", MONTHLY, "`regsosek/<YYYY-MM>/keluarga.parquet` + individu.parquet", regsosek.TABLE,
        "record_id",
        "Regsosek snapshot (`regsosek/<YYYY-MM>/keluarga.parquet` + individu.parquet): person records and the "
        "family socio-economic table sources.regsosek_family.",
        regsosek.ingest, extra_tables=(regsosek.FAMILY_TABLE,), persons=True,
    ),
    Source(
        "p3ke", "p3ke", MONTHLY, "`p3ke/<YYYY-MM>/p3ke.csv`", p3ke.TABLE, "record_id",
        "P3KE extreme-poverty snapshot (`p3ke/<YYYY-MM>/p3ke.csv`) as canonical person records.",
        p3ke.ingest, persons=True,
    ),
    Source(
        "susenas", "susenas", YEARLY, "`susenas/<YYYY>/susenas.parquet`", susenas.TABLE, "id_keluarga",
        "Consumption-survey sample (`susenas/<YYYY>/susenas.parquet`, latest year up to the month).",
        susenas.ingest,
    ),
    Source(
        "dukcapil", "dukcapil_deaths", MONTHLY, "`dukcapil/<YYYY-MM>/kematian.csv`", lists.DEATHS.table, "nik",
        "Dukcapil death events of the month (`dukcapil/<YYYY-MM>/kematian.csv`).",
        lists.ingest_deaths, excludes=True,
    ),
    Source(
        "asn", "asn_list", MONTHLY, "`asn/<YYYY-MM>/asn.csv`", lists.CIVIL_SERVANTS.table, "nik",
        "Civil servants (`asn/<YYYY-MM>/asn.csv`).",
        lists.ingest_civil_servants, excludes=True,
    ),
    Source(
        "bpjstk", "bpjstk_wages", MONTHLY, "`bpjstk/<YYYY-MM>/upah.csv`", lists.WAGES.table, "nik",
        "BPJS Ketenagakerjaan wage earners (`bpjstk/<YYYY-MM>/upah.csv`).",
        lists.ingest_wages, excludes=True,
    ),
    Source(
        "usulan", "usulan", MONTHLY,
        "`usulan/<YYYY-MM>/usulan_keluarga.csv` + usulan_anggota.csv (the caseworker desk)", usulan.TABLE,
        "record_id",
        "Proposals (usulan) approved by the caseworker desk (`usulan/<YYYY-MM>/usulan_keluarga.csv` + "
        "usulan_anggota.csv): members as person records for linkage, the verified proxies in "
        "sources.usulan_family for the PMT.",
        usulan.ingest, extra_tables=(usulan.FAMILY_TABLE,), persons=True,
    ),
    Source(
        "sanggahan", "sanggahan", MONTHLY, "`sanggahan/<YYYY-MM>/sanggahan.csv` (the caseworker desk)",
        sanggahan.TABLE, "no_tiket",
        "Objections (sanggahan) approved by the caseworker desk (`sanggahan/<YYYY-MM>/sanggahan.csv`): "
        "exclusions with reason and case number in the marts.",
        sanggahan.ingest,
    ),
    Source(
        "rekon", "", MONTHLY, "`rekon/<YYYY-MM>/<program>_<channel>.csv`", "disbursement.reconciliation",
        "disbursement_id",
        "The banks' and PT Pos' reconciliation files of a payment month (ingested by the disbursement domain).",
        None, watched_by="reconciliation_sensor",
    ),
)
# fmt: on

BY_NAME = {s.name: s for s in SOURCES}
# what the registries' step ingests (every source but the reconciliation files), in this order
INGESTED = tuple(s for s in SOURCES if s.ingest is not None)
# the month's deliveries ingested side by side in one step (the region reference is a step of its own before them)
DELIVERIES = tuple(s for s in INGESTED if s.name != "referensi")
MONTHLY_INGESTED = tuple(s.name for s in INGESTED if s.cadence == MONTHLY)


def source(name: str) -> Source:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; the sources are {', '.join(BY_NAME)}") from None
