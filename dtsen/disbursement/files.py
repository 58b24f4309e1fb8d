"""Immutable payment files: one CSV + manifest per period, program and channel.

    <root>/<YYYY-MM>/<program>/<program>_<channel>.v<N>.csv
    <root>/<YYYY-MM>/<program>/<program>_<channel>.v<N>.manifest.json

- The CSV holds only what the payer needs (bank: id, NIK, name, KK, bank, amount; PT Pos adds the address; BPJS:
  id, NIK, name, premium), sorted by disbursement_id, no timestamps: the same rows give the same bytes.
- Names and addresses are neutralised against spreadsheet formula injection (a leading =, +, -, @, tab or CR
  gets a leading apostrophe).
- A file is never rewritten. If the latest version has the same SHA-256 nothing is written; if the content
  changed, version N+1 is written beside it and its manifest names the version it supersedes. A channel that had
  a file but has no rows now gets an empty new version, so the latest version is always the truth.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from dtsen import builds

FIELDS = {
    "bank": ["disbursement_id", "nik", "nama", "no_kk", "bank", "amount", "period", "program"],
    "POS": [
        "disbursement_id",
        "nik",
        "nama",
        "no_kk",
        "alamat",
        "rt",
        "rw",
        "kode_desa",
        "amount",
        "period",
        "program",
    ],
    "BPJS": ["disbursement_id", "nik", "nama", "amount", "period", "program"],
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@functools.cache
def formula_starts() -> tuple[str, ...]:
    """Every character whose compatibility form (NFKC) is a formula start: the full-width equals, plus, minus and at
    (U+FF1D, U+FF0B, U+FF0D, U+FF20), the small plus (U+FE62), the superscript plus (U+207A) and the like, which a
    spreadsheet may normalise before it reads a formula (21 code points)."""
    return tuple(
        c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.normalize("NFKC", c)[:1] in FORMULA_START
    )


VERSION_RE = re.compile(r"^(?P<stem>[a-z]+_[a-z]+)\.v(?P<n>\d+)\.csv$")


@dataclass
class FileResult:
    period: str
    program: str
    channel: str
    path: str
    version: int
    status: str  # written | unchanged | superseded (a new version was written)
    rows: int
    total_amount: int
    sha256: str


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula is prefixed with an apostrophe (OWASP CSV injection): text whose
    first character is, in its compatibility form (NFKC), one of `FORMULA_START`."""
    if isinstance(value, str) and value[:1] and unicodedata.normalize("NFKC", value[0])[:1] in FORMULA_START:
        return "'" + value
    return value


def fields_for(channel: str) -> list[str]:
    return FIELDS["POS"] if channel == "POS" else FIELDS["BPJS"] if channel == "BPJS" else FIELDS["bank"]


# payment_row column behind each CSV field (`bank` is the channel itself, `amount` an integer)
SOURCE_COLUMN = {
    "disbursement_id": "disbursement_id",
    "nik": "nik",
    "nama": "name",
    "no_kk": "no_kk",
    "bank": "channel",
    "alamat": "address",
    "rt": "rt",
    "rw": "rw",
    "kode_desa": "village_code",
    "amount": "amount",
    "period": "period",
    "program": "program",
}


def csv_field_sql(expr: str) -> str:
    """One CSV field in SQL, as Python's csv.writer (QUOTE_MINIMAL, '\n' line ends) writes `spreadsheet_safe` of
    the value: NULL empty; a leading formula character gets an apostrophe; quoted (quotes doubled) when it holds a
    comma, a quote or a line feed."""
    starts = ", ".join(f"chr({ord(c)})" for c in formula_starts())
    safe = f"(CASE WHEN left({expr}, 1) IN ({starts}) THEN chr(39) || {expr} ELSE {expr} END)"
    return (
        f"coalesce(CASE WHEN contains({safe}, ',') OR contains({safe}, '\"') OR contains({safe}, chr(10)) "
        f"THEN '\"' || replace({safe}, '\"', '\"\"') || '\"' ELSE {safe} END, '')"
    )


def csv_line_sql(channel: str) -> str:
    """The CSV line of a payment_row of `channel`, its fields in the channel's order."""
    return " || ',' || ".join(
        f"{SOURCE_COLUMN[f]}::VARCHAR" if f == "amount" else csv_field_sql(SOURCE_COLUMN[f])
        for f in fields_for(channel)
    )


