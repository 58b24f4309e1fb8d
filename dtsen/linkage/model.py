"""The Splink model for DTSEN: settings as data, training, prediction, clustering.

Comparisons (docs: Linkage, "Model"):
- nik: exact / adjacent digits transposed (a typo) / one digit differs in district or date (a typo) /
  only the serial differs (usually another person: twins, same-day births; Bayes factor fixed by rule) /
  only the +40 sex marker differs (another person of the other sex; fixed) / else.
- name: exact normalised / same without spaces or in another token order / Jaro-Winkler >= 0.94 / at most two
  typos (Damerau-Levenshtein) /
  one name's tokens inside the other's (shortened names) / phonetic skeleton equal / Jaro-Winkler >= 0.85 / else.
- birth_date: exact / day and month swapped / year off by one / same year / else.
- sex: exact / else.
- family (KK) and location (village, district, regency, province) are family-level evidence: their agreeing levels only
  count when name or birth date agree too; a same-KK pair whose name and birth date both differ (a parent and
  child, two siblings) falls into its own level, whose Bayes factor is fixed below 1.
Training (seeded, reproducible): u by random sampling; m by EM on two blocking rules; the prior from a
deterministic rule. The trained model lives in `dtsen/linkage/models/dtsen_model.json` (version controlled).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from copy import deepcopy
from pathlib import Path

import duckdb

MODEL_PATH = Path(__file__).parent / "models" / "dtsen_model.json"
DEFAULT_THRESHOLD = 0.5  # chosen from the precision/recall curve of the constrained clustering (docs: Linkage)
GENERIC_THRESHOLD = 0.999

# Fixed Bayes factors for levels where random-pair u estimates mislead (docs: Linkage, "Traps").
NIK_SERIAL_ONLY_BF = 2**-10  # several births a day per district: another person far more often than a typo
NIK_TWO_PEOPLE_BF = 2**-30  # the NIKs themselves say two people (twins; two consistent birth dates)
NIK_SEX_MARKER_ONLY_BF = 2**-8
# one district digit apart, the dates equal: a typo, or strangers born the same day in a neighbouring district (the
# serial restarts at 0001 in every district every day): weak evidence against, the family and place decide
NIK_DISTRICT_DIGIT_BF = 2**-4
NIK_EXACT_OTHER_NAME_BF = 1.0  # the NIK says nothing when the names have nothing in common
ONE_GIVEN_NAME_DIFFERS_BF = 2**-6
# a family that moves is issued a new KK: where the villages differ too, the different KK is the same event as the
# move, already counted by the location comparison, so it adds nothing (counted twice, a moved person's true pairs
# lost some 4.6 bits of evidence)
MOVED_KK_BF = 1.0
MOVED_KK_LABEL = "different KK, another village (a move: a new card)"

# candidate pairs: each rule earns its place by the true pairs only it finds (on generated data: exact NIK pairs are
# all inside nik12; first name + district + year and name + regency found no pair the others miss). The rules on a
# place grow with the square of the persons living there, so they are as narrow as their true pairs allow: birth
# date + district rather than + regency, and name + district only where the birth dates cannot tell (one missing,
# years within one, or day and month equal). What each rule finds is on the docs' Linkage page.
BLOCKING_RULES = [
    "l.nik12 = r.nik12",  # NIK equal, or equal but for the serial (typos, twins: scored, then told apart)
    "l.name_phonetic = r.name_phonetic AND l.birth_date = r.birth_date",
    "l.birth_date = r.birth_date AND l.district_code = r.district_code",  # moved in the district, name variant
    "l.name_sorted = r.name_sorted AND l.birth_month = r.birth_month AND l.birth_day = r.birth_day",
    "l.no_kk = r.no_kk AND l.first_name = r.first_name",  # birth date missing, shortened name, same family card
    "l.name_phonetic = r.name_phonetic AND l.district_code = r.district_code AND (l.birth_date IS NULL OR "
    "r.birth_date IS NULL OR abs(l.birth_year - r.birth_year) <= 1 OR (l.birth_month = r.birth_month AND "
    "l.birth_day = r.birth_day))",  # birth date missing or mistyped
]
# EM trains each comparison in the session whose blocking rule does not use its columns: the NIK levels read the
# names too (twins, typos), so the second rule blocks on birth date and village, not on a name
EM_RULES = [
    "l.nik = r.nik",
    "l.birth_date = r.birth_date AND l.village_code = r.village_code",
]


def damerau_within(a: str, b: str, k: int) -> str:
    """damerau_levenshtein(a, b) <= k, computed cheaply: DuckDB's Damerau-Levenshtein costs about five plain
    Levenshteins, and levenshtein >= damerau >= levenshtein / 2 (a transposition is two plain edits), so the plain
    distance decides most pairs and the Damerau one runs only between k and 2k."""
    return (
        f"(levenshtein({a}, {b}) <= {k} OR (levenshtein({a}, {b}) <= {2 * k} AND damerau_levenshtein({a}, {b}) <= {k}))"
    )


def damerau_beyond(a: str, b: str, k: int) -> str:
    """damerau_levenshtein(a, b) > k, computed as `damerau_within` is."""
    return f"(levenshtein({a}, {b}) > {k} AND (levenshtein({a}, {b}) > {2 * k} OR damerau_levenshtein({a}, {b}) > {k}))"


# both names have the same number of tokens (2+), all but one equal, and the differing tokens are not typos
# of each other: the signature of siblings and twins (given names differ, family name shared)
_DIFF_L = "array_to_string(list_filter(name_tokens_l, lambda x: NOT list_contains(name_tokens_r, x)), ' ')"
_DIFF_R = "array_to_string(list_filter(name_tokens_r, lambda x: NOT list_contains(name_tokens_l, x)), ' ')"
# both names have the same number of tokens (2+), all but one equal, and the differing tokens are neither typos of
# each other nor one written short for the other: the signature of siblings and twins (given names differ, family
# name shared)
# (the cheap tests first: list_intersect over every pair was half the cost of the family and location levels)
ONE_TOKEN_DIFFERS = (
    "name_norm_l <> name_norm_r AND len(name_tokens_l) >= 2 AND len(name_tokens_l) = len(name_tokens_r) "
    "AND len(name_abbrevs_l) = 0 AND len(name_abbrevs_r) = 0 "
    "AND len(list_intersect(name_tokens_l, name_tokens_r)) = len(name_tokens_l) - 1 "
    f"AND NOT starts_with({_DIFF_L}, {_DIFF_R}) AND NOT starts_with({_DIFF_R}, {_DIFF_L}) "
    f"AND levenshtein({_DIFF_L}, {_DIFF_R}) >= 3"
)


def _abbreviation_of(a: str, b: str) -> str:
    """Token `a` abbreviates token `b`: shorter, same first letter, its letters in order within b (A -> AHMAD,
    AGUST -> AGUSTINUS, YOH -> YOHANES, KMG -> KOMANG)."""
    return (
        f"(length({a}) < length({b}) AND left({a}, 1) = left({b}, 1) AND list_reduce(string_split({b}, ''), "
        f"lambda acc, ch: CASE WHEN acc <> '' AND left(acc, 1) = ch THEN substr(acc, 2) ELSE acc END, {a}) = '')"
    )


def _abbreviations_covered(x: str, y: str) -> str:
    """Every abbreviation written in name x abbreviates some token of name y."""
    return (
        f"coalesce(list_bool_and(list_transform(name_abbrevs_{x}, lambda a: list_bool_or(list_transform("
        f"name_tokens_{y}, lambda b: {_abbreviation_of('a', 'b')})))), true)"
    )


# name_keys: the sorted phonetic keys of the tokens not written as abbreviations (standardise.py), so these are list
# comparisons, cheap on millions of pairs
TOKENS_FUZZY_EQUAL = "(len(name_keys_l) > 0 AND name_keys_l = name_keys_r)"
TOKENS_FUZZY_WITHIN = (
    "(len(name_keys_l) > 0 AND len(name_keys_r) > 0 "
    "AND (list_has_all(name_keys_l, name_keys_r) OR list_has_all(name_keys_r, name_keys_l)))"
)
# (name_tokens named outside the lambdas too: Splink finds the columns a level needs by reading its SQL)
ABBREVIATED = (
    f"((len(name_abbrevs_l) > 0 OR len(name_abbrevs_r) > 0) AND {TOKENS_FUZZY_WITHIN} "
    "AND len(name_tokens_l) > 0 AND len(name_tokens_r) > 0 "
    f"AND {_abbreviations_covered('l', 'r')} AND {_abbreviations_covered('r', 'l')})"
)
# within, and nothing abbreviated (an abbreviation must be covered: ABBREVIATED): FRANS. is not FERDINAND
WITHIN_PLAIN = f"({TOKENS_FUZZY_WITHIN} AND len(name_abbrevs_l) = 0 AND len(name_abbrevs_r) = 0)"
# no token of one name sounds like any token of the other: another person's name altogether
NAME_UNRELATED = (
    "(name_norm_l <> name_norm_r AND len(name_keys_l) > 0 AND len(name_keys_r) > 0 "
    "AND len(list_intersect(name_keys_l, name_keys_r)) = 0)"
)
# the same name, written the same (up to spaces and token order): what tells a NIK typo from twins
NAME_SAME = "(name_norm_l = name_norm_r OR name_concat_l = name_concat_r OR name_sorted_l = name_sorted_r)"
# the same name up to one typo or the spelling of its tokens, or shortened or abbreviated: a NIK serial typo keeps the
# person's name, twins have two given names
NAME_TYPO_EQUAL = (
    f"({NAME_SAME} OR {TOKENS_FUZZY_EQUAL} OR " + damerau_within("name_norm_l", "name_norm_r", 1) + " "
    f"OR {WITHIN_PLAIN} OR {ABBREVIATED})"
)
# Family-level fields only count as evidence for the same person when the name agrees (exactly, as a typo,
# phonetically, in another token order, shortened or abbreviated, but not when one given name clearly differs) and the
# dates are close (or one is missing): a parent and a child, two siblings or twins share KK and village, not name and
# date.
NAME_AGREES = (
    "((name_norm_l = name_norm_r OR name_concat_l = name_concat_r OR name_sorted_l = name_sorted_r "
    "OR name_phonetic_l = name_phonetic_r OR jaro_winkler_similarity(name_norm_l, name_norm_r) >= 0.94 "
    f"OR {damerau_within('name_norm_l', 'name_norm_r', 2)} OR {WITHIN_PLAIN} OR {ABBREVIATED}) "
    f"AND NOT ({ONE_TOKEN_DIFFERS}))"
)
DOB_CLOSE = (
    "(birth_date_l IS NULL OR birth_date_r IS NULL OR birth_year_l = birth_year_r "
    "OR (abs(birth_year_l - birth_year_r) = 1 AND birth_month_l = birth_month_r AND birth_day_l = birth_day_r))"
)
# NOT NAME_AGREES written out by De Morgan (exact in SQL's three-valued logic): every way of agreeing fails, or one
# given name clearly differs. DuckDB evaluates NOT (a OR b OR ...) over every pair, the costly string distances
# included; a top-level AND/OR chain inside a WHEN skips the rows already decided (the exact names, most pairs), so
# the family and location comparisons cost a tenth of what the NOT cost.
NAME_DISAGREES = (
    "((name_norm_l <> name_norm_r AND name_concat_l <> name_concat_r "
    "AND name_sorted_l <> name_sorted_r AND name_phonetic_l <> name_phonetic_r "
    "AND jaro_winkler_similarity(name_norm_l, name_norm_r) < 0.94 "
    f"AND {damerau_beyond('name_norm_l', 'name_norm_r', 2)} AND NOT {WITHIN_PLAIN} "
    f"AND NOT {ABBREVIATED}) OR ({ONE_TOKEN_DIFFERS}))"
)
NAME_OR_DOB_DISAGREE = f"(NOT {DOB_CLOSE} OR {NAME_DISAGREES})"
# two NIKs, each issued in the district its own record lives in, and two districts: two people. A person's NIK does not
# change when they move, and a typo in its region digits almost never lands on the district of the record it is in
# (the false merge it prevents: the same name and birth date in two districts, each with its own NIK, chained through
# a record without NIK)
NIK_OWN_DISTRICTS = (
    "(left(nik_l, 6) = district_code_l AND left(nik_r, 6) = district_code_r AND district_code_l <> district_code_r)"
)
# two records whose NIKs say two people: only the serial differs and the names differ (twins, same-day births), or
# both NIKs agree with their own records' birth dates and sex and differ in the date part (two birth dates) or by three
# edits or more (two typos of one NIK are at most two edits apart); or each NIK names its own record's district and the
# districts differ (NIK_OWN_DISTRICTS). No cluster may hold such a pair (clusters.py).
NIK_CONFLICT = (
    "(nik_l <> nik_r AND ("
    f"(nik12_l = nik12_r AND NOT {NAME_TYPO_EQUAL}) "
    "OR (nik_consistent_l AND nik_consistent_r AND (substr(nik_l, 7, 6) <> substr(nik_r, 7, 6) "
    f"OR {damerau_beyond('nik_l', 'nik_r', 2)})) "
    f"OR {NIK_OWN_DISTRICTS}))"
)
PAIR_COLUMNS = [
    "nik",
    "nik12",
    "nik_consistent",
    "district_code",
    "name_norm",
    "name_concat",
    "name_sorted",
    "name_tokens",
    "name_phonetic",
    "name_keys",
    "name_abbrevs",
]


def _level(sql: str, label: str, null: bool = False, bf: float | None = None, tf: str | None = None) -> dict:
    d = {"sql_condition": sql, "label_for_charts": label}
    if null:
        d["is_null_level"] = True
    if bf is not None:  # fixed Bayes factor: m/u with both fixed
        d.update(
            {"m_probability": bf * 1e-3, "u_probability": 1e-3, "fix_m_probability": True, "fix_u_probability": True}
        )
    if tf:
        d.update({"tf_adjustment_column": tf, "tf_adjustment_weight": 1.0})
    return d


M_FLOOR = 1e-3  # an 'else' level whose m EM drove to ~0 would veto a match on its own (e.g. a relative's NIK)


def finalise_parameters(settings: dict, u: dict[str, dict[str, float]]) -> dict:
    """Apply the data-size-dependent u probabilities and floor the m of disagreement levels (in place)."""
    keys = {
        ("nik", "exact"): "exact",
        ("sex", "exact"): "exact",
        ("sex", "else"): "else",
        ("birth_date", "exact"): "exact",
        ("family", "same KK"): "same",
        ("family", "different KK"): "else",
        ("location", "same village"): "village",
        ("location", "same district"): "district",
        ("location", "same regency"): "regency",
        ("location", "same province"): "province",
        ("location", "else"): "else",
    }
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        for level in comp["comparison_levels"]:
            k = keys.get((name, level.get("label_for_charts")))
            if k is not None and k in u.get(name, {}):
                new = u[name][k]
                if name == "nik" and level.get("u_probability"):  # an upper bound: keep a smaller trained u
                    new = min(new, level["u_probability"])
                level["u_probability"] = max(new, 1e-12)
            if level.get("sql_condition") == "ELSE" and level.get("m_probability") is not None:
                level["m_probability"] = max(level["m_probability"], M_FLOOR)
    return settings


def _fixed_u(level: dict, u: float | None) -> dict:
    if u is not None:
        level.update({"u_probability": max(u, 1e-12), "fix_u_probability": True})
    return level


def nik_comparison(u: dict[str, float] | None = None) -> dict:
    """Which part of the NIK differs, read together with the names and with each NIK's agreement with its own
    record (`nik_consistent`: the embedded birth date and sex marker match the record). A NIK one digit away is
    usually another person: strangers born the same day in one district differ only in the serial, twins too, a man
    and a woman born the same day by the +40 in the day. Those levels carry fixed Bayes factors."""
    d_l, d_r = "TRY_CAST(substr(nik_l, 7, 2) AS INTEGER)", "TRY_CAST(substr(nik_r, 7, 2) AS INTEGER)"
    date_part_differs = "substr(nik_l, 7, 6) <> substr(nik_r, 7, 6)"
    return {
        "output_column_name": "nik",
        "comparison_description": "NIK by which part differs",
        "comparison_levels": [
            _level("nik_l IS NULL OR nik_r IS NULL", "null", null=True),
            _level(
                f"nik_l = nik_r AND {NAME_UNRELATED}",
                "exact, but another name altogether (a borrowed or mistyped NIK)",
                bf=NIK_EXACT_OTHER_NAME_BF,
            ),
            _fixed_u(_level("nik_l = nik_r", "exact"), (u or {}).get("exact")),
            _level("hamming(nik_l, nik_r) = 2 AND damerau_levenshtein(nik_l, nik_r) = 1", "adjacent digits transposed"),
            _level(
                f"nik12_l = nik12_r AND {NAME_TYPO_EQUAL}", "only the serial differs, same name", bf=NIK_SERIAL_ONLY_BF
            ),
            _level(
                "nik12_l = nik12_r",
                "only the serial differs, names differ (twins, same-day births)",
                bf=NIK_TWO_PEOPLE_BF,
            ),
            _level(
                f"substr(nik_l, 1, 6) = substr(nik_r, 1, 6) AND substr(nik_l, 9, 8) = substr(nik_r, 9, 8) "
                f"AND abs({d_l} - {d_r}) = 40",
                "only the sex marker differs",
                bf=NIK_SEX_MARKER_ONLY_BF,
            ),
            _level(
                f"hamming(nik_l, nik_r) = 1 AND {date_part_differs} AND nik_consistent_l AND nik_consistent_r",
                "one date digit differs and each NIK agrees with its own record (two birth dates)",
                bf=NIK_TWO_PEOPLE_BF,
            ),
            _level(
                f"hamming(nik_l, nik_r) = 1 AND {date_part_differs}",
                "one date digit differs and a NIK disagrees with its record (a typo)",
            ),
            _level(
                "hamming(nik_l, nik_r) = 1",
                "one district digit differs (a typo, or a neighbour born the same day)",
                bf=NIK_DISTRICT_DIGIT_BF,
            ),
            _level("ELSE", "else"),
        ],
    }


def name_comparison(tf: bool = False) -> dict:
    return {
        "output_column_name": "name",
        "comparison_description": "normalised Indonesian name",
        "comparison_levels": [
            _level("name_norm_l IS NULL OR name_norm_r IS NULL", "null", null=True),
            _level("name_norm_l = name_norm_r", "exact", tf="name_norm" if tf else None),
            _level(
                "name_concat_l = name_concat_r OR name_sorted_l = name_sorted_r", "same without spaces / token order"
            ),
            _level(ONE_TOKEN_DIFFERS, "one given name clearly differs (siblings)", bf=ONE_GIVEN_NAME_DIFFERS_BF),
            _level("jaro_winkler_similarity(name_norm_l, name_norm_r) >= 0.94", "Jaro-Winkler >= 0.94"),
            _level(TOKENS_FUZZY_EQUAL, "same tokens in any order, up to spelling"),
            _level(damerau_within("name_norm_l", "name_norm_r", 2), "at most two typos"),
            _level(ABBREVIATED, "tokens abbreviated (A. for AHMAD, KMG. for KOMANG)"),
            _level(WITHIN_PLAIN, "tokens of one within the other, up to spelling"),
            _level("name_phonetic_l = name_phonetic_r", "phonetic skeleton equal"),
            _level("jaro_winkler_similarity(name_norm_l, name_norm_r) >= 0.85", "Jaro-Winkler >= 0.85"),
            _level("ELSE", "else"),
        ],
    }


def birth_date_comparison() -> dict:
    return {
        "output_column_name": "birth_date",
        "comparison_description": "birth date",
        "comparison_levels": [
            _level("birth_date_l IS NULL OR birth_date_r IS NULL", "null", null=True),
            _level("birth_date_l = birth_date_r", "exact"),
            _level(
                "birth_year_l = birth_year_r AND birth_month_l = birth_day_r AND birth_day_l = birth_month_r",
                "day and month swapped",
            ),
            _level(
                "abs(birth_year_l - birth_year_r) = 1 AND birth_month_l = birth_month_r AND birth_day_l = birth_day_r",
                "year off by one",
            ),
            _level("birth_year_l = birth_year_r", "same year"),
            _level("ELSE", "else"),
        ],
    }


def sex_comparison() -> dict:
    return {
        "output_column_name": "sex",
        "comparison_levels": [
            _level("sex_l IS NULL OR sex_r IS NULL", "null", null=True),
            _level("sex_l = sex_r", "exact"),
            _level("ELSE", "else"),
        ],
    }


def family_comparison(u: dict[str, float] | None = None) -> dict:
    u = u or {}
    return {
        "output_column_name": "family",
        "comparison_description": "KK: family evidence, counted only when the name "
        "agrees and the birth dates are close (otherwise treated as missing)",
        "comparison_levels": [
            _level(
                f"no_kk_l IS NULL OR no_kk_r IS NULL OR {NAME_OR_DOB_DISAGREE}",
                "missing, or name/birth date disagree",
                null=True,
            ),
            _fixed_u(_level("no_kk_l = no_kk_r", "same KK"), u.get("same")),
            _level("village_code_l <> village_code_r", MOVED_KK_LABEL, bf=MOVED_KK_BF),
            _fixed_u(_level("ELSE", "different KK"), u.get("else")),
        ],
    }


def location_comparison(u: dict[str, float] | None = None) -> dict:
    u = u or {}
    return {
        "output_column_name": "location",
        "comparison_description": "region: family evidence, counted only when "
        "the name agrees and the birth dates are close (otherwise treated as missing)",
        "comparison_levels": [
            _level(
                f"village_code_l IS NULL OR village_code_r IS NULL OR {NAME_OR_DOB_DISAGREE}",
                "missing, or name/birth date disagree",
                null=True,
            ),
            _fixed_u(_level("village_code_l = village_code_r", "same village"), u.get("village")),
            _fixed_u(_level("district_code_l = district_code_r", "same district"), u.get("district")),
            _fixed_u(_level("regency_code_l = regency_code_r", "same regency"), u.get("regency")),
            _fixed_u(_level("province_code_l = province_code_r", "same province"), u.get("province")),
            _fixed_u(_level("ELSE", "else"), u.get("else")),
        ],
    }


def data_u(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, dict[str, float]]:
    """u probabilities that depend on the size of the data, computed exactly from it.

    NIK exact: at a million records two random records share a NIK about once in a million pairs, so random
    sampling of ~1e6 pairs often sees none and leaves the level untrained.
    Family and location levels:
    Their levels are conditional on name and birth date agreeing, and random pairs that satisfy that condition are
    mostly true matches, so random-sampling u estimates would be biased towards 1. Instead: the chance that two
    records drawn at random share a KK / village / district / regency / province, i.e. sum(n_k^2) / N^2 over
    groups k."""

    def share(col: str) -> float:
        row = con.execute(
            f"SELECT sum(n * n) / (sum(n) * sum(n)) FROM (SELECT count(*)::DOUBLE AS n FROM {relation} "
            f"WHERE {col} IS NOT NULL GROUP BY {col})"
        ).fetchall()[0]
        return float(row[0] or 0.0)

    # for NIK, random records sharing a value are nearly always the same person, so sum(n^2)/N^2 would measure
    # matches; the chance that a non-matching record carries a given NIK is bounded by one over the number of
    # distinct NIKs instead
    distinct = con.execute(f"SELECT count(DISTINCT nik) FROM {relation}").fetchall()[0][0]
    nik = 1.0 / max(distinct, 1)
    kk = share("no_kk")
    v, d, r, p = share("village_code"), share("district_code"), share("regency_code"), share("province_code")
    sex = share("sex")  # 1 when the data carries one sex only: agreement then says nothing
    return {
        "nik": {"exact": nik},
        "sex": {"exact": sex, "else": max(1 - sex, 1e-12)},
        "birth_date": {"exact": share("birth_date")},
        "family": {"same": kk, "else": 1 - kk},
        "location": {
            "village": v,
            "district": max(d - v, 1e-9),
            "regency": max(r - d, 1e-9),
            "province": max(p - r, 1e-9),
            "else": 1 - p,
        },
    }


def dtsen_settings(
    link_type: str = "link_and_dedupe", tf: bool = True, u_fixed: dict[str, dict[str, float]] | None = None
) -> dict:
    return {
        "link_type": link_type,
        "unique_id_column_name": "record_id",
        "source_dataset_column_name": "source",
        "probability_two_random_records_match": 1e-6,
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r, "sql_dialect": "duckdb"} for r in BLOCKING_RULES
        ],
        "comparisons": [
            nik_comparison((u_fixed or {}).get("nik")),
            name_comparison(tf),
            birth_date_comparison(),
            sex_comparison(),
            family_comparison((u_fixed or {}).get("family")),
            location_comparison((u_fixed or {}).get("location")),
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 20,
        "em_convergence": 0.0001,
        "sql_dialect": "duckdb",
    }


def generic_settings(link_type: str = "link_and_dedupe") -> dict:
    """The generic baseline: raw upper-cased names with Jaro-Winkler, birth date, sex, KK, village."""
    return {
        "link_type": link_type,
        "unique_id_column_name": "record_id",
        "source_dataset_column_name": "source",
        "probability_two_random_records_match": 1e-6,
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r, "sql_dialect": "duckdb"}
            for r in [
                "l.nik_raw = r.nik_raw",
                "l.name_upper = r.name_upper",
                "l.birth_date = r.birth_date AND l.village_code = r.village_code",
                "l.no_kk = r.no_kk",
            ]
        ],
        "comparisons": [
            {
                "output_column_name": "name_upper",
                "comparison_levels": [
                    _level("name_upper_l IS NULL OR name_upper_r IS NULL", "null", null=True),
                    _level("name_upper_l = name_upper_r", "exact"),
                    _level("jaro_winkler_similarity(name_upper_l, name_upper_r) >= 0.92", "JW >= 0.92"),
                    _level("jaro_winkler_similarity(name_upper_l, name_upper_r) >= 0.8", "JW >= 0.8"),
                    _level("ELSE", "else"),
                ],
            },
            birth_date_comparison(),
            sex_comparison(),
            {
                "output_column_name": "no_kk",
                "comparison_levels": [
                    _level("no_kk_l IS NULL OR no_kk_r IS NULL", "null", null=True),
                    _level("no_kk_l = no_kk_r", "exact"),
                    _level("ELSE", "else"),
                ],
            },
            {
                "output_column_name": "village_code",
                "comparison_levels": [
                    _level("village_code_l IS NULL OR village_code_r IS NULL", "null", null=True),
                    _level("village_code_l = village_code_r", "exact"),
                    _level("ELSE", "else"),
                ],
            },
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 20,
        "em_convergence": 0.0001,
        "sql_dialect": "duckdb",
    }


# --------------------------------------------------------------------------------------------- backend seam
def db_api(con: duckdb.DuckDBPyConnection | None = None):
    """Splink's DuckDB engine on the warehouse connection (the Spark engine: `spark.predict_on_spark`)."""
    from splink import DuckDBAPI

    return DuckDBAPI(connection=con)


