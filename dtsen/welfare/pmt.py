"""The proxy means test: log per-capita consumption regressed on family proxies, with regional effects.

Model (scikit-learn): one-hot codes (housing, water, sanitation, lighting, fuel, head's education and work),
numeric proxies (floor area per capita, assets, land, livestock, family size and composition), and regional
intercepts: a province effect for every province and a regency effect for regencies with at least
`min_regency_sample` survey families (the rest share their province's). A ridge penalty shrinks the small regional
groups towards zero (the national mean) instead of letting a handful of survey families set them.

Fit on the consumption-survey sample; out-of-sample R^2 by k-fold cross-validation (seeded); predict for every
DTSEN family. Families without Regsosek proxies get the survey's typical values (imputed) and are marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .features import CATEGORICAL, NUMERIC

REGION = ["province_code", "region_group"]


@dataclass
class PmtSettings:
    alpha: float = 1.0
    min_regency_sample: int = 30
    folds: int = 5
    seed: int = 42


@dataclass
class PmtFit:
    pipeline: object  # a fitted sklearn Pipeline
    regencies: list[str]  # regencies with their own effect
    n_train: int
    r2_in_sample: float
    r2_cv: float
    rmse_cv: float
    settings: PmtSettings
    coefficients: dict[str, float] = field(default_factory=dict)


def code_text(s: pd.Series) -> pd.Series:
    """Integer codes as text ('3'), missing as NaN: the one-hot encoder's categories. Mapped through the handful of
    distinct values (casting every value to Int64 and then to text is much slower on a national frame)."""
    f = s.astype("float")
    return f.map({v: str(int(v)) for v in f.dropna().unique()})


def design(df: pd.DataFrame, regencies: list[str]) -> pd.DataFrame:
    """The model's input columns from a family-features frame (survey or registry)."""
    members = df["members"].clip(lower=1).astype(float)
    x = pd.DataFrame(index=df.index)
    for c in CATEGORICAL:
        x[c] = code_text(df[c])
    x["log_floor_per_capita"] = np.log(df["luas_lantai_m2"].astype(float) / members)
    x["log_land"] = np.log1p(df["aset_lahan_m2"].astype(float))
    x["log_livestock"] = np.log1p(df["aset_ternak"].astype(float))
    x["log_members"] = np.log(members)
    for c in [
        "aset_kulkas",
        "aset_motor",
        "aset_mobil",
        "desa_terpencil",
        "share_children",
        "share_elderly",
        "share_pupils",
        "share_working",
        "disabled",
        "female_head",
        "urban",
    ]:
        x[c] = df[c].astype(float)
    x["province_code"] = df["province_code"].fillna("unknown").astype(str)
    reg = df["regency_code"].fillna("").astype(str)
    x["region_group"] = np.where(reg.isin(regencies), reg, "province:" + x["province_code"])
    return x


def _pipeline(settings: PmtSettings):
    # scikit-learn is imported here, not at module level: the code location loads seconds faster without it
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    nums = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    region = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    pre = ColumnTransformer([("codes", cats, CATEGORICAL), ("numeric", nums, NUMERIC), ("region", region, REGION)])
    return Pipeline([("features", pre), ("ridge", Ridge(alpha=settings.alpha))])


def fit(survey: pd.DataFrame, settings: PmtSettings | None = None) -> PmtFit:
    settings = settings or PmtSettings()
    if len(survey) < 50:
        raise ValueError(
            f"the consumption survey has {len(survey)} usable families; at least 50 are needed to fit "
            f"the proxy means test"
        )
    counts = survey["regency_code"].value_counts()
    regencies = sorted(counts[counts >= settings.min_regency_sample].index.astype(str))
    x = design(survey, regencies)
    y = np.log(survey["pengeluaran_per_kapita"].astype(float).to_numpy())
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    folds = KFold(n_splits=min(settings.folds, len(survey)), shuffle=True, random_state=settings.seed)
    y_cv = cross_val_predict(_pipeline(settings), x, y, cv=folds)
    pipe = _pipeline(settings).fit(x, y)
    names = pipe.named_steps["features"].get_feature_names_out()
    coefs = {str(n): float(c) for n, c in zip(names, pipe.named_steps["ridge"].coef_)}
    coefs["intercept"] = float(pipe.named_steps["ridge"].intercept_)
    return PmtFit(
        pipeline=pipe,
        regencies=regencies,
        n_train=len(survey),
        r2_in_sample=float(r2_score(y, pipe.predict(x))),
        r2_cv=float(r2_score(y, y_cv)),
        rmse_cv=float(np.sqrt(np.mean((y - y_cv) ** 2))),
        settings=settings,
        coefficients=coefs,
    )


