"""The public pages: Cek Bansos (the status check by region and name: masked names, the programmes of the current
period, rate-limited, searches logged without the searcher), proposals (usulan) and objections (sanggahan) with an
optional attachment, and the ticket's status page."""

from __future__ import annotations

import os
import re
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature
from starlette.concurrency import run_in_threadpool

from ..config import ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES
from ..forms import CODE_RE, NAME_RE, consistent
from ..site import Refused, Site
from ..store import OBJECTION_REASONS

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def check(request: Request, prov: str = "", kab: str = "", kec: str = "", desa: str = "", nama: str = ""):
    site: Site = request.app.state.site
    prov, kab, kec, desa = consistent(prov, kab, kec, desa)
    levels = {
        "provinces": site.registry.regions(None, "provinsi"),
        "regencies": site.registry.regions(prov, "kabupaten") if prov else [],
        "districts": site.registry.regions(kab, "kecamatan") if kab else [],
        "villages": site.registry.regions(kec, "desa") if kec else [],
    }
    results, error = None, None
    if desa and nama:
        if not site.limiter.allow(site.client(request)):
            return site.message(
                request,
                "Terlalu banyak pencarian",
                "Anda melakukan terlalu banyak pencarian. Tunggu satu menit lalu coba lagi.",
                429,
            )
        if not CODE_RE.match(desa) or not desa.startswith(kec) or not site.registry.region_name(desa):
            error = "Pilih desa/kelurahan dari daftar."
        elif not NAME_RE.match(nama.strip()) or not any(len(w) >= 3 for w in nama.split()):
            error = "Tulis nama sesuai KTP, minimal satu kata lengkap (3 huruf atau lebih)."
        else:
            results = site.registry.public_search(desa, nama.strip())
            site.store.log_search(desa, len(results))
            for r in results:
                r["ref"] = site.refs.dumps({"p": r["person_id"], "s": site.registry.snapshot})
    return site.page(
        request,
        "cek.html",
        prov=prov,
        kab=kab,
        kec=kec,
        desa=desa,
        nama=nama,
        results=results,
        error=error,
        **levels,
    )


async def save_attachment(site: Site, upload) -> dict | None:
    if upload is None or not getattr(upload, "filename", ""):
        return None
    data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise Refused(413, "Lampiran terlalu besar (maksimal 2 MB).")
    kind = next((t for t, (magic, _) in ATTACHMENT_TYPES.items() if data.startswith(magic)), None)
    if kind is None or upload.content_type not in ATTACHMENT_TYPES:
        raise Refused(415, "Lampiran harus PDF, JPG atau PNG.")
    os.makedirs(site.cfg.uploads, mode=0o700, exist_ok=True)
    path = os.path.join(site.cfg.uploads, secrets.token_hex(16) + ATTACHMENT_TYPES[kind][1])
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(upload.filename))[:100]
    return {"name": name, "type": kind, "size": len(data), "path": path}


def submitter(form) -> tuple[str, str]:
    name, contact = (form.get("pengaju_nama") or "").strip(), (form.get("pengaju_kontak") or "").strip()
    if not NAME_RE.match(name):
        raise Refused(400, "Tulis nama Anda (minimal 3 huruf).")
    if not 5 <= len(contact) <= 150:
        raise Refused(400, "Tulis nomor telepon atau email yang dapat dihubungi.")
    return name, contact


@router.get("/usulan", response_class=HTMLResponse)
def usulan_form(request: Request, prov: str = "", kab: str = "", kec: str = ""):
    site: Site = request.app.state.site
    prov, kab, kec, _ = consistent(prov, kab, kec, "")
    return site.page(
        request,
        "usulan.html",
        prov=prov,
        kab=kab,
        kec=kec,
        provinces=site.registry.regions(None, "provinsi"),
        regencies=site.registry.regions(prov, "kabupaten") if prov else [],
        districts=site.registry.regions(kab, "kecamatan") if kab else [],
        villages=site.registry.regions(kec, "desa") if kec else [],
    )


