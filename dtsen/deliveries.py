"""What has been delivered to the landing folder, and a fingerprint of each delivery (names + content hashes).

A delivery is one folder: `<source folder>/<YYYY-MM>/` (DTKS, Regsosek, P3KE, the administrative lists, the
reconciliation files under rekon/), `susenas/<YYYY>/` or `referensi/`. Its fingerprint is the SHA-256 over the
sorted (file name, SHA-256 of the content) pairs, so a re-delivered identical file keeps the fingerprint and a
corrected file changes it. Content hashes are cached by (path, size, mtime) so unchanged files are not re-read.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

MONTH_RE = re.compile(r"^\d{4}-\d{2}$")
YEAR_RE = re.compile(r"^\d{4}$")
MONTHLY_FOLDERS = ("dtks", "regsosek", "p3ke", "dukcapil", "asn", "bpjstk", "usulan", "sanggahan")


@dataclass(frozen=True)
class Delivery:
    folder: str  # source folder (dtks, ..., susenas, referensi, rekon)
    period: str  # YYYY-MM, YYYY for the survey, '' for the region reference
    path: str
    files: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.folder}/{self.period}" if self.period else self.folder


LANDING_ID_FILE = ".landing_id"


def landing_id(landing: str) -> str:
    """The identity of a landing folder ('' when it has none): a folder emptied and filled again (the demo's clean
    slate) is a new landing, whose deliveries the sensors must take in again even when their bytes are the same."""
    try:
        with open(os.path.join(landing, LANDING_ID_FILE)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def new_landing(landing: str) -> str:
    """Create an empty landing folder with a new identity; returns it."""
    import uuid

    os.makedirs(landing, exist_ok=True)
    ident = uuid.uuid4().hex[:12]
    with open(os.path.join(landing, LANDING_ID_FILE), "w") as f:
        f.write(ident + "\n")
    return ident


def _files(path: str) -> tuple[str, ...]:
    return tuple(sorted(f for f in os.listdir(path) if os.path.isfile(os.path.join(path, f)) and not f.startswith(".")))


def scan(landing: str, folders: tuple[str, ...] = MONTHLY_FOLDERS + ("susenas", "referensi")) -> list[Delivery]:
    out = []
    for folder in folders:
        base = os.path.join(landing, folder)
        if not os.path.isdir(base):
            continue
        if folder == "referensi":
            files = _files(base)
            if files:
                out.append(Delivery(folder, "", base, files))
            continue
        pattern = YEAR_RE if folder == "susenas" else MONTH_RE
        for period in sorted(os.listdir(base)):
            path = os.path.join(base, period)
            if pattern.match(period) and os.path.isdir(path):
                files = _files(path)
                if files:
                    out.append(Delivery(folder, period, path, files))
    return out


def file_sha256(path: str, cache: dict | None = None) -> str:
    st = os.stat(path)
    key = f"{st.st_size}:{st.st_mtime_ns}"
    if cache is not None and cache.get(path, [None])[0] == key:
        return cache[path][1]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        cache[path] = [key, digest]
    return digest


def fingerprint(delivery: Delivery, cache: dict | None = None) -> str:
    h = hashlib.sha256()
    for f in delivery.files:
        h.update(f.encode() + b"\0" + file_sha256(os.path.join(delivery.path, f), cache).encode() + b"\n")
    return h.hexdigest()


def deliver(outbox: str, landing: str, month: str) -> list[str]:
    """Deliver what an outbox (a generated landing folder) holds for `month` into the landing folder, the way the
    agencies would: every monthly folder `<source>/<month>/`, the survey years up to the month's year, the region
    reference and the synthetic truth when the landing folder lacks them. Each folder is copied under a hidden
    name and renamed into place, so a sensor never sees half a delivery. Returns the deliveries made."""
    import shutil

    made = []
    os.makedirs(landing, exist_ok=True)

    def _place(src: str, dst: str, name: str) -> None:
        if os.path.exists(dst):
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = os.path.join(os.path.dirname(dst), f".incoming-{os.path.basename(dst)}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        os.replace(tmp, dst)
        made.append(name)

    for folder in ("referensi", "truth"):
        if os.path.isdir(os.path.join(outbox, folder)):
            _place(os.path.join(outbox, folder), os.path.join(landing, folder), folder)
    for d in scan(outbox):
        if d.folder == "referensi":
            continue
        due = d.period <= month[:4] if d.folder == "susenas" else d.period == month
        if due:
            _place(d.path, os.path.join(landing, d.folder, d.period), d.name)
    return made
