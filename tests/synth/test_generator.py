"""Properties of the synthetic population and registry files (assertions that can fail)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dtsen.synth import SynthConfig, build, synth
from dtsen.synth.regions import PROVINCE_FRAME
from tests.conftest import CHECK_CONTRACT, needs_shared


@pytest.fixture(scope="module")
def built():
    return build(SynthConfig(persons=20_000, seed=3, months=3))


def read_dtks(landing: Path, month: str) -> pd.DataFrame:
    return pd.read_csv(landing / "dtks" / month / "dtks.csv", dtype=str, keep_default_na=False)


def truth_of(landing: Path, source: str, month: str | None = None) -> pd.DataFrame:
    t = pd.read_parquet(landing / "truth" / "truth.parquet")
    t = t[t["source"] == source]
    return t if month is None else t[t["delivery"] == month]


# ------------------------------------------------------------------ contract and truth
@needs_shared()
def test_contract_checker_finds_no_violation(landing):
    res = subprocess.run(
        [sys.executable, str(CHECK_CONTRACT), "--landing", str(landing), "--fail-on-rows"],
        capture_output=True,
        text=True,
        cwd=CHECK_CONTRACT.parent.parent,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "file-level violations: 0; row-level findings: 0" in res.stdout


def test_every_contract_file_is_written(landing):
    for rel in [
        "referensi/wilayah.csv",
        "regsosek/2025-01/keluarga.parquet",
        "regsosek/2025-01/individu.parquet",
        "p3ke/2025-01/p3ke.csv",
        "susenas/2024/susenas.parquet",
        "truth/truth.parquet",
        "truth/keluarga.parquet",
    ]:
        assert (landing / rel).is_file(), rel
    for m in ["2025-01", "2025-02", "2025-03"]:
        for rel in ["dtks/{m}/dtks.csv", "dukcapil/{m}/kematian.csv", "asn/{m}/asn.csv", "bpjstk/{m}/upah.csv"]:
            assert (landing / rel.format(m=m)).is_file(), rel.format(m=m)


def test_truth_covers_every_record(landing):
    truth = pd.read_parquet(landing / "truth" / "truth.parquet")
    for m in ["2025-01", "2025-02", "2025-03"]:
        ids = set(read_dtks(landing, m)["ID_DTKS"])
        assert ids == set(truth_of(landing, "dtks", m)["record_id"])
    ind = pd.read_parquet(landing / "regsosek" / "2025-01" / "individu.parquet")
    assert set(ind["id_keluarga"] + "-" + ind["no_urut"].astype(str)) == set(truth_of(landing, "regsosek")["record_id"])
    p3ke = pd.read_csv(landing / "p3ke" / "2025-01" / "p3ke.csv", sep="|", dtype=str, keep_default_na=False)
    assert set(p3ke["id_individu_p3ke"]) == set(truth_of(landing, "p3ke")["record_id"])
    assert truth["person_id"].notna().all() and truth["family_id"].notna().all()


# ------------------------------------------------------------------ population
def test_regions_cover_all_provinces_with_valid_codes(built):
    regions, pop = built[0], built[1]
    w = regions.wilayah
    assert (w["tingkat"] == "provinsi").sum() == 38
    assert set(w.loc[w["tingkat"] == "provinsi", "kode"]) == set(PROVINCE_FRAME["kode_prov"])
    assert (w["tingkat"] == "kabupaten").sum() == 514
    kab = w.loc[w["tingkat"] == "kabupaten", "kode"].str[2:4].astype(int)
    assert kab.between(1, 69).any() and kab.between(71, 99).any() and not kab.isin([0, 70]).any()
    desa = w.loc[w["tingkat"] == "desa", "kode"]
    assert desa.str.fullmatch(r"\d{10}").all() and desa.str[6].isin(["1", "2"]).all()
    assert pop.families["kode_prov"].nunique() == 38


def test_family_structures_look_indonesian(built):
    pop = built[1]
    per, fam = pop.persons, pop.families
    size = per.groupby("family").size()
    assert 2.8 < size.mean() < 3.8
    assert (size == 1).mean() > 0.05  # single-person families
    rels = per.groupby("family")["rel"].agg(set)
    assert rels.map(lambda s: {3, 4, 5} <= s).mean() > 0.02  # three generations on one card
    assert rels.map(lambda s: 6 in s).mean() > 0.03  # elderly parents living with their children
    heads = per[per["rel"] == 1]
    assert (heads["age"] >= 17).all()
    assert (per.groupby("family")["rel"].apply(lambda r: (r == 1).sum()) == 1).all()
    # school level by age, pregnancy only for women of child-bearing age, disability at a plausible rate
    sd = per[per["jenjang_sekolah"] == "SD"]
    assert sd["age"].between(6.5, 13.5).all()
    assert per.loc[per["hamil"] == 1, "sex"].eq(2).all()
    assert per.loc[per["hamil"] == 1, "age"].between(15, 50).all()
    assert 0.005 < per["disabilitas_berat"].mean() < 0.05
    assert (
        per.loc[per["age"] >= 80, "disabilitas_berat"].mean() > 3 * per.loc[per["age"] < 50, "disabilitas_berat"].mean()
    )
    assert set(fam["family_type"]) >= {"single", "couple", "nuclear", "single_parent", "extended", "three_gen"}


def test_twins_share_birth_date_and_family(built):
    per = built[1].persons
    twins = per[per["twin_of"] >= 0]
    assert len(twins) > 10
    other = per.loc[twins["twin_of"].to_numpy()]
    assert (twins["birth_date"].to_numpy() == other["birth_date"].to_numpy()).all()
    assert (twins["family"].to_numpy() == other["family"].to_numpy()).all()
    # their NIKs differ only in the serial when they share sex and district of issue
    same = (twins["sex"].to_numpy() == other["sex"].to_numpy()) & (
        twins["nik_district"].to_numpy() == other["nik_district"].to_numpy()
    )
    a, b = twins["nik"].to_numpy()[same], other["nik"].to_numpy()[same]
    assert all(x[:12] == y[:12] and x[12:] != y[12:] for x, y in zip(a, b))


def test_nik_structure_matches_region_birth_date_and_sex(built):
    regions, pop = built[0], built[1]
    per = pop.persons
    nik = per["nik"]
    assert nik.str.fullmatch(r"\d{16}").all()
    assert nik.is_unique
    districts = set(regions.wilayah.loc[regions.wilayah["tingkat"] == "kecamatan", "kode"])
    known = nik.str[:6].isin(districts)
    assert 0.99 < known.mean() < 1.0  # a few districts split since issue
    day = nik.str[6:8].astype(int)
    female = per["sex"] == 2
    assert (day[female] > 40).all() and (day[~female] <= 31).all()
    bd = pd.to_datetime(per["birth_date"])
    match = (
        ((day - np.where(female, 40, 0)) == bd.dt.day)
        & (nik.str[8:10].astype(int) == bd.dt.month)
        & (nik.str[10:12].astype(int) == bd.dt.year % 100)
    )
    assert 0.97 < match.mean() < 1.0  # the embedded date may disagree with the real one, rarely


def test_kk_structure(built):
    pop = built[1]
    loc = pop.locations
    assert loc["no_kk"].str.fullmatch(r"\d{16}").all()
    assert (loc["no_kk"].str[:6] == loc["kode_desa"].str[:6]).all()
    # a KK identifies one family's card: no two families share a number
    assert loc.groupby("no_kk")["family"].nunique().max() == 1
    # movers got a new card
    movers = pop.families.index[pop.families["hist_mover"]]
    v = loc[loc["family"].isin(movers)].pivot(index="family", columns="version", values="no_kk")
    assert (v[0] != v[1]).all()


def test_consumption_drives_proxies_with_imperfect_signal(built):
    fam = built[1].families
    logc = np.log(fam["pcc"])
    # better floor (lower code) and assets go with higher consumption
    assert np.corrcoef(logc, -fam["jenis_lantai"])[0, 1] > 0.3
    assert np.corrcoef(logc, fam["aset_kulkas"])[0, 1] > 0.25
    # a simple linear PMT has real but imperfect signal
    cols = [
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
        "luas_lantai_m2",
        "size",
    ]
    X = np.column_stack([np.ones(len(fam))] + [fam[c].to_numpy(float) for c in cols])
    beta, *_ = np.linalg.lstsq(X, logc, rcond=None)
    r2 = 1 - ((logc - X @ beta) ** 2).sum() / ((logc - logc.mean()) ** 2).sum()
    assert 0.35 < r2 < 0.85
    # poorer provinces are poorer: Papua Pegunungan below DKI Jakarta
    by = fam.groupby("kode_prov")["pcc"].median()
    assert by["95"] < by["31"]


def test_regional_name_flavour(built):
    pop = built[1]
    per = pop.persons.merge(pop.families[["kode_prov"]], left_on="family", right_index=True)
    bali = per[per["kode_prov"] == "51"]["nama"]
    assert bali.str.match(r"^(I|NI) ").mean() > 0.6
    batak = per[per["kode_prov"] == "12"]["nama"].str.split(" ").str[-1]
    from dtsen.synth.names import BATAK_MARGA

    assert batak.isin(BATAK_MARGA).mean() > 0.4
    java = per[per["kode_prov"] == "33"]["nama"]
    assert java.str.match(r"^I ").mean() < 0.01
    assert (~java.str.contains(" ")).mean() > 0.1  # single-name people


# ------------------------------------------------------------------ coverage and noise
def _person_share(records: pd.DataFrame, pop) -> float:
    return records["person_id"].nunique() / len(pop.persons)


def test_coverage_like_the_real_registries(built):
    _, pop, months, dtks, kel, ind, p3ke, *_ = built
    from dtsen.synth.sources import welfare_rank

    assert 0.41 < _person_share(dtks[months[0]], pop) < 0.49
    assert 0.33 < _person_share(p3ke, pop) < 0.42
    assert _person_share(ind, pop) > 0.9
    pct = pd.Series(welfare_rank(pop), index=pop.families["family_id"])
    per = pop.persons.assign(pct=pop.persons["family_id"].map(pct))
    in_dtks = per["person_id"].isin(dtks[months[0]]["person_id"])
    poor, rich = per["pct"] < 0.4, per["pct"] > 0.7
    assert in_dtks[poor].mean() > 0.7 and in_dtks[rich].mean() < 0.2
    # inclusion and exclusion errors exist
    assert in_dtks[rich].mean() > 0.01 and in_dtks[poor].mean() < 0.97
    in_p3ke = per["person_id"].isin(p3ke["person_id"])
    assert in_p3ke[poor].mean() > 0.7 and 0.0 < in_p3ke[per["pct"] > 0.5].mean() < 0.1


def test_noise_rates_within_tolerance(built):
    _, pop, months, dtks, kel, ind, p3ke, *_ = built
    cfg = SynthConfig()
    d = dtks[months[0]].merge(pop.persons[["person_id", "nik", "nama", "birth_date", "sex"]], on="person_id")
    n = len(d)
    miss = (d["NIK"].isna()).mean()
    assert abs(miss - cfg.dtks.nik_missing) < 0.01
    wrong = (d["NIK"].notna() & (d["NIK"] != d["nik"])).mean()
    expected_wrong = cfg.dtks.nik_digit + cfg.dtks.nik_relative + cfg.dtks.nik_transpose
    assert abs(wrong - expected_wrong) < 0.008
    # duplicates inside one source
    dup_share = 1 - d["person_id"].nunique() / n
    assert abs(dup_share - cfg.dtks.duplicate) < 0.008
    # names differ from the truth in a fair share of records, but most are clean
    differs = (d["NAMA"] != d["nama"]).mean()
    assert 0.05 < differs < 0.3
    # name variants of Muhammad appear
    assert d["NAMA"].str.contains(r"\b(?:MOH\.|M\.|MUHAMAD|MOCHAMMAD)\s").any()
    assert d["NAMA"].str.contains(r"\b(?:H\.|HJ\.|DRS\.)\s|S\.PD\.").any()
    # birth dates: day/month swaps and years off by one
    tb = pd.to_datetime(d["birth_date"]).dt
    ob = pd.to_datetime(d["TGL_LAHIR"], format="%d-%m-%Y")
    swapped = (ob.dt.day == tb.month) & (ob.dt.month == tb.day) & (tb.day != tb.month)
    off_year = (ob.dt.year - tb.year).abs().eq(1) & (ob.dt.month == tb.month) & (ob.dt.day == tb.day)
    assert 0.002 < swapped.mean() < 0.02
    assert 0.007 < off_year.mean() < 0.025
    # a few percent missing NIK in the other sources too
    assert 0.03 < ind["nik"].isna().mean() < 0.08
    assert 0.04 < p3ke["nik"].isna().mean() < 0.09


def test_short_forms_old_spelling_and_ocr_at_realistic_rates(built):
    """The name noise the linkage must survive, each at its configured rate (issue 11's list)."""
    _, pop, months, dtks, kel, ind, p3ke, *_ = built
    cfg = SynthConfig()
    truth = pop.persons.set_index("person_id")["nama"]
    p = p3ke.assign(true=p3ke["person_id"].map(truth))
    every = pd.concat(
        [
            pd.DataFrame({"nama": dtks[months[0]]["NAMA"], "person_id": dtks[months[0]]["person_id"]}),
            ind[["nama", "person_id"]],
            p3ke[["nama", "person_id"]],
        ],
        ignore_index=True,
    )
    every["true"] = every["person_id"].map(truth)
    # A. for Ahmad: the commonest short form
    ahmad = every[every["true"].str.contains(r"\bAHMAD\b")]
    assert len(ahmad) > 30
    share_a = ahmad["nama"].str.upper().str.contains(r"(?:^| )A\. ").mean()
    assert 0.02 < share_a < 0.3
    # long given names written short in P3KE at about its short_form rate
    long_names = p[p["true"].str.contains(r"\b(?:AGUSTINUS|AGUSTINA|YOHANES|YOHANA|KOMANG|FRANSISKA|ELISABETH)\b")]
    assert len(long_names) > 20
    short = long_names["nama"].str.contains(r"\b(?:AGUST|YOH|KMG|FRANS|ELIS)\.").mean()
    assert abs(short - cfg.p3ke.short_form) < 0.15
    # OCR: a D read as CL in about 1% of P3KE names that have a D
    has_d = p[p["true"].str.contains("D") & ~p["true"].str.contains("CL")]
    ocr = (has_d["nama"].str.replace("CL", "D", regex=False) == has_d["true"]) & has_d["nama"].str.contains("CL")
    assert 0.002 < ocr.mean() < 0.03
    # pre-1972 spelling: old J for today's Y among older people, not only OE/DJ/TJ
    d = dtks[months[0]].merge(pop.persons[["person_id", "nama", "birth_date"]], on="person_id")
    old = d[pd.to_datetime(d["birth_date"]).dt.year < 1965]
    assert (
        (old["nama"].str.replace("J", "Y", regex=False) == old["NAMA"].str.replace("J", "Y", regex=False))
        & (old["nama"] != old["NAMA"])
        & old["NAMA"].str.contains("J")
    ).sum() > 0


def test_moved_families_show_new_address_and_kk(built):
    _, pop, months, dtks, kel, ind, p3ke, *_ = built
    d = dtks[months[0]]
    movers = set(pop.families.loc[pop.families["hist_mover"], "family_id"])
    dm = d[d["family_id"].isin(movers)].drop_duplicates("person_id")
    pm = p3ke[p3ke["family_id"].isin(movers)].drop_duplicates("person_id")
    j = dm.merge(pm, on="person_id")
    assert len(j) > 20
    assert (j["KODE_DESA"] != j["kode_kemendagri"]).mean() > 0.3
    assert (j["NO_KK"].notna() & j["no_kk"].notna() & (j["NO_KK"] != j["no_kk"])).mean() > 0.3


def test_dead_people_still_listed_and_reported(built):
    _, pop, months, dtks, kel, ind, p3ke, susenas, admin = built
    per = pop.persons
    dead_before = per.loc[per["death_date"] < pd.Timestamp(months[0] + "-01"), "person_id"]
    assert len(dead_before) > 50
    listed = dtks[months[0]]["person_id"].isin(dead_before)
    assert listed.sum() > 10
    reported = set(admin["kematian"][months[0]]["nik"])
    nik = per.set_index("person_id")["nik"]
    assert nik.loc[dead_before].isin(reported).mean() > 0.8


def test_monthly_deliveries_change(built):
    _, pop, months, dtks, *_ = built
    a, b, c = (dtks[m] for m in months)
    ids_a, ids_c = set(a["ID_DTKS"]), set(c["ID_DTKS"])
    assert ids_c - ids_a, "births and new registrations add records"
    assert ids_a - ids_c, "deaths remove records"
    common = a.merge(c, on="ID_DTKS", suffixes=("_a", "_c"))
    assert (common["KODE_DESA_a"] != common["KODE_DESA_c"]).any(), "families move"
    assert (common["NAMA_a"] == common["NAMA_c"]).all(), "a record keeps its own errors from month to month"


def test_naive_exact_nik_join_visibly_fails(built):
    """Realism check: joining DTKS to Regsosek on exact NIK misses a good share of the true matches."""
    _, pop, months, dtks, kel, ind, *_ = built
    d = dtks[months[0]][["NIK", "person_id"]].dropna()
    r = ind[["nik", "person_id"]]
    true_pairs = d.merge(r, on="person_id")
    nik_pairs = dtks[months[0]][["NIK", "person_id"]].merge(r, left_on="NIK", right_on="nik", suffixes=("_d", "_r"))
    correct = (nik_pairs["person_id_d"] == nik_pairs["person_id_r"]).sum()
    all_true = dtks[months[0]][["person_id"]].merge(r, on="person_id")
    recall = correct / len(all_true)
    precision = correct / len(nik_pairs)
    assert recall < 0.95
    assert precision < 0.999
    assert len(true_pairs) > 0


# ------------------------------------------------------------------ determinism
def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_give_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cfg = SynthConfig(persons=4_000, seed=5, months=2)
    synth(cfg, str(a))
    synth(cfg, str(b))
    da, db = _digest(a), _digest(b)
    assert da == db
    assert len(da) >= 15
    c = tmp_path / "c"
    synth(SynthConfig(persons=4_000, seed=6, months=2), str(c))
    assert _digest(c)["dtks/2025-01/dtks.csv"] != da["dtks/2025-01/dtks.csv"]


def test_cli_writes_landing_folder(tmp_path):
    out = tmp_path / "cli"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.operate.cli",
            "synth",
            "--persons",
            "2000",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert (out / "dtks" / "2025-01" / "dtks.csv").is_file()
    assert "2,000 persons" in res.stdout or "persons" in res.stdout