@router.post("/usulan")
async def usulan_submit(request: Request):
    site: Site = request.app.state.site
    form = await site.form_of(request)
    name, contact = submitter(form)
    desa = form.get("desa") or ""
    if not CODE_RE.match(desa) or not site.registry.region_name(desa):
        raise Refused(400, "Pilih desa/kelurahan keluarga yang diusulkan.")
    head = (form.get("kepala_nama") or "").strip()
    if not NAME_RE.match(head):
        raise Refused(400, "Tulis nama kepala keluarga yang diusulkan.")
    try:
        members = int(form.get("jumlah_anggota") or 0)
    except ValueError:
        members = 0
    if not 1 <= members <= 30:
        raise Refused(400, "Jumlah anggota keluarga antara 1 dan 30.")
    why = (form.get("alasan") or "").strip()
    if not 10 <= len(why) <= 2000:
        raise Refused(400, "Jelaskan alasan usulan (10 sampai 2000 huruf).")
    address = (form.get("alamat") or "").strip()[:300]
    attachment = await save_attachment(site, form.get("lampiran"))
    ticket = await run_in_threadpool(
        site.store.submit,
        "usulan",
        village_code=desa,
        submitter_name=name,
        submitter_contact=contact,
        description=why,
        proposed_head_name=head.upper(),
        proposed_address=address.upper(),
        proposed_members=members,
        attachment=attachment,
    )
    return RedirectResponse(f"/tiket/{ticket}?baru=1", status_code=303)


@router.get("/sanggahan", response_class=HTMLResponse)
def sanggahan_form(request: Request, ref: str = ""):
    site: Site = request.app.state.site
    target = _target(site, ref)
    return site.page(request, "sanggahan.html", ref=ref, person=target, reasons=OBJECTION_REASONS)


def _target(site: Site, ref: str) -> dict:
    try:
        data = site.refs.loads(ref, max_age=24 * 3600)
    except BadSignature:
        raise Refused(
            400, "Tautan sanggahan tidak sah atau kedaluwarsa. Cari kembali penerima di Cek Bansos."
        ) from None
    person = site.registry.person(data["p"])
    if not person:
        raise Refused(404, "Penerima tidak ditemukan pada data terbaru. Cari kembali di Cek Bansos.")
    return person


@router.post("/sanggahan")
async def sanggahan_submit(request: Request):
    site: Site = request.app.state.site
    form = await site.form_of(request)
    name, contact = submitter(form)
    person = _target(site, form.get("ref") or "")
    reason = form.get("alasan") or ""
    if reason not in OBJECTION_REASONS:
        raise Refused(400, "Pilih alasan sanggahan.")
    why = (form.get("keterangan") or "").strip()
    if not 10 <= len(why) <= 2000:
        raise Refused(400, "Jelaskan sanggahan Anda (10 sampai 2000 huruf).")
    attachment = await save_attachment(site, form.get("lampiran"))
    ticket = await run_in_threadpool(
        site.store.submit,
        "sanggahan",
        village_code=person["village_code"],
        submitter_name=name,
        submitter_contact=contact,
        description=why,
        reason=reason,
        target_person_id=person["person_id"],
        target_snapshot=site.registry.snapshot,
        attachment=attachment,
    )
    return RedirectResponse(f"/tiket/{ticket}?baru=1", status_code=303)


@router.get("/tiket", response_class=HTMLResponse)
def ticket_lookup(request: Request, nomor: str = ""):
    site: Site = request.app.state.site
    nomor = re.sub(r"[^A-Z0-9-]", "", nomor.strip().upper())[:32]
    if nomor:
        return RedirectResponse(f"/tiket/{nomor}", status_code=303)
    return site.page(request, "tiket.html", case=None, lookup=True)


@router.get("/tiket/{ticket}", response_class=HTMLResponse)
def ticket_status(request: Request, ticket: str, baru: int = 0):
    site: Site = request.app.state.site
    case = site.store.case_by_ticket(ticket.upper()[:32])
    if not case:
        return site.page(request, "tiket.html", case=None, lookup=True, not_found=True, status=404)
    outcome = site.registry.outcome(case)
    return site.page(
        request,
        "tiket.html",
        case=case,
        lookup=False,
        outcome=outcome,
        new=bool(baru),
        region=site.registry.region_name(case["village_code"]),
    )
