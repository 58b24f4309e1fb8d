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

from dtsen.registries.sources import BY_NAME, INGESTED, MONTHLY, STANDING, YEARLY

FOLDER_RE = {MONTHLY: re.compile(r"^\d{4}-\d{2}$"), YEARLY: re.compile(r"^\d{4}$")}


@dataclass(frozen=True)
class Delivery:
    folder: str  # the source's folder (dtks, ..., susenas, referensi, rekon)
    month: str  # YYYY-MM; for a yearly source (the survey) its year YYYY, for a standing one (the reference) ''

    path: str
    files: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.folder}/{self.month}" if self.month else self.folder


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


def scan(landing: str, folders: tuple[str, ...] = tuple(s.name for s in INGESTED)) -> list[Delivery]:
    """The deliveries present in the landing folder for these sources (default: every source the registries ingest;
    the reconciliation sensor scans `rekon`)."""
    out = []
    for folder in folders:
        base = os.path.join(landing, folder)
        if not os.path.isdir(base):
            continue
        cadence = BY_NAME[folder].cadence
        if cadence == STANDING:
            files = _files(base)
            if files:
                out.append(Delivery(folder, "", base, files))
            continue
        for month in sorted(os.listdir(base)):
            path = os.path.join(base, month)
            if FOLDER_RE[cadence].match(month) and os.path.isdir(path):
                files = _files(path)
                if files:
                    out.append(Delivery(folder, month, path, files))
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
        cadence = BY_NAME[d.folder].cadence
        if cadence == STANDING:
            continue
        due = d.month <= month[:4] if cadence == YEARLY else d.month == month
        if due:
            _place(d.path, os.path.join(landing, d.folder, d.month), d.name)
    return made
