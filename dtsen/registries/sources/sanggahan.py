"""Approved objections (sanggahan) exported monthly by the caseworker desk: `sanggahan/<YYYY-MM>/sanggahan.csv`, one
row per objection against a DTSEN person, with the reason and the case number (exclusions in the marts)."""

from __future__ import annotations

import os

import duckdb

from ..engine import (
    IngestResult,
    absent,
    delivery_dir,
    drop_staged,
    duplicates,
    month_end,
    reference_tables,
    stage,
    stage_quarantine,
    write_delivery,
)
from ..files import read_csv_file
from ..rules import (
    Rule,
    date_text,
    in_reference,
    lit,
    one_of,
    required,
)

TABLE = "sources.objection"
SANGGAHAN_COLUMNS = ["no_tiket", "id_dtsen", "alasan", "keterangan", "kode_desa", "tgl_keputusan"]
OBJECTION_REASONS = {"meninggal", "pindah", "tidak_miskin", "ganda", "asn", "lainnya"}


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """Approved objections: the DTSEN person named, the reason and the case number (exclusions in the marts)."""
    path = os.path.join(delivery_dir(landing, "sanggahan", month), "sanggahan.csv")
    if not os.path.exists(path):
        return absent("sanggahan", month, path)
    reference_tables(con, month)
    raw = read_csv_file(path, ",", SANGGAHAN_COLUMNS, "lower", allow_empty=True, dates={"tgl_keputusan": "%Y-%m-%d"})
    rules = [
        required("no_tiket"),
        required("id_dtsen"),
        Rule(
            "id_dtsen",
            "id_dtsen IS NOT NULL AND NOT regexp_full_match(id_dtsen, 'DP[0-9A-Z]+')",
            lit("id_dtsen not a DTSEN person id"),
        ),
        required("alasan"),
        one_of("alasan", OBJECTION_REASONS),
        in_reference("kode_desa", "_villages"),
        required("tgl_keputusan"),
        *date_text("tgl_keputusan", "%Y-%m-%d", month_end(month)),
    ]
    st = stage(con, "_sanggahan", raw, rules, [duplicates("_sanggahan", "no_tiket", every_holder=True)])
    q = stage_quarantine(con, "sanggahan", month, [st])
    rows = (
        f"SELECT {lit(month)} AS delivery, no_tiket, id_dtsen AS person_id, alasan AS reason, keterangan AS note, "
        f"kode_desa AS village_code, tgl_keputusan__date AS decided_on, {lit(path)} AS file, _line AS line "
        f"FROM {st.accepted}"
    )
    files, by_reason = write_delivery(
        con, "sanggahan", month, [raw], [(TABLE, rows, "delivery = ?", month)], q, raw.warnings
    )
    drop_staged(con, [st])
    head = con.execute(
        "SELECT no_tiket, person_id, reason, village_code FROM sources.objection WHERE delivery = ? "
        "ORDER BY line LIMIT 5",
        [month],
    ).df()
    return IngestResult("sanggahan", month, True, files, by_reason, raw.warnings, preview=head)
