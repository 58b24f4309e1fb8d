"""Standardisation for linkage, in DuckDB SQL (vectorised, runs where the records are).

Indonesian name normalisation:
- punctuation and digits to spaces, runs of spaces collapsed, upper case;
- `BIN`/`BINTI` and what follows dropped (patronymic, often omitted);
- token variants mapped to one form: Muhammad/Muhamad/Mohammad/Moch./Moh./Muh./Mhd. (and a leading M.) ->
  MUHAMMAD, Siti/Sity/Sitti (and a leading St.) -> SITI, Nurul/Noor/Noer -> NUR, Abd./Abdoel -> ABDUL,
  Achmad/Ahmat -> AHMAD, Jusuf/Yusup -> YUSUF, Srie/Seri -> SRI, Boru -> BR;
- titles and honorifics dropped (H., Hj., Drs., Dra., Ir., Dr., KH., S.Pd., S.E., S.H., S.Kom, A.Md., M.Pd., ...),
  Balinese I/Ni, Acehnese Teuku/Cut, Batak BR., and single letters after the first token (abbreviations);
- pre-1972 spelling to the current one: OE->U, DJ->J, TJ->C, NJ->NY, SJ->SY, CH->KH, and J->Y (old J = new Y; one
  form for matching), and the OCR misreading of d as cl (CL->D); a trailing ST is the title S.T.
Derived keys: name_norm, name_concat (no spaces: Nur Hayati = Nurhayati), name_sorted (token order),
first/last token, and a phonetic skeleton suited to Indonesian names (see `phonetic_sql`).
"""

from __future__ import annotations

MUHAMMAD = [
    "MUHAMMAD",
    "MUHAMAD",
    "MOHAMMAD",
    "MOHAMAD",
    "MOCHAMMAD",
    "MOCHAMAD",
    "MUCHAMMAD",
    "MUCHAMAD",
    "MOCH",
    "MOH",
    "MUH",
    "MHD",
    "MOHD",
    "MUHAMMED",
    "MOKHAMAD",
    "MUKHAMAD",
]
TOKEN_MAP = {
    "SITI": ["SITY", "SITTI"],
    "NUR": ["NURUL", "NOOR", "NOER"],
    "ABDUL": ["ABD", "ABDOEL", "ABDU"],
    "AHMAD": ["ACHMAD", "ACHMAT", "AHMAT", "ACH", "AMAD"],
    "YUSUF": ["JUSUF", "YUSUP", "YUSSUF", "JOESOEF"],
    "SRI": ["SRIE", "SERI"],
    "BR": ["BORU"],
}
TITLES = [
    "H",
    "HJ",
    "DRS",
    "DRA",
    "IR",
    "DR",
    "KH",
    "PD",
    "SPD",
    "SE",
    "SH",
    "KOM",
    "SKOM",
    "AG",
    "SAG",
    "MD",
    "AMD",
    "SOS",
    "SSOS",
    "MPD",
    "BR",
    "TEUKU",
    "CUT",
    "NI",
    "PROF",
    "HAJI",
    "HAJAH",
]
# pre-1972 spelling, then its J for today's Y (SURJADI = SURYADI; JOKO and DJOKO both become YOKO: one form for
# matching), then the OCR confusion of d with cl (HACLI = HADI)
OLD_SPELLING = [
    ("OE", "U"),
    ("DJ", "J"),
    ("TJ", "C"),
    ("NJ", "NY"),
    ("SJ", "SY"),
    ("CH", "KH"),
    ("J", "Y"),
    ("CL", "D"),
]


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _in(items) -> str:
    return "(" + ", ".join(_q(x) for x in items) + ")"


