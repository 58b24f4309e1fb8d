"""Welfare ranking: weighted desil, the PMT fit and its targeting errors against the truth and the baselines."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from dtsen.welfare.pmt import PmtSettings, code_text, fit, weighted_desil


def test_weighted_desil_puts_a_tenth_of_people_in_each_desil():
    rng = np.random.default_rng(0)
    score = rng.normal(size=5000)
    weight = rng.integers(1, 8, size=5000)
    d = weighted_desil(score, weight)
    shares = pd.Series(weight).groupby(d).sum() / weight.sum()
    assert list(shares.index) == list(range(1, 11))
    assert (shares - 0.1).abs().max() < 0.01
    # monotone: a poorer score never gets a higher desil
    order = np.argsort(score)
    assert (np.diff(d[order]) >= 0).all()


def test_provincial_desil_ranks_within_each_province():
    score = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 200.0, 300.0, 400.0])
    group = np.array(["a", "a", "a", "a", "b", "b", "b", "b"], dtype=object)
    d = weighted_desil(score, np.ones(8), group)
    # the same positions within each province get the same desil, whatever the national level
    assert list(d[:4]) == list(d[4:])
    assert d[0] == 2 and d[3] == 9


@pytest.mark.parametrize("dtype", ["Int8", "int16", "float64", "object"])
def test_codes_become_the_encoders_text(dtype):
    values = [3, None, 1, 12, 3, 0] if dtype in ("Int8", "object", "float64") else [3, 5, 1, 12, 3, 0]
    s = pd.Series(values, dtype=dtype)
    text = code_text(s)
    assert text.equals(s.astype("float").astype("Int64").astype(str).replace("<NA>", np.nan))
    assert text.iloc[3] == "12" and (pd.isna(text.iloc[1]) if None in values else text.iloc[1] == "5")


def test_fit_refuses_a_too_small_survey():
    survey = pd.DataFrame({"pengeluaran_per_kapita": [1000] * 10, "regency_code": ["0101"] * 10})
    with pytest.raises(ValueError, match="at least 50"):
        fit(survey)


def test_pmt_fits_out_of_sample_and_beats_the_naive_baseline(pipeline):
    run, warehouse, _ = pipeline
    meta = run.materialized["welfare/family_welfare"]
    assert meta["r2_out_of_sample"] > 0.6
    assert meta["r2_out_of_sample"] <= meta["r2_in_sample"] + 1e-9
    con = duckdb.connect(str(warehouse), read_only=True)
    ev = (
        con.execute("""SELECT method, exclusion_error, inclusion_error FROM welfare.targeting_evaluation
                        WHERE scope = 'national'""")
        .df()
        .set_index("method")
    )
    # the PMT misses fewer of the truly poor than ranking by floor area alone, and includes fewer non-poor
    assert ev.loc["pmt", "exclusion_error"] < ev.loc["floor_area_per_capita", "exclusion_error"] - 0.1
    assert ev.loc["pmt", "inclusion_error"] < ev.loc["floor_area_per_capita", "inclusion_error"]
    assert ev.loc["pmt", "exclusion_error"] < 0.3
    # every family ranked, desil shares even, provincial desil present for families with a province
    fw = con.execute("SELECT * FROM welfare.family_welfare WHERE snapshot = '2025-01'").df()
    n_fam = con.execute("SELECT count(*) FROM dtsen.family WHERE snapshot = '2025-01'").fetchall()[0][0]
    assert len(fw) == n_fam and fw["desil"].between(1, 10).all()
    shares = fw.groupby("desil")["members"].sum() / fw["members"].sum()
    assert (shares - 0.1).abs().max() < 0.02
    assert fw.loc[fw["province_code"].notna(), "desil_province"].notna().all()
    # a province's own desil 1 holds its poorest families
    p = fw[fw["province_code"] == fw["province_code"].mode()[0]]
    assert (
        p.loc[p["desil_province"] == 1, "predicted_pcc"].max() <= p.loc[p["desil_province"] == 2, "predicted_pcc"].min()
    )
    model = con.execute("SELECT * FROM welfare.pmt_model").df()
    assert len(model) == 1 and model["n_train"].iloc[0] > 500
    con.close()


def test_lower_penalty_changes_the_model_but_ranks_consistently(pipeline):
    """The PMT is a real fit: retraining with another penalty gives different coefficients and near-identical
    rankings (a hard-coded or degenerate model would not)."""
    from dtsen.welfare.features import survey_sql

    _, warehouse, _ = pipeline
    con = duckdb.connect(str(warehouse), read_only=True)
    survey = con.execute(survey_sql("2025-01")).df()
    con.close()
    a = fit(survey, PmtSettings(alpha=1.0))
    b = fit(survey, PmtSettings(alpha=50.0))
    assert a.coefficients != b.coefficients
    assert a.r2_cv > b.r2_cv - 0.05
    assert a.coefficients["numeric__log_floor_per_capita"] > 0  # more floor per person, more consumption
    assert a.coefficients["numeric__aset_mobil"] > 0


def test_the_linear_prediction_is_the_fitted_pipelines(pipeline):
    """Families are scored with the ridge's linear function (no one-hot matrices): the same numbers as the fitted
    scikit-learn pipeline, for survey families and for registry families, missing and unseen codes included."""
    from dtsen.welfare.features import family_features_sql, survey_sql
    from dtsen.welfare.pmt import design, predict_log_consumption

    _, warehouse, _ = pipeline
    con = duckdb.connect(str(warehouse), read_only=True)
    survey = con.execute(survey_sql("2025-01")).df()
    families = con.execute(family_features_sql("2025-01")).df()
    # the survey taken from features already computed (as the ranking does) is the same frame, and its order is
    # total (a keluarga may back two DTSEN families): the same folds, fit and model id run after run
    con.execute(f"CREATE TEMP TABLE features AS {family_features_sql('2025-01')}")
    assert con.execute(survey_sql("2025-01", "features")).df().equals(survey)
    assert not survey.duplicated(["id_keluarga", "family_id"]).any()
    con.close()
    model = fit(survey, PmtSettings())
    odd = families.head(50).copy()
    odd.loc[odd.index[:10], "jenis_lantai"] = None  # missing: imputed as in the fit
    odd.loc[odd.index[10:20], "jenis_atap"] = 99  # a code the survey never had: no effect
    odd.loc[odd.index[20:30], "regency_code"] = "9999"  # a regency without its own effect
    odd.loc[odd.index[30:40], "luas_lantai_m2"] = None
    for frame in (survey, families, odd):
        expected = model.pipeline.predict(design(frame, model.regencies))
        assert np.allclose(predict_log_consumption(model, frame), expected, rtol=0, atol=1e-9)


def test_welfare_asset_shows_a_desil_chart_and_targeting_table(pipeline):
    run, _, _ = pipeline
    meta = run.materialized["welfare/family_welfare"]
    assert meta["desil_profile"].startswith("![desil profile](data:image/png;base64,")
    # the desil separate people: predicted consumption rises with the desil, and (with the truth) the share of people
    # truly in the bottom 40% falls from desil 1 to desil 10
    rows = [r for r in meta["desil_profile_table"].splitlines()[2:]]
    assert len(rows) == 10
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    median = [float(c[3].replace(",", "")) for c in cells]
    poor = [float(c[6]) for c in cells]
    assert median == sorted(median) and poor[0] > 0.8 and poor[-1] < 0.1
    assert "| pmt |" in meta["targeting_errors_bottom40"]
    assert 0 < meta["exclusion_error"] < 0.5
