"""The forms' values checked on the server: region selections that must nest, and the home-visit verification
(every value against its code list; a bad value refuses the form with the field named)."""

from __future__ import annotations

import datetime as dt
import re

from . import labels
from .store import CaseError

NAME_RE = re.compile(r"^[A-Za-z' .,-]{3,100}$")
CODE_RE = re.compile(r"^[0-9]{10}$")
NIK_RE = re.compile(r"^[0-9]{16}$")


def consistent(prov: str, kab: str, kec: str, desa: str) -> tuple[str, str, str, str]:
    """Each level only when it lies inside the level above (a changed province clears the rest)."""
    out, parent = [], ""
    for code, n in ((prov, 2), (kab, 4), (kec, 6), (desa, 10)):
        ok = len(code) == n and code.isdigit() and code.startswith(parent) and (parent or n == 2)
        if not ok:
            out += [""] * (4 - len(out))
            break
        out.append(code)
        parent = code
    return tuple(out)  # type: ignore[return-value]


def verification_of(form) -> tuple[dict, list[dict]]:
    """The home-visit form: the family's proxies and up to MEMBER_ROWS members (empty rows skipped), every value
    checked against its code list (a bad value refuses the form with the field named)."""
    family = {}
    for col, (label, codes) in labels.FAMILY_CODES.items():
        family[col] = _code(form.get(col), codes, label, required=True)
    for col, label in labels.FAMILY_NUMBERS.items():
        raw = (form.get(col) or "0").strip()
        if not raw.isdigit() or int(raw) > 10_000_000:
            raise CaseError(f"{label}: isi dengan angka bulat 0 atau lebih.")
        family[col] = int(raw)
    members = []
    for i in range(1, labels.MEMBER_ROWS + 1):
        name = (form.get(f"a{i}_nama") or "").strip().upper()
        if not name:
            continue
        where = f"Anggota {i}"
        if not NAME_RE.match(name):
            raise CaseError(f"{where}: nama tidak sah.")
        m = {"nama": name}
        for col in ("nik", "no_kk"):
            v = (form.get(f"a{i}_{col}") or "").strip()
            if v and not NIK_RE.match(v):
                raise CaseError(f"{where}: {col.upper().replace('_', ' ')} harus 16 angka (atau kosong).")
            m[col] = v or None
        born = (form.get(f"a{i}_tanggal_lahir") or "").strip()
        try:
            day = dt.date.fromisoformat(born)
        except ValueError:
            raise CaseError(f"{where}: tanggal lahir tidak sah (TTTT-BB-HH).") from None
        if day > dt.date.today():
            raise CaseError(f"{where}: tanggal lahir di masa depan.")
        m["tanggal_lahir"] = day.isoformat()
        for col, (label, codes) in labels.MEMBER_CODES.items():
            m[col] = _code(
                form.get(f"a{i}_{col}"), codes, f"{where}: {label}", required=col in ("jenis_kelamin", "hubungan_kk")
            )
        members.append(m)
    return family, members


def _code(raw, codes: dict, label: str, required: bool):
    raw = (raw or "").strip()
    if not raw:
        if required:
            raise CaseError(f"{label}: wajib diisi.")
        return None
    for k in codes:
        if str(k) == raw:
            return k
    raise CaseError(f"{label}: pilihan tidak sah.")
