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

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import pandas as pd

FIELDS = {
    "bank": ["disbursement_id", "nik", "nama", "no_kk", "bank", "amount", "period", "program"],
    "POS": ["disbursement_id", "nik", "nama", "no_kk", "alamat", "rt", "rw", "kode_desa", "amount", "period",
            "program"],
    "BPJS": ["disbursement_id", "nik", "nama", "amount", "period", "program"],
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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
    """Text a spreadsheet would run as a formula is prefixed with an apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def fields_for(channel: str) -> list[str]:
    return FIELDS["POS"] if channel == "POS" else FIELDS["BPJS"] if channel == "BPJS" else FIELDS["bank"]


def render_csv(rows: pd.DataFrame, channel: str) -> bytes:
    """The file's bytes: fixed columns, sorted rows, minimal quoting, '\\n' line ends, UTF-8."""
    cols = fields_for(channel)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols)
    view = pd.DataFrame({
        "disbursement_id": rows["disbursement_id"], "nik": rows["nik"], "nama": rows["name"], "no_kk": rows["no_kk"],
        "bank": channel, "alamat": rows["address"], "rt": rows["rt"], "rw": rows["rw"],
        "kode_desa": rows["village_code"], "amount": rows["amount"].astype("int64"), "period": rows["period"],
        "program": rows["program"]}).sort_values("disbursement_id", kind="stable")
    for rec in view[cols].itertuples(index=False):
        w.writerow(["" if v is None or (isinstance(v, float) and pd.isna(v)) else spreadsheet_safe(v) for v in rec])
    return out.getvalue().encode("utf-8")


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


def release_file(root: str, period: str, program: str, channel: str, data: bytes, rows: int, total: int,
                 snapshot: str, rule_version: str) -> FileResult:
    folder = os.path.join(root, period, program.lower())
    stem = f"{program.lower()}_{channel.lower()}"
    sha = hashlib.sha256(data).hexdigest()
    have = versions(folder, stem)
    if have:
        latest = os.path.join(folder, f"{stem}.v{have[-1]}.csv")
        with open(latest, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == sha:
                return FileResult(period, program, channel, latest, have[-1], "unchanged", rows, total, sha)
    n = (have[-1] + 1) if have else 1
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{stem}.v{n}.csv")
    manifest = {
        "file": os.path.basename(path), "period": period, "program": program, "channel": channel, "version": n,
        "supersedes": f"{stem}.v{have[-1]}.csv" if have else None, "rows": rows, "total_amount": total,
        "sha256": sha, "dtsen_snapshot": snapshot, "rule_version": rule_version,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_new(path, data)
    _write_new(os.path.join(folder, f"{stem}.v{n}.manifest.json"),
               (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return FileResult(period, program, channel, path, n, "superseded" if have else "written", rows, total, sha)


def write_period_files(con: duckdb.DuckDBPyConnection, period: str, root: str) -> list[FileResult]:
    rows = con.execute("SELECT * FROM disbursement.payment_row WHERE period = ? ORDER BY disbursement_id",
                       [period]).df()
    results = []
    for (program, channel), g in rows.groupby(["program", "channel"], sort=True):
        results.append(release_file(root, period, program, channel, render_csv(g, channel), len(g),
                                    int(g["amount"].sum()), str(g["snapshot"].iloc[0]), str(g["rule_version"].iloc[0])))
    # channels that had a file for the period but have no rows now: an empty version supersedes the old one
    period_dir = os.path.join(root, period)
    if os.path.isdir(period_dir):
        meta = con.execute("SELECT any_value(snapshot), any_value(rule_version) FROM intermediate.int_rules__versioned"
                           ).fetchall()[0]
        for prog_dir in sorted(os.listdir(period_dir)):
            for f in sorted(os.listdir(os.path.join(period_dir, prog_dir))):
                m = VERSION_RE.match(f)
                if not m:
                    continue
                program, channel = (x.upper() for x in m["stem"].split("_", 1))
                if (program, channel) in {(r.program, r.channel) for r in results}:
                    continue  # released above (or its empty version already written in this loop)
                results.append(release_file(root, period, program, channel, render_csv(rows.head(0), channel), 0,
                                            0, str(meta[0]), str(meta[1])))
    return results
