"""Bank and PT Pos simulator: reconciliation files for a period's payment lists (synthetic data only).

Reads the latest version of every bank and PT Pos list of the period and writes
`<landing>/rekon/<period>/<program>_<channel>.csv` as the payers would return them.

Behaviour (seeded, deterministic):
- Bank: 1% of rows fail (GAGAL, e.g. a closed account); the rest are credited (TERSALUR) between the 5th and the
  10th; a credited payment is collected (DIAMBIL, 0-40 days later, up to the file cut 20 days after the month) with
  probability 0.93, less 0.15 for payees aged 60-69 and 0.35 for 70+, 0.25 for severe disability and 0.20 for a
  remote village (floor 0.05).
- PT Pos: handed over at the door (DIAMBIL) with probability 0.97, less 0.08 in a remote village; otherwise
  returned (RETUR, nobody found).
Payee age, disability and remoteness come from the Regsosek delivery in the landing folder (by NIK), so the
simulator needs nothing the pipeline computed besides the files themselves.
"""

from __future__ import annotations

import glob
import hashlib
import os

import numpy as np
import pandas as pd

from dtsen.disbursement.files import VERSION_RE


def _latest_lists(disbursement_root: str, month: str) -> dict[str, str]:
    """<program>_<channel> -> path of its latest version (bank and PT Pos lists only)."""
    best: dict[str, tuple[int, str]] = {}
    for path in glob.glob(os.path.join(disbursement_root, month, "*", "*.csv")):
        m = VERSION_RE.match(os.path.basename(path))
        if not m or m["stem"].endswith("_bpjs"):
            continue
        n = int(m["n"])
        if m["stem"] not in best or n > best[m["stem"]][0]:
            best[m["stem"]] = (n, path)
    return {k: v[1] for k, v in sorted(best.items())}


def _payee_traits(landing: str) -> pd.DataFrame:
    """nik -> birth date, severe disability, remote village (from the Regsosek files of the landing folder)."""
    frames = []
    for folder in sorted(glob.glob(os.path.join(landing, "regsosek", "*"))):
        ind = pd.read_parquet(
            os.path.join(folder, "individu.parquet"),
            columns=["id_keluarga", "nik", "tanggal_lahir", "disabilitas_berat"],
        )
        kel = pd.read_parquet(os.path.join(folder, "keluarga.parquet"), columns=["id_keluarga", "desa_terpencil"])
        frames.append(ind.merge(kel, on="id_keluarga", how="left"))
    if not frames:
        return pd.DataFrame(columns=["nik", "tanggal_lahir", "disabilitas_berat", "desa_terpencil"]).set_index("nik")
    t = pd.concat(frames, ignore_index=True).dropna(subset=["nik"]).drop_duplicates("nik", keep="last")
    return t.set_index("nik")[["tanggal_lahir", "disabilitas_berat", "desa_terpencil"]]


def simulate_reconciliation(disbursement_root: str, landing: str, month: str, seed: int = 1) -> dict[str, int]:
    """Write the period's reconciliation files; returns file name -> status rows written."""
    lists = _latest_lists(disbursement_root, month)
    traits = _payee_traits(landing)
    start = pd.Timestamp(f"{month}-01")
    cut = start + pd.offsets.MonthEnd(0) + pd.Timedelta(days=20)
    out_dir = os.path.join(landing, "rekon", month)
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for stem, path in lists.items():
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
        digest = hashlib.sha256(f"{seed}:{month}:{stem}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        n = len(rows)
        t = traits.reindex(rows["nik"].replace("", np.nan))
        birth = pd.to_datetime(t["tanggal_lahir"], errors="coerce")
        age = ((start - birth).dt.days / 365.25).fillna(40).to_numpy()
        disabled = pd.to_numeric(t["disabilitas_berat"], errors="coerce").fillna(0).to_numpy() == 1
        remote = pd.to_numeric(t["desa_terpencil"], errors="coerce").fillna(0).to_numpy() == 1
        ids, amounts = rows["disbursement_id"].to_numpy(), rows["amount"].to_numpy()
        out = []
        if stem.endswith("_pos"):
            p = np.clip(0.97 - 0.08 * remote, 0.05, 0.99)
            got = rng.random(n) < p
            day = start + pd.to_timedelta(rng.integers(5, 25, n), unit="D")
            for i in range(n):
                out.append((ids[i], "DIAMBIL" if got[i] else "RETUR", amounts[i], day[i]))
        else:
            failed = rng.random(n) < 0.01
            credit = start + pd.to_timedelta(rng.integers(4, 10, n), unit="D")
            p = np.clip(
                0.93 - 0.15 * ((age >= 60) & (age < 70)) - 0.35 * (age >= 70) - 0.25 * disabled - 0.20 * remote,
                0.05,
                0.99,
            )
            collected = (rng.random(n) < p) & ~failed
            collect_day = credit + pd.to_timedelta(rng.integers(0, 41, n), unit="D")
            collected &= collect_day <= cut
            for i in range(n):
                if failed[i]:
                    out.append((ids[i], "GAGAL", amounts[i], credit[i]))
                    continue
                out.append((ids[i], "TERSALUR", amounts[i], credit[i]))
                if collected[i]:
                    out.append((ids[i], "DIAMBIL", amounts[i], collect_day[i]))
        df = pd.DataFrame(out, columns=["disbursement_id", "status", "amount", "status_date"])
        df["status_date"] = pd.to_datetime(df["status_date"]).dt.strftime("%Y-%m-%d")
        name = stem + ".csv"  # <program>_<channel>, lowercase letters (VERSION_RE)
        df.to_csv(os.path.join(out_dir, name), index=False, lineterminator="\n")
        written[name] = len(df)
    return written