def tokens_sql(col: str) -> str:
    """SQL list of normalised name tokens."""
    cleaned = (
        f"trim(regexp_replace(regexp_replace(replace(upper({col}), chr(39), ''), '[^A-Z ]', ' ', 'g'), "
        "'\\s+', ' ', 'g'))"
    )
    # drop BIN / BINTI and everything after
    cleaned = f"trim(regexp_replace({cleaned}, '(^| )(BIN|BINTI)( .*)?$', ''))"
    toks = f"string_split({cleaned}, ' ')"
    case = [f"WHEN t IN {_in(MUHAMMAD)} OR (i = 1 AND t = 'M') THEN 'MUHAMMAD'", "WHEN i = 1 AND t = 'ST' THEN 'SITI'"]
    for target, variants in TOKEN_MAP.items():
        case.append(f"WHEN t IN {_in(variants)} THEN {_q(target)}")
    spelled = "t"
    for old, new in OLD_SPELLING:
        spelled = f"replace({spelled}, {_q(old)}, {_q(new)})"
    mapped = (
        f"list_transform({toks}, lambda t, i: CASE {' '.join(case)} "
        f"WHEN t IN {_in(TITLES)} THEN t ELSE {spelled} END)"
    )  # titles keep their spelling (HJ is no HY)
    # a trailing ST is the title S.T. written without its inner dot (a leading ST is SITI, mapped above)
    keep = (
        f"list_filter({mapped}, lambda t, i: t <> '' AND t NOT IN {_in(TITLES)} "
        f"AND NOT (length(t) = 1 AND (i > 1 OR t = 'I')) AND NOT (t = 'ST' AND i > 1))"
    )
    return keep


def phonetic_sql(col: str) -> str:
    """A phonetic skeleton for Indonesian names: spelling variants that sound alike get one key.

    Y and J->I (old J = new Y), Z/DZ->S, F/V/PH->P, Q->K, X->KS, KH->K, SY->S, TH->T, DH->D; H dropped except at the start;
    vowels dropped except the first letter; repeated letters collapsed."""
    s = col
    for a, b in [
        ("KH", "K"),
        ("SY", "S"),
        ("TH", "T"),
        ("DH", "D"),
        ("PH", "P"),
        ("DZ", "S"),
        ("Z", "S"),
        ("Y", "I"),
        ("J", "I"),
        ("V", "P"),
        ("F", "P"),
        ("Q", "K"),
        ("X", "KS"),
    ]:
        s = f"replace({s}, {_q(a)}, {_q(b)})"
    s = f"(left({s}, 1) || regexp_replace(substr({s}, 2), '[AEIOUH]', '', 'g'))"
    # runs of one letter to the letter: a run of B becomes B whatever the other letters do, so all letters can be
    # collapsed in one pass; RE2 has no back-references in a pattern, so each letter is an alternative of its own
    # and the rewrite (\1 to \9 only) names them: two passes, not thirteen (a third of the key's cost)
    for part in (COLLAPSED[:7], COLLAPSED[7:]):
        pattern = "|".join(f"({letter}){letter}+" for letter in part)
        rewrite = "".join("\\" + str(i) for i in range(1, len(part) + 1))
        s = f"regexp_replace({s}, '{pattern}', '{rewrite}', 'g')"
    return s


COLLAPSED = "BCDGKLMNPRSTW"  # letters whose runs the phonetic key collapses


def abbreviations_sql(col: str) -> str:
    """Tokens written as abbreviations in the raw name (`A.` for Ahmad, `AGUST.`, `YOH.`, `KMG.` for Komang, a middle
    initial `N.`), titles and the variants mapped above (MOH., ABD., ...) excluded."""
    mapped = MUHAMMAD + [v for vs in TOKEN_MAP.values() for v in vs] + ["ST", "M"]
    return (
        f"list_distinct(list_filter(regexp_extract_all(upper({col}), '(?:^|[ ,])([A-Z]{{1,5}})\\.', 1), "
        f"lambda t: t NOT IN {_in(TITLES)} AND t NOT IN {_in(mapped)}))"
    )