def line_sql() -> str:
    """The CSV line of any payment_row, in its channel's fields."""
    return (
        "CASE channel "
        + " ".join(f"WHEN '{c}' THEN {csv_line_sql(c)}" for c in ("POS", "BPJS"))
        + f" ELSE {csv_line_sql('bank')} END"
    )


def fingerprint_by_file_sql(relation: str) -> str:
    """Per (program, channel) of payment rows in `relation` (a query in payment_row's shape): rows, amount and the
    XOR of the 64-bit hashes of the file lines they give. Equal fingerprints: the same lines, so the same files."""
    return f"""SELECT program, channel, count(*) AS rows, coalesce(sum(amount), 0)::BIGINT AS amount,
                      bit_xor(hash(program || chr(31) || channel || chr(31) || ({line_sql()}))) AS lines
               FROM ({relation}) GROUP BY program, channel ORDER BY program, channel"""


def combine_fingerprint(groups: list[tuple]) -> str:
    """One fingerprint of a month's payment rows from fingerprint_by_file_sql's groups: `rows:amount:hash`."""
    rows = sum(int(g[2]) for g in groups)
    amount = sum(int(g[3]) for g in groups)
    lines = 0
    for g in groups:
        lines ^= int(g[4] or 0)
    return f"{rows}:{amount}:{lines:016x}"


def rows_fingerprint(con: duckdb.DuckDBPyConnection, month: str) -> str:
    """The fingerprint of the period's rows in disbursement.payment_row (what its files were written from)."""
    relation = f"SELECT * FROM disbursement.payment_row WHERE period = '{month}'"
    return combine_fingerprint(con.execute(fingerprint_by_file_sql(relation)).fetchall())


def render_period(con: duckdb.DuckDBPyConnection, month: str) -> list[tuple]:
    """Each (program, channel) file of the period, rendered in DuckDB: (program, channel, bytes, rows, total amount,
    snapshot, rule version). Header, then rows sorted by disbursement_id, each line ending in '\n'; the bytes are
    those Python's csv.writer gives (tests/disbursement holds them equal), without a million Python calls."""
    line = line_sql()
    out = []
    for program, channel, body, rows, total, snapshot, rule_version in con.execute(
        f"""
            SELECT program, channel, string_agg({line}, chr(10) ORDER BY disbursement_id) || chr(10), count(*),
                   sum(amount)::BIGINT, arg_min(snapshot, disbursement_id), arg_min(rule_version, disbursement_id)
            FROM disbursement.payment_row WHERE period = ? GROUP BY program, channel ORDER BY program, channel""",
        [month],
    ).fetchall():
        out.append((program, channel, header(channel) + body.encode("utf-8"), rows, total, snapshot, rule_version))
    return out


def header(channel: str) -> bytes:
    return (",".join(fields_for(channel)) + "\n").encode("utf-8")


def versions(folder: str, stem: str) -> list[int]:
    if not os.path.isdir(folder):
        return []
    return sorted(int(m["n"]) for f in os.listdir(folder) if (m := VERSION_RE.match(f)) and m["stem"] == stem)


