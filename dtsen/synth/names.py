"""Indonesian name pools and vectorised name sampling.

The general pools come from Faker's id_ID provider data (a maintained list of Indonesian given names and
surnames); regional pools (Batak, Minahasa, Papuan, NTT marga, Balinese birth-order names, Sundanese and
Muslim given names) are small hand lists. Sampling is vectorised: one numpy draw per token position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from faker.providers.person.id_ID import Provider as _IdPerson

BATAK_MARGA = [
    "SIREGAR",
    "SIMANJUNTAK",
    "NASUTION",
    "HARAHAP",
    "LUBIS",
    "SITOMPUL",
    "HUTAPEA",
    "SINAGA",
    "PARDEDE",
    "SIHOMBING",
    "PANJAITAN",
    "TAMPUBOLON",
    "SITUMORANG",
    "MANURUNG",
    "SIMATUPANG",
    "GINTING",
    "TARIGAN",
    "SEMBIRING",
    "PURBA",
    "DAMANIK",
    "HUTAGALUNG",
    "SIAGIAN",
    "NAINGGOLAN",
    "SIMBOLON",
    "PASARIBU",
    "SILALAHI",
    "MARPAUNG",
    "SIANTURI",
    "HASIBUAN",
    "SARAGIH",
]
MINAHASA_MARGA = [
    "WOWOR",
    "RONDONUWU",
    "LUMEMPOUW",
    "SONDAKH",
    "PANGEMANAN",
    "TUMBELAKA",
    "RUMENGAN",
    "KALALO",
    "MANDAGI",
    "LENGKONG",
    "WALEWANGKO",
    "KAWILARANG",
    "TAMBUWUN",
    "RORIMPANDEY",
    "SUMAMPOUW",
    "MAMAHIT",
    "POLII",
    "KANDOU",
]
PAPUA_MARGA = [
    "WENDA",
    "KOGOYA",
    "TABUNI",
    "WANIMBO",
    "RUMBIAK",
    "MANDOWEN",
    "KARUBABA",
    "YIKWA",
    "MURIB",
    "ENUMBI",
    "WONDA",
    "KOSSAY",
    "WETIPO",
    "KAMBU",
    "RUMAROPEN",
    "WAROMI",
    "IBO",
    "YOMAKI",
    "SAWAKI",
    "KAFIAR",
]
NTT_MARGA = [
    "FANGGIDAE",
    "MANAFE",
    "NDOLU",
    "PELLO",
    "TEFA",
    "NENOBAIS",
    "BRIA",
    "SERAN",
    "KOLO",
    "DA COSTA",
    "LAKE",
    "NALLE",
    "MESSAKH",
    "ADOE",
    "BENU",
    "TAEK",
    "LEWOTOBI",
]
MALUKU_MARGA = [
    "PATTIRADJAWANE",
    "LATUHARHARY",
    "SAHETAPY",
    "TUANAKOTTA",
    "PELUPESSY",
    "RITIAUW",
    "LEIWAKABESSY",
    "MATULESSY",
    "NANLOHY",
    "SOPACUA",
    "TUHUMURY",
    "WATTIMENA",
]
CHRISTIAN_MALE = [
    "YOHANES",
    "MARKUS",
    "YAKOBUS",
    "PETRUS",
    "PAULUS",
    "YOSEF",
    "MATIUS",
    "LUKAS",
    "STEFANUS",
    "ANDREAS",
    "FRANSISKUS",
    "ALEKSANDER",
    "DANIEL",
    "SAMUEL",
    "YONATAN",
    "MIKHAEL",
    "ROBERT",
    "FERDINAND",
    "BENYAMIN",
    "NIKOLAS",
    "OKTOVIANUS",
    "YULIUS",
    "DOMINGGUS",
    "HERMANUS",
]
CHRISTIAN_FEMALE = [
    "MARIA",
    "YULIANA",
    "AGUSTINA",
    "ELISABETH",
    "MAGDALENA",
    "KRISTINA",
    "MARTHA",
    "DEBORA",
    "RUTH",
    "ESTER",
    "MARIANA",
    "FRANSISKA",
    "VERONIKA",
    "YOHANA",
    "SUSANA",
    "KATARINA",
    "REGINA",
    "ANASTASIA",
    "SELFIANA",
]
BALI_ORDER = [["WAYAN", "PUTU", "GEDE"], ["MADE", "KADEK", "NENGAH"], ["NYOMAN", "KOMANG"], ["KETUT"]]
BALI_GIVEN_MALE = [
    "SUDARMA",
    "SUARSANA",
    "ARTAWAN",
    "SUKARATA",
    "DARMAWAN",
    "WIRAWAN",
    "SUARJANA",
    "MERTAYASA",
    "ADNYANA",
    "SUWENDRA",
    "PARWATA",
    "SUDIANA",
    "SUARDIKA",
    "ARIANTA",
    "WIDIANA",
    "ASTAWA",
    "SUMERTA",
    "MULIARTA",
]
BALI_GIVEN_FEMALE = [
    "AYU",
    "SRI",
    "SUARTINI",
    "ARIANI",
    "SUKERTI",
    "WIDIASIH",
    "SUWARNI",
    "PURNAMI",
    "ASTITI",
    "DEWI",
    "KARTINI",
    "SUDARMI",
    "MURNIATI",
    "RATNADI",
    "SUARNI",
]
SUNDA_MALE = ["ASEP", "UJANG", "DEDE", "CECEP", "DADANG", "JAJANG", "ENDANG", "OMAN", "UJANG", "AAN", "ENJANG", "DEDEN"]
SUNDA_FEMALE = ["EUIS", "NENENG", "IIS", "ENTIN", "IMAS", "CUCU", "ENOK", "YAYAH", "TITIN", "EUTIK", "ELIS", "NINING"]
JAWA_SINGLE_MALE = [
    "SUTRISNO",
    "SLAMET",
    "SUPARMAN",
    "SUGIYONO",
    "PAIMAN",
    "SUKIRMAN",
    "WAGIMAN",
    "SUPARDI",
    "TUKIMAN",
    "SUMARNO",
    "SUYANTO",
    "SARDI",
    "KARNO",
    "PARIYO",
    "JUMADI",
    "SUHARTO",
    "SUKARNO",
    "MARYONO",
    "DJOKO",
    "TUGIMIN",
    "KASIMIN",
    "SUWARNO",
    "SAMIJO",
    "SUMADI",
    "WARSITO",
    "TARDI",
    "MUJIONO",
    "SUTIKNO",
]
JAWA_SINGLE_FEMALE = [
    "SUPARMI",
    "SUMIYATI",
    "PAINEM",
    "SUKINAH",
    "WAGINAH",
    "TUMINAH",
    "SUWARNI",
    "SARINAH",
    "KASMINI",
    "PARTINI",
    "SUMINAH",
    "JUMINEM",
    "MARYATI",
    "SITI",
    "TUKINEM",
    "NGATINI",
    "SUDARMI",
    "KARSINAH",
    "SUPINAH",
    "RUBIYEM",
]
MUSLIM_MALE = [
    "AHMAD",
    "ABDUL",
    "HASAN",
    "HUSAIN",
    "YUSUF",
    "IBRAHIM",
    "ISMAIL",
    "RAHMAT",
    "HIDAYAT",
    "SYAIFUL",
    "KHOIRUL",
    "ARIF",
    "FAUZI",
    "RIZKI",
    "ZAINAL",
    "SYAMSUL",
    "IMRON",
    "NURDIN",
    "MAHMUD",
    "ANWAR",
    "SAIFUDDIN",
    "ABDULLAH",
    "ALI",
    "UMAR",
    "USMAN",
    "HAMZAH",
    "RIDWAN",
    "ZULKIFLI",
    "JUNAIDI",
    "SUHAILI",
    "AMIR",
    "BAHRUDIN",
]
MUSLIM_FEMALE = [
    "AISYAH",
    "FATIMAH",
    "KHADIJAH",
    "ZAINAB",
    "NURHAYATI",
    "HALIMAH",
    "MARYAM",
    "AMINAH",
    "ROHANI",
    "SALAMAH",
    "NURJANAH",
    "HASANAH",
    "RAHMAWATI",
    "HIDAYATI",
    "KHOIRIYAH",
    "MUSLIMAH",
    "ZULAIKHA",
    "ASIAH",
    "NURLAILA",
]


def _upper(xs) -> np.ndarray:
    return np.array(sorted({x.upper() for x in xs}), dtype=object)


_BATAK_SET = set(BATAK_MARGA)
GENERAL_MALE = _upper(_IdPerson.first_names_male)
GENERAL_FEMALE = _upper(_IdPerson.first_names_female)
# second tokens: Faker's id_ID surnames minus the Batak marga it carries (those stay regional)
SECOND_MALE = np.array([x for x in _upper(_IdPerson.last_names_male) if x not in _BATAK_SET], dtype=object)
SECOND_FEMALE = np.array([x for x in _upper(_IdPerson.last_names_female) if x not in _BATAK_SET], dtype=object)

_POOLS = {
    k: np.array(v, dtype=object)
    for k, v in {
        "batak": BATAK_MARGA,
        "minahasa": MINAHASA_MARGA,
        "papua": PAPUA_MARGA,
        "ntt": NTT_MARGA,
        "maluku": MALUKU_MARGA,
        "chr_m": CHRISTIAN_MALE,
        "chr_f": CHRISTIAN_FEMALE,
        "bali_m": BALI_GIVEN_MALE,
        "bali_f": BALI_GIVEN_FEMALE,
        "sunda_m": SUNDA_MALE,
        "sunda_f": SUNDA_FEMALE,
        "jawa1_m": JAWA_SINGLE_MALE,
        "jawa1_f": JAWA_SINGLE_FEMALE,
        "mus_m": MUSLIM_MALE,
        "mus_f": MUSLIM_FEMALE,
    }.items()
}

# Families whose names follow a marga (clan) system, by naming flavour, and the share of families that do.
MARGA_FLAVOURS = {
    "batak": ("batak", 0.65),
    "minahasa": ("minahasa", 0.6),
    "papua": ("papua", 0.7),
    "ntt": ("ntt", 0.55),
    "maluku": ("maluku", 0.5),
}


def _pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), n)]


def _given_names(rng: np.random.Generator, male: np.ndarray, flavour: np.ndarray, age: np.ndarray) -> np.ndarray:
    """First given token by sex and regional flavour (Muslim, Sundanese, Javanese single names, Christian)."""
    n = len(male)
    out = np.where(male, _pick(rng, GENERAL_MALE, n), _pick(rng, GENERAL_FEMALE, n))
    u = rng.random(n)
    muslim = np.isin(flavour, ["aceh", "melayu", "minang", "jawa", "sunda", "sasak", "bugis"])
    mus = np.where(male, _pick(rng, _POOLS["mus_m"], n), _pick(rng, _POOLS["mus_f"], n))
    out = np.where(muslim & (u < 0.30), mus, out)
    sunda = np.where(male, _pick(rng, _POOLS["sunda_m"], n), _pick(rng, _POOLS["sunda_f"], n))
    out = np.where((flavour == "sunda") & (u >= 0.30) & (u < 0.55), sunda, out)
    jawa1 = np.where(male, _pick(rng, _POOLS["jawa1_m"], n), _pick(rng, _POOLS["jawa1_f"], n))
    out = np.where((flavour == "jawa") & (u >= 0.30) & (u < 0.30 + np.clip((age - 20) / 150, 0, 0.35)), jawa1, out)
    christian = np.isin(flavour, ["minahasa", "papua", "ntt", "maluku", "batak"])
    chr_ = np.where(male, _pick(rng, _POOLS["chr_m"], n), _pick(rng, _POOLS["chr_f"], n))
    out = np.where(christian & (u < 0.55), chr_, out)
    return out


def sample_names(
    rng: np.random.Generator,
    family: np.ndarray,
    male: np.ndarray,
    age: np.ndarray,
    rel: np.ndarray,
    flavour: np.ndarray,
    birth_order: np.ndarray,
    twin_of: np.ndarray,
) -> np.ndarray:
    """True full names (uppercase) for persons.

    family: family index per person; rel: relationship to the family head (1 head, 2 spouse, 3 child, ...);
    flavour: regional naming flavour per person; birth_order: 0-based order among the family's children;
    twin_of: index of the co-twin whose second name this person shares, or -1.
    """
    n = len(family)
    given = _given_names(rng, male, flavour, age)

    # Muslim prefixes: Muhammad / Ahmad for men, Siti / Nur / Sri for women (these drive the variant noise)
    u = rng.random(n)
    muslim = np.isin(flavour, ["aceh", "melayu", "minang", "jawa", "sunda", "sasak", "bugis"])
    male_pref = np.where(u < 0.13, "MUHAMMAD ", np.where(u < 0.17, "ACHMAD ", np.where(u < 0.20, "ABDUL ", "")))
    fem_pref = np.where(u < 0.12, "SITI ", np.where(u < 0.17, "NUR ", np.where(u < 0.25, "SRI ", "")))
    prefix = np.where(muslim, np.where(male, male_pref, fem_pref), "")
    prefix = np.where((flavour == "aceh") & (rng.random(n) < 0.06), np.where(male, "TEUKU ", "CUT "), prefix)

    second = np.where(male, _pick(rng, SECOND_MALE, n), _pick(rng, SECOND_FEMALE, n))
    # single-name people: common among older Javanese, rarer among the young
    p_single = np.where(flavour == "jawa", np.clip(0.05 + (age - 15) * 0.008, 0.05, 0.45), 0.06)
    single = rng.random(n) < p_single
    second = np.where(single, "", second)

    # marga inherited from the father: the head's marga for the head and children, own marga for spouses
    marga = np.full(n, "", dtype=object)
    fam_u = pd.Series(rng.random(n)).groupby(family).transform("first").to_numpy()
    for flav, (pool, share) in MARGA_FLAVOURS.items():
        sel = flavour == flav
        if not sel.any():
            continue
        has = sel & (fam_u < share)
        fam_marga = _POOLS[pool][rng.integers(0, len(_POOLS[pool]), n)]
        head_marga = pd.Series(fam_marga).groupby(family).transform("first").to_numpy()
        inherits = np.isin(rel, [1, 3, 5])
        marga = np.where(has, np.where(inherits, head_marga, fam_marga), marga)
    use_marga = marga != ""
    second = np.where(use_marga, marga, second)
    if (flavour == "batak").any():
        boru = (flavour == "batak") & use_marga & ~male & (rng.random(n) < 0.3)
        second = np.where(boru, "BR. " + second.astype(str), second)

    # Balinese birth-order names: I / Ni + order name + given name
    bali = (flavour == "bali") & (rng.random(n) < 0.85)
    order = np.minimum(np.where(rel == 3, birth_order, rng.integers(0, 4, n)), 3) % 4
    order_name = np.empty(n, dtype=object)
    for k, opts in enumerate(BALI_ORDER):
        m = order == k
        order_name[m] = np.array(opts, dtype=object)[rng.integers(0, len(opts), m.sum())]
    bali_given = np.where(male, _pick(rng, _POOLS["bali_m"], n), _pick(rng, _POOLS["bali_f"], n))
    bali_name = np.where(male, "I ", "NI ") + order_name.astype(str) + " " + bali_given.astype(str)

    # twins share the second token and often the first letter of the given name
    has_twin = twin_of >= 0
    if has_twin.any():
        second[has_twin] = second[twin_of[has_twin]]
        prefix[has_twin] = prefix[twin_of[has_twin]]

    full = (
        pd.Series(prefix.astype(str))
        + pd.Series(given.astype(str))
        + np.where(second != "", " " + pd.Series(second.astype(str)), "")
    )
    full = np.where(bali, bali_name, full.to_numpy(dtype=object))
    return full.astype(object)
