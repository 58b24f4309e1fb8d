"""The dbt marts: built through Dagster, rule tests that bite, the seed-change test, unit tests, privacy, publishing,
the one connected asset graph."""

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dtsen import privacy
from orchestration.lib.dbt_project import DBT_PROJECT_DIR

M1 = "2025-01"
DBT = str(Path(sys.executable).with_name("dbt"))
MARTS = [
    "eligibility_pkh",
    "eligibility_sembako",
    "eligibility_pbi",
    "eligibility_pip",
    "exclusions",
    "appeal_explanation",
    "program_budget_by_province_desil",
    "targeting_accuracy_by_province",
]


def run_dbt(args: list[str], warehouse: Path, project: Path = DBT_PROJECT_DIR, target: Path | None = None):
    """dbt in a subprocess on a given warehouse file (and project copy); returns (returncode, run results)."""
    env = {**os.environ, "DTSEN_WAREHOUSE": str(warehouse)}
    target = target or warehouse.parent / "dbt_target"
    proc = subprocess.run(
        [
            DBT,
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(target),
            "--vars",
            json.dumps({"snapshot": M1}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results_file = target / "run_results.json"
    results = {}
    if results_file.exists():
        results = {
            r["unique_id"].split(".")[-1]
            if r["unique_id"].startswith("test.") and "unit_test" not in r["unique_id"]
            else r["unique_id"]: r["status"]
            for r in json.loads(results_file.read_text())["results"]
        }
    return proc.returncode, results, proc.stdout + proc.stderr


@pytest.fixture()
def warehouse_copy(pipeline, tmp_path):
    _, warehouse, _ = pipeline
    dst = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, dst)
    return dst


def q(path, sql, params=None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def test_every_mart_is_built_and_stamped(pipeline):
    run, warehouse, _ = pipeline
    for m in MARTS:
        df = q(warehouse, f"SELECT * FROM marts.{m}")
        if m != "targeting_accuracy_by_province":
            assert len(df) > 0, m
        if "rule_version" in df.columns:
            assert df["rule_version"].str.startswith("rules-").all(), m
        if "snapshot" in df.columns:
            assert (df["snapshot"] == M1).all(), m
    summary = run.materialized["analytics/program_report"]["program_summary"]
    assert set(summary) == {"PKH", "SEMBAKO", "PBI", "PIP"}
    assert all(v["recipients"] > 0 and v["annual_budget"] > 0 for v in summary.values())
    assert not run.failed_checks


def test_money_and_counts_are_whole_numbers_everywhere(pipeline):
    """Rupiah and counts are integers in the published files and read as such in the UI (7,548, not 7548.0)."""
    import re

    run, warehouse, _ = pipeline
    folder = Path(warehouse).parent / "published" / M1
    for f in sorted(folder.glob("marts.*.parquet")):
        for name, typ, *_ in duckdb.sql(f"DESCRIBE SELECT * FROM '{f}'").fetchall():
            if re.search(r"amount|budget|premium|persons|recipients|eligible|families|members|cut_by_quota", name):
                assert typ in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT"), (f.name, name, typ)
    for key, meta in run.materialized.items():
        for k, v in meta.items():
            if isinstance(v, str) and v.startswith("|"):
                assert not re.search(r"\| -?\d+\.0 \|", v), f"{key}:{k} shows a count as a float"


def test_linkage_leaves_no_work_tables_in_the_warehouse(pipeline):
    _, warehouse, _ = pipeline
    left = q(warehouse, "SELECT schema_name, table_name FROM duckdb_tables() WHERE table_name LIKE '%splink%'")
    assert left.empty, left


def test_rules_hold_on_the_built_marts(pipeline):
    _, w, _ = pipeline
    assert q(w, "SELECT count(*) n FROM marts.eligibility_pkh WHERE desil > 4")["n"][0] == 0
    pkh = q(w, "SELECT * FROM marts.eligibility_pkh")
    assert pkh["components_paid"].between(1, 4).all()
    # the quota binds in the demo-sized population, and the poorest go first
    assert (pkh["status"] == "cut_by_quota").any()
    for _, g in pkh.groupby("province_code"):
        rec, cut = g[g["is_recipient"]], g[g["status"] == "cut_by_quota"]
        assert len(rec) <= g["province_quota"].iloc[0]
        if len(rec) and len(cut):
            assert rec["predicted_pcc"].max() <= cut["predicted_pcc"].min()
    # no excluded person or family anywhere
    excl = q(w, "SELECT * FROM marts.exclusions")
    assert {"deceased", "civil_servant", "wage_above_minimum"} <= set(excl["reason"])
    for m in ("eligibility_pbi", "eligibility_pip"):
        ids = set(q(w, f"SELECT person_id FROM marts.{m}")["person_id"])
        assert not ids & set(excl.loc[excl["unit"] == "person", "person_id"])
    fam_excl = set(excl.loc[excl["unit"] == "family", "family_id"])
    for m in MARTS[:4]:
        assert not set(q(w, f"SELECT family_id FROM marts.{m}")["family_id"]) & fam_excl
    # a deceased person brings no PKH component
    dead = set(excl.loc[excl["reason"] == "deceased", "person_id"])
    items = pkh["components"].str.split(",").explode().str.split(":").str[1]
    assert not set(items) & dead


def test_components_follow_age_and_school_level(pipeline):
    _, w, _ = pipeline
    comp = q(
        w,
        """SELECT c.component, p.age, p.school_level, p.pregnant, p.disability
                   FROM intermediate.int_persons__pkh_components c JOIN intermediate.int_persons__aged p
                   USING (person_id)""",
    )
    assert comp.loc[comp["component"] == "early_childhood", "age"].between(0, 6).all()
    assert comp.loc[comp["component"] == "elderly", "age"].min() >= 70
    for level in ("sd", "smp", "sma"):
        assert (comp.loc[comp["component"] == level, "school_level"] == level.upper()).all()
        assert comp.loc[comp["component"] == level, "age"].max() <= 21
    assert (comp.loc[comp["component"] == "pregnant", "pregnant"] == 1).all()


def test_explanation_answers_why_not_me(pipeline):
    _, w, _ = pipeline
    ex = q(w, "SELECT * FROM marts.appeal_explanation")
    n_fam = q(w, "SELECT count(*) n FROM dtsen.family WHERE snapshot = ?", [M1])["n"][0]
    assert len(ex) == 4 * n_fam
    rich = ex[(ex["program"] == "PKH") & (ex["desil"] > 4)].iloc[0]
    assert rich["decision"] == "not_eligible" and "outside 1-4" in rich["explanation"]
    excluded = ex[ex["family_exclusions"].notna() & (ex["program"] == "SEMBAKO")].iloc[0]
    assert excluded["decision"] == "not_eligible" and "family excluded" in excluded["explanation"]
    cut = ex[ex["decision"] == "cut_by_quota"].iloc[0]
    assert "beyond the province quota" in cut["explanation"]
    paid = ex[(ex["decision"] == "recipient") & (ex["program"] == "PKH")].iloc[0]
    assert "components:" in paid["explanation"] and "recipient" in paid["explanation"]


def test_person_programme_quota_is_the_best_ranked_members_province_quota(pipeline):
    """PBI/PIP rank persons within their own province; a family's explanation shows its best rank and the quota of
    that member's province, the same every run (an arbitrary member's quota changed between runs at 1 M persons,
    for the families whose members live in different provinces)."""
    _, w, _ = pipeline
    fam = q(
        w,
        """WITH m AS (SELECT 'PBI' AS program, family_id, quota_rank, province_quota FROM marts.eligibility_pbi
                             UNION ALL
                             SELECT 'PIP', family_id, quota_rank, province_quota FROM marts.eligibility_pip)
                  SELECT a.program, a.family_id, a.quota_rank, a.province_quota,
                         min(m.quota_rank) AS best_rank,
                         min(m.province_quota) FILTER (WHERE m.quota_rank = a.quota_rank) AS best_rank_quota,
                         count(DISTINCT m.province_quota) AS quotas
                  FROM marts.appeal_explanation a JOIN m USING (program, family_id)
                  GROUP BY ALL""",
    )
    assert len(fam) > 100
    assert (fam["quota_rank"] == fam["best_rank"]).all()
    assert (fam["province_quota"] == fam["best_rank_quota"]).all(), fam[fam["province_quota"] != fam["best_rank_quota"]]
    # the rule matters: some families' members hold quotas of different provinces
    assert (fam["quotas"] > 1).any()


def test_rule_tests_fail_on_purpose_built_bad_marts(warehouse_copy):
    """Each rule test catches the violation it is written for (a test that cannot fail would pass here)."""
    con = duckdb.connect(str(warehouse_copy))
    fam = con.execute("SELECT family_id FROM marts.eligibility_pkh ORDER BY family_id LIMIT 3").fetchall()
    con.execute("UPDATE marts.eligibility_pkh SET desil = 7 WHERE family_id = ?", [fam[0][0]])
    con.execute("UPDATE marts.eligibility_pkh SET components_paid = 5 WHERE family_id = ?", [fam[1][0]])
    con.execute(
        "UPDATE marts.eligibility_sembako SET annual_amount = annual_amount + 1 WHERE family_id = "
        "(SELECT min(family_id) FROM marts.eligibility_sembako)"
    )
    con.execute("""INSERT INTO marts.eligibility_pbi BY NAME SELECT * REPLACE (e.person_id AS person_id)
                   FROM marts.eligibility_pbi, (SELECT person_id FROM marts.exclusions WHERE unit = 'person'
                   LIMIT 1) e LIMIT 1""")
    con.execute(
        "UPDATE marts.eligibility_pip SET is_recipient = true, status = 'recipient' "
        "WHERE status = 'cut_by_quota' OR quota_rank > province_quota"
    )
    # a raw NIK on the second line of an explanation's text (the mart is a view of the built month's history rows)
    con.execute(
        "UPDATE history.appeal_explanation_history SET explanation = explanation || chr(10) || '(NIK ' || "
        "(SELECT max(nik) FROM dtsen.person WHERE nik IS NOT NULL) || ')' WHERE family_id = ? "
        "AND snapshot = (SELECT max(snapshot) FROM marts.appeal_explanation)",
        [fam[2][0]],
    )
    con.close()
    code, results, log = run_dbt(["test", "--select", "test_type:singular"], warehouse_copy)
    assert code != 0, log
    for name in (
        "assert_pkh_families_within_desil_range",
        "assert_pkh_components_within_cap",
        "assert_amounts_equal_components_times_seed",
        "assert_no_excluded_in_eligibility",
        "assert_quota_respected",
        "assert_no_raw_identifiers_in_marts",
    ):
        assert results.get(name) == "fail", (name, results)
    assert results.get("assert_every_family_explained") == "pass"


def test_a_benefit_amount_is_a_one_line_seed_edit(warehouse_copy, tmp_path):
    """Change the PKH SD-pupil amount in the seed: the marts change accordingly and carry a new rule version.
    Break the age rule in the model: the dbt unit test catches it."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seed = project / "seeds" / "benefit_components.csv"
    lines = seed.read_text().splitlines()
    sd = [i for i, line in enumerate(lines) if line.startswith("PKH,sd,")]
    assert len(sd) == 1
    lines[sd[0]] = lines[sd[0]].replace(",900000,", ",1000000,")
    seed.write_text("\n".join(lines) + "\n")

    before = q(warehouse_copy, "SELECT family_id, annual_amount, components, rule_version FROM marts.eligibility_pkh")
    code, _, log = run_dbt(["build", "--select", "+eligibility_pkh"], warehouse_copy, project)
    assert code == 0, log
    after = q(warehouse_copy, "SELECT family_id, annual_amount, components, rule_version FROM marts.eligibility_pkh")
    m = before.merge(after, on="family_id", suffixes=("_before", "_after"))
    assert len(m) == len(before)
    assert (m["components_before"] == m["components_after"]).all()
    n_sd = m["components_after"].str.count(r"(^|,)sd:")
    assert (n_sd > 0).any()
    assert (m["annual_amount_after"] - m["annual_amount_before"] == 100_000 * n_sd).all()
    assert after["rule_version"].nunique() == 1 and after["rule_version"].iloc[0] != before["rule_version"].iloc[0]

    model = project / "models" / "intermediate" / "int_persons__pkh_components.sql"
    model.write_text(model.read_text().replace("p.age <= c.age_max", "p.age < c.age_max"))
    code, results, log = run_dbt(["test", "--select", "test_type:unit"], warehouse_copy, project)
    assert code != 0
    assert any("pkh_components_by_age_school_and_flags" in k and v == "fail" for k, v in results.items()), results


def test_a_budget_that_cannot_pay_the_quota_fails_a_seed_test(warehouse_copy, tmp_path):
    """Sembako's 18.8 M families at 2,400,000 a year need 45.12 T: a 45.1 T budget (the seed's value until a 3 M
    person run failed the disbursement release check every month) is caught when the rules are seeded."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seed = project / "seeds" / "program_parameters.csv"
    assert ",18800000,45120000000000," in seed.read_text()
    seed.write_text(seed.read_text().replace(",18800000,45120000000000,", ",18800000,45100000000000,"))
    code, results, log = run_dbt(
        ["build", "--select", "program_parameters", "assert_flat_benefit_quota_within_budget"], warehouse_copy, project
    )
    assert code != 0, log
    assert results.get("assert_flat_benefit_quota_within_budget") == "fail", results


def test_analysts_see_pseudonyms_never_raw_identifiers(pipeline):
    _, w, _ = pipeline
    raw = q(w, "SELECT person_id, nik, no_kk FROM dtsen.person WHERE snapshot = ? AND nik IS NOT NULL", [M1])
    pbi = q(w, "SELECT person_id, nik_pseudo, no_kk_pseudo FROM marts.eligibility_pbi").merge(raw, on="person_id")
    assert len(pbi) > 100
    key = privacy.DEVELOPMENT_KEY.encode()  # the tests run without DTSEN_PSEUDONYM_KEY
    expect = [hmac.new(key, n.encode(), hashlib.sha256).hexdigest()[:32] for n in pbi["nik"]]
    assert list(pbi["nik_pseudo"]) == expect
    assert not (pbi["nik_pseudo"] == pbi["nik"]).any()
    raw_values = set(raw["nik"]) | set(raw["no_kk"].dropna())
    published = Path(w).parent / "published" / M1
    files = sorted(published.glob("*.parquet"))
    assert {f"marts.{m}.parquet" for m in MARTS} <= {f.name for f in files}
    assert not any(f.name.startswith("restricted") for f in files)
    con = duckdb.connect()
    for f in files:  # every 16-digit run anywhere in any published value
        runs = con.execute(f"""SELECT DISTINCT unnest(regexp_extract_all(CAST(t AS VARCHAR), '\\d{{16}}'))
                               FROM read_parquet('{f}') t""").fetchall()
        hits = {r[0] for r in runs} & raw_values
        assert not hits, (f.name, list(hits)[:3])
    # the restricted schema holds the raw identity, for the disbursement step only
    payee = q(w, "SELECT payee_nik FROM restricted.payee_identity WHERE payee_nik IS NOT NULL LIMIT 5")
    assert payee["payee_nik"].str.fullmatch(r"\d{16}").all()


def test_a_different_key_gives_different_pseudonyms(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "another-secret")
    assert not privacy.using_development_key()
    a = privacy.pseudonymise("3201011001900001")
    monkeypatch.delenv(privacy.KEY_ENV)
    assert privacy.using_development_key()
    assert a != privacy.pseudonymise("3201011001900001")


def test_published_catalogue_reads_while_the_warehouse_is_being_written(pipeline):
    from dtsen.publish import open_catalogue

    _, w, _ = pipeline
    writer = duckdb.connect(str(w))  # the live warehouse, locked by a writer
    try:
        cat = open_catalogue(str(Path(w).parent / "published"))
        n = cat.execute("SELECT count(*) FROM marts.eligibility_pkh").fetchall()[0][0]
        snap = cat.execute("SELECT snapshot FROM published").fetchall()[0][0]
        cat.close()
    finally:
        writer.close()
    assert n > 0 and snap == M1


def test_published_folder_is_the_owners_without_an_analyst_group_and_movable(pipeline, tmp_path, monkeypatch):
    """Without DTSEN_ANALYST_GROUP the publication is owner-only (never open to every account); with it, the
    group's (tests/orchestration/test_safe_defaults.py)."""
    import stat

    _, w, _ = pipeline
    published = Path(w).parent / "published"
    for p in [published, *published.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p} is open to other accounts ({oct(mode)})"
    # the catalogue names its files relative to its folder: a copy elsewhere works from its own folder
    copy = tmp_path / "share" / "published"
    shutil.copytree(published, copy)
    monkeypatch.chdir(copy)
    cat = duckdb.connect("analytics.duckdb", read_only=True)
    assert cat.execute("SELECT count(*) FROM marts.exclusions").fetchall()[0][0] > 0
    sql = cat.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'exclusions'").fetchall()[0][0]
    assert str(published) not in sql and "/" + M1 not in sql


def test_report_has_charts(pipeline):
    run, _, _ = pipeline
    meta = run.materialized["analytics/program_report"]
    for chart in ("recipient_families_by_province", "budget_by_province", "targeting_error_by_province"):
        assert meta[chart].startswith(f"![{chart}](data:image/png;base64,")
        assert Path(meta[f"{chart}_png"]).read_bytes()[:4] == b"\x89PNG"


def test_one_asset_graph_from_landing_to_marts_with_dbt_tests_as_checks():
    from dagster_dbt import get_asset_key_for_model

    from assets.marts import dtsen_dbt_models
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    pkh = get_asset_key_for_model([dtsen_dbt_models], "eligibility_pkh")
    upstream = graph.get(pkh).parent_keys
    seen, todo = set(), list(upstream)
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo.extend(graph.get(k).parent_keys)
    for key in (
        ["landing", "dtks"],
        ["landing", "regsosek"],
        ["sources", "dtks"],
        ["sources", "regsosek"],
        ["sources", "region_reference"],
        ["dtsen", "person"],
        ["welfare", "family_welfare"],
        ["sources", "dukcapil_deaths"],
    ):
        assert dg.AssetKey(key) in seen, key
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == pkh}
    assert {
        "assert_quota_respected",
        "assert_pkh_components_within_cap",
        "not_null_eligibility_pkh_family_id",
    } <= checks
    assert graph.get(dg.AssetKey(["analytics", "published_marts"])).parent_keys >= {pkh}


def test_dbt_docs_describe_every_column_of_every_model(pipeline):
    """Every column the built models have carries a description in dbt's docs (and no documented column is gone)."""
    _, w, _ = pipeline
    manifest = json.loads((Path(DBT_PROJECT_DIR) / "target" / "manifest.json").read_text())
    con = duckdb.connect(str(w), read_only=True)
    try:
        problems = {}
        for node in manifest["nodes"].values():
            if node["resource_type"] != "model":
                continue
            built = [r[0] for r in con.execute(f"DESCRIBE {node['schema']}.{node['alias'] or node['name']}").fetchall()]
            undescribed = [c for c in built if not (node["columns"].get(c) or {}).get("description", "").strip()]
            stale = [c for c in node["columns"] if c not in built]
            if undescribed or stale:
                problems[node["name"]] = {"undescribed": undescribed, "documented_but_absent": stale}
    finally:
        con.close()
    assert not problems, problems


def test_dbt_parse_is_saved_per_warehouse_and_reused(pipeline, tmp_path):
    """A month's dbt build leaves its parse under its data root (dbt/<warehouse file name>/), where no run on another warehouse
    (this suite builds dozens) can throw it away: parsing the project again for that warehouse, as `dtsen
    prepare-dbt` and the next month do, parses no file. A new warehouse gets a folder of its own."""
    from orchestration.lib.dbt import prepare_dbt, run_target
    from orchestration.lib.resources import DataResource

    _, warehouse, _ = pipeline
    target = run_target(DataResource(root=str(warehouse.parent)))
    assert target == warehouse.parent / "dbt" / "warehouse"
    assert (target / "partial_parse.msgpack").exists() and (target / "dbt.log").exists()
    assert prepare_dbt(DataResource(root=str(warehouse.parent))) == target
    perf = json.loads((target / "perf_info.json").read_text())
    assert perf["path_count"] > 100 and perf["parsed_path_count"] == 0, perf
    other = run_target(DataResource(root=str(tmp_path), warehouse=str(tmp_path / "other.duckdb")))
    assert other == tmp_path / "dbt" / "other" and not other.exists()