def make_linker(api, tables: dict[str, object], settings: dict | str | Path):
    """Register one input table per source and build the Linker (link_and_dedupe when there are several)."""
    from splink import Linker

    names = sorted(tables)
    if isinstance(settings, (str, Path)):
        settings = json.loads(Path(settings).read_text())
    settings = deepcopy(settings)
    settings["link_type"] = "link_and_dedupe" if len(names) > 1 else "dedupe_only"
    tag = uuid.uuid4().hex[:8]
    registered = [api.register(tables[n], dataset_display_name=n, table_name=f"__dtsen_input_{n}_{tag}") for n in names]
    linker = Linker(registered if len(registered) > 1 else registered[0], settings, log_level=logging.WARNING)
    linker.dtsen_inputs = dict(zip(names, registered))  # registered inputs by name (for predict_between)
    return linker


def linker_over(con: duckdb.DuckDBPyConnection, relation: str, settings: dict | str | Path):
    """A Linker over `relation` as one input (dedupe across and within every source it holds, one source or several):
    records are identified by `uid` = source:record_id, so the output names its pairs the same way whatever the
    number of sources (see `pairs_sql`)."""
    from splink import Linker

    if isinstance(settings, (str, Path)):
        settings = json.loads(Path(settings).read_text())
    settings = deepcopy(settings)
    settings["link_type"] = "dedupe_only"
    settings["unique_id_column_name"] = "uid"
    settings.pop("source_dataset_column_name", None)
    api = db_api(con)
    table = con.sql(f"SELECT source || ':' || record_id AS uid, * FROM {relation}")
    registered = api.register(table, dataset_display_name="records", table_name=f"__dtsen_input_{uuid.uuid4().hex[:8]}")
    return Linker(registered, settings, log_level=logging.WARNING)


