"""From the true population to the registry records each agency would deliver (with their errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import noise as nz
from .config import NoiseRates, SynthConfig
from .population import Population
from .regions import PROVINCE_FRAME, Regions

RECORD_COLS = [
    "family",
    "rel",
    "age",
    "sex",
    "birth_date",
    "death_date",
    "nama",
    "nik",
    "relative_nik",
    "pendidikan",
    "pekerjaan",
    "jenjang_sekolah",
    "disabilitas_berat",
    "hamil",
    "status_kawin",
    "person_id",
    "family_id",
    "nik_district",
    "kode_desa_cur",
]
HIMBARA = np.array(["BRI", "BNI", "MANDIRI", "BTN", "BSI"], dtype=object)


def month_start(m: str) -> np.datetime64:
    return np.datetime64(m + "-01", "D")


def add_months(m: str, k: int) -> str:
    p = pd.Period(m, "M") + k
    return str(p)


def unique_ids(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    """n distinct random numbers with the given digit count, as zero-padded strings."""
    hi = 10**digits
    picked = np.unique(rng.integers(0, hi, int(n * 1.3) + 100))
    while len(picked) < n:
        picked = np.unique(np.concatenate([picked, rng.integers(0, hi, n)]))
    picked = rng.permutation(picked)[:n]
    fmt = "{:0" + str(digits) + "d}"
    return pd.Series(picked).map(fmt.format).to_numpy(dtype=object)


def relative_nik(per: pd.DataFrame) -> np.ndarray:
    """For each person, the NIK of another family member (the head; for the head, the next member)."""
    fam = per["family"].to_numpy()
    head = per.groupby("family")["nik"].transform("first").to_numpy()
    nxt = per.groupby("family")["nik"].shift(-1)
    prv = per.groupby("family")["nik"].shift(1)
    other = nxt.fillna(prv).fillna(per["nik"]).to_numpy()
    out = np.where(per["nik"].to_numpy() == head, other, head)
    return out.astype(object) if len(fam) else np.array([], dtype=object)


def noisy_identity(
    rng: np.random.Generator, rec: pd.DataFrame, rates: NoiseRates, formula_rate: float
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Apply name, birth-date, NIK and sex noise to records (one row per record, clean person fields)."""
    n = len(rec)
    name = rec["nama"].to_numpy(dtype=object)
    flags: dict[str, np.ndarray] = {}
    age = rec["age"].to_numpy()
    name, flags["name_variant"] = nz.name_variants(rng, name, rates.name_variant)
    born_early = pd.DatetimeIndex(rec["birth_date"]).year.to_numpy() < 1965
    name, flags["old_spelling"] = nz.old_spelling(rng, name, rates.old_spelling, born_early)
    name, flags["shorten"] = nz.shorten(rng, name, rates.shorten)
    name, flags["short_form"] = nz.short_forms(rng, name, rates.short_form)
    name, flags["ocr"] = nz.ocr_confusion(rng, name, rates.ocr)
    name, flags["title"] = nz.titles(
        rng, name, rates.title, rec["sex"].to_numpy() == 1, age >= 25, rec["pendidikan"].to_numpy() >= 4
    )
    name, flags["name_typo"] = nz.typos(rng, name, rates.name_typo)
    formula = nz.pick(rng, formula_rate, n)
    if formula.any():
        lead = np.array(["=", "+", "-", "@"], dtype=object)[rng.integers(0, 4, formula.sum())]
        name[formula] = lead + name[formula]
    flags["formula"] = formula
    dob, f = nz.birth_date_noise(
        rng,
        rec["birth_date"].to_numpy().astype("datetime64[D]"),
        rates.dob_swap,
        rates.dob_year,
        rates.dob_missing,
        rates.dob_other,
    )
    flags.update(f)
    nik, f = nz.nik_noise(
        rng,
        rec["nik"].to_numpy(dtype=object),
        rec["relative_nik"].to_numpy(dtype=object),
        rates.nik_missing,
        rates.nik_digit,
        rates.nik_relative,
        rates.nik_transpose,
    )
    flags.update(f)
    sex = rec["sex"].to_numpy()
    flip = nz.pick(rng, rates.sex_flip, n)
    sex = np.where(flip, 3 - sex, sex)
    flags["sex_flip"] = flip

    def recode(col, lo, hi):
        v = rec[col].to_numpy()
        m = nz.pick(rng, rates.code_error, n)
        return np.where(m, np.clip(v + np.where(rng.random(n) < 0.5, -1, 1), lo, hi), v)

    out = pd.DataFrame(
        {
            "nama_obs": name,
            "dob_obs": dob,
            "nik_obs": nik,
            "sex_obs": sex,
            "pendidikan_obs": recode("pendidikan", 0, 5),
            "pekerjaan_obs": recode("pekerjaan", 0, 9),
        },
        index=rec.index,
    )
    return out, flags


