"""DTSEN linkage end to end on generated data: quality, tricky pairs, stable ids, crosswalk, matcher, Dagster."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dtsen import warehouse as wh
from dtsen.linkage.evaluate import evaluate_snapshot
from dtsen.linkage.golden import GOLDEN_FIELDS, RECORD_NO_COLUMNS
from dtsen.linkage.match import match_file
from dtsen.linkage.pipeline import build_snapshot
from dtsen.registries.ingest import ingest

M1, M2 = "2025-01", "2025-02"


@pytest.fixture(scope="module")
def built(landing, tmp_path_factory):
    """The 20 k landing folder ingested for two months, DTSEN built for both."""
    path = tmp_path_factory.mktemp("linkage") / "w.duckdb"
    con = wh.connect(str(path))
    for m in (M1, M2):
        for s in ["referensi", "dtks", "regsosek", "p3ke"]:
            ingest(con, str(landing), m, s)
        build_snapshot(con, m)
    evaluate_snapshot(con, M1, str(landing / "truth" / "truth.parquet"), generic=False)
    yield con, landing
    con.close()


def crosswalk_with_truth(con, landing, month):
    t = pd.read_parquet(landing / "truth" / "truth.parquet")
    cw = con.execute(
        "SELECT source, delivery, record_id, person_id, family_id FROM dtsen.crosswalk WHERE snapshot = ?", [month]
    ).df()
    return cw.merge(
        t.rename(columns={"person_id": "true_person", "family_id": "true_family"}),
        on=["source", "delivery", "record_id"],
    )


def test_quality_beats_the_nik_only_baseline(built):
    con, _ = built
    ev = (
        con.execute(
            "SELECT method, precision, recall, f1, largest_cluster FROM dtsen.linkage_evaluation WHERE snapshot = ?",
            [M1],
        )
        .df()
        .set_index("method")
    )
    assert ev.loc["dtsen_model", "f1"] >= 0.995
    assert ev.loc["dtsen_model", "precision"] >= 0.998
    assert ev.loc["nik_only", "f1"] < 0.96
    assert ev.loc["dtsen_model", "f1"] - ev.loc["nik_only", "f1"] > 0.03
    assert ev.loc["dtsen_model", "largest_cluster"] <= 12


def test_twins_do_not_merge(built):
    con, landing = built
    persons = pd.read_parquet(landing / "truth" / "persons.parquet")
    twins = persons[persons["twin_person_id"].notna()][["person_id", "twin_person_id"]]
    j = crosswalk_with_truth(con, landing, M1)
    dp = j.groupby("true_person")["person_id"].agg(set)
    pairs = twins[twins["person_id"].isin(dp.index) & twins["twin_person_id"].isin(dp.index)]
    assert len(pairs) >= 20
    merged = [bool(dp[a] & dp[b]) for a, b in zip(pairs["person_id"], pairs["twin_person_id"])]
    assert sum(merged) == 0, f"{sum(merged)} of {len(pairs)} twin pairs merged"


def test_moved_families_merge(built):
    con, landing = built
    j = crosswalk_with_truth(con, landing, M1)
    recs = con.execute("SELECT source, delivery, record_id, village_code FROM sources.person_record").df()
    j = j.merge(recs, on=["source", "delivery", "record_id"])
    # persons whose records sit in different villages (moved between enumerations)
    moved = j.groupby("true_person")["village_code"].nunique()
    moved = moved[moved > 1].index
    assert len(moved) > 100
    together = j[j["true_person"].isin(moved)].groupby("true_person")["person_id"].nunique()
    assert (together == 1).mean() >= 0.97


def test_missing_nik_records_link_on_name_date_region(built):
    con, landing = built
    j = crosswalk_with_truth(con, landing, M1)
    flags = con.execute("SELECT source, delivery, record_id, nik_flag FROM sources.person_record").df()
    j = j.merge(flags, on=["source", "delivery", "record_id"])
    per_person = j.groupby("true_person").agg(
        n=("record_id", "size"), ids=("person_id", "nunique"), missing=("nik_flag", lambda s: (s == "missing").any())
    )
    cand = per_person[(per_person["n"] > 1) & per_person["missing"]]
    assert len(cand) > 100
    assert (cand["ids"] == 1).mean() >= 0.95


def test_ids_are_stable_across_snapshots(built):
    con, _ = built
    j = con.execute(
        """SELECT a.person_id AS p1, b.person_id AS p2, a.family_id AS f1, b.family_id AS f2
                       FROM dtsen.crosswalk a JOIN dtsen.crosswalk b USING (source, delivery, record_id)
                       WHERE a.snapshot = ? AND b.snapshot = ?""",
        [M1, M2],
    ).df()
    assert len(j) > 20_000  # Regsosek and P3KE carry over whole; DTKS records keep their ID_DTKS
    carried = con.execute(
        """SELECT count(*) FROM dtsen.crosswalk a JOIN dtsen.crosswalk b
                             ON a.source = b.source AND a.record_id = b.record_id
                             WHERE a.snapshot = ? AND b.snapshot = ? AND a.person_id <> b.person_id""",
        [M1, M2],
    ).fetchall()[0][0]
    total = con.execute(
        """SELECT count(*) FROM dtsen.crosswalk a JOIN dtsen.crosswalk b
                           ON a.source = b.source AND a.record_id = b.record_id
                           WHERE a.snapshot = ? AND b.snapshot = ?""",
        [M1, M2],
    ).fetchall()[0][0]
    assert carried / total < 0.001
    assert (j["f1"] == j["f2"]).mean() > 0.99
    # new people (births, registrations) got new ids, recorded in the history
    new = con.execute(
        "SELECT count(*) FROM dtsen.person_id_history WHERE snapshot = ? AND event = 'new'", [M2]
    ).fetchall()[0][0]
    assert new > 0
    first = con.execute("SELECT max(person_id) FROM dtsen.crosswalk WHERE snapshot = ?", [M1]).fetchall()[0][0]
    assert (
        con.execute(
            "SELECT min(person_id) FROM dtsen.person_id_history WHERE snapshot = ? AND event = 'new'", [M2]
        ).fetchall()[0][0]
        > first
    )


def test_crosswalk_covers_every_accepted_record_and_golden_fields_name_their_source(built):
    con, _ = built
    missing = con.execute(
        """
        SELECT count(*) FROM sources.person_record r
        WHERE (r.source, r.delivery) IN (SELECT source, delivery FROM dtsen.crosswalk WHERE snapshot = ? GROUP BY ALL)
          AND NOT EXISTS (SELECT 1 FROM dtsen.crosswalk c WHERE c.snapshot = ? AND c.source = r.source
                          AND c.delivery = r.delivery AND c.record_id = r.record_id)""",
        [M2, M2],
    ).fetchall()[0][0]
    assert missing == 0
    p = con.execute("SELECT * FROM dtsen.person WHERE snapshot = ?", [M2]).df()
    assert p["person_id"].is_unique
    lineage = con.execute("SELECT person_id, field, src FROM dtsen.person_lineage WHERE snapshot = ?", [M2]).df()
    lineage = lineage.pivot(index="person_id", columns="field", values="src")
    p = p.join(lineage.add_suffix("_src"), on="person_id")
    assert p["nik_src"].notna().sum() == p["nik"].notna().sum() and p["name_src"].notna().all()
    src = p["name_src"].str.split(":").str[0]
    assert set(src) <= {"dtks", "regsosek", "p3ke"}
    # socio-economic fields come from Regsosek when the person is in Regsosek
    in_rs = p["sources"].map(lambda s: "regsosek" in list(s))
    assert (p.loc[in_rs & p["education"].notna(), "education_src"].str.startswith("regsosek")).mean() > 0.99
    fam = con.execute(
        "SELECT count(*) FROM (SELECT person_id FROM dtsen.crosswalk WHERE snapshot = ? "
        "GROUP BY 1 HAVING count(DISTINCT family_id) > 1)",
        [M2],
    ).fetchall()[0][0]
    assert fam == 0


def test_a_warehouse_naming_field_sources_as_strings_migrates(small_landing, tmp_path):
    """Warehouses built before record numbers kept '<source>:<record_id>' per golden field: the next build turns
    them into record numbers without losing which record gave which field."""
    con = wh.connect(str(tmp_path / "w.duckdb"))
    for m in (M1, M2):
        for s in ["referensi", "dtks", "regsosek", "p3ke"]:
            ingest(con, str(small_landing), m, s)
    build_snapshot(con, M1)
    lineage = "SELECT person_id, field, src FROM dtsen.person_lineage WHERE snapshot = ? ORDER BY ALL"
    before = con.execute(lineage, [M1]).fetchall()
    assert len(before) > 10_000
    # the earlier layout: one string column per field, no record numbers, no lineage view
    for f in GOLDEN_FIELDS:
        con.execute(f"ALTER TABLE dtsen.person ADD COLUMN {f}_src VARCHAR")
        con.execute(f"""UPDATE dtsen.person p SET {f}_src = l.src FROM dtsen.person_lineage l
                        WHERE l.snapshot = p.snapshot AND l.person_id = p.person_id AND l.field = '{f}'""")
    con.execute("DROP VIEW dtsen.person_lineage")
    for col in RECORD_NO_COLUMNS:
        con.execute(f"ALTER TABLE dtsen.person DROP COLUMN {col}")
    con.execute("ALTER TABLE dtsen.crosswalk DROP COLUMN record_no")
    build_snapshot(con, M2)
    assert con.execute(lineage, [M1]).fetchall() == before
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'dtsen' AND table_name = 'person'"
        ).fetchall()
    ]
    assert not [c for c in cols if c.endswith("_src")] and set(RECORD_NO_COLUMNS) <= set(cols)
    assert con.execute("SELECT count(*) FROM dtsen.crosswalk WHERE record_no IS NULL").fetchall()[0][0] == 0
    assert (
        con.execute("SELECT count(DISTINCT person_id) FROM dtsen.person_lineage WHERE snapshot = ?", [M2]).fetchall()[
            0
        ][0]
        == con.execute("SELECT count(*) FROM dtsen.person WHERE snapshot = ?", [M2]).fetchall()[0][0]
    )
    con.close()


def test_families_follow_the_true_families(built):
    con, landing = built
    j = crosswalk_with_truth(con, landing, M1)
    per = j.drop_duplicates("person_id")
    # most DTSEN families hold one true family
    purity = per.groupby("family_id")["true_family"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert purity.mean() > 0.97
    completeness = per.groupby("true_family")["family_id"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert completeness.mean() > 0.9


@pytest.mark.parametrize("month", [M2, M1])
def test_matcher_finds_people_in_an_external_list(built, tmp_path, month):
    """Against the latest snapshot and an earlier one (matched against that month's own standardised records)."""
    con, landing = built
    rec = con.execute(
        """SELECT r.record_id, r.nik_raw AS nik, r.no_kk_raw AS no_kk, r.name_raw AS name, r.sex,
                                r.birth_date, r.village_code, c.person_id
                         FROM sources.regsosek_person r JOIN dtsen.crosswalk c ON c.snapshot = ? AND c.source = r.source
                         AND c.delivery = r.delivery AND c.record_id = r.record_id ORDER BY r.record_id LIMIT 300""",
        [month],
    ).df()
    ext = rec.drop(columns=["person_id"]).copy()
    ext.loc[::3, "nik"] = None  # a third without NIK
    ext.loc[1::3, "name"] = ext.loc[1::3, "name"].str.upper() + " "  # case and spacing differ
    ext["birth_date"] = ext["birth_date"].dt.strftime("%Y-%m-%d")
    path = tmp_path / "list.csv"
    ext.to_csv(path, index=False)
    out = tmp_path / "matched.csv"
    db_path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][
        0
    ]
    res = match_file(str(path), str(out), warehouse=db_path, month=month)  # opens the warehouse itself
    got = pd.read_csv(out, dtype={"record_id": str})
    assert res["input_rows"] == 300 and res["snapshot"] == month
    merged = got.merge(rec[["record_id", "person_id"]], on="record_id", suffixes=("", "_true"))
    assert (merged["person_id"] == merged["person_id_true"]).mean() >= 0.97
    assert {"probability", "runner_up_person_id", "runner_up_probability"} <= set(got.columns)
    assert got["probability"].between(0, 1).all()


