"""The linkage runs on any shape of delivery: any subset of the person sources, any contract column empty. It takes
from the saved model what the data cannot give, estimates the rest from the data, and says which came from where."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dtsen import warehouse as wh
from dtsen.linkage import model as lm
from dtsen.linkage.clusters import cluster_indices
from dtsen.linkage.evaluate import evaluate_snapshot
from dtsen.linkage.pipeline import INPUT, build_snapshot
from dtsen.registries.ingest import ingest

M1 = "2025-01"
PERSON_TABLES = ["sources.dtks_person", "sources.regsosek_person", "sources.p3ke_person"]


@pytest.fixture(scope="module")
def base(small_landing, tmp_path_factory):
    path = tmp_path_factory.mktemp("shapes") / "base.duckdb"
    con = wh.connect(str(path))
    for s in ["referensi", "dtks", "regsosek", "p3ke"]:
        ingest(con, str(small_landing), M1, s)
    con.close()
    return path


def shaped(base, tmp_path, *statements: str):
    path = tmp_path / "w.duckdb"
    shutil.copy(base, path)
    con = wh.connect(str(path))
    for stmt in statements:
        for table in PERSON_TABLES:
            con.execute(stmt.format(t=table))
    return con


def check_built(con, res) -> dict:
    """Every record linked once, persons formed, and the parameters' provenance recorded."""
    expected = sum(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in PERSON_TABLES)
    assert res.records == expected > 0
    linked = con.execute("SELECT count(*), count(DISTINCT (source, record_id)) FROM dtsen.crosswalk").fetchall()[0]
    assert linked == (expected, expected)
    assert 0 < res.persons <= expected
    stored = json.loads(con.execute("SELECT parameters FROM dtsen.snapshot WHERE snapshot = ?", [M1]).fetchall()[0][0])
    assert stored["prior"]["value"] > 0
    assert set(stored["comparisons"]) == {"nik", "name", "birth_date", "sex", "family", "location"}
    return stored


def f1(con, small_landing) -> float:
    ev = evaluate_snapshot(con, M1, str(small_landing / "truth" / "truth.parquet"))
    return ev["methods"]["dtsen_model"]["f1"]


def test_no_record_carries_a_nik(base, tmp_path, small_landing):
    """Older lists, village proposals: no NIK at all. The prior comes from name + birth date + district."""
    con = shaped(base, tmp_path, "UPDATE {t} SET nik_raw = NULL, nik_flag = 'missing'")
    res = build_snapshot(con, M1)
    p = check_built(con, res)
    assert p["prior"]["source"] == "data: deterministic rule name + birth date + district"
    assert "no evidence" in p["comparisons"]["nik"]["evidence"] and p["comparisons"]["nik"]["coverage"] == 0
    assert f1(con, small_landing) > 0.9  # names, dates, families and places still link most people
    con.close()


@pytest.mark.parametrize("only", ["dtks", "regsosek", "p3ke"])
def test_a_single_person_source(base, tmp_path, only):
    drops = [f"DELETE FROM sources.{s}_person" for s in ("dtks", "regsosek", "p3ke") if s != only]
    path = tmp_path / "w.duckdb"
    shutil.copy(base, path)
    con = wh.connect(str(path))
    for d in drops:
        con.execute(d)
    res = build_snapshot(con, M1)
    assert res.deliveries == {only: M1}
    check_built(con, res)
    # duplicates inside the one source still merge
    assert res.persons < res.records
    con.close()


@pytest.mark.parametrize(
    "shape,statement,column",
    [
        ("no KK", "UPDATE {t} SET no_kk_raw = NULL, no_kk_flag = 'missing'", "family"),
        ("sex unknown", "UPDATE {t} SET sex = NULL", "sex"),
        (
            "birth dates and NIK missing",
            "UPDATE {t} SET birth_date = NULL, nik_raw = NULL, nik_flag = 'missing'",
            "birth_date",
        ),
    ],
)
def test_an_empty_column(base, tmp_path, small_landing, shape, statement, column):
    con = shaped(base, tmp_path, statement)
    res = build_snapshot(con, M1)
    p = check_built(con, res)
    assert p["comparisons"][column]["coverage"] == 0, shape
    assert "no evidence" in p["comparisons"][column]["evidence"]
    assert f1(con, small_landing) > (0.9 if column != "birth_date" else 0.8), shape
    con.close()


