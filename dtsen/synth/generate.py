"""`dtsen synth`: write a landing folder of synthetic registry deliveries plus the ground truth.

Layout (the contracts: docs, Data contracts):
    referensi/wilayah.csv
    dtks/<YYYY-MM>/dtks.csv                     one per delivery month
    regsosek/<YYYY-MM>/keluarga.parquet, individu.parquet   (first month)
    p3ke/<YYYY-MM>/p3ke.csv                     (first month)
    susenas/<YYYY>/susenas.parquet              (year before the first month)
    dukcapil/<YYYY-MM>/kematian.csv, asn/<YYYY-MM>/asn.csv, bpjstk/<YYYY-MM>/upah.csv   per month
    truth/truth.parquet, truth/keluarga.parquet, truth/persons.parquet
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .config import SynthConfig
from .names import GENERAL_FEMALE, GENERAL_MALE
from .population import Population, _ddmmyy, _serials, assign_identity, build_population
from .regions import build_regions
from .sources import add_months, build_dtks, build_p3ke, build_regsosek, fmt_dates, month_start, relative_nik

STREAMS = ["regions", "population", "identity", "births", "dtks", "regsosek", "p3ke", "susenas", "admin"]


@dataclass
class SynthResult:
    out: str
    months: list[str]
    counts: dict[str, int]


def write_csv(df: pd.DataFrame, path: str, delimiter: str = ",") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # minimal quoting, empty cells for nulls, LF line ends: what an agency's export tool writes (DuckDB's writer
    # keeps row order and only quotes values that need it)
    table = pa.Table.from_arrays(
        [pa.array(df[c].to_numpy(dtype=object), type=pa.string(), from_pandas=True) for c in df.columns],
        names=list(df.columns),
    )
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        con.register("t", table)
        con.execute(
            f"COPY t TO '{path}' (FORMAT csv, HEADER true, DELIMITER '{delimiter}', QUOTE '\"', "
            "NULL '', NEW_LINE '\\n')"
        )
    finally:
        con.close()


def write_parquet(df: pd.DataFrame, path: str, schema: pa.Schema) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd")


def _add_births(rng: np.random.Generator, pop: Population, months: list[str]) -> None:
    """Pregnant women give birth during the next nine months; births inside the delivery window become persons."""
    per = pop.persons
    ref = month_start(months[0])
    end = month_start(add_months(months[-1], 1))
    mothers = per.loc[per["hamil"] == 1]
    bdays = ref + rng.integers(0, 270, len(mothers)).astype("timedelta64[D]")
    alive = np.isnat(mothers["death_date"].to_numpy()) | (mothers["death_date"].to_numpy() > bdays)
    born = (bdays < end) & alive
    mothers, bdays = mothers.loc[born], bdays[born]
    if len(mothers) == 0:
        return
    n = len(mothers)
    male = rng.random(n) < 0.51
    fam_idx = mothers["family"].to_numpy()
    head_name = per.groupby("family")["nama"].first().reindex(fam_idx).to_numpy(dtype=object)
    last = pd.Series(head_name).str.split(" ").str[-1].to_numpy(dtype=object)
    given = np.where(
        male,
        GENERAL_MALE[rng.integers(0, len(GENERAL_MALE), n)],
        GENERAL_FEMALE[rng.integers(0, len(GENERAL_FEMALE), n)],
    )
    nama = np.where(pd.Series(head_name).str.contains(" ").to_numpy(), given + " " + last, given)
    # the NIK of a newborn is issued in the family's district at the time of birth
    fam = pop.families
    loc = pop.locations
    cur = loc.loc[loc["version"] == 1].set_index("family")["kode_desa"]
    district = cur.reindex(fam_idx).str[:6].to_numpy(dtype=object)
    prefix = district + _ddmmyy(bdays, ~male)
    existing = pd.Series(per["nik"].str[:12]).value_counts()
    base = pd.Series(prefix).map(existing).fillna(0).astype(int).to_numpy()
    serial_in = pd.Series(_serials(prefix)).astype(int).to_numpy()
    nik = prefix + pd.Series(base + serial_in).map("{:04d}".format).to_numpy(dtype=object)
    start_id = len(per)
    new = pd.DataFrame(
        {
            "family": fam_idx,
            "rel": np.where(mothers["rel"].to_numpy() == 4, 5, 3),
            "age": 0.0,
            "male": male,
            "order": 9,
            "family_type": mothers["family_type"].to_numpy(),
            "birth_days": 0,
            "twin_of": -1,
            "birth_date": bdays,
            "pendidikan": 0,
            "jenjang_sekolah": "none",
            "disabilitas_berat": 0,
            "pekerjaan": 0,
            "hamil": 0,
            "status_kawin": 1,
            "nama": nama,
            "sex": np.where(male, 1, 2),
            "death_date": np.datetime64("NaT"),
            "person_id": [f"P{i + 1:09d}" for i in range(start_id, start_id + n)],
            "family_id": fam["family_id"].to_numpy()[fam_idx],
            "nik": nik,
            "nik_district": district,
        }
    )
    new = new.astype({"birth_date": "datetime64[s]", "death_date": "datetime64[s]"})
    pop.persons = pd.concat([per, new[per.columns]], ignore_index=True)


def _months(cfg: SynthConfig) -> list[str]:
    return [add_months(cfg.start, k) for k in range(cfg.months)]


def _population(cfg: SynthConfig):
    """The regions, the population and the random streams of every source (seeded)."""
    ss = np.random.SeedSequence(cfg.seed)
    rngs = dict(zip(STREAMS, (np.random.default_rng(s) for s in ss.spawn(len(STREAMS)))))
    months = _months(cfg)
    ref = month_start(months[0])
    window_start = ref - np.timedelta64(int(max(cfg.p3ke_months_before, cfg.regsosek_months_before) * 30.44), "D")
    window_end = month_start(add_months(months[-1], 1))
    regions = build_regions(rngs["regions"], cfg.persons)
    pop = build_population(rngs["population"], regions, cfg.persons, ref, window_start, window_end)
    assign_identity(
        rngs["identity"], pop, regions, ref, cfg.moved_rate, cfg.monthly_move_rate, cfg.months, cfg.split_district_rate
    )
    _add_births(rngs["births"], pop, months)
    per = pop.persons
    per["relative_nik"] = relative_nik(per)
    per["kode_desa_cur"] = pop.families["kode_desa"].to_numpy()[per["family"].to_numpy()]
    per["birth_date"] = per["birth_date"].astype("datetime64[s]")
    per["death_date"] = per["death_date"].astype("datetime64[s]")
    per["age"] = (ref - per["birth_date"].to_numpy().astype("datetime64[D]")).astype(int) / 365.25
    return rngs, regions, pop, months, ref


def build(cfg: SynthConfig):
    """Build the population and every delivery in memory (no files). Each source has its own random stream, so
    building them in any order (as `synth` does, one at a time) gives the same rows."""
    rngs, regions, pop, months, ref = _population(cfg)
    dtks = build_dtks(rngs["dtks"], pop, regions, cfg, months)
    kel, ind = build_regsosek(rngs["regsosek"], pop, cfg, ref)
    p3ke = build_p3ke(rngs["p3ke"], pop, cfg, ref)
    susenas = build_susenas(rngs["susenas"], pop, kel, cfg)
    admin = build_admin(rngs["admin"], pop, months, cfg)
    return regions, pop, months, dtks, kel, ind, p3ke, susenas, admin


def build_susenas(rng: np.random.Generator, pop: Population, kel: pd.DataFrame, cfg: SynthConfig) -> pd.DataFrame:
    """A stratified sample of Regsosek families with measured per-capita consumption."""
    prov = kel["kode_desa"].str[:2]
    n_prov = prov.map(prov.value_counts())
    p = np.maximum(cfg.survey_share, 60 / n_prov.to_numpy())
    s = kel.loc[rng.random(len(kel)) < p].copy()
    true = pop.families.set_index("family_id")["pcc"].reindex(s["family_id"]).to_numpy()
    measured = np.round(true * np.exp(rng.normal(0, 0.12, len(s))), -2).astype(np.int64)
    s["pengeluaran_per_kapita"] = measured
    return s.drop(columns=["family_id"]).reset_index(drop=True)


def build_admin(
    rng: np.random.Generator, pop: Population, months: list[str], cfg: SynthConfig
) -> dict[str, dict[str, pd.DataFrame]]:
    per = pop.persons
    n = len(per)
    starts = [month_start(m) for m in months] + [month_start(add_months(months[-1], 1))]
    dd = per["death_date"].to_numpy().astype("datetime64[D]")
    reported = ~np.isnat(dd) & (rng.random(n) < cfg.death_report_rate)
    report = dd + rng.integers(0, 60, n).astype("timedelta64[D]")
    asn = (per["pekerjaan"].to_numpy() == 8) & (rng.random(n) < 0.75)
    formal = np.isin(per["pekerjaan"].to_numpy(), [3, 5, 6, 7, 8]) & (rng.random(n) < 0.55)
    fam = pop.families
    pf = per["family"].to_numpy()
    wage = fam["pcc"].to_numpy()[pf] * np.maximum(fam["size"].to_numpy()[pf], 1) * rng.uniform(0.6, 1.4, n)
    wage = np.round(np.clip(wage, 900_000, 60_000_000), -3).astype(np.int64)
    work_prov = np.where(
        rng.random(n) < 0.08,
        np.array(["31", "32", "36", "64"], dtype=object)[rng.integers(0, 4, n)],
        fam["kode_prov"].to_numpy()[pf],
    )
    out: dict[str, dict[str, pd.DataFrame]] = {"kematian": {}, "asn": {}, "upah": {}}
    for i, m in enumerate(months):
        lo = np.datetime64("1900-01-01") if i == 0 else starts[i]
        sel = reported & (report >= lo) & (report < starts[i + 1]) & (dd < starts[i + 1])
        k = pd.DataFrame({"nik": per["nik"].to_numpy()[sel], "tgl_meninggal": fmt_dates(dd[sel], "%Y-%m-%d")})
        out["kematian"][m] = k.sort_values("nik").reset_index(drop=True)
        alive = np.isnat(dd) | (dd >= starts[i])
        out["asn"][m] = pd.DataFrame({"nik": np.sort(per["nik"].to_numpy()[asn & alive])})
        sel = formal & alive & (per["age"].to_numpy() >= 15)
        u = pd.DataFrame(
            {"nik": per["nik"].to_numpy()[sel], "upah_bulanan": wage[sel].astype(str), "kode_prov": work_prov[sel]}
        )
        out["upah"][m] = u.sort_values("nik").reset_index(drop=True)
    return out


INDIVIDU_SCHEMA = pa.schema(
    [
        ("id_keluarga", pa.string()),
        ("no_urut", pa.int32()),
        ("nik", pa.string()),
        ("no_kk", pa.string()),
        ("nama", pa.string()),
        ("jenis_kelamin", pa.string()),
        ("tanggal_lahir", pa.date32()),
        ("hubungan_kk", pa.int32()),
        ("status_kawin", pa.int32()),
        ("pendidikan", pa.int32()),
        ("jenjang_sekolah", pa.string()),
        ("bekerja", pa.int32()),
        ("lapangan_usaha", pa.int32()),
        ("disabilitas_berat", pa.int32()),
        ("hamil", pa.int32()),
    ]
)
_KEL_INT = [
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
KELUARGA_SCHEMA = pa.schema(
    [("id_keluarga", pa.string()), ("kode_desa", pa.string()), ("alamat", pa.string())]
    + [(c, pa.int64()) for c in _KEL_INT]
)
SUSENAS_SCHEMA = pa.schema(list(KELUARGA_SCHEMA) + [("pengeluaran_per_kapita", pa.int64())])
TRUTH_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("delivery", pa.string()),
        ("record_id", pa.string()),
        ("person_id", pa.string()),
        ("family_id", pa.string()),
    ]
)


def _truth_part(source: str, delivery: str, record_id, person_id, family_id) -> pa.Table:
    """Ground truth of one delivery as Arrow strings (a tenth of the memory of pandas' Python strings)."""

    def strings(x):
        return pa.array(np.asarray(x, dtype=object), type=pa.string())

    n = len(record_id)
    return pa.table(
        {
            "source": pa.repeat(pa.scalar(source), n),
            "delivery": pa.repeat(pa.scalar(delivery), n),
            "record_id": strings(record_id),
            "person_id": strings(person_id),
            "family_id": strings(family_id),
        },
        schema=TRUTH_SCHEMA,
    )


def synth(cfg: SynthConfig, out: str) -> SynthResult:
    """Write the landing folder. Sources are built and written one at a time and let go before the next (the same
    rows as `build`, which holds them all): memory is the population plus the largest source."""
    rngs, regions, pop, months, ref = _population(cfg)
    first = months[0]
    counts: dict[str, int] = {}
    write_csv(regions.wilayah, os.path.join(out, "referensi", "wilayah.csv"))
    truth = []
    dtks = build_dtks(rngs["dtks"], pop, regions, cfg, months)
    for m in list(dtks):
        df = dtks.pop(m)
        write_csv(df.drop(columns=["person_id", "family_id"]), os.path.join(out, "dtks", m, "dtks.csv"))
        truth.append(_truth_part("dtks", m, df["ID_DTKS"], df["person_id"], df["family_id"]))
        counts[f"dtks/{m}"] = len(df)
        del df
    kel, ind = build_regsosek(rngs["regsosek"], pop, cfg, ref)
    write_parquet(
        kel.drop(columns=["family_id"]), os.path.join(out, "regsosek", first, "keluarga.parquet"), KELUARGA_SCHEMA
    )
    ind_out = ind.drop(columns=["person_id", "family_id"])
    ind_out["tanggal_lahir"] = pd.to_datetime(ind_out["tanggal_lahir"]).dt.date
    write_parquet(ind_out, os.path.join(out, "regsosek", first, "individu.parquet"), INDIVIDU_SCHEMA)
    del ind_out
    truth.append(
        _truth_part(
            "regsosek", first, ind["id_keluarga"] + "-" + ind["no_urut"].astype(str), ind["person_id"], ind["family_id"]
        )
    )
    counts["regsosek/keluarga"], counts["regsosek/individu"] = len(kel), len(ind)
    del ind
    p3ke = build_p3ke(rngs["p3ke"], pop, cfg, ref)
    write_csv(p3ke.drop(columns=["person_id", "family_id"]), os.path.join(out, "p3ke", first, "p3ke.csv"), "|")
    truth.append(_truth_part("p3ke", first, p3ke["id_individu_p3ke"], p3ke["person_id"], p3ke["family_id"]))
    counts["p3ke"] = len(p3ke)
    del p3ke
    year = str(pd.Period(first, "M").year - 1)
    susenas = build_susenas(rngs["susenas"], pop, kel, cfg)
    del kel
    write_parquet(susenas, os.path.join(out, "susenas", year, "susenas.parquet"), SUSENAS_SCHEMA)
    counts["susenas"] = len(susenas)
    del susenas
    admin = build_admin(rngs["admin"], pop, months, cfg)
    for m in months:
        write_csv(admin["kematian"][m], os.path.join(out, "dukcapil", m, "kematian.csv"))
        write_csv(admin["asn"][m], os.path.join(out, "asn", m, "asn.csv"))
        write_csv(admin["upah"][m], os.path.join(out, "bpjstk", m, "upah.csv"))
    del admin
    truth_table = pa.concat_tables(truth)
    del truth
    os.makedirs(os.path.join(out, "truth"), exist_ok=True)
    pq.write_table(truth_table, os.path.join(out, "truth", "truth.parquet"), compression="zstd")
    n_truth = truth_table.num_rows
    del truth_table
    fam = pop.families
    write_parquet(
        pd.DataFrame(
            {
                "family_id": fam["family_id"],
                "pengeluaran_per_kapita": fam["pcc"],
                "kode_desa": fam["kode_desa"],
                "jumlah_art": fam["size"],
            }
        ),
        os.path.join(out, "truth", "keluarga.parquet"),
        pa.schema(
            [
                ("family_id", pa.string()),
                ("pengeluaran_per_kapita", pa.int64()),
                ("kode_desa", pa.string()),
                ("jumlah_art", pa.int64()),
            ]
        ),
    )
    per = pop.persons
    persons = pd.DataFrame(
        {
            "person_id": per["person_id"],
            "family_id": per["family_id"],
            "nik": per["nik"],
            "nama": per["nama"],
            "jenis_kelamin": per["sex"].astype(np.int32),
            "tanggal_lahir": per["birth_date"].dt.date,
            "tanggal_meninggal": per["death_date"].dt.date,
            "hubungan": per["rel"].astype(np.int32),
            "twin_person_id": np.where(
                per["twin_of"].to_numpy() >= 0,
                per["person_id"].to_numpy()[np.maximum(per["twin_of"].to_numpy(), 0)],
                None,
            ),
        }
    )
    write_parquet(
        persons,
        os.path.join(out, "truth", "persons.parquet"),
        pa.schema(
            [
                ("person_id", pa.string()),
                ("family_id", pa.string()),
                ("nik", pa.string()),
                ("nama", pa.string()),
                ("jenis_kelamin", pa.int32()),
                ("tanggal_lahir", pa.date32()),
                ("tanggal_meninggal", pa.date32()),
                ("hubungan", pa.int32()),
                ("twin_person_id", pa.string()),
            ]
        ),
    )
    counts["persons"] = len(per)
    counts["families"] = len(fam)
    counts["records"] = int(n_truth)
    return SynthResult(out=out, months=months, counts=counts)
