"""Match an external list (e.g. a local government's proposals, a bank's account list) against DTSEN.

The list comes in the canonical record shape (record_id, nik, no_kk, name, sex, birth_date, village_code; missing
columns count as empty). It is standardised like the registries and scored against the snapshot's records with
the saved model; every input row gets its best DTSEN person, that person's probability, and the runner-up.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

from dtsen import warehouse as wh
from dtsen.registries.engine import clean_name, reference_codes
from dtsen.registries.nik import identity_columns

from . import model as lm
from .pipeline import ensure_input, load_settings
from .standardise import linkage_input_sql

INPUT_COLUMNS = ["record_id", "nik", "no_kk", "name", "sex", "birth_date", "village_code"]


def read_list(path: str) -> pd.DataFrame:
    df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip().lower() for c in df.columns]
    if "name" not in df.columns:
        raise ValueError(f"{path}: an external list needs at least a `name` column")
    if "record_id" not in df.columns:
        df["record_id"] = [str(i + 1) for i in range(len(df))]
    for c in INPUT_COLUMNS:
        if c not in df.columns:
            df[c] = None
    df = df[INPUT_COLUMNS].copy()
    for c in INPUT_COLUMNS:
        s = df[c].astype(object).where(df[c].notna(), None)
        df[c] = s.map(lambda v: v.strip() if isinstance(v, str) else v).replace({"": None})
    df["record_id"] = df["record_id"].astype(str)
    if df["record_id"].duplicated().any():
        raise ValueError(f"{path}: record_id must be unique")
    return df


def match_frame(
    con: duckdb.DuckDBPyConnection, ext: pd.DataFrame, month: str | None = None, model_path: str | Path = lm.MODEL_PATH
) -> pd.DataFrame:
    snap = month or con.execute("SELECT max(snapshot) FROM dtsen.crosswalk").fetchall()[0][0]
    if snap is None:
        raise ValueError("no DTSEN snapshot in the warehouse: build DTSEN first")
    _, districts = reference_codes(con, snap)
    sex = pd.to_numeric(ext["sex"].replace({"L": 1, "P": 2}), errors="coerce").astype("Int8")
    bd = pd.to_datetime(ext["birth_date"], errors="coerce", format="mixed")
    ident = identity_columns(ext["nik"], ext["no_kk"], sex, bd, districts)
    v = ext["village_code"].astype(object)
    canon = pd.DataFrame(
        {
            "source": "external",
            "record_id": ext["record_id"],
            "delivery": snap,
            "nik": ident["nik"],
            "nik_date_mismatch": ident["nik_date_mismatch"],
            "nik_sex_mismatch": ident["nik_sex_mismatch"],
            "no_kk": ident["no_kk"],
            "name": clean_name(ext["name"].fillna("")),
            "sex": sex,
            "birth_date": bd,
            "village_code": v,
            "district_code": v.str[:6],
            "regency_code": v.str[:4],
            "province_code": v.str[:2],
            "family_id_src": None,
        }
    )
    con.register("_external_raw", canon)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _external AS {linkage_input_sql('_external_raw')}")
    con.unregister("_external_raw")
    existing = ensure_input(con, snap)  # the snapshot's own standardised records
    settings = load_settings(con, model_path, existing)
    api = lm.db_api(con)
    linker = lm.make_linker(
        api,
        {"existing": con.sql(f"SELECT * FROM {existing}"), "external": con.sql("SELECT * FROM _external")},
        settings,
    )
    for comp in settings["comparisons"]:  # term frequencies of the snapshot's names (the exact-name level)
        for lv in comp["comparison_levels"]:
            if lv.get("tf_adjustment_column"):
                linker.table_management.compute_tf_table(lv["tf_adjustment_column"])
    left, right = linker.dtsen_inputs["external"], linker.dtsen_inputs["existing"]
    pred = linker.inference.predict_between(left, right, threshold_match_probability=0.01, warning_mode="never")
    pairs = con.sql(f"""
        WITH p AS (
            SELECT CASE WHEN source_l = 'external' THEN record_id_l ELSE record_id_r END AS ext_id,
                   CASE WHEN source_l = 'external' THEN source_r ELSE source_l END AS src,
                   CASE WHEN source_l = 'external' THEN record_id_r ELSE record_id_l END AS rid,
                   match_probability FROM {pred.physical_name})
        SELECT p.ext_id, c.person_id, max(p.match_probability) AS probability
        FROM p JOIN dtsen.crosswalk c ON c.snapshot = '{snap}' AND c.source = p.src AND c.record_id = p.rid
        GROUP BY ALL""").df()
    pred.drop_table_from_database_and_remove_from_cache()
    lm.drop_work_tables(con)
    pairs = pairs.sort_values(["ext_id", "probability", "person_id"], ascending=[True, False, True])
    pairs["rank"] = pairs.groupby("ext_id").cumcount()
    best = pairs[pairs["rank"] == 0].set_index("ext_id")
    second = pairs[pairs["rank"] == 1].set_index("ext_id")
    out = ext[["record_id"]].copy()
    out["snapshot"] = snap
    out["person_id"] = out["record_id"].map(best["person_id"])
    out["probability"] = out["record_id"].map(best["probability"])
    out["runner_up_person_id"] = out["record_id"].map(second["person_id"])
    out["runner_up_probability"] = out["record_id"].map(second["probability"])
    out["matched"] = out["probability"].fillna(0) >= lm.DEFAULT_THRESHOLD
    return out


def match_file(input_path: str, out_path: str, warehouse: str | None = None, month: str | None = None) -> dict:
    ext = read_list(input_path)
    con = wh.connect(warehouse)
    try:
        res = match_frame(con, ext, month)
    finally:
        con.close()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    if out_path.endswith(".parquet"):
        res.to_parquet(out_path, index=False)
    else:
        res.to_csv(out_path, index=False)
    return {
        "input_rows": len(ext),
        "matched": int(res["matched"].sum()),
        "out": out_path,
        "snapshot": res["snapshot"].iloc[0] if len(res) else month,
    }
