"""Indonesian labels: code lists of the verification form, statuses, programmes, months, rupiah."""

from __future__ import annotations

import datetime as dt

MONTHS = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
]
PROGRAMMES = {"pkh": "PKH", "sembako": "Sembako (BPNT)", "pbi": "PBI-JK (iuran BPJS Kesehatan)", "pip": "PIP"}
STATUS = {
    "baru": "Baru diterima",
    "diverifikasi": "Sudah diverifikasi",
    "menunggu_persetujuan": "Menunggu persetujuan",
    "disetujui": "Disetujui",
    "ditolak": "Ditolak",
    "dikembalikan": "Dikembalikan ke petugas",
}
OBJECTION = {
    "meninggal": "Sudah meninggal",
    "pindah": "Sudah pindah",
    "tidak_miskin": "Tidak miskin / mampu",
    "ganda": "Terdaftar ganda",
    "asn": "ASN / TNI / Polri",
    "lainnya": "Lainnya",
}
ROLES = {"caseworker": "Petugas", "supervisor": "Supervisor", "admin": "Admin"}
# verification form: the Regsosek keluarga proxies (the code lists of the docs, Data contracts)
FAMILY_CODES = {
    "status_bangunan": (
        "Status bangunan",
        {1: "Milik sendiri", 2: "Sewa/kontrak", 3: "Bebas sewa", 4: "Dinas", 5: "Lainnya"},
    ),
    "jenis_lantai": (
        "Lantai terluas",
        {1: "Keramik/marmer", 2: "Ubin/tegel", 3: "Semen/bata", 4: "Kayu/papan", 5: "Bambu", 6: "Tanah"},
    ),
    "jenis_dinding": (
        "Dinding terluas",
        {1: "Tembok", 2: "Plesteran anyaman bambu/kawat", 3: "Kayu/papan", 4: "Anyaman bambu", 5: "Lainnya"},
    ),
    "jenis_atap": (
        "Atap terluas",
        {1: "Beton", 2: "Genteng", 3: "Seng", 4: "Asbes", 5: "Kayu/sirap", 6: "Bambu/jerami/ijuk"},
    ),
    "sumber_air_minum": (
        "Sumber air minum",
        {
            1: "Air kemasan/isi ulang",
            2: "Leding",
            3: "Sumur bor/pompa",
            4: "Sumur terlindung",
            5: "Mata air terlindung",
            6: "Tidak terlindung/sungai/hujan",
        },
    ),
    "fasilitas_bab": ("Fasilitas BAB", {1: "Sendiri dengan septic tank", 2: "Bersama", 3: "Umum", 4: "Tidak ada"}),
    "sumber_penerangan": (
        "Penerangan",
        {1: "PLN meteran", 2: "PLN tanpa meteran", 3: "Listrik non-PLN", 4: "Tidak ada listrik"},
    ),
    "bahan_bakar_masak": (
        "Bahan bakar memasak",
        {1: "Listrik", 2: "LPG/gas", 3: "Minyak tanah", 4: "Kayu/arang", 5: "Tidak memasak"},
    ),
    "aset_kulkas": ("Memiliki kulkas", {0: "Tidak", 1: "Ya"}),
    "aset_motor": ("Memiliki sepeda motor", {0: "Tidak", 1: "Ya"}),
    "aset_mobil": ("Memiliki mobil", {0: "Tidak", 1: "Ya"}),
    "desa_terpencil": ("Desa terpencil", {0: "Tidak", 1: "Ya"}),
}
FAMILY_NUMBERS = {
    "luas_lantai_m2": "Luas lantai (m²)",
    "aset_lahan_m2": "Luas lahan (m²)",
    "aset_ternak": "Ternak (ekor)",
}
MEMBER_CODES = {
    "jenis_kelamin": ("Jenis kelamin", {"L": "Laki-laki", "P": "Perempuan"}),
    "hubungan_kk": (
        "Hubungan dengan kepala keluarga",
        {
            1: "Kepala keluarga",
            2: "Istri/suami",
            3: "Anak",
            4: "Menantu",
            5: "Cucu",
            6: "Orang tua/mertua",
            7: "Famili lain",
            8: "Lainnya",
        },
    ),
    "pendidikan": ("Pendidikan", {0: "Tidak sekolah", 1: "SD", 2: "SMP", 3: "SMA/SMK", 4: "Diploma", 5: "S1 ke atas"}),
    "pekerjaan": (
        "Pekerjaan",
        {
            0: "Tidak bekerja",
            1: "Pertanian",
            2: "Perikanan",
            3: "Industri",
            4: "Perdagangan",
            5: "Jasa",
            6: "Konstruksi",
            7: "Transportasi",
            8: "ASN/TNI/Polri",
            9: "Lainnya",
        },
    ),
    "jenjang_sekolah": ("Sedang sekolah", {"none": "Tidak", "SD": "SD", "SMP": "SMP", "SMA": "SMA/SMK"}),
    "disabilitas_berat": ("Disabilitas berat", {0: "Tidak", 1: "Ya"}),
    "hamil": ("Hamil", {0: "Tidak", 1: "Ya"}),
}
MEMBER_ROWS = 8


def rupiah(amount) -> str:
    if amount is None or amount != amount:
        return "-"
    return "Rp " + f"{int(amount):,}".replace(",", ".")


def period(month: str | None) -> str:
    """'2025-03' -> 'Maret 2025'."""
    if not month:
        return "-"
    y, m = month.split("-")[:2]
    return f"{MONTHS[int(m) - 1]} {y}"


def date(value) -> str:
    """A date or datetime as '12 Maret 2025' (with the time for datetimes)."""
    if value is None or value != value:
        return "-"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, dt.datetime):
        text += f" {value:%H:%M}"
    return text


# what the public ticket page says of a decision: the platform's words, never a caseworker's free text
PUBLIC_DECISION = {
    "usulan": {
        "disetujui": "usulan disetujui setelah verifikasi kunjungan rumah",
        "ditolak": "usulan tidak disetujui setelah verifikasi",
    },
    "sanggahan": {
        "disetujui": "sanggahan diterima setelah verifikasi",
        "ditolak": "sanggahan tidak diterima setelah verifikasi",
    },
}
