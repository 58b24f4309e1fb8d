"""Region reference for the synthetic population.

Provinces are real (Kemendagri code, name, number of regencies and cities, population, poverty rate).
Regencies, districts and villages are synthetic but follow the Kemendagri code form:
province 2 digits, regency 4 (01-69 regency, 71-99 city), district 6, village 10 (village part starting
with 1 = kelurahan, 2 = desa).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# code, name, regencies (kabupaten), cities (kota), population (millions, ~2024), poverty rate (%, ~2024),
# share of remote villages, naming flavour, main Himbara bank for social-assistance accounts.
PROVINCES: list[tuple[str, str, int, int, float, float, float, str, str]] = [
    ("11", "ACEH", 18, 5, 5.5, 14.2, 0.08, "aceh", "BSI"),
    ("12", "SUMATERA UTARA", 25, 8, 15.6, 7.9, 0.06, "batak", "BRI"),
    ("13", "SUMATERA BARAT", 12, 7, 5.8, 5.9, 0.05, "minang", "BRI"),
    ("14", "RIAU", 10, 2, 6.7, 6.4, 0.06, "melayu", "BRI"),
    ("15", "JAMBI", 9, 2, 3.7, 7.3, 0.06, "melayu", "BRI"),
    ("16", "SUMATERA SELATAN", 13, 4, 8.8, 11.0, 0.06, "melayu", "BRI"),
    ("17", "BENGKULU", 9, 1, 2.1, 13.6, 0.07, "melayu", "BRI"),
    ("18", "LAMPUNG", 13, 2, 9.4, 10.7, 0.05, "jawa", "BRI"),
    ("19", "KEPULAUAN BANGKA BELITUNG", 6, 1, 1.5, 4.5, 0.05, "melayu", "BRI"),
    ("21", "KEPULAUAN RIAU", 5, 2, 2.2, 5.4, 0.12, "melayu", "BNI"),
    ("31", "DKI JAKARTA", 1, 5, 10.7, 4.3, 0.00, "jawa", "BNI"),
    ("32", "JAWA BARAT", 18, 9, 50.3, 7.5, 0.02, "sunda", "BNI"),
    ("33", "JAWA TENGAH", 29, 6, 37.9, 10.5, 0.02, "jawa", "BRI"),
    ("34", "DI YOGYAKARTA", 4, 1, 3.7, 10.8, 0.01, "jawa", "BNI"),
    ("35", "JAWA TIMUR", 29, 9, 41.6, 9.8, 0.02, "jawa", "BRI"),
    ("36", "BANTEN", 4, 4, 12.4, 5.8, 0.02, "sunda", "BNI"),
    ("51", "BALI", 8, 1, 4.4, 4.0, 0.02, "bali", "BRI"),
    ("52", "NUSA TENGGARA BARAT", 8, 2, 5.6, 12.9, 0.08, "sasak", "BNI"),
    ("53", "NUSA TENGGARA TIMUR", 21, 1, 5.6, 19.0, 0.20, "ntt", "BRI"),
    ("61", "KALIMANTAN BARAT", 12, 2, 5.6, 6.3, 0.15, "melayu", "BRI"),
    ("62", "KALIMANTAN TENGAH", 13, 1, 2.8, 5.2, 0.18, "melayu", "BRI"),
    ("63", "KALIMANTAN SELATAN", 11, 2, 4.2, 4.0, 0.08, "melayu", "MANDIRI"),
    ("64", "KALIMANTAN TIMUR", 7, 3, 4.0, 5.8, 0.12, "melayu", "MANDIRI"),
    ("65", "KALIMANTAN UTARA", 4, 1, 0.7, 6.2, 0.25, "melayu", "MANDIRI"),
    ("71", "SULAWESI UTARA", 11, 4, 2.7, 7.2, 0.08, "minahasa", "BNI"),
    ("72", "SULAWESI TENGAH", 12, 1, 3.1, 11.8, 0.15, "bugis", "BRI"),
    ("73", "SULAWESI SELATAN", 21, 3, 9.4, 8.1, 0.06, "bugis", "BRI"),
    ("74", "SULAWESI TENGGARA", 15, 2, 2.8, 11.0, 0.14, "bugis", "BRI"),
    ("75", "GORONTALO", 5, 1, 1.2, 14.6, 0.08, "bugis", "BRI"),
    ("76", "SULAWESI BARAT", 6, 0, 1.5, 11.2, 0.12, "bugis", "BRI"),
    ("81", "MALUKU", 9, 2, 1.9, 15.8, 0.30, "maluku", "BNI"),
    ("82", "MALUKU UTARA", 8, 2, 1.3, 6.3, 0.28, "maluku", "BNI"),
    ("91", "PAPUA", 8, 1, 1.1, 17.3, 0.35, "papua", "MANDIRI"),
    ("92", "PAPUA BARAT", 7, 0, 0.57, 20.5, 0.40, "papua", "MANDIRI"),
    ("93", "PAPUA SELATAN", 4, 0, 0.53, 17.4, 0.45, "papua", "MANDIRI"),
    ("94", "PAPUA TENGAH", 8, 0, 1.45, 28.9, 0.50, "papua", "MANDIRI"),
    ("95", "PAPUA PEGUNUNGAN", 8, 0, 1.45, 32.0, 0.60, "papua", "MANDIRI"),
    ("96", "PAPUA BARAT DAYA", 5, 1, 0.62, 17.4, 0.40, "papua", "MANDIRI"),
]

PROVINCE_FRAME = pd.DataFrame(
    PROVINCES,
    columns=["kode_prov", "nama_prov", "n_kab", "n_kota", "pop_m", "poverty_pct", "remote_share", "flavour", "bank"],
)

_PLACE_PREFIX = np.array(
    [
        "SUKA",
        "SUMBER",
        "KARANG",
        "MEKAR",
        "SIDO",
        "BANJAR",
        "PASIR",
        "BUKIT",
        "TANJUNG ",
        "LUBUK ",
        "TALANG ",
        "AIR ",
        "KOTA ",
        "MARGA",
        "CIPTA",
        "JATI",
        "TANAH ",
        "SUNGAI ",
        "PADANG ",
        "BATU ",
        "WATU",
        "KEBON ",
        "PURWA",
        "TELUK ",
        "SIMPANG ",
        "PULAU ",
        "SRI",
        "NGADI",
        "WONO",
        "REJO",
        "CI",
        "GUNUNG ",
        "DESA ",
        "PEMATANG ",
    ]
)
_PLACE_SUFFIX = np.array(
    [
        "MAJU",
        "JAYA",
        "MAKMUR",
        "REJO",
        "SARI",
        "MULYA",
        "ASRI",
        "INDAH",
        "BARU",
        "AGUNG",
        "WANGI",
        "HARJO",
        "KARYA",
        "MUKTI",
        "LESTARI",
        "RAHAYU",
        "TIMUR",
        "BARAT",
        "UTARA",
        "SELATAN",
        "RAYA",
        "TENGAH",
        "MERAH",
        "PUTIH",
        "HIJAU",
        "KENCANA",
        "SEJAHTERA",
        "DAMAI",
        "BAHAGIA",
        "MANDIRI",
        "LAUT",
        "GEDE",
        "ANYAR",
        "KULON",
        "WETAN",
        "LOR",
        "KIDUL",
        "SEGARA",
        "BUMI",
        "NAGARA",
        "LUHUR",
    ]
)


def _place_names(rng: np.random.Generator, n: int) -> np.ndarray:
    a = _PLACE_PREFIX[rng.integers(0, len(_PLACE_PREFIX), n)]
    b = _PLACE_SUFFIX[rng.integers(0, len(_PLACE_SUFFIX), n)]
    return (pd.Series(a) + pd.Series(b)).to_numpy(dtype=object)


@dataclass(frozen=True)
class Regions:
    """The synthetic region tree plus per-village attributes used by the population model."""

    wilayah: pd.DataFrame  # kode, nama, tingkat, kode_induk (the contract file)
    villages: pd.DataFrame  # kode_desa, kode_kec, kode_kab, kode_prov, nama, urban, remote, effect, weight
    regencies: pd.DataFrame  # kode_kab, kode_prov, nama (without KAB./KOTA prefix)


def n_villages_for(persons: int) -> int:
    """Villages in the synthetic tree: about 300 persons per village, at least 600, at most the real 83,762."""
    return int(np.clip(persons // 300, 600, 83_762))


def build_regions(rng: np.random.Generator, persons: int) -> Regions:
    prov = PROVINCE_FRAME
    n_vil_total = n_villages_for(persons)
    kab_rows = []
    for p in prov.itertuples(index=False):
        for i in range(1, p.n_kab + 1):
            kab_rows.append((p.kode_prov, f"{p.kode_prov}{i:02d}", False))
        for i in range(71, 71 + p.n_kota):
            kab_rows.append((p.kode_prov, f"{p.kode_prov}{i:02d}", True))
    kab = pd.DataFrame(kab_rows, columns=["kode_prov", "kode_kab", "is_city"])
    kab["nama"] = _place_names(rng, len(kab))
    # population weight of each regency inside its province: lognormal, cities a little denser
    kab["w"] = rng.lognormal(0.0, 0.6, len(kab)) * np.where(kab["is_city"], 1.3, 1.0)
    pop_share = prov.set_index("kode_prov")["pop_m"] / prov["pop_m"].sum()
    kab["pop_share"] = kab["w"] / kab.groupby("kode_prov")["w"].transform("sum") * kab["kode_prov"].map(pop_share)
    # villages per regency proportional to population, at least 2 (so every regency has a district and villages)
    kab["n_vil"] = np.maximum(2, np.round(kab["pop_share"] * n_vil_total)).astype(int)
    kab["n_kec"] = np.maximum(1, np.round(kab["n_vil"] / 10)).astype(int)
    kab["n_kec"] = np.minimum(kab["n_kec"], 99)

    # districts
    kec_kab = np.repeat(kab["kode_kab"].to_numpy(), kab["n_kec"].to_numpy())
    kec_idx = pd.Series(kec_kab).groupby(kec_kab).cumcount().to_numpy() + 1
    kec = pd.DataFrame({"kode_kab": kec_kab})
    kec["kode_kec"] = kec["kode_kab"] + pd.Series(kec_idx).map(lambda i: f"{i:02d}")
    kec["nama"] = _place_names(rng, len(kec))
    # split each regency's villages over its districts
    kab_i = kab.set_index("kode_kab")
    kec_w = rng.uniform(0.5, 1.5, len(kec))
    kec["w"] = kec_w
    kec_tot = kec.groupby("kode_kab")["w"].transform("sum")
    kec["n_vil"] = np.maximum(1, np.round(kec["w"] / kec_tot * kec["kode_kab"].map(kab_i["n_vil"]))).astype(int)
    kec["n_vil"] = np.minimum(kec["n_vil"], 999)

    # villages: part starting with 1 (kelurahan, urban) or 2 (desa, rural)
    vil_kec = np.repeat(kec["kode_kec"].to_numpy(), kec["n_vil"].to_numpy())
    vil_kab = np.repeat(kec["kode_kab"].to_numpy(), kec["n_vil"].to_numpy())
    vil_is_city = pd.Series(vil_kab).map(kab_i["is_city"]).to_numpy()
    urban = rng.random(len(vil_kec)) < np.where(vil_is_city, 0.9, 0.15)
    seq = pd.Series(urban.astype(int)).groupby([vil_kec, urban]).cumcount().to_numpy() + 1
    part = np.where(urban, 1000, 2000) + seq
    vil = pd.DataFrame({"kode_kec": vil_kec, "kode_kab": vil_kab})
    vil["kode_prov"] = vil["kode_kab"].str[:2]
    vil["kode_desa"] = vil["kode_kec"] + pd.Series(part).astype(str)
    vil["nama"] = _place_names(rng, len(vil))
    vil["urban"] = urban
    remote_share = vil["kode_prov"].map(prov.set_index("kode_prov")["remote_share"]).to_numpy()
    vil["remote"] = (~urban) & (rng.random(len(vil)) < remote_share * 1.3)
    vil["effect"] = rng.normal(0.0, 0.15, len(vil))
    # population weight of a village: its regency's share split over its villages, with spread
    vw = rng.lognormal(0.0, 0.5, len(vil)) * np.where(urban, 1.6, 1.0) * np.where(vil["remote"], 0.4, 1.0)
    vil["weight"] = (
        vw
        / pd.Series(vw).groupby(vil_kab).transform("sum").to_numpy()
        * pd.Series(vil_kab).map(kab_i["pop_share"]).to_numpy()
    )
    vil = vil.sort_values("kode_desa", kind="stable").reset_index(drop=True)

    rows = [
        prov[["kode_prov", "nama_prov"]]
        .assign(tingkat="provinsi", kode_induk="")
        .rename(columns={"kode_prov": "kode", "nama_prov": "nama"})
    ]
    kab_named = kab.assign(nama=np.where(kab["is_city"], "KOTA " + kab["nama"], "KAB. " + kab["nama"]))
    rows.append(
        kab_named[["kode_kab", "nama", "kode_prov"]]
        .rename(columns={"kode_kab": "kode", "kode_prov": "kode_induk"})
        .assign(tingkat="kabupaten")
    )
    rows.append(
        kec[["kode_kec", "nama", "kode_kab"]]
        .rename(columns={"kode_kec": "kode", "kode_kab": "kode_induk"})
        .assign(tingkat="kecamatan")
    )
    rows.append(
        vil[["kode_desa", "nama", "kode_kec"]]
        .rename(columns={"kode_desa": "kode", "kode_kec": "kode_induk"})
        .assign(tingkat="desa")
    )
    wilayah = pd.concat(rows, ignore_index=True)[["kode", "nama", "tingkat", "kode_induk"]]
    wilayah = wilayah.sort_values("kode", kind="stable").reset_index(drop=True)
    return Regions(wilayah=wilayah, villages=vil, regencies=kab[["kode_kab", "kode_prov", "nama", "is_city"]].copy())
