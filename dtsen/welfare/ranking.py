"""Rank one DTSEN snapshot: fit the PMT on the survey, score every family, write the `welfare` schema.

Tables (all rows of a snapshot replaced in one transaction):
- welfare.family_welfare: family_id, predicted consumption, national and provincial desil, where the proxies came from
- welfare.pmt_model: fit statistics and coefficients of the snapshot's model
- welfare.targeting_evaluation: exclusion/inclusion errors of the bottom 40% (only when synthetic truth is present)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import duckdb
import pandas as pd

from dtsen import warehouse as wh

from . import pmt
from .features import family_features_sql, survey_sql
from .targeting import desil_profile, targeting_errors, true_consumption

DDL = [
    "CREATE SCHEMA IF NOT EXISTS welfare",
    """CREATE TABLE IF NOT EXISTS welfare.family_welfare (snapshot VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        province_code VARCHAR, regency_code VARCHAR, members INTEGER, proxies_source VARCHAR,
        predicted_log_pcc DOUBLE, predicted_pcc BIGINT, desil SMALLINT, desil_province SMALLINT,
        model_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS welfare.pmt_model (snapshot VARCHAR NOT NULL, model_id VARCHAR NOT NULL,
        survey_year VARCHAR, n_train BIGINT, regency_effects INTEGER, r2_in_sample DOUBLE, r2_cv DOUBLE,
        rmse_cv DOUBLE, alpha DOUBLE, families BIGINT, families_without_proxies BIGINT, coefficients VARCHAR,
        fitted_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS welfare.targeting_evaluation (snapshot VARCHAR NOT NULL, scope VARCHAR NOT NULL,
        province_code VARCHAR, method VARCHAR NOT NULL, families BIGINT, poor_families BIGINT,
        ranked_bottom40 BIGINT, exclusion_error DOUBLE, inclusion_error DOUBLE)""",
]


@dataclass
class RankResult:
    snapshot: str
    model: pmt.PmtFit
    model_id: str
    families: int
    families_without_proxies: int
    scored: pd.DataFrame
    evaluation: pd.DataFrame | None
    profile: pd.DataFrame  # per desil: predicted consumption and (with truth) the share truly in the bottom 40%
    survey_year: str = ""  # the survey the PMT was fitted on (the latest usable one up to the snapshot's year)


def rank_snapshot(
    con: duckdb.DuckDBPyConnection, month: str, truth_dir: str | None = None, settings: pmt.PmtSettings | None = None
) -> RankResult:
    for stmt in DDL:
        con.execute(stmt)
    if not con.execute("SELECT count(*) FROM dtsen.family WHERE snapshot = ?", [month]).fetchall()[0][0]:
        raise ValueError(f"no DTSEN snapshot {month}: build the DTSEN registry for that month first")
    # the families' features once: the survey takes its families' demographics from them
    con.execute(f"CREATE OR REPLACE TEMP TABLE _family_features AS {family_features_sql(month)}")
    survey = con.execute(survey_sql(month, "_family_features")).df()
    families = con.execute("SELECT * FROM _family_features ORDER BY family_id").df()
    con.execute("DROP TABLE _family_features")
    model = pmt.fit(survey, settings)
    scored = pmt.score_families(model, families)
    model_id = hashlib.sha256(json.dumps(model.coefficients, sort_keys=True).encode()).hexdigest()[:16]
    scored["model_id"] = model_id
    scored["snapshot"] = month
    evaluation, truth = None, None
    if truth_dir and os.path.exists(os.path.join(truth_dir, "keluarga.parquet")):
        p3ke = con.execute(
            """SELECT family_id, min(desil_p3ke) AS desil_p3ke FROM dtsen.person
                              WHERE snapshot = ? GROUP BY family_id""",
            [month],
        ).df()
        truth = true_consumption(con, month, truth_dir)
        evaluation = targeting_errors(scored, families, truth, p3ke)
        evaluation["snapshot"] = month
    no_proxies = int((families["proxies_source"] == "none").sum())
    with wh.transaction(con):
        for table in ("family_welfare", "pmt_model", "targeting_evaluation"):
            con.execute(f"DELETE FROM welfare.{table} WHERE snapshot = ?", [month])
        wh.insert_frame(con, "welfare.family_welfare", scored)
        con.execute(
            "INSERT INTO welfare.pmt_model VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
            [
                month,
                model_id,
                str(survey["survey_year"].iloc[0]),
                model.n_train,
                len(model.regencies),
                model.r2_in_sample,
                model.r2_cv,
                model.rmse_cv,
                model.settings.alpha,
                len(families),
                no_proxies,
                json.dumps(model.coefficients, sort_keys=True),
            ],
        )
        if evaluation is not None:
            wh.insert_frame(con, "welfare.targeting_evaluation", evaluation)
    return RankResult(
        snapshot=month,
        model=model,
        model_id=model_id,
        families=len(families),
        families_without_proxies=no_proxies,
        scored=scored,
        evaluation=evaluation,
        profile=desil_profile(scored, truth),
        survey_year=str(survey["survey_year"].iloc[0]),
    )