def pairs_sql(table: str) -> str:
    """Scored pairs of a `linker_over` prediction as source/record_id on each side."""
    return f"""SELECT split_part(uid_l, ':', 1) AS source_l, substr(uid_l, strpos(uid_l, ':') + 1) AS record_id_l,
                      split_part(uid_r, ':', 1) AS source_r, substr(uid_r, strpos(uid_r, ':') + 1) AS record_id_r,
                      match_probability, match_weight FROM {table}"""


def write_pairs(con: duckdb.DuckDBPyConnection, table: str, prediction: str) -> None:
    """Table `table` (a temp table unless schema-qualified) of a prediction's scored pairs (`pairs_sql`)."""
    kind = "TABLE" if "." in table else "TEMP TABLE"
    con.execute(f"CREATE OR REPLACE {kind} {table} AS {pairs_sql(prediction)}")


NIK_PRIOR_RULE = "l.nik = r.nik AND l.birth_date = r.birth_date"
NIK_PRIOR = ("nik + birth date", NIK_PRIOR_RULE, 0.85)  # (label, rule, its recall, measured)
MIN_PRIOR_PAIRS = 10  # a deterministic rule that finds fewer pairs says nothing about the prior


def _level_m(settings: dict, comparison: str, labels: tuple[str, ...]) -> float:
    for comp in settings["comparisons"]:
        if comp["output_column_name"] == comparison:
            return sum(
                lv.get("m_probability") or 0 for lv in comp["comparison_levels"] if lv.get("label_for_charts") in labels
            )
    return 0.0