def test_small_end_to_end_linkage_through_dagster(small_landing, tmp_path):
    from assets import linkage
    from assets.registries import registry_assets
    from orchestration.lib.resources import DataResource, IngestSettings

    land = tmp_path / "landing"
    shutil.copytree(small_landing, land)
    res = {"data": DataResource(root=str(tmp_path), landing=str(land)), "ingest_settings": IngestSettings()}
    result = dg.materialize(
        [*registry_assets, *linkage.defs.assets],
        partition_key=M1,
        resources=res,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"dtsen__linkage_evaluation": {"config": {"generic_baseline": False}}}},
    )
    assert result.success
    mats = {
        "/".join(e.event_specific_data.materialization.asset_key.path): e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    ev = mats["dtsen/linkage_evaluation"]
    assert ev["dtsen_model_f1"].value >= 0.99  # stated target for the 3 k-person fixture, seed 11
    assert ev["dtsen_model_f1"].value > ev["nik_only_f1"].value + 0.03
    assert Path(ev["chart_match_weights"].path).is_file()
    # charts a person can see inside the UI: PNG embedded in the metadata, the chosen threshold marked
    assert ev["threshold_chart"].value.startswith("![threshold curve](data:image/png;base64,")
    assert mats["dtsen/person"]["match_weights"].value.startswith("![match weights](data:image/png;base64,")
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["every_record_linked"] and checks["one_family_per_person"] and checks["no_oversized_cluster"]
