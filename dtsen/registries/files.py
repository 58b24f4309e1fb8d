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

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class DeliveryFileError(Exception):
    """A delivered file cannot be ingested at all. The message names the file and the problem."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


@dataclass
class RawFile:
    path: str
    frame: pd.DataFrame  # contract column names; column "_line" = line number in the file (header is line 1)
    rows_read: int  # data rows in the file: rows in frame + rejects
    rejects: pd.DataFrame  # line, field, value, reason
    warnings: list[str] = field(default_factory=list)


_BINARY_MAGIC = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a ZIP/Excel file", b"\xd0\xcf\x11\xe0": "an old Excel file",
                 b"%PDF": "a PDF file", b"\x1f\x8b": "a gzip file"}
_OTHER_DELIMS = [",", "|", ";", "\t"]


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "field": pd.Series(dtype="object"),
                         "value": pd.Series(dtype="object"), "reason": pd.Series(dtype="object")})


def _logical_lines(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Physical (1-based) numbers of the lines that start outside a quoted field, and which of them are blank.

    DuckDB numbers reject lines in this sequence (a quoted field spanning lines counts once)."""
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
    return phys, blank[outside]


def read_csv_file(path: str, delimiter: str, required: list[str], header_case: str, allow_empty: bool,
                  optional: list[str] | None = None, dates: dict[str, str] | None = None) -> RawFile:
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
    if b"\x00" in raw[:65536]:
        raise DeliveryFileError(path, "wrong file type: binary content (NUL bytes), expected CSV text")
    first_nl = raw.find(b"\n")
    header_bytes = raw if first_nl < 0 else raw[:first_nl]
    try:
        header_text = header_bytes.decode("utf-8").lstrip("\ufeff").rstrip("\r")
    except UnicodeDecodeError as e:
        raise DeliveryFileError(path, f"undecodable bytes in the header line: not UTF-8 ({e.reason} at byte "
                                      f"{e.start})") from None
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
                hint = f"; the header has one column and contains {seen[0]!r}: wrong delimiter (expected {delimiter!r})?"
        raise DeliveryFileError(path, f"missing required column(s) {missing}{hint}")
    warnings = []
    extra = [h for h in header if h.lower() not in want]
    if extra:
        warnings.append(f"{path}: unknown extra column(s) {extra} ignored")
    wrong_case = [h for h in header if h.lower() in want and h != (h.upper() if header_case == "upper" else h.lower())]
    if wrong_case:
        warnings.append(f"{path}: header {wrong_case} not in {header_case} case as the contract says; read anyway")

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
                select.append(f"try_strptime(nullif(trim({q(h)}), ''), '{fmt}')::DATE AS {q(want[h.lower()] + '__date')}")
        rel = con.sql(
            f"SELECT {', '.join(select)} FROM read_csv(?, columns={cols}, header=true, delim='{delim_sql}', quote='\"', escape='\"', "
            f"auto_detect=false, ignore_errors=true, store_rejects=true, rejects_table='rej', rejects_scan='rej_scan', "
            f"null_padding=false, encoding='utf-8')", params=[path])
        df = rel.df()
        rej = con.sql("SELECT line, column_name, csv_line, error_type, error_message FROM rej ORDER BY line").df()
    except duckdb.Error as e:
        raise DeliveryFileError(path, f"unreadable as CSV: {str(e).splitlines()[0]}") from None
    finally:
        con.close()

    logical, blank = _logical_lines(raw)
    rejects = _empty_rejects()
    if len(rej):
        reason = rej["error_type"].map({
            "MISSING COLUMNS": "fewer fields than the header", "TOO MANY COLUMNS": "more fields than the header",
            "INVALID ENCODING": "undecodable bytes (not UTF-8)", "UNQUOTED VALUE": "malformed quoting",
        }).fillna(rej["error_type"].str.lower())
        rej_lines = rej["line"].astype("int64").to_numpy()
        rej_lines = np.where(rej_lines <= len(logical), logical[np.minimum(rej_lines, len(logical)) - 1], rej_lines)
        rejects = pd.DataFrame({"line": rej_lines, "field": rej["column_name"].astype(object),
                                "value": rej["csv_line"].astype(str).str.slice(0, 200), "reason": reason.to_numpy()})
        rejects = rejects.drop_duplicates("line")
        bad_enc = (rej["error_type"] == "INVALID ENCODING").sum()
        n_lines = max(len(df) + len(rejects), 1)
        if bad_enc > max(3, n_lines // 100):
            raise DeliveryFileError(path, f"undecodable bytes: {bad_enc} lines are not valid UTF-8 (wrong encoding?)")

    # line numbers of the rows the reader accepted: record starts minus header minus rejected lines
    starts = logical[~blank][1:]
    data_lines = starts[~np.isin(starts, rejects["line"].to_numpy())]
    if len(data_lines) == len(df):
        df["_line"] = data_lines.astype("int64")
    else:  # should not happen; keep going with row order and say so
        df["_line"] = np.arange(2, len(df) + 2, dtype="int64")
        warnings.append(f"{path}: line numbers are row numbers (could not map rows to physical lines)")
    df = df.rename(columns={h: want[h.lower()] for h in header if h.lower() in want})
    df = df[[c for c in want.values() if c in df.columns] + [c for c in df.columns if c.endswith("__date")] + ["_line"]]
    rows_read = len(df) + len(rejects)
    if rows_read == 0 and not allow_empty:
        raise DeliveryFileError(path, "no data rows (header only): a registry delivery must not be empty")
    return RawFile(path=path, frame=df, rows_read=rows_read, rejects=rejects, warnings=warnings)


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
    if head != b"PAR1" or tail != b"PAR1":
        raise DeliveryFileError(path, "wrong file type: not a Parquet file (no PAR1 magic bytes)")
    try:
        schema = pq.read_schema(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for corrupt files
        raise DeliveryFileError(path, f"unreadable Parquet file: {e}") from None
    names = schema.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise DeliveryFileError(path, f"missing required column(s) {missing}")
    warnings = []
    extra = [c for c in names if c not in columns]
    if extra:
        warnings.append(f"{path}: unknown extra column(s) {extra} ignored")
    check = {"str": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
             "int": pa.types.is_integer,
             "date": lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t)}
    bad = [f"{c} is {schema.field(c).type}, expected {k}" for c, k in columns.items() if not check[k](schema.field(c).type)]
    if bad:
        raise DeliveryFileError(path, "wrong column type(s): " + "; ".join(bad))
    con = duckdb.connect()
    try:
        sel = ", ".join(f"nullif(trim(\"{c}\"), '') AS \"{c}\"" if k == "str" else f'"{c}"' for c, k in columns.items())
        df = con.sql(f"SELECT {sel}, (row_number() OVER ())::BIGINT AS _line FROM read_parquet(?)",
                     params=[path]).df()
    except duckdb.Error as e:
        raise DeliveryFileError(path, f"unreadable Parquet file: {str(e).splitlines()[0]}") from None
    finally:
        con.close()
    if len(df) == 0 and not allow_empty:
        raise DeliveryFileError(path, "no data rows: a registry delivery must not be empty")
    return RawFile(path=path, frame=df, rows_read=len(df), rejects=_empty_rejects(), warnings=warnings)
