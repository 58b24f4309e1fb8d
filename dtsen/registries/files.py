"""Reading delivered files with DuckDB's readers, and file-level checks with clear errors.

File-level problems (missing file, empty file, wrong file type, undecodable header, wrong delimiter, missing
required column, wrong Parquet column type) raise `DeliveryFileError` naming the file and what is wrong.
Rows the CSV reader cannot split into the header's columns (or that are not valid UTF-8) are not a file problem:
they come back as rejects with their line number and go to quarantine.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class DeliveryFileError(Exception):
    """A delivered file cannot be ingested at all. The message names the file and the problem."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


@dataclass
class RawFile:
    path: str
    table: pa.Table  # contract column names; column "_line" = line number in the file (header is line 1)
    rows_read: int  # records in the file, counted from its bytes (CSV) or its metadata (Parquet), not by the parser
    rejects: pd.DataFrame  # line, field, value, reason
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as a pandas frame (for small files; the registries stay in Arrow and DuckDB)."""
        return self.table.to_pandas(date_as_object=False)


# A CSV record longer than this is not read (DuckDB's reader is told the same limit) and is quarantined with its line.
MAX_RECORD_BYTES = 1 << 20
# NUL bytes in more records than this share (at least 3) make the file binary; fewer quarantine their records.
NUL_FILE_SHARE = 0.01


_BINARY_MAGIC = {
    b"PAR1": "a Parquet file",
    b"PK\x03\x04": "a ZIP/Excel file",
    b"\xd0\xcf\x11\xe0": "an old Excel file",
    b"%PDF": "a PDF file",
    b"\x1f\x8b": "a gzip file",
}
_OTHER_DELIMS = [",", "|", ";", "\t"]


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line": pd.Series(dtype="int64"),
            "field": pd.Series(dtype="object"),
            "value": pd.Series(dtype="object"),
            "reason": pd.Series(dtype="object"),
        }
    )


def _records(raw: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The file's records, counted from its bytes (independent of any CSV parser): physical (1-based) line numbers
    of the lines that start outside a quoted field and are not blank, with their byte offsets and lengths (a
    quoted field spanning lines belongs to its record). DuckDB numbers reject lines in the same sequence of
    non-quoted line starts (blank ones included), returned separately as `all_starts`."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(buf)]])
    keep = starts < len(buf)
    starts, ends = starts[keep], ends[keep]
    quote_pos = np.flatnonzero(buf == 34)
    outside = (np.searchsorted(quote_pos, starts) % 2) == 0  # even number of quotes before: not inside a field
    length = ends - starts
    cr_only = (length == 1) & (buf[np.minimum(starts, len(buf) - 1)] == 13)
    blank = (length == 0) | cr_only
    phys = np.flatnonzero(outside) + 1
    byte_start = starts[outside]
    byte_end = np.append(byte_start[1:], len(buf))
    return phys, blank[outside], np.column_stack([byte_start, byte_end - byte_start])


def read_csv_file(
    path: str,
    delimiter: str,
    required: list[str],
    header_case: str,
    allow_empty: bool,
    optional: list[str] | None = None,
    dates: dict[str, str] | None = None,
) -> RawFile:
    """Read a contract CSV as text columns. header_case: 'upper' or 'lower' (contract spelling).

    Values are trimmed and empty cells become NULL. dates: contract column -> strptime format; each gets a
    parsed companion column `<column>__date` (NULL where the text is not a valid date)."""
    if not os.path.exists(path):
        raise DeliveryFileError(path, "file not found")
    size = os.path.getsize(path)
    if size == 0:
        raise DeliveryFileError(path, "empty file (0 bytes)")
    with open(path, "rb") as fh:
        raw = fh.read()
    for magic, what in _BINARY_MAGIC.items():
        if raw.startswith(magic):
            raise DeliveryFileError(path, f"wrong file type: this is {what}, expected CSV text")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DeliveryFileError(path, "undecodable bytes: the file is UTF-16 text, not UTF-8 as the contract says")
    first_nl = raw.find(b"\n")
    header_bytes = raw if first_nl < 0 else raw[:first_nl]
    if b"\x00" in header_bytes:
        raise DeliveryFileError(
            path, "wrong file type: binary content (NUL bytes in the header line), expected CSV text"
        )
    try:
        header_text = header_bytes.decode("utf-8").lstrip("\ufeff").rstrip("\r")
    except UnicodeDecodeError as e:
        raise DeliveryFileError(
            path, f"undecodable bytes in the header line: not UTF-8 ({e.reason} at byte {e.start})"
        ) from None
    if header_text.strip() == "":
        raise DeliveryFileError(path, "empty file (no header line)")
    header = next(csv.reader(io.StringIO(header_text), delimiter=delimiter))
    header = [h.strip() for h in header]
    dups = sorted({h for h in header if header.count(h) > 1})
    if dups:
        raise DeliveryFileError(path, f"duplicated column names {dups}")
    want = {c.lower(): c for c in required + (optional or [])}
    got = {h.lower(): h for h in header}
    missing = [c for c in required if c.lower() not in got]
    if missing:
        hint = ""
        if len(header) == 1:
            seen = [d for d in _OTHER_DELIMS if d != delimiter and d in header_text]
            if seen:
                hint = (
                    f"; the header has one column and contains {seen[0]!r}: wrong delimiter (expected {delimiter!r})?"
                )
        raise DeliveryFileError(path, f"missing required column(s) {missing}{hint}")
    warnings = []
    extra = [h for h in header if h.lower() not in want]
    if extra:
        warnings.append(f"{path}: unknown extra column(s) {extra} ignored")
    wrong_case = [h for h in header if h.lower() in want and h != (h.upper() if header_case == "upper" else h.lower())]
    if wrong_case:
        warnings.append(f"{path}: header {wrong_case} not in {header_case} case as the contract says; read anyway")

    # ---- the records, counted from the bytes: every one must end up read or quarantined
    phys, blank, span = _records(raw)
    record_lines = phys[~blank][1:]  # physical line of every data record (the first non-blank line is the header)
    record_span = span[~blank][1:]
    n_records = len(record_lines)
    problems: dict[int, tuple[str, str]] = {}  # line -> (value, reason), records not to be stored
    too_long = record_span[:, 1] > MAX_RECORD_BYTES
    for line, (start, _length) in zip(record_lines[too_long], record_span[too_long]):
        problems[int(line)] = (
            raw[start : start + 60].decode("utf-8", "replace"),
            f"record longer than {MAX_RECORD_BYTES:,} bytes: not read",
        )
    nul_at = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0)
    if len(nul_at):
        holders = np.unique(np.searchsorted(record_span[:, 0], nul_at, side="right") - 1)
        holders = holders[holders >= 0]
        if len(holders) > max(3, NUL_FILE_SHARE * n_records):
            raise DeliveryFileError(
                path,
                f"wrong file type: binary content (NUL bytes in {len(holders):,} of "
                f"{n_records:,} records), expected CSV text",
            )
        for i in holders:
            start, length = record_span[i]
            problems.setdefault(
                int(record_lines[i]), (raw[start : start + 60].decode("utf-8", "replace"), "NUL byte in the record")
            )

    con = duckdb.connect()
    try:
        cols = "{" + ", ".join(f"'{h.replace(chr(39), chr(39) * 2)}': 'VARCHAR'" for h in header) + "}"
        delim_sql = delimiter.replace("'", "''")

        def q(name: str) -> str:
            return '"' + name.replace('"', '""') + '"'

        select = [f"nullif(trim({q(h)}), '') AS {q(h)}" for h in header]
        for h in header:
            fmt = (dates or {}).get(want.get(h.lower(), ""))
            if fmt:
                select.append(
                    f"try_strptime(nullif(trim({q(h)}), ''), '{fmt}')::DATE AS {q(want[h.lower()] + '__date')}"
                )
        rel = con.sql(
            f"SELECT {', '.join(select)} FROM read_csv(?, columns={cols}, header=true, delim='{delim_sql}', quote='\"', escape='\"', "
            f"auto_detect=false, ignore_errors=true, store_rejects=true, rejects_table='rej', rejects_scan='rej_scan', "
            f"null_padding=false, encoding='utf-8', max_line_size={MAX_RECORD_BYTES + 1})",
            params=[path],
        )
        tbl = rel.fetch_arrow_table()
        rej = con.sql("SELECT line, column_name, csv_line, error_type, error_message FROM rej ORDER BY line").df()
    except duckdb.Error as e:
        raise DeliveryFileError(path, f"unreadable as CSV: {str(e).splitlines()[0]}") from None
    finally:
        con.close()

    rejects = _empty_rejects()
    if len(rej):
        reason = (
            rej["error_type"]
            .map(
                {
                    "MISSING COLUMNS": "fewer fields than the header",
                    "TOO MANY COLUMNS": "more fields than the header",
                    "INVALID ENCODING": "undecodable bytes (not UTF-8)",
                    "UNQUOTED VALUE": "malformed quoting",
                    "LINE SIZE OVER MAXIMUM": f"record longer than {MAX_RECORD_BYTES:,} bytes: not read",
                }
            )
            .fillna(rej["error_type"].str.lower())
        )
        rej_lines = rej["line"].astype("int64").to_numpy()
        rej_lines = np.where(rej_lines <= len(phys), phys[np.minimum(rej_lines, len(phys)) - 1], rej_lines)
        rejects = pd.DataFrame(
            {
                "line": rej_lines,
                "field": rej["column_name"].astype(object),
                "value": rej["csv_line"].astype(str).str.slice(0, 200),
                "reason": reason.to_numpy(),
            }
        )
        rejects = rejects.drop_duplicates("line")
        bad_enc = (rej["error_type"] == "INVALID ENCODING").sum()
        if bad_enc > max(3, max(n_records, 1) // 100):
            raise DeliveryFileError(path, f"undecodable bytes: {bad_enc} lines are not valid UTF-8 (wrong encoding?)")

    # line numbers of the rows the reader returned: the records minus those it rejected or could not read
    rejected = set(rejects["line"].tolist())
    skipped = {ln for ln, (_, reason) in problems.items() if reason.startswith("record longer")}
    data_lines = record_lines[~np.isin(record_lines, list(rejected | skipped))].astype("int64")
    if len(data_lines) != tbl.num_rows:
        raise DeliveryFileError(
            path,
            f"cannot account for every record: {n_records:,} records in the file, "
            f"{tbl.num_rows:,} rows read and {len(rejected | skipped):,} rejected",
        )
    tbl = tbl.append_column("_line", pa.array(data_lines, pa.int64()))
    # records not to be stored (too long, NUL bytes) go to quarantine with their line, whatever the reader made of them
    extra = [(ln, v, r) for ln, (v, r) in problems.items() if ln not in rejected]
    if extra:
        tbl = tbl.filter(pc.invert(pc.is_in(tbl["_line"], pa.array([ln for ln, _, _ in extra], pa.int64()))))
        rejects = pd.concat(
            [
                rejects,
                pd.DataFrame(
                    {
                        "line": [ln for ln, _, _ in extra],
                        "field": None,
                        "value": [v for _, v, _ in extra],
                        "reason": [r for _, _, r in extra],
                    }
                ),
            ],
            ignore_index=True,
        )
    tbl = tbl.rename_columns([want.get(c.lower(), c) if c in header else c for c in tbl.column_names])
    keep = (
        [c for c in want.values() if c in tbl.column_names]
        + [c for c in tbl.column_names if c.endswith("__date")]
        + ["_line"]
    )
    tbl = tbl.select(keep)
    if n_records == 0 and not allow_empty:
        raise DeliveryFileError(path, "no data rows (header only): a registry delivery must not be empty")
    return RawFile(path=path, table=tbl, rows_read=n_records, rejects=rejects, warnings=warnings)


def read_parquet_file(path: str, columns: dict[str, str], allow_empty: bool = False) -> RawFile:
    """Read a contract Parquet file. columns: name -> kind ('str', 'int', 'date')."""
    if not os.path.exists(path):
        raise DeliveryFileError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise DeliveryFileError(path, "empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(-4, os.SEEK_END)
        tail = fh.read(4)
    if head != b"PAR1":
        raise DeliveryFileError(path, "wrong file type: not a Parquet file (no PAR1 magic bytes at the start)")
    if tail != b"PAR1":
        raise DeliveryFileError(path, "truncated or not a Parquet file (no PAR1 magic bytes at the end)")
    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except Exception as e:
        raise DeliveryFileError(path, f"unreadable Parquet file (truncated or corrupt): {e}") from None
    names = schema.names
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise DeliveryFileError(path, f"duplicated column names {dups}")
    missing = [c for c in columns if c not in names]
    if missing:
        raise DeliveryFileError(path, f"missing required column(s) {missing}")
    warnings = []
    extra = [c for c in names if c not in columns]
    if extra:
        warnings.append(f"{path}: unknown extra column(s) {extra} ignored")
    check = {
        "str": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
        "int": pa.types.is_integer,
        "date": lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t),
    }
    bad = [
        f"{c} is {schema.field(c).type}, expected {k}" for c, k in columns.items() if not check[k](schema.field(c).type)
    ]
    if bad:
        raise DeliveryFileError(path, "wrong column type(s): " + "; ".join(bad))
    n_records = int(meta.num_rows)  # from the file's own metadata, not from the reader
    con = duckdb.connect()
    try:
        sel = ", ".join(f'nullif(trim("{c}"), \'\') AS "{c}"' if k == "str" else f'"{c}"' for c, k in columns.items())
        # the row's position in the file (1-based) is its 'line': file_row_number is the file's order, not the scan's
        # (each row carries its line, so the scan's order does not matter)
        tbl = con.sql(
            f"SELECT {sel}, (file_row_number + 1)::BIGINT AS _line FROM read_parquet(?, file_row_number = true)",
            params=[path],
        ).fetch_arrow_table()
    except duckdb.Error as e:
        raise DeliveryFileError(
            path, f"unreadable Parquet file (truncated or corrupt): {str(e).splitlines()[0]}"
        ) from None
    finally:
        con.close()
    if tbl.num_rows != n_records:
        raise DeliveryFileError(
            path, f"cannot account for every record: {n_records:,} rows in the file's metadata, {tbl.num_rows:,} read"
        )
    if n_records == 0 and not allow_empty:
        raise DeliveryFileError(path, "no data rows: a registry delivery must not be empty")
    return RawFile(path=path, table=tbl, rows_read=n_records, rejects=_empty_rejects(), warnings=warnings)