def _write_new(path: str, data: bytes) -> None:
    """Create a file that must not exist yet (O_EXCL), via a temporary name so a crash leaves no half file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if os.path.exists(path):
        os.remove(tmp)
        raise FileExistsError(f"{path} exists: payment files are never overwritten")
    os.link(tmp, path)  # fails if path appeared meanwhile
    os.remove(tmp)


@dataclass(frozen=True)
class Approval:
    """An operator's approval to issue changed rows of a month whose files were issued (ReleaseApproval in the
    launchpad): written into each superseding manifest with the run that carried it."""

    reason: str
    run_id: str


class ReissueRefused(Exception):
    """Issuing would supersede an issued file without an operator's approval (or start a money run from a
    backfill): nothing was written."""


def release_file(
    root: str,
    month: str,
    program: str,
    channel: str,
    data: bytes,
    rows: int,
    total: int,
    snapshot: str,
    rule_version: str,
    approval: Approval | None = None,
    write: bool = True,
) -> FileResult:
    """Issue one file (a new version when its content changed); with write=False only say what would happen."""
    folder = os.path.join(root, month, program.lower())
    stem = f"{program.lower()}_{channel.lower()}"
    sha = hashlib.sha256(data).hexdigest()
    have = versions(folder, stem)
    if have:
        latest = os.path.join(folder, f"{stem}.v{have[-1]}.csv")
        with open(latest, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == sha:
                return FileResult(month, program, channel, latest, have[-1], "unchanged", rows, total, sha)
    n = (have[-1] + 1) if have else 1
    path = os.path.join(folder, f"{stem}.v{n}.csv")
    status = "superseded" if have else "written"
    if not write:
        return FileResult(month, program, channel, path, n, status, rows, total, sha)
    os.makedirs(folder, exist_ok=True)
    manifest = {
        "file": os.path.basename(path),
        "period": month,
        "program": program,
        "channel": channel,
        "version": n,
        "supersedes": f"{stem}.v{have[-1]}.csv" if have else None,
        "rows": rows,
        "total_amount": total,
        "sha256": sha,
        "dtsen_snapshot": snapshot,
        "rule_version": rule_version,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if have and approval is not None:
        manifest["approved"] = {"reason": approval.reason, "run_id": approval.run_id}
    _write_new(path, data)
    _write_new(
        os.path.join(folder, f"{stem}.v{n}.manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    )
    return FileResult(month, program, channel, path, n, status, rows, total, sha)


def write_period_files(
    con: duckdb.DuckDBPyConnection,
    month: str,
    root: str,
    approval: Approval | None = None,
    backfill: bool = False,
) -> list[FileResult]:
    """Issue the period's files from disbursement.payment_row. Refused (ReissueRefused, nothing written) when a
    file would supersede an issued one without `approval`, or when anything would be written by a backfill."""
    planned = _period_files(con, month, root, None, write=False)
    changed = [r for r in planned if r.status != "unchanged"]
    superseding = [r for r in changed if r.status == "superseded"]
    if backfill and changed:
        raise ReissueRefused(
            f"{month}: a backfill never issues payment files ({len(changed)} file(s) would be written: "
            f"{', '.join(os.path.basename(r.path) for r in changed)}); launch disbursement_job for {month} "
            f"on its own to issue them"
        )
    if superseding and approval is None:
        raise ReissueRefused(
            f"{month}: the rows of {len(superseding)} issued file(s) changed "
            f"({', '.join(_issued_path(r, root) for r in superseding)}); an issued month is issued again "
            f"only with an operator's approval: launch disbursement_job for {month} with resource "
            f"release_approval: {{approve_changes: true, reason: '<why>'}} to write superseding versions"
        )
    return _period_files(con, month, root, approval, write=True)


def _issued_path(planned: FileResult, root: str) -> str:
    """The issued version a planned superseding version would replace, relative to the root."""
    issued = re.sub(r"\.v\d+\.csv$", f".v{planned.version - 1}.csv", planned.path)
    return os.path.relpath(issued, root)


def _period_files(
    con: duckdb.DuckDBPyConnection, month: str, root: str, approval: Approval | None, write: bool
) -> list[FileResult]:
    results = [
        release_file(
            root, month, program, channel, data, rows, int(total), str(snapshot), str(rule_version), approval, write
        )
        for program, channel, data, rows, total, snapshot, rule_version in render_period(con, month)
    ]
    # channels that had a file for the period but have no rows now: an empty version supersedes the old one
    period_dir = os.path.join(root, month)
    if os.path.isdir(period_dir):
        area = builds.area_of(con, month)
        meta = con.execute(
            f"SELECT any_value(snapshot), any_value(rule_version) FROM {area.intermediate}.int_rules__versioned"
        ).fetchall()[0]
        for prog_dir in sorted(os.listdir(period_dir)):
            for f in sorted(os.listdir(os.path.join(period_dir, prog_dir))):
                m = VERSION_RE.match(f)
                if not m:
                    continue
                program, channel = (x.upper() for x in m["stem"].split("_", 1))
                if (program, channel) in {(r.program, r.channel) for r in results}:
                    continue  # released above (or its empty version already written in this loop)
                results.append(
                    release_file(
                        root,
                        month,
                        program,
                        channel,
                        header(channel),
                        0,
                        0,
                        str(meta[0]),
                        str(meta[1]),
                        approval,
                        write,
                    )
                )
    return results