def linkage_input_sql(source_relation: str) -> str:
    """SELECT producing the linkage input from canonical person records.

    Every name key is computed once per distinct name (a name recurs across sources and people: 1.76 M records
    carry about 0.4 M distinct names) and the phonetic key once per distinct token, then joined back."""
    toks = tokens_sql("name")
    return f"""
    WITH names AS (
        SELECT name, {toks} AS name_tokens, {abbreviations_sql("name")} AS name_abbrevs
        FROM (SELECT DISTINCT name FROM {source_relation} WHERE name IS NOT NULL)
    ),
    token_keys AS (
        SELECT k, {phonetic_sql("k")} AS key FROM (SELECT DISTINCT unnest(name_tokens) AS k FROM names)
    ),
    keyed AS (  -- the phonetic key of every token not written as an abbreviation, sorted: one list for the same
                -- tokens in any order up to spelling (WIDISSTUTI = WIDIASTUTI, HARIANTO = HARYANTO)
        SELECT n.name, list_sort(list(t.key) FILTER (WHERE t.key IS NOT NULL)) AS name_keys
        FROM (SELECT name, unnest(list_filter(name_tokens, lambda x: NOT list_contains(name_abbrevs, x))) AS k
              FROM names) n
        JOIN token_keys t USING (k) GROUP BY n.name
    ),
    n AS (
        SELECT names.*, coalesce(keyed.name_keys, []::VARCHAR[]) AS name_keys,
               array_to_string(name_tokens, ' ') AS name_norm
        FROM names LEFT JOIN keyed USING (name)
    ),
    k AS (
        SELECT name, name_tokens, name_abbrevs, name_keys,
               nullif(name_norm, '') AS name_norm,
               nullif(replace(name_norm, ' ', ''), '') AS name_concat,
               nullif(array_to_string(list_sort(name_tokens), ' '), '') AS name_sorted,
               name_tokens[1] AS first_name,
               name_tokens[-1] AS last_name,
               nullif({phonetic_sql("replace(name_norm, ' ', '')")}, '') AS name_phonetic
        FROM n
    )
    SELECT
        r.source, r.record_id, r.delivery,
        r.nik, substr(r.nik, 1, 12) AS nik12,
        -- the NIK's embedded birth date and sex marker agree with this record's
        (r.nik IS NOT NULL AND r.birth_date IS NOT NULL AND NOT coalesce(r.nik_date_mismatch, false)
         AND NOT coalesce(r.nik_sex_mismatch, false)) AS nik_consistent,
        r.no_kk,
        k.name_norm, k.name_concat, k.name_sorted, k.name_tokens, k.name_abbrevs, k.name_keys,
        k.first_name, k.last_name, k.name_phonetic,
        r.sex, b.birth_date, year(b.birth_date) AS birth_year,
        month(b.birth_date) AS birth_month, day(b.birth_date) AS birth_day,
        r.village_code, r.district_code, r.regency_code, r.province_code,
        coalesce(r.no_kk, r.source || ':' || r.family_id_src) AS family_key
    FROM {source_relation} r LEFT JOIN k USING (name),
    -- a record without a birth date takes the one its (valid) NIK carries: DDMMYY, women's day + 40, the century
    -- the one that is not in the future
    LATERAL (SELECT coalesce(r.birth_date, {nik_birth_date_sql("r.nik")}) AS birth_date) b
    """


def nik_birth_date_sql(nik: str) -> str:
    day = f"(TRY_CAST(substr({nik}, 7, 2) AS INTEGER) % 40)"
    month = f"TRY_CAST(substr({nik}, 9, 2) AS INTEGER)"
    yy = f"TRY_CAST(substr({nik}, 11, 2) AS INTEGER)"
    year = f"(CASE WHEN 2000 + {yy} <= year(current_date) THEN 2000 + {yy} ELSE 1900 + {yy} END)"
    return f"TRY(make_date({year}, {month}, {day}))"
