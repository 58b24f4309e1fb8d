"""The caseworker desk's own store: users, cases (usulan / sanggahan) with their history, the audit log, the public
search log and login attempts. A real database through SQLAlchemy: SQLite by default (a file beside the warehouse),
PostgreSQL by configuration (`DTSEN_WEB_DB=postgresql+psycopg2://...`). Never the warehouse the pipeline writes.

Plain functions over an Engine: the web pages, the monthly export, the demo and the tests all call these.
The audit tables are append-only: the application never updates them, and on SQLite and PostgreSQL triggers refuse
UPDATE and DELETE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from . import security

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("full_name", sa.String(150), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # caseworker | supervisor | admin
    sa.Column("regency_code", sa.String(4)),  # null for admin (every region)
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ticket", sa.String(32), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # usulan | sanggahan
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("village_code", sa.String(10), nullable=False),
    sa.Column("regency_code", sa.String(4), nullable=False),
    sa.Column("submitter_name", sa.String(150), nullable=False),
    sa.Column("submitter_contact", sa.String(150), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # usulan: 'usulan'; sanggahan: OBJECTION_REASONS
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("target_person_id", sa.String(32)),  # sanggahan: the DTSEN person objected to
    sa.Column("target_snapshot", sa.String(7)),
    sa.Column("proposed_head_name", sa.String(150)),  # usulan
    sa.Column("proposed_address", sa.String(300)),
    sa.Column("proposed_members", sa.Integer),
    sa.Column("attachment_name", sa.String(200)),
    sa.Column("attachment_type", sa.String(64)),
    sa.Column("attachment_size", sa.Integer),
    sa.Column("attachment_path", sa.String(500)),
    sa.Column("verification", sa.Text),  # JSON: family (proxies), members, verified_by, verified_on
    sa.Column("decision", sa.String(16)),  # approve | reject
    sa.Column("decision_reason", sa.Text),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("approved_by", sa.String(64)),
    sa.Column("approved_at", sa.DateTime),
    sa.Column("export_month", sa.String(7)),
)

case_events = sa.Table(
    "case_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("note", sa.Text),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text),
)

search_log = sa.Table(  # public searches: where and how many results, never who searched or for whom
    "search_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("village_code", sa.String(10), nullable=False),
    sa.Column("results", sa.Integer, nullable=False),
)

sessions = sa.Table(  # server-side sessions: the cookie carries only the token, whose hash is kept here
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("client", sa.String(64), nullable=False),  # keyed hash of the client address
    sa.Column("ok", sa.Boolean, nullable=False),
)

APPEND_ONLY = ("audit", "search_log", "case_events")
ROLES = ("caseworker", "supervisor", "admin")
KINDS = {"usulan": "USL", "sanggahan": "SGH"}
OBJECTION_REASONS = ("meninggal", "pindah", "tidak_miskin", "ganda", "asn", "lainnya")
# statuses: a case moves forward only
NEW, VERIFIED, AWAITING, APPROVED, REJECTED, RETURNED = (
    "baru",
    "diverifikasi",
    "menunggu_persetujuan",
    "disetujui",
    "ditolak",
    "dikembalikan",
)
OPEN = (NEW, VERIFIED, RETURNED)
LOGIN_WINDOW = dt.timedelta(minutes=15)
# failed logins within the window that lock: a name from one client (one person's mistakes lock only that name,
# not every colleague behind the office's address), a name from anywhere (guessing one account from many
# places), and one client across names (guessing many accounts from one place: far above an office's mistakes)
LOGIN_MAX_FAILURES = 5
LOGIN_MAX_FAILURES_PER_NAME = 20
LOGIN_MAX_FAILURES_PER_CLIENT = 100
SESSION_LIFETIME = dt.timedelta(hours=8)

Clock = Callable[[], dt.datetime]


def real_time() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


class CaseError(ValueError):
    """A request the case's state or the user's rights do not allow (shown to the user, nothing changed)."""


def _append_only_ddl(engine: sa.Engine) -> list[str]:
    if engine.dialect.name == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
            f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"
            for t in APPEND_ONLY
            for op in ("UPDATE", "DELETE")
        ]
    if engine.dialect.name == "postgresql":
        out = [
            """CREATE OR REPLACE FUNCTION dtsen_append_only() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""
        ]
        for t in APPEND_ONLY:
            out += [
                f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}",
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                f"FOR EACH ROW EXECUTE FUNCTION dtsen_append_only()",
            ]
        return out
    return []


