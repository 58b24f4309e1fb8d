"""Registry noise: the errors real Indonesian registries carry, each at a configurable rate.

Every function takes the rng, the clean values and a rate, and returns noisy values plus a boolean mask of
the rows it changed (so tests can measure the realised rates). Only the selected subset goes through Python
string code; everything else stays vectorised.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_KEYBOARD_ROWS = ["QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM"]
_NEIGHBOURS: dict[str, str] = {}
for r, row in enumerate(_KEYBOARD_ROWS):
    for c, ch in enumerate(row):
        near = []
        if c > 0:
            near.append(row[c - 1])
        if c < len(row) - 1:
            near.append(row[c + 1])
        for rr in (r - 1, r + 1):
            if 0 <= rr < len(_KEYBOARD_ROWS):
                other = _KEYBOARD_ROWS[rr]
                for cc in (c, c + 1 if rr > r else c - 1):
                    if 0 <= cc < len(other):
                        near.append(other[cc])
        _NEIGHBOURS[ch] = "".join(near)

# phonetic confusions seen in Indonesian data entry (spoken names written down by an enumerator)
_PHONETIC = [
    ("F", "P"),
    ("P", "F"),
    ("V", "F"),
    ("Z", "J"),
    ("Y", "I"),
    ("I", "Y"),
    ("E", "I"),
    ("O", "U"),
    ("U", "O"),
    ("KH", "H"),
    ("SY", "S"),
    ("DZ", "Z"),
    ("TH", "T"),
    ("Q", "K"),
    ("X", "KS"),
    ("NN", "N"),
    ("LL", "L"),
    ("MM", "M"),
    ("AH", "A"),
    ("IE", "I"),
]

# token variants: Muhammad / Siti / Nur and friends, as written by different operators
TOKEN_VARIANTS: dict[str, list[str]] = {
    "MUHAMMAD": ["MUHAMAD", "MOHAMMAD", "MOHAMAD", "MOCHAMMAD", "MOCH.", "MOH.", "MUH.", "M.", "MUCHAMAD", "MHD."],
    "ACHMAD": ["AHMAD", "ACHMAT", "AHMAT", "ACH.", "A.", "A."],
    "AHMAD": ["ACHMAD", "AHMAT", "AMAD", "A.", "A.", "A."],  # A. is the commonest short form of Ahmad
    "ABDUL": ["ABD.", "ABDOEL", "ABDU"],
    "SITI": ["SITY", "ST.", "SITTI"],
    "NUR": ["NURUL", "NOOR", "NOER"],
    "NURUL": ["NUR"],
    "SRI": ["SRIE", "SERI"],
    "YUSUF": ["JUSUF", "YUSUP", "YUSSUF"],
    "TEUKU": ["T."],
    "CUT": ["CUT"],
    "BR.": ["BORU", "BR"],
    "KHOIRUL": ["CHOIRUL", "KOIRUL"],
    "SYAIFUL": ["SAIFUL", "SJAIFUL"],
    "HIDAYAT": ["HIDAYAD"],
}
_OLD_SPELLING = [("U", "OE"), ("J", "DJ"), ("C", "TJ"), ("NY", "NJ"), ("SY", "SJ"), ("KH", "CH"), ("Y", "J")]
MALE_TITLES_PRE = ["H.", "DRS.", "IR.", "DR.", "KH."]
FEMALE_TITLES_PRE = ["HJ.", "DRA.", "IR.", "DR."]
TITLES_POST = ["S.PD.", "S.E.", "S.H.", "S.KOM", "S.AG.", "A.MD.", "S.SOS.", "S.T.", "ST.", "M.PD.", "S.PD.I"]
# written short forms of long given names, as clerks abbreviate them on forms (beside A. for Ahmad above)
SHORT_FORMS: dict[str, list[str]] = {
    "AGUSTINUS": ["AGUST."],
    "AGUSTINA": ["AGUST."],
    "AGUS": ["AG."],
    "YOHANES": ["YOH."],
    "YOHANA": ["YOH."],
    "KOMANG": ["KMG."],
    "KETUT": ["KT."],
    "NYOMAN": ["NY."],
    "WAYAN": ["WY."],
    "FRANSISKUS": ["FRANS."],
    "FRANSISKA": ["FRANS."],
    "STEFANUS": ["STEF."],
    "KRISTINA": ["KRIST."],
    "MAGDALENA": ["MAGD."],
    "ELISABETH": ["ELIS."],
    "YAKOBUS": ["YAK."],
    "MUHAMMAD": ["MUH."],
    "ABDUL": ["ABD."],
}


def pick(rng: np.random.Generator, rate: float, n: int, eligible: np.ndarray | None = None) -> np.ndarray:
    m = rng.random(n) < rate
    return m if eligible is None else m & eligible


def _typo_one(s: str, kind: int, pos: float, r: float) -> str:
    letters = [i for i, ch in enumerate(s) if ch.isalpha()]
    if len(letters) < 3:
        return s
    i = letters[min(int(pos * len(letters)), len(letters) - 1)]
    ch = s[i]
    if kind == 0:  # keyboard neighbour
        nb = _NEIGHBOURS.get(ch, "")
        return s if not nb else s[:i] + nb[int(r * len(nb))] + s[i + 1 :]
    if kind == 1:  # phonetic confusion
        opts = [(a, b) for a, b in _PHONETIC if a in s]
        if not opts:
            return s[:i] + s[i + 1 :]
        a, b = opts[int(r * len(opts))]
        starts = [m.start() for m in re.finditer(re.escape(a), s)]
        j = starts[int(pos * len(starts))]
        return s[:j] + b + s[j + len(a) :]
    if kind == 2:  # deletion
        return s[:i] + s[i + 1 :]
    if kind == 3:  # doubled letter
        return s[:i] + ch + s[i:]
    # transposition with the next letter
    if i + 1 < len(s) and s[i + 1].isalpha():
        return s[:i] + s[i + 1] + ch + s[i + 2 :]
    return s[: i - 1] + ch + s[i - 1] + s[i + 1 :]


def typos(rng: np.random.Generator, names: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One keyboard or phonetic typo, deletion, doubling or transposition in a selected share of names."""
    n = len(names)
    m = pick(rng, rate, n)
    idx = np.flatnonzero(m)
    kind, pos, r = rng.integers(0, 5, len(idx)), rng.random(len(idx)), rng.random(len(idx))
    out = names.copy()
    out[idx] = [_typo_one(s, k, p, q) for s, k, p, q in zip(names[idx], kind, pos, r)]
    return out, out != names