def prior_rules(settings: dict) -> list[tuple[str, str, float]]:
    """Deterministic rules to estimate the prior from, best first, each with its recall: the NIK rule (measured), and
    for data without NIK, name + birth date + district, whose recall is read off the saved model (the chance that
    a true pair agrees exactly on each)."""
    name = _level_m(settings, "name", ("exact",))
    dob = _level_m(settings, "birth_date", ("exact",))
    place = _level_m(settings, "location", ("same village", "same district"))
    recall = max(min(name * dob * (place or 0.9), 0.95), 0.05)
    return [
        NIK_PRIOR,
        (
            "name + birth date + district",
            "l.name_norm = r.name_norm AND l.birth_date = r.birth_date AND l.district_code = r.district_code",
            round(recall, 4),
        ),
    ]


def rule_pairs(con: duckdb.DuckDBPyConnection, relation: str, rule: str) -> int:
    """Pairs a conjunction of equalities `l.x = r.x AND ...` finds (sum of n(n-1)/2 over its key groups)."""
    cols = [part.split("=")[0].strip()[2:] for part in rule.split(" AND ")]
    key = ", ".join(cols)
    nonnull = " AND ".join(f"{c} IS NOT NULL" for c in cols)
    return int(
        con.execute(
            f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*)::BIGINT AS n "
            f"FROM {relation} WHERE {nonnull} GROUP BY {key})"
        ).fetchall()[0][0]
    )