@dataclass
class Store:
    engine: sa.Engine
    clock: Clock = real_time
    rng: secrets.SystemRandom | None = None  # the demo passes a seeded random.Random for repeatable tickets

    @classmethod
    def open(cls, url: str, clock: Clock = real_time, rng=None) -> Store:
        engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        metadata.create_all(engine)
        with engine.begin() as c:
            for stmt in _append_only_ddl(engine):
                c.execute(sa.text(stmt))
        return cls(engine, clock, rng)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ users
    def add_user(self, username: str, password: str, role: str, full_name: str, regency_code: str | None = None) -> int:
        if role not in ROLES:
            raise CaseError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if role != "admin" and not (regency_code and len(regency_code) == 4 and regency_code.isdigit()):
            raise CaseError("a caseworker or supervisor needs the 4-digit code of their regency")
        security.check_password_strength(password)
        with self.engine.begin() as c:
            return c.execute(
                users.insert().values(
                    username=username,
                    full_name=full_name,
                    password_hash=security.hash_password(password),
                    role=role,
                    regency_code=regency_code if role != "admin" else None,
                    active=True,
                    created_at=self.clock(),
                )
            ).inserted_primary_key[0]

    def user(self, user_id: int) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(users).where(users.c.id == user_id, users.c.active)).mappings().first()
        return dict(row) if row else None

    def list_users(self) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(sa.select(users).order_by(users.c.username)).mappings()]

    def login(self, username: str, password: str, client: str) -> dict | None:
        """The user when the password is right and neither the name nor the client has too many recent failures.
        Raises CaseError when throttled (the attempt is not even checked)."""
        now = self.clock()
        client_key = security.client_key(client)
        with self.engine.begin() as c:
            since = now - LOGIN_WINDOW
            failed = sa.and_(login_attempts.c.at >= since, ~login_attempts.c.ok)
            by_name, by_name_here, by_client = c.execute(
                sa.select(
                    sa.func.count().filter(login_attempts.c.username == username),
                    sa.func.count().filter(
                        login_attempts.c.username == username, login_attempts.c.client == client_key
                    ),
                    sa.func.count().filter(login_attempts.c.client == client_key),
                ).where(failed)
            ).one()
            if (
                by_name_here >= LOGIN_MAX_FAILURES
                or by_name >= LOGIN_MAX_FAILURES_PER_NAME
                or by_client >= LOGIN_MAX_FAILURES_PER_CLIENT
            ):
                raise CaseError("Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam 15 menit.")
            row = c.execute(sa.select(users).where(users.c.username == username, users.c.active)).mappings().first()
            ok = bool(row) and security.verify_password(password, row["password_hash"])
            if not row:
                security.verify_password(password, security.DUMMY_HASH)  # same time whether the name exists or not
            c.execute(login_attempts.insert().values(at=now, username=username[:64], client=client_key, ok=ok))
        return dict(row) if ok else None

    # ------------------------------------------------------------------ sessions and accounts
    def open_session(self, user_id: int) -> str:
        """A new session of the user; returns its token (the cookie's only content)."""
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as c:
            c.execute(sessions.insert().values(token_hash=_hash(token), user_id=user_id, created_at=self.clock()))
        return token

    def session_user(self, token: str | None) -> dict | None:
        """The session's user: only while the session is not revoked, not older than SESSION_LIFETIME, and its user
        is active."""
        if not token:
            return None
        with self.engine.connect() as c:
            row = (
                c.execute(
                    sa.select(users)
                    .join(sessions, sessions.c.user_id == users.c.id)
                    .where(
                        sessions.c.token_hash == _hash(token),
                        sessions.c.revoked_at.is_(None),
                        sessions.c.created_at > self.clock() - SESSION_LIFETIME,
                        users.c.active,
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def revoke_session(self, token: str | None) -> None:
        if token:
            with self.engine.begin() as c:
                c.execute(
                    sessions.update()
                    .where(sessions.c.token_hash == _hash(token), sessions.c.revoked_at.is_(None))
                    .values(revoked_at=self.clock())
                )

    def _revoke_all(self, c, user_id: int) -> None:
        c.execute(
            sessions.update()
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )

    def _target_user(self, c, admin: dict, username: str) -> dict:
        self._require(admin, ("admin",))
        row = c.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        if not row:
            raise CaseError(f"Pengguna {username!r} tidak ada.")
        return dict(row)

    def set_active(self, admin: dict, username: str, active: bool) -> None:
        """An admin deactivates (or reactivates) a user; deactivation ends every session of that user at once."""
        with self.engine.begin() as c:
            target = self._target_user(c, admin, username)
            if target["id"] == admin["id"] and not active:
                raise CaseError("Admin tidak dapat menonaktifkan akunnya sendiri.")
            c.execute(users.update().where(users.c.id == target["id"]).values(active=active))
            if not active:
                self._revoke_all(c, target["id"])
        self.log_view(admin, "activate_user" if active else "deactivate_user", username[:64])

    def reset_password(self, admin: dict, username: str, new_password: str) -> None:
        """An admin sets a new password for a user (who forgot theirs); every session of the user ends."""
        security.check_password_strength(new_password)
        with self.engine.begin() as c:
            target = self._target_user(c, admin, username)
            c.execute(
                users.update()
                .where(users.c.id == target["id"])
                .values(password_hash=security.hash_password(new_password))
            )
            self._revoke_all(c, target["id"])
        self.log_view(admin, "reset_password", username[:64])

    def change_password(self, user: dict, current: str, new_password: str) -> None:
        """A user changes their own password (the current one first); every session of theirs ends, this one too."""
        with self.engine.begin() as c:
            row = c.execute(sa.select(users).where(users.c.id == user["id"], users.c.active)).mappings().first()
            if not row or not security.verify_password(current, row["password_hash"]):
                raise CaseError("Kata sandi saat ini salah.")
            security.check_password_strength(new_password)
            c.execute(
                users.update()
                .where(users.c.id == user["id"])
                .values(password_hash=security.hash_password(new_password))
            )
            self._revoke_all(c, user["id"])
        self.log_view(user, "change_password", user["username"])

    # ------------------------------------------------------------------ cases
    def _ticket(self, kind: str) -> str:
        alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        rng = self.rng or secrets.SystemRandom()
        return f"{KINDS[kind]}-{self.clock().year}-" + "".join(rng.choice(alphabet) for _ in range(6))

    def submit(
        self,
        kind: str,
        *,
        village_code: str,
        submitter_name: str,
        submitter_contact: str,
        description: str,
        reason: str = "usulan",
        target_person_id: str | None = None,
        target_snapshot: str | None = None,
        proposed_head_name: str | None = None,
        proposed_address: str | None = None,
        proposed_members: int | None = None,
        attachment: dict | None = None,
    ) -> str:
        if kind not in KINDS:
            raise CaseError(f"unknown case kind {kind!r}")
        if kind == "sanggahan" and (reason not in OBJECTION_REASONS or not target_person_id):
            raise CaseError("a sanggahan names a recipient and one of the reasons")
        if kind == "usulan" and not proposed_head_name:
            raise CaseError("an usulan names the head of the proposed family")
        now = self.clock()
        with self.engine.begin() as c:
            for _ in range(5):
                ticket = self._ticket(kind)
                if not c.execute(sa.select(cases.c.id).where(cases.c.ticket == ticket)).first():
                    break
            att = attachment or {}
            case_id = c.execute(
                cases.insert().values(
                    ticket=ticket,
                    kind=kind,
                    status=NEW,
                    created_at=now,
                    village_code=village_code,
                    regency_code=village_code[:4],
                    submitter_name=submitter_name,
                    submitter_contact=submitter_contact,
                    reason=reason if kind == "sanggahan" else "usulan",
                    description=description,
                    target_person_id=target_person_id,
                    target_snapshot=target_snapshot,
                    proposed_head_name=proposed_head_name,
                    proposed_address=proposed_address,
                    proposed_members=proposed_members,
                    attachment_name=att.get("name"),
                    attachment_type=att.get("type"),
                    attachment_size=att.get("size"),
                    attachment_path=att.get("path"),
                )
            ).inserted_primary_key[0]
            c.execute(case_events.insert().values(case_id=case_id, at=now, actor="warga", action="diajukan", note=None))
        return ticket

    def case_by_ticket(self, ticket: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(cases).where(cases.c.ticket == ticket)).mappings().first()
        return dict(row) if row else None

    def case(self, case_id: int, user: dict) -> dict:
        """A case within the user's region (CaseError otherwise: the same answer as for a case that does not exist)."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().first()
        if not row or not in_region(user, row["regency_code"]):
            raise CaseError("Kasus tidak ditemukan di wilayah Anda.")
        return dict(row)

    def events(self, case_id: int) -> list[dict]:
        with self.engine.connect() as c:
            return [
                dict(r)
                for r in c.execute(
                    sa.select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.id)
                ).mappings()
            ]

    def queue(self, user: dict) -> dict[str, list[dict]]:
        """Open cases of the user's region, and (supervisors) decisions waiting for a second person."""
        q = sa.select(cases).order_by(cases.c.created_at, cases.c.id)
        if user["role"] != "admin":
            q = q.where(cases.c.regency_code == user["regency_code"])
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(q).mappings()]
        return {
            "open": [r for r in rows if r["status"] in OPEN],
            "awaiting": [r for r in rows if r["status"] == AWAITING],
            "closed": [r for r in rows if r["status"] in (APPROVED, REJECTED)][-50:],
        }

    def cases_of(self, person_ids: list[str], tickets: list[str]) -> list[dict]:
        """Objections against these persons and the proposals (tickets) their records came from."""
        with self.engine.connect() as c:
            return [
                dict(r)
                for r in c.execute(
                    sa.select(cases)
                    .where(sa.or_(cases.c.target_person_id.in_(person_ids), cases.c.ticket.in_(tickets)))
                    .order_by(cases.c.created_at, cases.c.id)
                ).mappings()
            ]

    def _transition(
        self, case_id: int, user: dict, allowed_from: tuple[str, ...], values: dict, action: str, note: str | None
    ) -> None:
        now = self.clock()
        with self.engine.begin() as c:
            row = c.execute(sa.select(cases).where(cases.c.id == case_id).with_for_update()).mappings().first()
            if not row or not in_region(user, row["regency_code"]):
                raise CaseError("Kasus tidak ditemukan di wilayah Anda.")
            if row["status"] not in allowed_from:
                raise CaseError(f"Kasus berstatus '{row['status']}': langkah ini tidak berlaku.")
            c.execute(cases.update().where(cases.c.id == case_id).values(**values))
            c.execute(
                case_events.insert().values(case_id=case_id, at=now, actor=user["username"], action=action, note=note)
            )

    def verify(self, case_id: int, user: dict, family: dict, members: list[dict]) -> None:
        """Record the home visit of a proposal: the household's proxies and its members (validated by the caller)."""
        self._require(user, ("caseworker", "supervisor", "admin"))
        if self.case(case_id, user)["kind"] != "usulan":
            raise CaseError("Hanya usulan yang diverifikasi dengan kunjungan rumah.")
        if not members:
            raise CaseError("Catat minimal satu anggota keluarga.")
        verification = {
            "family": family,
            "members": members,
            "verified_by": user["username"],
            "verified_on": self.clock().date().isoformat(),
        }
        self._transition(
            case_id,
            user,
            (NEW, VERIFIED, RETURNED),
            {"verification": json.dumps(verification, sort_keys=True), "status": VERIFIED},
            "diverifikasi",
            f"{len(members)} anggota",
        )

    def decide(self, case_id: int, user: dict, decision: str, reason: str) -> None:
        """The caseworker's decision; it takes effect only once a supervisor (another person) approves it."""
        self._require(user, ("caseworker", "supervisor", "admin"))
        if decision not in ("approve", "reject"):
            raise CaseError("Keputusan harus setujui atau tolak.")
        if not reason.strip():
            raise CaseError("Tuliskan alasan keputusan.")
        case = self.case(case_id, user)
        allowed = (VERIFIED, RETURNED) if case["kind"] == "usulan" and decision == "approve" else OPEN
        if case["kind"] == "usulan" and decision == "approve" and not case["verification"]:
            raise CaseError("Usulan harus diverifikasi (kunjungan rumah) sebelum disetujui.")
        self._transition(
            case_id,
            user,
            allowed,
            {
                "decision": decision,
                "decision_reason": reason.strip(),
                "decided_by": user["username"],
                "decided_at": self.clock(),
                "status": AWAITING,
            },
            f"diputuskan_{decision}",
            reason.strip(),
        )

    def approve(self, case_id: int, user: dict, confirm: bool, note: str = "") -> None:
        """A supervisor confirms (or returns) a caseworker's decision: never their own."""
        self._require(user, ("supervisor", "admin"))
        case = self.case(case_id, user)
        if case["decided_by"] == user["username"]:
            raise CaseError("Anda tidak dapat menyetujui keputusan Anda sendiri: dua orang untuk setiap perubahan.")
        if confirm:
            status = APPROVED if case["decision"] == "approve" else REJECTED
            values = {"status": status, "approved_by": user["username"], "approved_at": self.clock()}
            action = "disetujui_atasan"
        else:
            values = {"status": RETURNED, "decision": None, "decided_by": None, "decided_at": None}
            action = "dikembalikan"
        self._transition(case_id, user, (AWAITING,), values, action, note or None)

    @staticmethod
    def _require(user: dict, roles: tuple[str, ...]) -> None:
        if user["role"] not in roles:
            raise CaseError("Peran Anda tidak mengizinkan langkah ini.")

    # ------------------------------------------------------------------ export bookkeeping
    def approved_for_export(self, month: str, before: dt.datetime) -> list[dict]:
        """Cases approved (positively) before `before` and not exported in another month, ticket order; they are
        assigned to `month`, so exporting the month again gives the same cases."""
        with self.engine.begin() as c:
            cond = sa.and_(
                cases.c.status == APPROVED,
                cases.c.approved_at < before,
                sa.or_(cases.c.export_month.is_(None), cases.c.export_month == month),
            )
            c.execute(cases.update().where(cond).values(export_month=month))
            return [
                dict(r)
                for r in c.execute(
                    sa.select(cases).where(cases.c.export_month == month).order_by(cases.c.ticket)
                ).mappings()
            ]

    # ------------------------------------------------------------------ logs
    def log_view(self, user: dict, action: str, obj: str, detail: str | None = None) -> None:
        with self.engine.begin() as c:
            c.execute(
                audit.insert().values(
                    at=self.clock(),
                    username=user["username"],
                    role=user["role"],
                    action=action,
                    object=obj,
                    detail=detail,
                )
            )

    def audit_rows(self, limit: int = 200) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(limit)).mappings()]

    def audit_for(self, objects: list[str]) -> list[dict]:
        """Every audited action on these objects (family ids, tickets), oldest first."""
        with self.engine.connect() as c:
            return [
                dict(r)
                for r in c.execute(sa.select(audit).where(audit.c.object.in_(objects)).order_by(audit.c.id)).mappings()
            ]

    def log_search(self, village_code: str, results: int) -> None:
        with self.engine.begin() as c:
            c.execute(search_log.insert().values(at=self.clock(), village_code=village_code, results=results))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def in_region(user: dict, regency_code: str | None) -> bool:
    return user["role"] == "admin" or (regency_code is not None and regency_code == user["regency_code"])


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
