"""The true synthetic population: families, persons, consumption, housing proxies, NIK and KK.

Everything is vectorised with numpy/pandas. The population is what the registries describe with errors;
the ground truth written under truth/ comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from .names import sample_names
from .regions import PROVINCE_FRAME, Regions

POVERTY_LINE = 600_000  # rupiah per capita per month, roughly the 2024 national line
FAMILY_TYPES = np.array(["single", "couple", "nuclear", "single_parent", "extended", "three_gen"])
FAMILY_TYPE_P = np.array([0.14, 0.13, 0.51, 0.08, 0.09, 0.05])


@dataclass
class Population:
    families: pd.DataFrame  # one row per true family (index = family index)
    persons: pd.DataFrame  # one row per true person (index = person index)
    locations: pd.DataFrame  # family location versions: family, version, kode_desa, alamat, rt, rw, no_kk, ...


def _dates_from_days(days: np.ndarray) -> np.ndarray:
    return np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")


def _ddmmyy(dates: np.ndarray, add40: np.ndarray | None = None) -> np.ndarray:
    s = pd.DatetimeIndex(dates)
    day = s.day.to_numpy() + (np.where(add40, 40, 0) if add40 is not None else 0)
    return (
        pd.Series(day).map("{:02d}".format)
        + pd.Series(s.month).map("{:02d}".format)
        + pd.Series(s.year % 100).map("{:02d}".format)
    ).to_numpy(dtype=object)


def _serials(keys: np.ndarray) -> np.ndarray:
    """Serial 0001.. within each key, in input order."""
    c = pd.Series(np.arange(len(keys))).groupby(keys, sort=False).cumcount().to_numpy() + 1
    return pd.Series(c).map("{:04d}".format).to_numpy(dtype=object)


def _build_members(rng: np.random.Generator, fam_type: np.ndarray, ref_year: float) -> pd.DataFrame:
    """Member slots per family with relationship, age and sex (vectorised by role)."""
    nf = len(fam_type)
    fidx = np.arange(nf)
    t = fam_type
    parts = []

    def add(mask, rel, age, male, order=None):
        idx = fidx[mask]
        parts.append(
            pd.DataFrame(
                {
                    "family": idx,
                    "rel": rel,
                    "age": np.asarray(age, dtype=float)[mask] if np.ndim(age) else age,
                    "male": np.asarray(male)[mask] if np.ndim(male) else male,
                    "order": order if order is not None else 0,
                }
            )
        )

    # head
    head_age = np.select(
        [t == "single", t == "couple", t == "nuclear", t == "single_parent", t == "extended", t == "three_gen"],
        [
            rng.choice([22, 30, 45, 60, 72], nf, p=[0.2, 0.15, 0.15, 0.2, 0.3]) + rng.uniform(0, 12, nf),
            rng.choice([24, 55], nf, p=[0.5, 0.5]) + rng.uniform(0, 20, nf),
            rng.uniform(24, 58, nf),
            rng.uniform(28, 62, nf),
            rng.uniform(30, 50, nf),
            rng.uniform(58, 84, nf),
        ],
    )
    head_male = rng.random(nf) < np.select([t == "single", t == "single_parent"], [0.45, 0.2], 0.92)
    add(np.ones(nf, bool), 1, head_age, head_male)
    has_spouse = np.isin(t, ["couple", "nuclear", "extended"]) | ((t == "three_gen") & (rng.random(nf) < 0.65))
    spouse_age = np.clip(head_age + np.where(head_male, -rng.gamma(2.0, 2.0, nf), rng.gamma(2.0, 2.0, nf)), 17, 95)
    add(has_spouse, 2, spouse_age, ~head_male)
    mother_age = np.where(head_male & has_spouse, spouse_age, head_age)

    # children (rel 3) of the head; birth spacing 1-5 years, the oldest born when the mother was 18-32
    n_child = np.where(
        np.isin(t, ["nuclear", "extended"]),
        1 + rng.poisson(1.0, nf),
        np.where(t == "single_parent", 1 + rng.poisson(0.7, nf), 0),
    )
    n_child = np.minimum(n_child, 7)
    first_gap = rng.uniform(18, 32, nf)
    for k in range(int(n_child.max(initial=0))):
        m = n_child > k
        age_k = mother_age - first_gap - k * rng.uniform(1.5, 5, nf)
        m = m & (age_k >= 0)
        add(m, 3, np.maximum(age_k, 0), rng.random(nf) < 0.51, order=k)

    # elderly parents of the head (rel 6) in extended families
    n_par = np.where(t == "extended", rng.choice([1, 2], nf, p=[0.7, 0.3]), 0)
    par_age = head_age + rng.uniform(22, 34, nf)
    add(n_par >= 1, 6, np.minimum(par_age, 98), rng.random(nf) < 0.3)
    add(n_par >= 2, 6, np.minimum(par_age + rng.normal(0, 3, nf), 98), rng.random(nf) < 0.5)

    # three generations: a married child (3), the child-in-law (4) and grandchildren (5)
    tg = t == "three_gen"
    mc_age = head_age - rng.uniform(22, 35, nf)
    mc_male = rng.random(nf) < 0.5
    add(tg, 3, mc_age, mc_male)
    add(tg, 4, mc_age + rng.normal(0, 3, nf), ~mc_male)
    n_gc = np.where(tg, rng.choice([0, 1, 2, 3], nf, p=[0.15, 0.35, 0.35, 0.15]), 0)
    for k in range(3):
        age_k = mc_age - rng.uniform(20, 28, nf) - k * rng.uniform(1.5, 4, nf)
        add((n_gc > k) & (age_k >= 0), 5, np.maximum(age_k, 0), rng.random(nf) < 0.51, order=k)

    # other relatives / non-relatives living on the same card
    other = rng.random(nf) < 0.025
    add(
        other,
        np.where(rng.random(nf) < 0.7, 7, 8)[other] if other.any() else 7,
        rng.uniform(5, 70, nf),
        rng.random(nf) < 0.5,
    )

    m = pd.concat(parts, ignore_index=True)
    m["age"] = np.clip(m["age"], 0, 99)
    m = m.sort_values(["family", "rel", "age"], ascending=[True, True, False], kind="stable").reset_index(drop=True)
    return m


def build_population(
    rng: np.random.Generator,
    regions: Regions,
    n_persons: int,
    ref_date: np.datetime64,
    window_start: np.datetime64,
    window_end: np.datetime64,
) -> Population:
    """Build N persons in families. ref_date is the first delivery month; deaths fall in [window_start, window_end)."""
    ref_year = pd.Timestamp(ref_date).year + (pd.Timestamp(ref_date).dayofyear - 1) / 365.25
    n_fam = int(n_persons / 3.2 * 1.05) + 10
    fam_type = FAMILY_TYPES[rng.choice(len(FAMILY_TYPES), n_fam, p=FAMILY_TYPE_P)]
    members = _build_members(rng, fam_type, ref_year)
    # keep whole families until N persons, then trim the last family
    members = members.iloc[:n_persons].copy()
    n_fam = int(members["family"].iloc[-1]) + 1
    fam_type = fam_type[:n_fam]

    vil = regions.villages
    prov = PROVINCE_FRAME.set_index("kode_prov")
    # families to villages by population weight
    vw = vil["weight"].to_numpy()
    vi = rng.choice(len(vil), n_fam, p=vw / vw.sum())
    fam = pd.DataFrame({"family_type": fam_type, "village_i": vi})
    fam["kode_desa"] = vil["kode_desa"].to_numpy()[vi]
    fam["kode_prov"] = fam["kode_desa"].str[:2]
    fam["urban"] = vil["urban"].to_numpy()[vi]
    fam["remote"] = vil["remote"].to_numpy()[vi]
    fam["flavour"] = fam["kode_prov"].map(prov["flavour"]).to_numpy()
    fam["status"] = rng.normal(0, 1, n_fam)  # latent socio-economic status of the family

    per = members
    per["family_type"] = fam_type[per["family"]]
    fstat = fam["status"].to_numpy()[per["family"]]
    urban_p = fam["urban"].to_numpy()[per["family"]]
    age = per["age"].to_numpy()
    male = per["male"].to_numpy(bool)
    n = len(per)

    # twins: a second child born the same day as the first child in ~2% of families with 2+ children
    per["birth_days"] = (
        (np.datetime64(ref_date, "D") - np.datetime64("1970-01-01", "D")).astype(int)
        - np.floor(age * 365.25).astype(int)
        - rng.integers(0, 365, n)
    )
    is_child = per["rel"].to_numpy() == 3
    first_child = is_child & (per["order"].to_numpy() == 0)
    second_child = is_child & (per["order"].to_numpy() == 1)
    fam_twins = rng.random(n_fam) < 0.02
    twin_of = np.full(n, -1)
    sec_idx = np.flatnonzero(second_child & fam_twins[per["family"]])
    first_idx_by_fam = pd.Series(np.flatnonzero(first_child), index=per["family"].to_numpy()[first_child])
    have = pd.Series(per["family"].to_numpy()[sec_idx]).isin(first_idx_by_fam.index).to_numpy()
    sec_idx = sec_idx[have]
    fst_idx = first_idx_by_fam.loc[per["family"].to_numpy()[sec_idx]].to_numpy()
    twin_of[sec_idx] = fst_idx
    bd = per["birth_days"].to_numpy()
    bd[sec_idx] = bd[fst_idx]
    per["birth_days"] = bd
    age = (np.datetime64(ref_date, "D") - _dates_from_days(bd)).astype(int) / 365.25
    per["age"] = age
    per["twin_of"] = twin_of
    per["birth_date"] = _dates_from_days(bd)

    # education attained (0 none .. 5 bachelor+), by cohort and family status
    edu_latent = 0.8 * fstat + rng.normal(0, 0.8, n) + np.where(urban_p, 0.4, 0) - np.clip((age - 40) / 25, 0, 1.2)
    cuts = np.array([-1.6, -0.5, 0.3, 1.4, 1.9])
    edu = np.searchsorted(cuts, edu_latent)
    # children have not finished school yet: attained level bounded by age
    edu_cap = np.select([age < 13, age < 16, age < 19, age < 22], [0, 1, 2, 3], 5)
    per["pendidikan"] = np.minimum(edu, edu_cap)

    # current school level for school-age children; enrolment falls with poverty at SMP/SMA
    school = np.full(n, "none", dtype=object)
    p_sd, p_smp, p_sma = 0.985, np.clip(0.90 + 0.05 * fstat, 0.7, 0.99), np.clip(0.72 + 0.12 * fstat, 0.35, 0.97)
    u = rng.random(n)
    school = np.where((age >= 7) & (age < 13) & (u < p_sd), "SD", school)
    school = np.where((age >= 13) & (age < 16) & (u < p_smp), "SMP", school)
    school = np.where((age >= 16) & (age < 19) & (u < p_sma), "SMA", school)
    per["jenjang_sekolah"] = school

    # severe disability: rises steeply with age
    p_dis = 0.006 + 0.12 / (1 + np.exp(-(age - 80) / 6))
    per["disabilitas_berat"] = (rng.random(n) < p_dis).astype(int)

    # work: employment by age and sex; sector by urban/rural and family status
    working_age = (age >= 15) & (school == "none")
    p_work = np.where(age >= 65, 0.35, np.where(male, 0.82, 0.52)) * np.where(age < 19, 0.5, 1.0)
    works = working_age & (rng.random(n) < p_work) & (per["disabilitas_berat"].to_numpy() == 0)
    sectors = np.arange(1, 10)
    rural_p = np.array([0.40, 0.05, 0.08, 0.15, 0.12, 0.08, 0.05, 0.03, 0.04])
    urban_pp = np.array([0.05, 0.01, 0.18, 0.25, 0.25, 0.08, 0.08, 0.05, 0.05])
    sec_r = rng.choice(sectors, n, p=rural_p / rural_p.sum())
    sec_u = rng.choice(sectors, n, p=urban_pp / urban_pp.sum())
    sector = np.where(urban_p, sec_u, sec_r)
    # civil servants and formal jobs concentrate in better-off, educated families
    civil = works & (edu >= 3) & (rng.random(n) < 0.06 + 0.05 * np.clip(fstat, 0, 2))
    sector = np.where(civil, 8, np.where((sector == 8) & (edu < 3), 5, sector))
    per["pekerjaan"] = np.where(works, sector, 0)

    # pregnancy: married women 15-49 present with a spouse
    wife_like = (~male) & np.isin(per["rel"].to_numpy(), [1, 2, 4]) & (age >= 16) & (age < 46)
    p_preg = np.where(age < 35, 0.085, 0.035)
    fam_has_couple = pd.Series(per["rel"].to_numpy() == 2).groupby(per["family"]).transform("any").to_numpy()
    per["hamil"] = (wife_like & (fam_has_couple | (per["rel"].to_numpy() == 4)) & (rng.random(n) < p_preg)).astype(int)

    rel = per["rel"].to_numpy()
    per["status_kawin"] = np.select(
        [
            np.isin(rel, [2, 4]),
            (rel == 1) & np.isin(fam_type[per["family"]], ["couple", "nuclear", "extended"]),
            age < 17,
            (rel == 6) | ((rel == 1) & (age > 60)),
        ],
        [2, 2, 1, 4],
        default=np.where(rng.random(n) < 0.6, 1, 3),
    )

    # ---- consumption (latent per-capita, monthly rupiah) ----
    fam_size = per.groupby("family").size().reindex(range(n_fam), fill_value=0).to_numpy()
    is_dep = (age < 15) | (age >= 65)
    dep_ratio = pd.Series(is_dep).groupby(per["family"]).mean().reindex(range(n_fam), fill_value=0).to_numpy()
    head_mask = rel == 1
    head_edu = pd.Series(per["pendidikan"].to_numpy()[head_mask], index=per["family"].to_numpy()[head_mask])
    head_edu = head_edu.reindex(range(n_fam), fill_value=0).to_numpy()
    head_sector = pd.Series(per["pekerjaan"].to_numpy()[head_mask], index=per["family"].to_numpy()[head_mask])
    head_sector = head_sector.reindex(range(n_fam), fill_value=0).to_numpy()
    n_workers = (
        pd.Series(per["pekerjaan"].to_numpy() > 0)
        .groupby(per["family"])
        .sum()
        .reindex(range(n_fam), fill_value=0)
        .to_numpy()
    )
    sector_eff = np.array([-0.15, -0.20, -0.25, 0.0, 0.05, 0.10, -0.05, 0.0, 0.35, 0.0])[head_sector]
    fam_village_eff = vil["effect"].to_numpy()[vi]
    z = (
        0.45 * fam["status"].to_numpy()
        + 0.12 * head_edu
        + sector_eff
        + 0.25 * fam["urban"].to_numpy()
        - 0.30 * fam["remote"].to_numpy()
        - 0.18 * np.log(np.maximum(fam_size, 1))
        - 0.35 * dep_ratio
        + 0.08 * n_workers / np.maximum(fam_size, 1)
        + fam_village_eff
        + rng.normal(0, 0.28, n_fam)
    )
    z = (z - z.mean()) / z.std()
    sigma = 0.55
    pov = fam["kode_prov"].map(prov["poverty_pct"]).to_numpy() / 100.0
    mu = np.log(POVERTY_LINE) - sigma * np.array([NormalDist().inv_cdf(p) for p in pov])
    log_pcc = mu + sigma * z
    fam["pcc"] = np.round(np.exp(log_pcc), -2).astype(np.int64)
    fam["size"] = fam_size
    fam["head_edu"] = head_edu
    fam["head_sector"] = head_sector

    # ---- housing and assets: driven by consumption, with noise and regional style ----
    w = (log_pcc - np.log(POVERTY_LINE)) / sigma  # standardised welfare
    papua = fam["kode_prov"].str[0].to_numpy() == "9"

    def ordinal(signal, cuts_, noise_sd=0.9):
        # higher signal -> better (lower) code
        lat = signal + rng.normal(0, noise_sd, n_fam)
        return len(cuts_) + 1 - np.searchsorted(np.sort(cuts_), lat)

    fam["status_bangunan"] = np.where(
        rng.random(n_fam) < 0.8, 1, rng.choice([2, 3, 4, 5], n_fam, p=[0.5, 0.35, 0.05, 0.1])
    )
    fam["luas_lantai_m2"] = np.clip(
        np.round(np.exp(3.7 + 0.25 * w + 0.12 * np.log(np.maximum(fam_size, 1)) + rng.normal(0, 0.35, n_fam))), 9, 600
    ).astype(int)
    fam["jenis_lantai"] = ordinal(w - 0.6 * papua, [-2.2, -1.4, -0.6, 0.4, 1.0], 0.9)
    fam["jenis_dinding"] = ordinal(w - 0.8 * papua, [-1.8, -1.0, -0.3, 0.6], 0.9)
    fam["jenis_atap"] = ordinal(w - 1.0 * papua, [-2.6, -1.8, -0.2, 0.9, 1.9], 1.1)
    fam["sumber_air_minum"] = ordinal(w - 0.5 * fam["remote"].to_numpy(), [-1.8, -1.0, -0.4, 0.2, 1.0], 1.0)
    fam["fasilitas_bab"] = ordinal(w, [-1.6, -1.0, -0.5], 0.9)
    fam["sumber_penerangan"] = ordinal(w - 1.2 * fam["remote"].to_numpy(), [-2.6, -1.6, -0.8], 0.8)
    # cooking fuel: electricity (1) for the well-off, LPG (2) for most, kerosene (3), firewood (4) for the poor;
    # a few families do not cook (5) whatever their welfare
    fuel = ordinal(w + 0.8 * fam["urban"].to_numpy() - 0.8 * fam["remote"].to_numpy(), [-0.9, -0.6, 2.2], 0.9)
    fam["bahan_bakar_masak"] = np.where(rng.random(n_fam) < 0.02, 5, fuel)
    fam["aset_kulkas"] = (w + rng.normal(0, 0.9, n_fam) > -0.3).astype(int)
    fam["aset_motor"] = (w + rng.normal(0, 1.0, n_fam) > -0.8).astype(int)
    fam["aset_mobil"] = (w + rng.normal(0, 0.8, n_fam) > 1.9).astype(int)
    rural = ~fam["urban"].to_numpy()
    has_land = rural & (rng.random(n_fam) < 0.45 + 0.1 * np.tanh(w))
    fam["aset_lahan_m2"] = np.where(
        has_land, np.round(np.exp(7.2 + 0.5 * w + rng.normal(0, 0.8, n_fam)), -1), 0
    ).astype(np.int64)
    fam["aset_ternak"] = np.where(rural & (rng.random(n_fam) < 0.35), rng.poisson(np.exp(1.0 + 0.2 * w)), 0).astype(int)
    fam["jumlah_art"] = fam_size
    fam["desa_terpencil"] = fam["remote"].astype(int)

    # ---- names ----
    flav = fam["flavour"].to_numpy()[per["family"]]
    per["nama"] = sample_names(rng, per["family"].to_numpy(), male, age, rel, flav, per["order"].to_numpy(), twin_of)
    per["sex"] = np.where(male, 1, 2)

    # ---- mortality over the observation window ----
    q = np.exp(-10.2 + 0.092 * np.maximum(age, 0)) * (1 + 1.5 * per["disabilitas_berat"].to_numpy())
    years = (window_end - window_start).astype(int) / 365.25
    p_die = 1 - (1 - np.clip(q, 0, 0.5)) ** years
    dies = rng.random(n) < p_die
    span = (window_end - window_start).astype(int)
    death_day = (window_start - np.datetime64("1970-01-01", "D")).astype(int) + rng.integers(0, span, n)
    death_day = np.maximum(death_day, bd + 1)
    per["death_date"] = np.where(dies, _dates_from_days(death_day), np.datetime64("NaT"))

    # ---- residence history: the enumeration-era location (v0) and the location at the first delivery (v1) ----
    fam_id = np.array([f"F{i + 1:08d}" for i in range(n_fam)], dtype=object)
    fam["family_id"] = fam_id
    per["person_id"] = np.array([f"P{i + 1:09d}" for i in range(n)], dtype=object)
    per["family_id"] = fam_id[per["family"].to_numpy()]
    return Population(families=fam, persons=per, locations=pd.DataFrame())


STREET_WORDS = np.array(
    [
        "MELATI",
        "MAWAR",
        "KENANGA",
        "CEMPAKA",
        "ANGGREK",
        "FLAMBOYAN",
        "DAHLIA",
        "SEROJA",
        "TERATAI",
        "KAMBOJA",
        "MERDEKA",
        "PAHLAWAN",
        "SUDIRMAN",
        "DIPONEGORO",
        "GATOT SUBROTO",
        "AHMAD YANI",
        "KARTINI",
        "PEMUDA",
        "SISINGAMANGARAJA",
        "HASANUDDIN",
        "IMAM BONJOL",
        "SURAPATI",
        "PATIMURA",
        "VETERAN",
        "RAYA",
        "PASAR",
        "MASJID",
        "SEKOLAH",
        "KELAPA",
        "NANGKA",
        "MANGGA",
        "DURIAN",
        "RAMBUTAN",
        "BELIMBING",
        "JAMBU",
        "SAWO",
        "PERINTIS",
        "PELITA",
        "HARAPAN",
        "BAHAGIA",
        "SEJAHTERA",
        "KELURAHAN",
        "PERMATA",
        "INTAN",
        "MUTIARA",
    ]
)


def make_addresses(rng: np.random.Generator, n: int, urban: np.ndarray, village_names: np.ndarray) -> pd.DataFrame:
    """A street address per location (urban: JL./GG. street NO. n; rural: DUSUN name), RT and RW."""
    street = STREET_WORDS[rng.integers(0, len(STREET_WORDS), n)]
    kind = np.where(rng.random(n) < 0.75, "JL. ", "GG. ")
    number = rng.integers(1, 160, n)
    urban_addr = pd.Series(kind) + pd.Series(street) + " NO. " + pd.Series(number).astype(str)
    dusun = (
        pd.Series(np.where(rng.random(n) < 0.5, "DUSUN ", "KAMPUNG "))
        + pd.Series(village_names).astype(str).str.split(" ").str[-1]
        + np.where(
            rng.random(n) < 0.5,
            " "
            + pd.Series(rng.integers(1, 6, n)).astype(str).map({"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}),
            "",
        )
    )
    alamat = np.where(urban | (rng.random(n) < 0.3), urban_addr, dusun)
    rt = pd.Series(rng.integers(1, 16, n)).map("{:03d}".format).to_numpy(dtype=object)
    rw = pd.Series(rng.integers(1, 9, n)).map("{:03d}".format).to_numpy(dtype=object)
    return pd.DataFrame({"alamat": alamat.astype(object), "rt": rt, "rw": rw})


def assign_identity(
    rng: np.random.Generator,
    pop: Population,
    regions: Regions,
    ref_date: np.datetime64,
    moved_rate: float,
    monthly_move_rate: float,
    months: int,
    split_district_rate: float,
) -> None:
    """NIK, KK and residence history (in place).

    Location versions per family: v0 = where the family lived when the older registries enumerated it,
    v1 = at the first delivery month, v2 = after a move during the delivery months (if any).
    """
    fam, per = pop.families, pop.persons
    vil = regions.villages
    n_fam, n = len(fam), len(per)

    # historical movers: v0 in another village (same regency 50%, same province 30%, elsewhere 20%)
    hist = rng.random(n_fam) < moved_rate
    vil_by_kab = vil.groupby("kode_kab").indices
    vil_by_prov = vil.groupby("kode_prov").indices
    cur_vi = fam["village_i"].to_numpy()
    cur_kab = vil["kode_kab"].to_numpy()[cur_vi]
    cur_prov = vil["kode_prov"].to_numpy()[cur_vi]
    u = rng.random(n_fam)
    old_vi = cur_vi.copy()
    r = rng.random(n_fam)
    for i in np.flatnonzero(hist):
        if u[i] < 0.5:
            cand = vil_by_kab[cur_kab[i]]
        elif u[i] < 0.8:
            cand = vil_by_prov[cur_prov[i]]
        else:
            cand = None
        old_vi[i] = cand[int(r[i] * len(cand))] if cand is not None else int(r[i] * len(vil))
    # monthly movers during the delivery months (from month 1 on)
    mover_month = np.full(n_fam, -1)
    if months > 1:
        mm = rng.random(n_fam) < monthly_move_rate * (months - 1)
        mover_month[mm] = rng.integers(1, months, mm.sum())
    new_vi = cur_vi.copy()
    r2 = rng.random(n_fam)
    for i in np.flatnonzero(mover_month >= 0):
        cand = vil_by_kab[cur_kab[i]] if r2[i] < 0.7 else vil_by_prov[cur_prov[i]]
        new_vi[i] = cand[int(rng.random() * len(cand))]

    ref_days = (np.datetime64(ref_date, "D") - np.datetime64("1970-01-01", "D")).astype(int)
    head_age = per.loc[per["rel"] == 1].set_index("family")["age"].reindex(range(n_fam)).fillna(40).to_numpy()
    # KK registration date: family formation (head aged 20-30), never before 1985
    kk_days0 = ref_days - np.floor(np.maximum(head_age - rng.uniform(20, 30, n_fam), 0.3) * 365.25).astype(int)
    kk_days0 = np.maximum(kk_days0, (np.datetime64("1985-01-01") - np.datetime64("1970-01-01")).astype(int))
    move_days1 = ref_days - rng.integers(30, 42 * 30, n_fam)  # historical move 1-42 months before ref
    kk_days1 = np.where(hist, move_days1, kk_days0)
    kk_days0 = np.where(hist, np.minimum(kk_days0, move_days1 - 400), kk_days0)
    kk_days2 = ref_days + mover_month * 30 + rng.integers(0, 28, n_fam)

    vnames = vil["nama"].to_numpy()
    urban = vil["urban"].to_numpy()
    versions = []
    for ver, vi_, kkd, mask in (
        (0, old_vi, kk_days0, np.ones(n_fam, bool)),
        (1, cur_vi, kk_days1, np.ones(n_fam, bool)),
        (2, new_vi, kk_days2, mover_month >= 0),
    ):
        idx = np.flatnonzero(mask)
        addr = make_addresses(rng, len(idx), urban[vi_[idx]], vnames[vi_[idx]])
        d = pd.DataFrame(
            {"family": idx, "version": ver, "kode_desa": vil["kode_desa"].to_numpy()[vi_[idx]], "kk_days": kkd[idx]}
        )
        d = pd.concat([d, addr], axis=1)
        if ver == 1:  # non-movers keep the v0 location as it was
            same = ~hist[idx]
            v0 = versions[0].set_index("family")
            for c in ("alamat", "rt", "rw", "kk_days"):
                d.loc[same, c] = v0.loc[idx[same], c].to_numpy()
        versions.append(d)
    loc = pd.concat(versions, ignore_index=True)
    loc["move_month"] = np.where(loc["version"] == 2, mover_month[loc["family"]], 0)
    loc["remote"] = vil.set_index("kode_desa")["remote"].reindex(loc["kode_desa"]).to_numpy()
    # KK number: issuing district (6) + registration date DDMMYY + serial
    kk_dates = _dates_from_days(loc["kk_days"].to_numpy())
    kk_prefix = loc["kode_desa"].str[:6].to_numpy() + _ddmmyy(kk_dates)
    # identical (family, date, district) rows are the same card: non-movers' v1 equals v0
    loc["kk_key"] = kk_prefix
    cards = loc.loc[~loc.duplicated(["family", "kk_key"]), ["family", "kk_key"]].copy()
    cards["no_kk"] = cards["kk_key"].to_numpy() + _serials(cards["kk_key"].to_numpy())
    loc = loc.merge(cards, on=["family", "kk_key"], how="left", validate="many_to_one")
    loc = loc.drop(columns=["kk_key"]).sort_values(["family", "version"]).reset_index(drop=True)
    pop.locations = loc
    fam["hist_mover"] = hist
    fam["hist_move_date"] = np.where(hist, _dates_from_days(move_days1), np.datetime64("NaT"))
    fam["mover_month"] = mover_month

    # NIK: district of first issue + birth date (+40 for women) + serial
    pf = per["family"].to_numpy()
    origin_vi = np.where(hist[pf] & (per["age"].to_numpy() >= 3), old_vi[pf], cur_vi[pf])
    district = vil["kode_kec"].to_numpy()[origin_vi].astype(object)
    # districts split since the NIK was issued: a code in valid form that today's reference does not hold
    split = rng.random(n) < split_district_rate
    district[split] = pd.Series(district[split]).str[:4].to_numpy() + "99"
    # the NIK's embedded date differs from the real birth date for ~1% (registration errors, kept forever)
    nik_bd = per["birth_date"].to_numpy().copy()
    off = rng.random(n) < 0.01
    nik_bd[off] = nik_bd[off] + rng.integers(-400, 400, off.sum()).astype("timedelta64[D]")
    prefix = district + _ddmmyy(nik_bd, per["sex"].to_numpy() == 2)
    per["nik"] = prefix + _serials(prefix)
    per["nik_district"] = district