def estimate_prior(
    linker,
    con: duckdb.DuckDBPyConnection,
    relation: str,
    rules: list[tuple[str, str, float]] | None = None,
    records_trained: int | None = None,
) -> dict:
    """The prior (probability that two random records match) for this data, and where it came from.

    The first of `rules` (label, rule, recall; default: the NIK rule only) that finds at least MIN_PRIOR_PAIRS pairs
    in the data estimates it (Splink's deterministic-rule estimate); when none does, the saved model's prior is
    scaled to this data's size (pairs grow with the square of the records, true pairs with the records). Never 0:
    a run does not fail for want of NIKs."""
    saved = linker._settings_obj._probability_two_random_records_match
    for label, rule, recall in rules or [NIK_PRIOR]:
        n = rule_pairs(con, relation, rule)
        if n >= MIN_PRIOR_PAIRS:
            linker.training.estimate_probability_two_random_records_match([rule], recall=recall)
            return {
                "source": f"data: deterministic rule {label}",
                "rule_pairs": n,
                "recall": recall,
                "value": linker._settings_obj._probability_two_random_records_match,
            }
    records = int(con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0])
    value = saved * (records_trained / records) if records_trained and records else saved
    value = min(max(value, 1e-12), 0.5)
    linker._settings_obj._probability_two_random_records_match = value
    return {
        "source": "saved model, scaled to this data's size (no rule found enough pairs)",
        "value": value,
        "records_trained": records_trained,
        "records": records,
    }


