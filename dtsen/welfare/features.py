"""Family features for the proxy means test, built in DuckDB from the DTSEN snapshot.

A DTSEN family takes its housing and asset proxies from its latest approved proposal (usulan: the caseworker's home
visit, the newest evidence), else from the Regsosek keluarga most of its members were enumerated in. A family with
neither gets no proxies (`proxies_source = 'none'`); the model imputes them and the ranking says so. Demographic
features (size, children, pupils, elderly, disability, the head's education and work) come from the DTSEN golden
records, so a survey family and a registry family are described by exactly the same code.
"""

from __future__ import annotations

PROXY_COLUMNS = [
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
    "desa_terpencil",
]
CATEGORICAL = [
    "status_bangunan",
    "jenis_lantai",
    "jenis_dinding",
    "jenis_atap",
    "sumber_air_minum",
    "fasilitas_bab",
    "sumber_penerangan",
    "bahan_bakar_masak",
    "head_education",
    "head_work",
]
NUMERIC = [
    "log_floor_per_capita",
    "aset_kulkas",
    "aset_motor",
    "aset_mobil",
    "log_land",
    "log_livestock",
    "desa_terpencil",
    "log_members",
    "share_children",
    "share_elderly",
    "share_pupils",
    "share_working",
    "disabled",
    "female_head",
    "urban",
]


def reference_date_sql(month: str) -> str:
    """Ages are taken on the first day of the snapshot month."""
    return f"DATE '{month}-01'"


def family_features_sql(month: str) -> str:
    """One row per DTSEN family of the snapshot: ids, region, members, demographics and the Regsosek proxies.

    Also returns `id_keluarga` (the Regsosek family used) so the survey can be joined on it."""
    ref = reference_date_sql(month)
    proxies = ", ".join(f"CASE WHEN uf.no_tiket IS NOT NULL THEN uf.{c} ELSE rf.{c} END AS {c}" for c in PROXY_COLUMNS)
    return f"""
    WITH person AS (
        SELECT p.*, date_diff('year', p.birth_date, {ref}) - CASE WHEN strftime(p.birth_date, '%m%d')
               > strftime({ref}, '%m%d') THEN 1 ELSE 0 END AS age
        FROM dtsen.person p WHERE p.snapshot = '{month}'
    ),
    demo AS (
        SELECT family_id, count(*) AS members,
               avg(CASE WHEN age < 15 THEN 1 ELSE 0 END) AS share_children,
               avg(CASE WHEN age >= 65 THEN 1 ELSE 0 END) AS share_elderly,
               avg(CASE WHEN school_level IN ('SD', 'SMP', 'SMA') THEN 1 ELSE 0 END) AS share_pupils,
               avg(CASE WHEN working = 1 OR work > 0 THEN 1 ELSE 0 END) AS share_working,
               max(coalesce(disability, 0)) AS disabled
        FROM person GROUP BY family_id
    ),
    rs AS (  -- the Regsosek keluarga most members were enumerated in
        SELECT c.family_id, r.family_id_src AS id_keluarga, r.delivery, count(*) AS n
        FROM dtsen.crosswalk c
        JOIN sources.regsosek_person r ON r.delivery = c.delivery AND r.record_id = c.record_id
        WHERE c.snapshot = '{month}' AND c.source = 'regsosek' GROUP BY ALL
    ),
    fam_rs AS (
        SELECT family_id, first(id_keluarga ORDER BY n DESC, id_keluarga) AS id_keluarga,
               first(delivery ORDER BY n DESC, id_keluarga) AS rs_delivery
        FROM rs GROUP BY family_id
    ),
    fam_us AS (  -- the latest verified proposal (usulan) of the family: its home visit's proxies
        SELECT c.family_id, arg_max(u.family_id_src, (u.delivery, u.family_id_src)) AS no_tiket,
               arg_max(u.delivery, (u.delivery, u.family_id_src)) AS us_delivery
        FROM dtsen.crosswalk c
        JOIN sources.usulan_person u ON u.delivery = c.delivery AND u.record_id = c.record_id
        WHERE c.snapshot = '{month}' AND c.source = 'usulan' GROUP BY c.family_id
    )
    SELECT f.family_id, f.province_code, f.regency_code, f.village_code, d.members,
           d.share_children, d.share_elderly, d.share_pupils, d.share_working, d.disabled,
           h.education AS head_education, h.work AS head_work, CASE WHEN h.sex = 2 THEN 1 ELSE 0 END AS female_head,
           CASE WHEN substr(f.village_code, 5, 1) IN ('7', '8', '9') THEN 1 ELSE 0 END AS urban,
           fr.id_keluarga, CASE WHEN uf.no_tiket IS NOT NULL THEN 'usulan'
                                WHEN rf.id_keluarga IS NULL THEN 'none' ELSE 'regsosek' END AS proxies_source,
           {proxies}
    FROM dtsen.family f
    JOIN demo d USING (family_id)
    LEFT JOIN person h ON h.person_id = f.head_person_id
    LEFT JOIN fam_rs fr USING (family_id)
    LEFT JOIN sources.regsosek_family rf ON rf.id_keluarga = fr.id_keluarga AND rf.delivery = fr.rs_delivery
    LEFT JOIN fam_us fu USING (family_id)
    LEFT JOIN sources.usulan_family uf ON uf.no_tiket = fu.no_tiket AND uf.delivery = fu.us_delivery
    WHERE f.snapshot = '{month}'
    ORDER BY f.family_id
    """


def survey_sql(month: str, families: str | None = None) -> str:
    """The latest consumption survey up to the snapshot year: its own proxies and measured consumption, with the
    demographics of the DTSEN family its keluarga belongs to (survey families not in the snapshot are left out).
    `families`: a table already holding `family_features_sql(month)` (else it is computed here)."""
    proxies = ", ".join(f"s.{c}" for c in PROXY_COLUMNS)
    return f"""
    WITH fam AS ({f"SELECT * FROM {families}" if families else family_features_sql(month)}),
    survey AS (
        SELECT * FROM sources.susenas
        WHERE survey_year = (SELECT max(survey_year) FROM sources.susenas WHERE survey_year <= '{month[:4]}')
    )
    SELECT s.survey_year, s.id_keluarga, s.pengeluaran_per_kapita,
           f.family_id, f.province_code, f.regency_code, f.village_code, f.members, f.share_children,
           f.share_elderly, f.share_pupils, f.share_working, f.disabled, f.head_education, f.head_work,
           f.female_head, f.urban, {proxies}
    FROM survey s JOIN fam f ON f.id_keluarga = s.id_keluarga
    WHERE s.pengeluaran_per_kapita > 0
    ORDER BY s.id_keluarga, f.family_id  -- one keluarga can back two DTSEN families: the order is total, so the
                                         -- folds and the fit (and the model id) are the same run after run
    """
