"""Standardisation for linkage, in DuckDB SQL (vectorised, runs where the records are).

Indonesian name normalisation:
- punctuation and digits to spaces, runs of spaces collapsed, upper case;
- `BIN`/`BINTI` and what follows dropped (patronymic, often omitted);
- token variants mapped to one form: Muhammad/Muhamad/Mohammad/Moch./Moh./Muh./Mhd. (and a leading M.) ->
  MUHAMMAD, Siti/Sity/Sitti (and a leading St.) -> SITI, Nurul/Noor/Noer -> NUR, Abd./Abdoel -> ABDUL,
  Achmad/Ahmat -> AHMAD, Jusuf/Yusup -> YUSUF, Srie/Seri -> SRI, Boru -> BR;
- titles and honorifics dropped (H., Hj., Drs., Dra., Ir., Dr., KH., S.Pd., S.E., S.H., S.Kom, A.Md., M.Pd., ...),
  Balinese I/Ni, Acehnese Teuku/Cut, Batak BR., and single letters after the first token (abbreviations);
- pre-1972 spelling to the current one: OE->U, DJ->J, TJ->C, NJ->NY, SJ->SY, CH->KH.
Derived keys: name_norm, name_concat (no spaces: Nur Hayati = Nurhayati), name_sorted (token order),
first/last token, and a phonetic skeleton suited to Indonesian names (see `phonetic_sql`).
"""
from __future__ import annotations

MUHAMMAD = ["MUHAMMAD", "MUHAMAD", "MOHAMMAD", "MOHAMAD", "MOCHAMMAD", "MOCHAMAD", "MUCHAMMAD", "MUCHAMAD", "MOCH",
            "MOH", "MUH", "MHD", "MOHD", "MUHAMMED", "MOKHAMAD", "MUKHAMAD"]
TOKEN_MAP = {
    "SITI": ["SITY", "SITTI"], "NUR": ["NURUL", "NOOR", "NOER"], "ABDUL": ["ABD", "ABDOEL", "ABDU"],
    "AHMAD": ["ACHMAD", "ACHMAT", "AHMAT", "ACH", "AMAD"], "YUSUF": ["JUSUF", "YUSUP", "YUSSUF", "JOESOEF"],
    "SRI": ["SRIE", "SERI"], "BR": ["BORU"],
}
TITLES = ["H", "HJ", "DRS", "DRA", "IR", "DR", "KH", "PD", "SPD", "SE", "SH", "KOM", "SKOM", "AG", "SAG", "MD", "AMD",
          "SOS", "SSOS", "MPD", "BR", "TEUKU", "CUT", "NI", "PROF", "HAJI", "HAJAH"]
OLD_SPELLING = [("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("NJ", "NY"), ("SJ", "SY"), ("CH", "KH")]


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _in(items) -> str:
    return "(" + ", ".join(_q(x) for x in items) + ")"


def tokens_sql(col: str) -> str:
    """SQL list of normalised name tokens."""
    cleaned = (f"trim(regexp_replace(regexp_replace(replace(upper({col}), chr(39), ''), '[^A-Z ]', ' ', 'g'), "
               "'\\s+', ' ', 'g'))")
    # drop BIN / BINTI and everything after
    cleaned = f"trim(regexp_replace({cleaned}, '(^| )(BIN|BINTI)( .*)?$', ''))"
    toks = f"string_split({cleaned}, ' ')"
    case = [f"WHEN t IN {_in(MUHAMMAD)} OR (i = 1 AND t = 'M') THEN 'MUHAMMAD'",
            "WHEN i = 1 AND t = 'ST' THEN 'SITI'"]
    for target, variants in TOKEN_MAP.items():
        case.append(f"WHEN t IN {_in(variants)} THEN {_q(target)}")
    spelled = "t"
    for old, new in OLD_SPELLING:
        spelled = f"replace({spelled}, {_q(old)}, {_q(new)})"
    mapped = f"list_transform({toks}, lambda t, i: CASE {' '.join(case)} ELSE {spelled} END)"
    keep = (f"list_filter({mapped}, lambda t, i: t <> '' AND t NOT IN {_in(TITLES)} "
            f"AND NOT (length(t) = 1 AND (i > 1 OR t = 'I')))")
    return keep


def phonetic_sql(col: str) -> str:
    """A phonetic skeleton for Indonesian names: spelling variants that sound alike get one key.

    Y and J->I (old J = new Y), Z/DZ->S, F/V/PH->P, Q->K, X->KS, KH->K, SY->S, TH->T, DH->D; H dropped except at the start;
    vowels dropped except the first letter; repeated letters collapsed."""
    s = col
    for a, b in [("KH", "K"), ("SY", "S"), ("TH", "T"), ("DH", "D"), ("PH", "P"), ("DZ", "S"), ("Z", "S"), ("Y", "I"),
                 ("J", "I"), ("V", "P"), ("F", "P"), ("Q", "K"), ("X", "KS")]:
        s = f"replace({s}, {_q(a)}, {_q(b)})"
    s = f"(left({s}, 1) || regexp_replace(substr({s}, 2), '[AEIOUH]', '', 'g'))"
    for letter in "BCDGKLMNPRSTW":
        s = f"regexp_replace({s}, '{letter}{letter}+', '{letter}', 'g')"
    return s


def linkage_input_sql(source_relation: str) -> str:
    """SELECT producing the linkage input from canonical person records."""
    toks = tokens_sql("name")
    return f"""
    WITH t AS (
        SELECT *, {toks} AS name_tokens FROM {source_relation}
    ), n AS (
        SELECT *, array_to_string(name_tokens, ' ') AS name_norm FROM t
    )
    SELECT
        source, record_id, delivery,
        nik, substr(nik, 1, 12) AS nik12,
        no_kk,
        nullif(name_norm, '') AS name_norm,
        nullif(replace(name_norm, ' ', ''), '') AS name_concat,
        nullif(array_to_string(list_sort(name_tokens), ' '), '') AS name_sorted,
        name_tokens,
        name_tokens[1] AS first_name,
        name_tokens[-1] AS last_name,
        nullif({phonetic_sql("replace(name_norm, ' ', '')")}, '') AS name_phonetic,
        sex, birth_date, year(birth_date) AS birth_year,
        month(birth_date) AS birth_month, day(birth_date) AS birth_day,
        village_code, district_code, regency_code, province_code,
        coalesce(no_kk, source || ':' || family_id_src) AS family_key
    FROM n
    """