def predict_log_consumption(model: PmtFit, families: pd.DataFrame) -> np.ndarray:
    """The fitted pipeline's prediction, computed as the linear function it is (intercept + one coefficient per
    code, per standardised number and per region): the same numbers as `pipeline.predict`, without one-hot
    matrices of every family (seconds at a million families)."""
    x = design(families, model.regencies)
    pred = np.full(len(x), model.pipeline.named_steps["ridge"].intercept_, dtype=float)
    for column, fill, weights in _category_terms(model.pipeline):
        codes = x[column].astype(object).where(x[column].notna(), fill)
        pred += codes.map(weights).fillna(0.0).to_numpy(dtype=float)  # an unseen code has no effect, as in fit
    for column, fill, mean, scale, coef in _numeric_terms(model.pipeline):
        values = x[column].astype(float).fillna(fill).to_numpy()
        pred += (values - mean) / scale * coef
    return pred


def _coefficients(pipe) -> tuple[np.ndarray, dict[str, int]]:
    """The ridge coefficients and where each transformer's block starts (ColumnTransformer output order)."""
    pre = pipe.named_steps["features"]
    starts, pos = {}, 0
    for name, _, _ in pre.transformers_:
        if name == "remainder":
            continue
        starts[name] = pos
        pos += len(pre.named_transformers_[name].get_feature_names_out())
    coef = pipe.named_steps["ridge"].coef_
    assert pos == len(coef), "the PMT pipeline's features and coefficients disagree"
    return coef, starts


def _category_terms(pipe) -> list[tuple[str, object, dict]]:
    """(column, value a missing code takes, code -> coefficient) for the codes and the regions."""
    coef, starts = _coefficients(pipe)
    pre = pipe.named_steps["features"]
    codes = pre.named_transformers_["codes"]
    imputer, encoder = codes.steps[0][1], codes.steps[-1][1]
    out, pos = [], starts["codes"]
    for i, column in enumerate(CATEGORICAL):
        cats = encoder.categories_[i]
        out.append((column, imputer.statistics_[i], dict(zip(cats, coef[pos : pos + len(cats)]))))
        pos += len(cats)
    region, pos = pre.named_transformers_["region"], starts["region"]
    for i, column in enumerate(REGION):
        cats = region.categories_[i]
        out.append((column, np.nan, dict(zip(cats, coef[pos : pos + len(cats)]))))
        pos += len(cats)
    return out


def _numeric_terms(pipe) -> list[tuple[str, float, float, float, float]]:
    """(column, imputed value, mean, scale, coefficient) of the standardised numbers."""
    coef, starts = _coefficients(pipe)
    nums = pipe.named_steps["features"].named_transformers_["numeric"]
    imputer, scaler = nums.steps[0][1], nums.steps[-1][1]
    return [
        (column, imputer.statistics_[i], scaler.mean_[i], scaler.scale_[i], coef[starts["numeric"] + i])
        for i, column in enumerate(NUMERIC)
    ]


def weighted_desil(score: np.ndarray, weight: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
    """Desil 1-10 of families ranked by score (ascending: desil 1 = poorest), weighted by members, so desil 1
    holds the poorest tenth of *people*. Ties keep a stable order. With `group`, ranked within each group."""
    score = np.asarray(score, dtype=float)
    weight = np.asarray(weight, dtype=float)
    out = np.zeros(len(score), dtype=np.int16)
    groups = (
        [np.arange(len(score))]
        if group is None
        else [np.flatnonzero(group == g) for g in pd.unique(pd.Series(group).dropna())]
    )
    for idx in groups:
        if len(idx) == 0:
            continue
        order = idx[np.lexsort((idx, score[idx]))]
        w = weight[order]
        cum = np.cumsum(w) - w / 2  # a family's position is the middle of its people
        out[order] = np.clip(np.floor(cum / w.sum() * 10).astype(int) + 1, 1, 10)
    return out


def score_families(model: PmtFit, families: pd.DataFrame) -> pd.DataFrame:
    """Predicted consumption and national and provincial desil for every family."""
    log_pcc = predict_log_consumption(model, families)
    out = families[["family_id", "province_code", "regency_code", "members", "proxies_source"]].copy()
    out["predicted_log_pcc"] = log_pcc
    out["predicted_pcc"] = np.round(np.exp(log_pcc)).astype(np.int64)
    out["desil"] = weighted_desil(log_pcc, families["members"].to_numpy())
    prov = families["province_code"].to_numpy(dtype=object)
    known = pd.notna(prov)
    out["desil_province"] = pd.array(
        np.where(known, weighted_desil(log_pcc, families["members"].to_numpy(), np.where(known, prov, None)), 0),
        dtype="Int16",
    )
    out.loc[~known, "desil_province"] = pd.NA
    return out
