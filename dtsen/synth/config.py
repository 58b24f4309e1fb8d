"""Parameters of the synthetic generator: coverage, dynamics and noise rates, all overridable."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class NoiseRates:
    """Per-record error rates of one registry. All are probabilities per record."""

    name_typo: float = 0.05  # keyboard or phonetic typo, deletion, doubling, transposition
    name_variant: float = 0.35  # of names that contain a variant token (Muhammad, Siti, Nur, ...)
    old_spelling: float = 0.15  # of people born before 1965: Soeharto / Djoko / Tjahjono spelling
    title: float = 0.03  # of adults: H., Hj., Drs., S.Pd., ...
    shorten: float = 0.03  # of multi-token names: a token dropped, abbreviated or swapped
    short_form: float = 0.25  # of names with a long given name that has one: AGUST., YOH., KMG., FRANS.
    ocr: float = 0.0  # scanned forms: D read as CL (and back)
    dob_swap: float = 0.01  # day and month swapped (only where the day is <= 12)
    dob_year: float = 0.015  # birth year off by one
    dob_other: float = 0.003  # another date altogether
    dob_missing: float = 0.005
    nik_missing: float = 0.03
    nik_digit: float = 0.008  # one wrong digit
    nik_relative: float = 0.004  # the NIK of a family member
    nik_transpose: float = 0.002  # two adjacent digits swapped
    kk_missing: float = 0.02
    kk_digit: float = 0.005
    sex_flip: float = 0.003
    code_error: float = 0.01  # education / work recoded wrongly
    duplicate: float = 0.01  # the same person registered twice in the same source

    def scaled(self, k: float) -> NoiseRates:
        return replace(self, **{f: min(1.0, getattr(self, f) * k) for f in self.__dataclass_fields__})


DTKS_NOISE = NoiseRates(nik_missing=0.02, duplicate=0.015, ocr=0.003)
REGSOSEK_NOISE = NoiseRates(
    name_typo=0.04, title=0.01, nik_missing=0.05, kk_missing=0.04, duplicate=0.003, dob_missing=0.002
)
P3KE_NOISE = NoiseRates(
    name_typo=0.07,
    shorten=0.05,
    nik_missing=0.06,
    nik_digit=0.012,
    dob_missing=0.02,
    dob_year=0.025,
    duplicate=0.01,
    ocr=0.01,
    short_form=0.35,
)


@dataclass(frozen=True)
class SynthConfig:
    persons: int = 20_000
    seed: int = 1
    months: int = 1  # number of monthly deliveries (DTKS and administrative lists)
    start: str = "2025-01"  # first delivery month, YYYY-MM
    noise_scale: float = 1.0  # multiplies every noise rate

    # coverage
    dtks_share: float = 0.45  # share of persons in DTKS, skewed to the poor
    p3ke_share: float = 0.40  # P3KE holds roughly the poorest 40% (by its own noisy ranking)
    p3ke_rank_noise: float = 0.45  # noise (in welfare sd) of P3KE's own ranking
    regsosek_family_coverage: float = 0.975
    member_coverage: float = 0.975  # members of a covered family that the registry lists
    survey_share: float = 0.04  # consumption-survey sample of Regsosek families (at least 60 per province)

    # dynamics
    regsosek_months_before: int = 30  # Regsosek enumeration, months before the first delivery
    p3ke_months_before: int = 42
    moved_rate: float = 0.05  # families that moved since the older enumerations (new village, address and KK)
    dtks_move_update: float = 0.7  # share of such moves DTKS has already recorded
    monthly_move_rate: float = 0.003
    monthly_new_registration: float = 0.004  # of poorer families not yet in DTKS, per month
    dead_listed: float = 0.5  # share of dead people DTKS never removes within the window
    death_report_rate: float = 0.92  # deaths that reach the Dukcapil list
    split_district_rate: float = 0.003  # NIK district codes from districts split since (not in the reference)
    formula_name_rate: float = 0.0002  # names typed with a leading '=', '+', '-' or '@'

    dtks: NoiseRates = field(default=DTKS_NOISE)
    regsosek: NoiseRates = field(default=REGSOSEK_NOISE)
    p3ke: NoiseRates = field(default=P3KE_NOISE)

    def noise(self, source: str) -> NoiseRates:
        return getattr(self, source).scaled(self.noise_scale)