def test_birth_dates_missing_are_read_from_the_nik(base, tmp_path, small_landing):
    """A record without a birth date takes the one its valid NIK carries (women's day + 40 undone)."""
    con = shaped(base, tmp_path, "UPDATE {t} SET birth_date = NULL")
    res = build_snapshot(con, M1)
    p = check_built(con, res)
    valid = con.execute("SELECT avg((nik IS NOT NULL)::INT) FROM sources.person_record").fetchall()[0][0]
    assert p["comparisons"]["birth_date"]["coverage"] == pytest.approx(valid, abs=0.01)
    women = con.execute(f"""SELECT count(*) FILTER (WHERE day(birth_date) = CAST(substr(nik, 7, 2) AS INT) - 40),
                                  count(*) FROM {INPUT} WHERE CAST(substr(nik, 7, 2) AS INT) > 40""").fetchall()[0]
    assert women[0] == women[1] > 0
    assert f1(con, small_landing) > 0.9
    con.close()


def test_sex_constant_carries_no_evidence(base, tmp_path):
    con = shaped(base, tmp_path, "UPDATE {t} SET sex = 1")
    res = build_snapshot(con, M1)
    p = check_built(con, res)
    assert "one value only" in p["comparisons"]["sex"]["evidence"]
    sex = next(c for c in res.settings["comparisons"] if c["output_column_name"] == "sex")
    exact = next(lv for lv in sex["comparison_levels"] if lv.get("label_for_charts") == "exact")
    assert exact["u_probability"] == pytest.approx(1.0)  # agreement on a constant says nothing
    con.close()


def test_no_nik_and_no_birth_date_falls_back_to_the_saved_prior(base, tmp_path):
    """No rule can estimate the prior: the saved model's, scaled to this data's size."""
    con = shaped(base, tmp_path, "UPDATE {t} SET nik_raw = NULL, nik_flag = 'missing', birth_date = NULL")
    res = build_snapshot(con, M1)
    p = check_built(con, res)
    assert p["prior"]["source"].startswith("saved model, scaled")
    trained = json.loads(lm.MODEL_PATH.read_text())["dtsen"]["trained_records"]
    saved = json.loads(lm.MODEL_PATH.read_text())["probability_two_random_records_match"]
    assert p["prior"]["value"] == pytest.approx(min(saved * trained / res.records, 0.5))
    con.close()


def test_every_column_but_the_name_empty(base, tmp_path):
    con = shaped(
        base,
        tmp_path,
        "UPDATE {t} SET nik_raw = NULL, nik_flag = 'missing', no_kk_raw = NULL, "
        "no_kk_flag = 'missing', sex = NULL, birth_date = NULL, village_code = NULL",
    )
    res = build_snapshot(con, M1)
    check_built(con, res)
    con.close()


def test_a_level_the_saved_model_lacks_is_estimated_from_the_data(base, tmp_path):
    model = json.loads(lm.MODEL_PATH.read_text())
    name = next(c for c in model["comparisons"] if c["output_column_name"] == "name")
    typo = next(lv for lv in name["comparison_levels"] if lv.get("label_for_charts") == "at most two typos")
    typo.pop("m_probability")
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    con = shaped(base, tmp_path)
    res = build_snapshot(con, M1, model_path=path)
    p = check_built(con, res)
    assert p["comparisons"]["name"]["levels"]["at most two typos"].startswith("m: data (EM)")
    assert p["comparisons"]["name"]["levels"]["exact"].startswith("m: saved model")
    used = next(c for c in res.settings["comparisons"] if c["output_column_name"] == "name")
    assert (
        next(lv for lv in used["comparison_levels"] if lv.get("label_for_charts") == "at most two typos")[
            "m_probability"
        ]
        > 0
    )
    con.close()


# ---- the cluster constraint
def test_chaining_through_a_third_record_is_split_by_the_evidence():
    """Two sisters with their own consistent NIKs (records 0 and 1) and a NIK-less record (2) linked to both: the
    cluster may not hold both NIKs; the third record stays with the sister it is linked to more strongly."""
    a = np.array([0, 1, 3])
    b = np.array([2, 2, 4])
    p = np.array([0.97, 0.99, 0.999])
    roots, n = cluster_indices(5, a, b, p, 0.95, conflicts=np.array([[0, 1]]), source=np.array([0, 0, 1, 0, 1]))
    assert n == 1
    assert roots[1] == roots[2] and roots[0] != roots[1]  # 2 joined the stronger link (0.99 to record 1)
    assert roots[3] == roots[4]  # untouched elsewhere


def test_a_cluster_holds_no_more_records_of_one_source_than_a_person_has():
    # five records of one source chained together: at most two (a registration and its duplicate) per person
    a, b = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])
    p = np.array([0.99, 0.98, 0.97, 0.96])
    roots, n = cluster_indices(5, a, b, p, 0.95, source=np.zeros(5, dtype=np.int64))
    sizes = np.bincount(roots)
    assert n == 1 and sizes.max() <= 2
    assert roots[0] == roots[1]  # the strongest link kept first
