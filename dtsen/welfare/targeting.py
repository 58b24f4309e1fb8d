"""Targeting errors of a desil ranking for the bottom 40%, measured against the synthetic truth.

Poor = the family's true per-capita consumption is in the bottom 40% of people (families weighted by members).
Exclusion error = poor families ranked above desil 4 / poor families. Inclusion error = families ranked desil 1-4
that are not poor / families ranked desil 1-4. Both per country and per province, for the PMT and two naive
baselines: P3KE's own desil (a family is in desil 1-4 when any member carries a P3KE desil) and a single proxy
(floor area per capita).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from .pmt import weighted_desil

BOTTOM = 4  # desil 1-4 = the bottom 40%


def true_consumption(con: duckdb.DuckDBPyConnection, month: str, truth_dir: str) -> pd.DataFrame:
    """family_id -> true per-capita consumption: a DTSEN family is the true family most of its records belong to."""
    return con.execute(f"""
        WITH t AS (SELECT * FROM read_parquet('{truth_dir}/truth.parquet')),
        k AS (SELECT * FROM read_parquet('{truth_dir}/keluarga.parquet')),
        votes AS (SELECT c.family_id, t.family_id AS true_family, count(*) AS n
                  FROM dtsen.crosswalk c JOIN t ON t.source = c.source AND t.delivery = c.delivery
                       AND t.record_id = c.record_id
                  WHERE c.snapshot = '{month}' GROUP BY ALL)
        SELECT v.family_id, first(k.pengeluaran_per_kapita ORDER BY v.n DESC, v.true_family) AS true_pcc
        FROM votes v JOIN k ON k.family_id = v.true_family GROUP BY v.family_id ORDER BY v.family_id
    """).df()


def errors(ranked_poor: np.ndarray, poor: np.ndarray) -> dict[str, float]:
    n_poor, n_sel = int(poor.sum()), int(ranked_poor.sum())
    excl = float((poor & ~ranked_poor).sum() / n_poor) if n_poor else float("nan")
    incl = float((ranked_poor & ~poor).sum() / n_sel) if n_sel else float("nan")
    return {
        "families": len(poor),
        "poor_families": n_poor,
        "ranked_bottom40": n_sel,
        "exclusion_error": excl,
        "inclusion_error": incl,
    }


def targeting_errors(
    scored: pd.DataFrame, features: pd.DataFrame, truth: pd.DataFrame, p3ke_desil: pd.DataFrame
) -> pd.DataFrame:
    """scored: family_id, province_code, members, desil; features: family_id, luas_lantai_m2, members;
    truth: family_id, true_pcc; p3ke_desil: family_id, desil_p3ke (min over members). One row per scope x method."""
    df = scored.merge(truth, on="family_id", how="inner")
    df = df.merge(features[["family_id", "luas_lantai_m2"]], on="family_id", how="left")
    df = df.merge(p3ke_desil, on="family_id", how="left")
    true_desil = weighted_desil(np.log(df["true_pcc"].astype(float).to_numpy()), df["members"].to_numpy())
    poor = true_desil <= BOTTOM
    floor_pc = (
        (df["luas_lantai_m2"].astype(float) / df["members"].clip(lower=1))
        .fillna((df["luas_lantai_m2"].astype(float) / df["members"].clip(lower=1)).median())
        .to_numpy()
    )
    methods = {
        "pmt": df["desil"].to_numpy() <= BOTTOM,
        "p3ke_desil": df["desil_p3ke"].fillna(99).to_numpy() <= BOTTOM,
        "floor_area_per_capita": weighted_desil(floor_pc, df["members"].to_numpy()) <= BOTTOM,
    }
    rows = []
    prov = df["province_code"].fillna("unknown").to_numpy()
    for method, sel in methods.items():
        rows.append({"scope": "national", "province_code": None, "method": method, **errors(sel, poor)})
        for p in sorted(set(prov)):
            m = prov == p
            rows.append({"scope": "province", "province_code": p, "method": method, **errors(sel[m], poor[m])})
    return pd.DataFrame(rows)


def desil_profile(scored: pd.DataFrame, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per national desil: families, people, predicted per-capita consumption (median, 10th and 90th percentile of
    families) and, with the truth, the share of the desil's people whose true consumption is in the bottom 40%."""
    df = scored[["family_id", "members", "desil", "predicted_pcc"]].copy()
    rows = (
        df.groupby("desil")
        .agg(
            families=("family_id", "size"),
            people=("members", "sum"),
            pcc_median=("predicted_pcc", "median"),
            pcc_p10=("predicted_pcc", lambda s: s.quantile(0.1)),
            pcc_p90=("predicted_pcc", lambda s: s.quantile(0.9)),
        )
        .reset_index()
    )
    rows["true_bottom40_share"] = np.nan
    if truth is not None and len(truth):
        t = df.merge(truth, on="family_id", how="inner")
        true_desil = weighted_desil(np.log(t["true_pcc"].astype(float).to_numpy()), t["members"].to_numpy())
        t["poor_people"] = np.where(true_desil <= BOTTOM, t["members"], 0)
        share = t.groupby("desil").apply(
            lambda g: g["poor_people"].sum() / max(g["members"].sum(), 1), include_groups=False
        )
        rows["true_bottom40_share"] = rows["desil"].map(share)
    return rows