def train(
    linker,
    con: duckdb.DuckDBPyConnection,
    relation: str,
    seed: int = 42,
    u_max_pairs: float = 1.2e6,
    em_max_pairs: float = 2e6,
) -> None:
    """Reproducible training: the prior, u by seeded random sampling, m by EM on EM_RULES."""
    estimate_prior(linker, con, relation)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed, num_chunks=1)
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=em_max_pairs)


def save_model(
    linker, path: str | Path = MODEL_PATH, u: dict[str, dict[str, float]] | None = None, records: int | None = None
) -> None:
    """Save as stable, diffable JSON; with `u`, the data-size-dependent parameters are finalised first; `records`
    (the training data's size) is kept under the key `dtsen` to scale the prior when a snapshot cannot estimate it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.json")
    if tmp.exists():
        tmp.unlink()
    linker.misc.save_model_to_json(str(tmp), overwrite=True)
    data = json.loads(tmp.read_text())
    if u is not None:
        finalise_parameters(data, u)
    for comp in data["comparisons"]:  # a level EM never saw (no pair fell into it) gets the floor, not nothing
        for lv in comp["comparison_levels"]:
            if not lv.get("is_null_level") and lv.get("m_probability") is None:
                lv["m_probability"] = M_FLOOR
    if records is not None:
        data["dtsen"] = {"trained_records": int(records)}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.remove(tmp)


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> int:
    """Splink materialises its intermediate results (blocked pairs, comparison vectors, counts) as `__splink__*`
    tables on the connection: on the warehouse they would stay for ever. Drops them; returns how many."""
    rows = con.execute(r"""SELECT database_name, schema_name, table_name, 'TABLE' FROM duckdb_tables()
                           WHERE table_name LIKE '\_\_splink\_\_%' ESCAPE '\'
                           UNION ALL
                           SELECT database_name, schema_name, view_name, 'VIEW' FROM duckdb_views()
                           WHERE view_name LIKE '\_\_splink\_\_%' ESCAPE '\' AND NOT internal""").fetchall()
    for db, schema, name, kind in rows:
        con.execute(f'DROP {kind} IF EXISTS "{db}"."{schema}"."{name}"')
    return len(rows)