def _duplicate(rng: np.random.Generator, rec: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Append second registrations of a share of records (they get their own noise and id later)."""
    m = rng.random(len(rec)) < rate
    dup = rec.loc[m].copy()
    dup["is_dup"] = True
    out = pd.concat([rec.assign(is_dup=False), dup], ignore_index=True)
    return out


def welfare_rank(pop: Population) -> np.ndarray:
    """Per family: share of persons in families at least as poor (0 = poorest, 1 = richest)."""
    fam = pop.families
    order = np.argsort(fam["pcc"].to_numpy(), kind="stable")
    cum = np.cumsum(fam["size"].to_numpy()[order])
    pct = np.empty(len(fam))
    pct[order] = cum / cum[-1]
    return pct


def _solve_intercept(score: np.ndarray, weight: np.ndarray, target: float) -> float:
    """Intercept a of p = sigmoid(a + score) so that the weighted mean of p equals target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        p = 1 / (1 + np.exp(-(mid + score)))
        if np.average(p, weights=weight) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def alive_between(per: pd.DataFrame, when: np.datetime64) -> np.ndarray:
    born = per["birth_date"].to_numpy() < when
    dd = per["death_date"].to_numpy()
    alive = np.isnat(dd) | (dd >= when)
    return born & alive


def hist_version(pop: Population, enumeration: np.datetime64) -> np.ndarray:
    """Location version a registry enumerated at `enumeration` holds per family (0 old, 1 current)."""
    fam = pop.families
    moved_before = fam["hist_mover"].to_numpy() & (fam["hist_move_date"].to_numpy() < enumeration)
    return np.where(moved_before, 1, 0)


def with_location(pop: Population, rec: pd.DataFrame, version: np.ndarray) -> pd.DataFrame:
    loc = pop.locations.set_index(["family", "version"])
    key = pd.MultiIndex.from_arrays([rec["family"].to_numpy(), version])
    sub = loc.reindex(key)
    out = rec.copy()
    for c in ("kode_desa", "alamat", "rt", "rw", "no_kk", "remote"):
        out[c] = sub[c].to_numpy()
    out["version"] = version
    return out


# --------------------------------------------------------------------------------------------- DTKS
def build_dtks(
    rng: np.random.Generator, pop: Population, regions: Regions, cfg: SynthConfig, months: list[str]
) -> dict[str, pd.DataFrame]:
    """Monthly full snapshots of DTKS. Each record keeps its ID and its errors from month to month."""
    fam, per = pop.families, pop.persons
    rates = cfg.noise("dtks")
    n_fam = len(fam)
    pct = welfare_rank(pop)
    score = -6.0 * pct + rng.normal(0, 0.8, n_fam)  # poorer -> more likely registered; errors both ways
    a = _solve_intercept(score, fam["size"].to_numpy(), cfg.dtks_share)
    p_in = 1 / (1 + np.exp(-(a + score)))
    in0 = rng.random(n_fam) < p_in
    # later registrations: poorer families not yet in DTKS join during the delivery months
    join_month = np.where(in0, 0, -1)
    if len(months) > 1:
        cand = ~in0 & (pct < 0.6)
        jm = cand & (rng.random(n_fam) < cfg.monthly_new_registration * (len(months) - 1))
        join_month[jm] = rng.integers(1, len(months), jm.sum())
    fam_in = join_month >= 0

    ref = month_start(months[0])
    m_starts = np.array([month_start(m) for m in months])
    pf = per["family"].to_numpy()
    member = fam_in[pf] & (rng.random(len(per)) < cfg.member_coverage)
    # people born after the family's registration appear a few months after birth (85% at all)
    bd = per["birth_date"].to_numpy().astype("datetime64[D]")
    born_month = np.searchsorted(m_starts, bd, side="right") - 1  # -1: born before the first month
    newborn_lag = rng.integers(1, 4, len(per))
    start = np.maximum(join_month[pf], np.where(born_month >= 0, born_month + newborn_lag, 0))
    newborn_listed = (born_month < 0) | (rng.random(len(per)) < 0.85)
    keep = member & newborn_listed & (start < len(months))
    # the dead: removed 1-3 months after death, or never (dead_listed)
    dd = per["death_date"].to_numpy().astype("datetime64[D]")
    dead = ~np.isnat(dd)
    never = dead & (rng.random(len(per)) < cfg.dead_listed)
    removal = np.where(dead, dd + (rng.integers(1, 4, len(per)) * 30).astype("timedelta64[D]"), np.datetime64("NaT"))
    end = np.full(len(per), len(months))
    gone = dead & ~never
    end[gone] = np.searchsorted(m_starts, removal[gone], side="left")
    # a record exists only while the person is listed: dead people removed before the first month are gone
    keep &= end > start
    rec = per.loc[keep, RECORD_COLS].copy()
    rec["start"] = start[keep]
    rec["end"] = end[keep]
    rec = _duplicate(rng, rec, rates.duplicate)
    n = len(rec)
    rid = pd.Series(rec["kode_desa_cur"].str[:4].to_numpy()) + pd.Series(unique_ids(rng, n, 9))
    rec["ID_DTKS"] = rid.to_numpy(dtype=object)

    # which location each record shows: moves before the first month recorded with probability dtks_move_update
    ff = rec["family"].to_numpy()
    hist_updated = rng.random(n_fam) < cfg.dtks_move_update
    base_version = np.where(fam["hist_mover"].to_numpy()[ff] & hist_updated[ff], 1, 0)
    # duplicates of movers' records were often made at the other address
    isdup = rec["is_dup"].to_numpy()
    other = isdup & fam["hist_mover"].to_numpy()[ff] & (rng.random(n) < 0.6)
    base_version = np.where(other, 1 - base_version, base_version)
    move_m = fam["mover_month"].to_numpy()[ff]
    lag = rng.integers(0, 3, n_fam)[ff]
    rec["switch"] = np.where(move_m >= 0, move_m + lag, 10**6)
    rec["base_version"] = base_version

    obs, _ = noisy_identity(rng, rec, rates, cfg.formula_name_rate)
    rec = pd.concat([rec, obs], axis=1)
    # KK noise per record (applied to whichever card the month shows)
    rec["kk_miss"] = nz.pick(rng, rates.kk_missing, n)
    rec["kk_digit_pos"] = np.where(nz.pick(rng, rates.kk_digit, n), rng.integers(6, 16, n), -1)
    rec["kk_digit_add"] = rng.integers(1, 10, n)
    # family-level fields: KKS/bank account, birthplace
    pov40 = pct < 0.4
    kks_fam = rng.random(n_fam) < np.where(pov40, 0.75, 0.15)
    prov_bank = fam["kode_prov"].map(PROVINCE_FRAME.set_index("kode_prov")["bank"]).to_numpy()
    other_bank = HIMBARA[rng.integers(0, 4, n_fam)]
    bank_fam = np.where((rng.random(n_fam) < 0.92) | (fam["kode_prov"].to_numpy() == "11"), prov_bank, other_bank)
    rec["KKS"] = kks_fam[ff].astype(int)
    rec["BANK"] = np.where(kks_fam[ff], bank_fam[ff], None)
    kab_name = regions.regencies.set_index("kode_kab")["nama"]
    rec["TMP_LAHIR"] = rec["nik_district"].str[:4].map(kab_name).to_numpy(dtype=object)
    rec.loc[rng.random(n) < 0.03, "TMP_LAHIR"] = None
    base_update = ref - rng.integers(1, 730, n).astype("timedelta64[D]")
    rec["base_update"] = np.maximum(base_update, rec["birth_date"].to_numpy().astype("datetime64[D]"))

    out = {}
    for mi, m in enumerate(months):
        cur = rec.loc[(rec["start"] <= mi) & (rec["end"] > mi)]
        version = np.where(mi >= cur["switch"].to_numpy(), 2, cur["base_version"].to_numpy())
        cur = with_location(pop, cur, version)
        ms = m_starts[mi]
        upd = cur["base_update"].to_numpy().astype("datetime64[D]")
        started = cur["start"].to_numpy()
        upd = np.where(started > 0, m_starts[np.minimum(started, len(months) - 1)] + 3, upd)
        sw = cur["switch"].to_numpy()
        upd = np.where(mi >= sw, m_starts[np.clip(sw, 0, len(months) - 1)] + 9, upd)
        upd = np.minimum(upd, ms + 27)
        kk = cur["no_kk"].to_numpy(dtype=object).copy()
        pos = cur["kk_digit_pos"].to_numpy()
        addd = cur["kk_digit_add"].to_numpy()
        idx = np.flatnonzero(pos >= 0)
        kk[idx] = [s[:p] + str((int(s[p]) + a) % 10) + s[p + 1 :] for s, p, a in zip(kk[idx], pos[idx], addd[idx])]
        kk[cur["kk_miss"].to_numpy()] = None
        frame = pd.DataFrame(
            {
                "ID_DTKS": cur["ID_DTKS"].to_numpy(),
                "NIK": cur["nik_obs"].to_numpy(),
                "NO_KK": kk,
                "NAMA": cur["nama_obs"].to_numpy(),
                "JNS_KEL": cur["sex_obs"].astype(str).to_numpy(),
                "TMP_LAHIR": cur["TMP_LAHIR"].to_numpy(),
                "TGL_LAHIR": fmt_dates(cur["dob_obs"].to_numpy(), "%d-%m-%Y"),
                "HUB_KRT": cur["rel"].astype(str).to_numpy(),
                "ALAMAT": cur["alamat"].to_numpy(),
                "RT": cur["rt"].to_numpy(),
                "RW": cur["rw"].to_numpy(),
                "KODE_DESA": cur["kode_desa"].to_numpy(),
                "DISABILITAS_BERAT": cur["disabilitas_berat"].astype(str).to_numpy(),
                "HAMIL": cur["hamil"].astype(str).to_numpy(),
                "PENDIDIKAN": cur["pendidikan_obs"].astype(str).to_numpy(),
                "PEKERJAAN": cur["pekerjaan_obs"].astype(str).to_numpy(),
                "KKS": cur["KKS"].astype(str).to_numpy(),
                "BANK": cur["BANK"].to_numpy(),
                "TGL_UPDATE": fmt_dates(upd, "%d-%m-%Y"),
                "person_id": cur["person_id"].to_numpy(),
                "family_id": cur["family_id"].to_numpy(),
            }
        )
        out[m] = frame.sort_values(["KODE_DESA", "ID_DTKS"], kind="stable").reset_index(drop=True)
    return out


_TWO = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_YEARS = np.array([f"{i:04d}" for i in range(1800, 2200)], dtype=object)


def fmt_dates(d: np.ndarray, fmt: str) -> np.ndarray:
    """Format dates as %d-%m-%Y, %Y%m%d or %Y-%m-%d (NaT -> None), with lookup tables instead of strftime."""
    d = np.asarray(d).astype("datetime64[D]")
    nat = np.isnat(d)
    safe = np.where(nat, np.datetime64("2000-01-01"), d)
    y = safe.astype("datetime64[Y]").astype(int) + 1970
    mo = (safe.astype("datetime64[M]").astype(int) % 12) + 1
    dd = (safe - safe.astype("datetime64[M]")).astype(int) + 1
    ys, ms, ds = _YEARS[y - 1800], _TWO[mo], _TWO[dd]
    if fmt == "%d-%m-%Y":
        out = ds + "-" + ms + "-" + ys
    elif fmt == "%Y%m%d":
        out = ys + ms + ds
    elif fmt == "%Y-%m-%d":
        out = ys + "-" + ms + "-" + ds
    else:
        raise ValueError(f"unsupported date format {fmt}")
    out[nat] = None
    return out


# --------------------------------------------------------------------------------------------- Regsosek
def build_regsosek(
    rng: np.random.Generator, pop: Population, cfg: SynthConfig, ref: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame]:
    fam, per = pop.families, pop.persons
    rates = cfg.noise("regsosek")
    enum = ref - np.timedelta64(int(cfg.regsosek_months_before * 30.44), "D")
    fam_in = rng.random(len(fam)) < cfg.regsosek_family_coverage
    pf = per["family"].to_numpy()
    keep = fam_in[pf] & alive_between(per, enum) & (rng.random(len(per)) < cfg.member_coverage + 0.01)
    rec = per.loc[keep, RECORD_COLS].copy()
    version = hist_version(pop, enum)[rec["family"].to_numpy()]
    rec = with_location(pop, rec, version)
    rec = _duplicate(rng, rec, rates.duplicate)
    n = len(rec)
    # a duplicate person is listed a second time in another family of the same province (as a relative)
    fam_ids = np.flatnonzero(fam_in)
    prov_of = fam["kode_prov"].to_numpy()
    isdup = rec["is_dup"].to_numpy()
    if isdup.any():
        by_prov = pd.Series(fam_ids).groupby(prov_of[fam_ids]).apply(lambda s: s.to_numpy())
        dprov = prov_of[rec.loc[isdup, "family"].to_numpy()]
        r = rng.random(isdup.sum())
        host = np.array([by_prov[p][int(x * len(by_prov[p]))] for p, x in zip(dprov, r)])
        host_ver = hist_version(pop, enum)[host]
        hosted = with_location(pop, pd.DataFrame({"family": host}), host_ver)
        rec.loc[isdup, "reg_family"] = host
        for c in ("kode_desa", "alamat", "rt", "rw", "no_kk"):
            rec.loc[isdup, c] = hosted[c].to_numpy()
        rec.loc[isdup, "rel"] = np.where(rng.random(isdup.sum()) < 0.7, 7, 8)
    rec["reg_family"] = np.where(
        isdup, rec.get("reg_family", pd.Series(np.nan, index=rec.index)), rec["family"]
    ).astype(int)
    obs, _ = noisy_identity(rng, rec, rates, 0.0)
    rec = pd.concat([rec, obs], axis=1)
    kk = nz.kk_noise(rng, rec["no_kk"].to_numpy(dtype=object), rates.kk_missing, rates.kk_digit)

    # family ids: village code + serial within the village; members numbered 1..n in the family
    reg_fams = np.unique(rec["reg_family"].to_numpy())
    fam_ver = hist_version(pop, enum)
    fk = with_location(pop, pd.DataFrame({"family": reg_fams}), fam_ver[reg_fams])
    fk["seq"] = fk.groupby("kode_desa").cumcount() + 1
    fk["id_keluarga"] = fk["kode_desa"] + fk["seq"].map("{:05d}".format)
    id_map = pd.Series(fk["id_keluarga"].to_numpy(), index=reg_fams)
    rec["id_keluarga"] = id_map.reindex(rec["reg_family"].to_numpy()).to_numpy()
    rec = rec.assign(_rank=np.where(rec["is_dup"], 1, 0)).sort_values(["id_keluarga", "_rank", "rel"], kind="stable")
    rec["no_urut"] = rec.groupby("id_keluarga").cumcount() + 1
    nama = pd.Series(pc.utf8_title(pa.array(rec["nama_obs"].to_numpy(dtype=object), type=pa.string())).to_pandas())
    nama = nama.str.replace("Br. ", "br. ", regex=False)
    bekerja = (rec["pekerjaan_obs"].to_numpy() > 0).astype(int)
    individu = pd.DataFrame(
        {
            "id_keluarga": rec["id_keluarga"].to_numpy(),
            "no_urut": rec["no_urut"].to_numpy().astype(np.int32),
            "nik": rec["nik_obs"].to_numpy(),
            "nama": nama.to_numpy(dtype=object),
            "jenis_kelamin": np.where(rec["sex_obs"].to_numpy() == 1, "L", "P").astype(object),
            "tanggal_lahir": rec["dob_obs"].to_numpy(),
            "hubungan_kk": rec["rel"].to_numpy().astype(np.int32),
            "status_kawin": rec["status_kawin"].to_numpy().astype(np.int32),
            "pendidikan": rec["pendidikan_obs"].to_numpy().astype(np.int32),
            "jenjang_sekolah": rec["jenjang_sekolah"].to_numpy(dtype=object),
            "bekerja": bekerja.astype(np.int32),
            "lapangan_usaha": rec["pekerjaan_obs"].to_numpy().astype(np.int32),
            "disabilitas_berat": rec["disabilitas_berat"].to_numpy().astype(np.int32),
            "hamil": rec["hamil"].to_numpy().astype(np.int32),
            "person_id": rec["person_id"].to_numpy(),
            "family_id": rec["family_id"].to_numpy(),
        }
    )
    # KK noise was drawn in the original record order: carry it along the sort
    kk_series = pd.Series(kk, index=np.arange(n))
    individu.insert(3, "no_kk", kk_series.reindex(rec.index.to_numpy()).to_numpy())
    individu = individu.reset_index(drop=True)

    counts = individu.groupby("id_keluarga").size()
    kel = fam.iloc[reg_fams].copy()
    kel["id_keluarga"] = id_map.reindex(reg_fams).to_numpy()
    kel["kode_desa"] = fk["kode_desa"].to_numpy()
    alamat = (
        pd.Series(fk["alamat"].to_numpy()).str.title().str.replace("No.", "No.", regex=False)
        + " RT "
        + fk["rt"].to_numpy()
        + "/RW "
        + fk["rw"].to_numpy()
    )
    kel["alamat"] = alamat.to_numpy(dtype=object)
    kel["jumlah_art"] = counts.reindex(kel["id_keluarga"]).to_numpy()
    kel["desa_terpencil"] = fk["remote"].astype(int).to_numpy()
    kel_cols = [
        "id_keluarga",
        "kode_desa",
        "alamat",
        "status_bangunan",
        "luas_lantai_m2",
        "jenis_lantai",
        "jenis_dinding",
        "jenis_atap",
        "sumber_air_minum",
        "fasilitas_bab",
        "sumber_penerangan",
        "bahan_bakar_masak",
        "aset_kulkas",
        "aset_motor",
        "aset_mobil",
        "aset_lahan_m2",
        "aset_ternak",
        "jumlah_art",
        "desa_terpencil",
    ]
    kel = kel[kel_cols + ["family_id"]].sort_values("id_keluarga").reset_index(drop=True)
    return kel, individu


# --------------------------------------------------------------------------------------------- P3KE
def build_p3ke(rng: np.random.Generator, pop: Population, cfg: SynthConfig, ref: np.datetime64) -> pd.DataFrame:
    fam, per = pop.families, pop.persons
    rates = cfg.noise("p3ke")
    enum = ref - np.timedelta64(int(cfg.p3ke_months_before * 30.44), "D")
    # P3KE ranks families with its own noisy welfare estimate and keeps the bottom 40% of persons (desil 1-4)
    logc = np.log(fam["pcc"].to_numpy()) + rng.normal(0, cfg.p3ke_rank_noise * 0.55, len(fam))
    order = np.argsort(logc, kind="stable")
    cum = np.cumsum(fam["size"].to_numpy()[order]) / fam["size"].sum()
    own = np.empty(len(fam))
    own[order] = cum
    fam_in = own <= cfg.p3ke_share
    desil = np.clip(np.ceil(own * 10 - 1e-9).astype(int), 1, 4)  # only families up to the 40th percentile
    pf = per["family"].to_numpy()
    keep = fam_in[pf] & alive_between(per, enum) & (rng.random(len(per)) < cfg.member_coverage)
    rec = per.loc[keep, RECORD_COLS].copy()
    rec = with_location(pop, rec, hist_version(pop, enum)[rec["family"].to_numpy()])
    rec = _duplicate(rng, rec, rates.duplicate)
    n = len(rec)
    obs, _ = noisy_identity(rng, rec, rates, cfg.formula_name_rate)
    rec = pd.concat([rec, obs], axis=1)
    kk = nz.kk_noise(rng, rec["no_kk"].to_numpy(dtype=object), rates.kk_missing, rates.kk_digit)
    fams = np.unique(rec["family"].to_numpy())
    fam_code = pd.Series(unique_ids(rng, len(fams), 10), index=fams)
    id_kel = ("P3KE" + fam_code.reindex(rec["family"].to_numpy())).to_numpy(dtype=object)
    id_ind = ("P3KEI" + pd.Series(unique_ids(rng, n, 11))).to_numpy(dtype=object)
    # P3KE addresses: upper case, abbreviations of its own, RT/RW in the text
    alamat = (
        pd.Series(rec["alamat"].to_numpy(dtype=object))
        .str.replace("JL. ", "JLN " if rng.random() < 0.5 else "JALAN ", regex=False)
        .str.replace(" NO. ", " ", regex=False)
        + " RT "
        + pd.Series(rec["rt"].to_numpy()).str.lstrip("0")
        + " RW "
        + pd.Series(rec["rw"].to_numpy()).str.lstrip("0")
    )
    frame = pd.DataFrame(
        {
            "id_keluarga_p3ke": id_kel,
            "id_individu_p3ke": id_ind,
            "kode_kemendagri": rec["kode_desa"].to_numpy(),
            "nik": rec["nik_obs"].to_numpy(),
            "no_kk": kk,
            "nama": rec["nama_obs"].to_numpy(),
            "jk": np.where(rec["sex_obs"].to_numpy() == 1, "L", "P").astype(object),
            "tgl_lahir": fmt_dates(rec["dob_obs"].to_numpy(), "%Y%m%d"),
            "hubungan": rec["rel"].astype(str).to_numpy(),
            "alamat": alamat.to_numpy(dtype=object),
            "desil_p3ke": desil[rec["family"].to_numpy()].astype(str),
            "pekerjaan": rec["pekerjaan_obs"].astype(str).to_numpy(),
            "pendidikan": rec["pendidikan_obs"].astype(str).to_numpy(),
            "person_id": rec["person_id"].to_numpy(),
            "family_id": rec["family_id"].to_numpy(),
        }
    )
    return frame.sort_values(["kode_kemendagri", "id_keluarga_p3ke", "id_individu_p3ke"]).reset_index(drop=True)