def _variant_one(s: str, r: float, r2: float) -> str:
    toks = s.split(" ")
    hits = [i for i, t in enumerate(toks) if t in TOKEN_VARIANTS]
    if hits:
        i = hits[int(r * len(hits))]
        opts = TOKEN_VARIANTS[toks[i]]
        toks[i] = opts[int(r2 * len(opts))]
        return " ".join(toks)
    return s


def name_variants(rng: np.random.Generator, names: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Spelling variants of the tokens that have them (Muhammad/Muhamad/Moh./M., Siti/Sity, Nur/Nurul, ...)."""
    has = (
        pd.Series(names)
        .str.contains(r"\b(?:" + "|".join(re.escape(k) for k in TOKEN_VARIANTS) + r")(?:\s|$)", regex=True)
        .to_numpy()
    )
    m = pick(rng, rate, len(names), has)
    idx = np.flatnonzero(m)
    out = names.copy()
    out[idx] = [_variant_one(s, a, b) for s, a, b in zip(names[idx], rng.random(len(idx)), rng.random(len(idx)))]
    return out, out != names


def old_spelling(
    rng: np.random.Generator, names: np.ndarray, rate: float, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pre-1972 spelling (Soeharto, Djoko, Tjahjono, Surjadi for Suryadi) in a share of older people's names: one of
    the spellings that applies, at random."""
    m = pick(rng, rate, len(names), eligible)
    idx = np.flatnonzero(m)
    out = names.copy()
    res = []
    for s, r in zip(names[idx], rng.random(len(idx))):
        options = [(new, old) for new, old in _OLD_SPELLING if new in s]
        if options:
            new, old = options[int(r * len(options))]
            s = s.replace(new, old, 1)
        res.append(s)
    out[idx] = res
    return out, out != names


def short_forms(rng: np.random.Generator, names: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """A long given name written as its short form (AGUST., YOH., KMG., FRANS.) in a share of the names that have one."""
    has = pd.Series(names).str.contains(r"\b(?:" + "|".join(SHORT_FORMS) + r")\b", regex=True).to_numpy()
    m = pick(rng, rate, len(names), has)
    idx = np.flatnonzero(m)
    out = names.copy()
    res = []
    for s in names[idx]:
        toks = s.split(" ")
        i = next(i for i, t in enumerate(toks) if t in SHORT_FORMS)
        toks[i] = SHORT_FORMS[toks[i]][0]
        res.append(" ".join(toks))
    out[idx] = res
    return out, out != names


def ocr_confusion(rng: np.random.Generator, names: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Scanned forms: a D read as CL (HADI -> HACLI), or CL read as D, in a share of names."""
    s = pd.Series(names)
    has = (s.str.contains("D", regex=False) | s.str.contains("CL", regex=False)).to_numpy()
    m = pick(rng, rate, len(names), has)
    idx = np.flatnonzero(m)
    out = names.copy()
    out[idx] = [t.replace("CL", "D", 1) if "CL" in t else t.replace("D", "CL", 1) for t in names[idx]]
    return out, out != names


def titles(
    rng: np.random.Generator,
    names: np.ndarray,
    rate: float,
    male: np.ndarray,
    eligible: np.ndarray,
    educated: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Honorifics and academic titles: H./Hj. (hajj), Drs./Ir./Dr. before, S.Pd./S.E. after (educated adults)."""
    n = len(names)
    m = pick(rng, rate, n, eligible)
    u = rng.random(n)
    pre = np.where(
        male,
        np.array(MALE_TITLES_PRE, dtype=object)[rng.integers(0, len(MALE_TITLES_PRE), n)],
        np.array(FEMALE_TITLES_PRE, dtype=object)[rng.integers(0, len(FEMALE_TITLES_PRE), n)],
    )
    pre = np.where(educated | (u < 0.5), pre, np.where(male, "H.", "HJ."))
    post = np.array(TITLES_POST, dtype=object)[rng.integers(0, len(TITLES_POST), n)]
    s = pd.Series(names)
    with_pre = (pd.Series(pre) + " " + s).to_numpy(dtype=object)
    with_post = (s + np.where(rng.random(n) < 0.5, ", ", " ") + pd.Series(post)).to_numpy(dtype=object)
    choice = np.where(educated & (u >= 0.5), with_post, with_pre)
    out = np.where(m, choice, names)
    return out, m


def shorten(rng: np.random.Generator, names: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop a token of a multi-token name, abbreviate a middle token, or swap two tokens."""
    multi = pd.Series(names).str.contains(" ", regex=False).to_numpy()
    m = pick(rng, rate, len(names), multi)
    idx = np.flatnonzero(m)
    out = names.copy()
    res = []
    for s, r in zip(names[idx], rng.random(len(idx))):
        toks = s.split(" ")
        if r < 0.45:
            toks = toks[:-1] if len(toks[-1]) > 2 else toks[1:]
        elif r < 0.8 and len(toks) >= 3:
            toks[1] = toks[1][0] + "."
        elif r < 0.8:
            toks = toks[1:] + toks[:1]
        else:
            toks = toks[::-1]
        res.append(" ".join(toks))
    out[idx] = res
    return out, out != names


def birth_date_noise(
    rng: np.random.Generator, dob: np.ndarray, p_swap: float, p_year: float, p_missing: float, p_other: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Day/month swapped (day <= 12), year off by one, a different date altogether, or missing."""
    n = len(dob)
    s = pd.DatetimeIndex(dob)
    y, mo, d = s.year.to_numpy(), s.month.to_numpy(), s.day.to_numpy()
    swap = pick(rng, p_swap, n, (d <= 12) & (d != mo))
    year = pick(rng, p_year, n) & ~swap
    other = pick(rng, p_other, n) & ~swap & ~year
    missing = pick(rng, p_missing, n) & ~swap & ~year & ~other
    y2 = np.where(year, y + np.where(rng.random(n) < 0.5, -1, 1), y)
    mo2, d2 = np.where(swap, d, mo), np.where(swap, mo, d)
    # 29 February of a year that is not leap: fall back to the 28th
    leap = (y2 % 4 == 0) & ((y2 % 100 != 0) | (y2 % 400 == 0))
    d2 = np.where((mo2 == 2) & (d2 == 29) & ~leap, 28, d2)
    out = pd.to_datetime(pd.DataFrame({"year": y2, "month": mo2, "day": d2})).to_numpy().astype("datetime64[D]")
    out[other] = out[other] + rng.integers(-900, 900, other.sum()).astype("timedelta64[D]")
    out[missing] = np.datetime64("NaT")
    return out, {"dob_swap": swap, "dob_year": year, "dob_other": other, "dob_missing": missing}


def nik_noise(
    rng: np.random.Generator,
    nik: np.ndarray,
    relative_nik: np.ndarray,
    p_missing: float,
    p_digit: float,
    p_relative: float,
    p_transpose: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Missing NIK, one wrong digit, a relative's NIK, or two adjacent digits swapped."""
    n = len(nik)
    missing = pick(rng, p_missing, n)
    relative = pick(rng, p_relative, n, relative_nik != nik) & ~missing
    digit = pick(rng, p_digit, n) & ~missing & ~relative
    transpose = pick(rng, p_transpose, n) & ~missing & ~relative & ~digit
    out = nik.copy()
    out[relative] = relative_nik[relative]
    idx = np.flatnonzero(digit)
    pos, add = rng.integers(0, 16, len(idx)), rng.integers(1, 10, len(idx))
    out[idx] = [s[:p] + str((int(s[p]) + a) % 10) + s[p + 1 :] for s, p, a in zip(nik[idx], pos, add)]
    idx = np.flatnonzero(transpose)
    pos = rng.integers(0, 15, len(idx))
    res = []
    for s, p in zip(nik[idx], pos):
        t = s[:p] + s[p + 1] + s[p] + s[p + 2 :]
        if t == s:  # equal neighbours: swap with a different pair
            q = next((k for k in range(15) if s[k] != s[k + 1]), None)
            t = s if q is None else s[:q] + s[q + 1] + s[q] + s[q + 2 :]
        res.append(t)
    out[idx] = res
    out[missing] = None
    transpose = transpose & (out != nik)
    return out, {"nik_missing": missing, "nik_relative": relative, "nik_digit": digit, "nik_transpose": transpose}


def kk_noise(rng: np.random.Generator, kk: np.ndarray, p_missing: float, p_digit: float) -> np.ndarray:
    n = len(kk)
    missing = pick(rng, p_missing, n)
    digit = pick(rng, p_digit, n) & ~missing
    out = kk.copy()
    idx = np.flatnonzero(digit)
    pos, add = rng.integers(6, 16, len(idx)), rng.integers(1, 10, len(idx))
    out[idx] = [s[:p] + str((int(s[p]) + a) % 10) + s[p + 1 :] for s, p, a in zip(kk[idx], pos, add)]
    out[missing] = None
    return out
