"""What the web pages read: the latest exported registry snapshot (`exchange/<YYYY-MM>/`, restricted) and the
analysts' publication (explanations, exclusions, payment history), through an in-memory DuckDB over the Parquet
files. The warehouse itself is never opened, so the pages answer while a monthly run writes it; a newly exported
month is picked up within `refresh_seconds` without a restart.
"""

from __future__ import annotations

import glob
import os
import threading
import time

import duckdb

from dtsen.api import exchange

PROGRAMMES = exchange.PROGRAMMES


PUBLIC_RESULTS = 3  # persons a public search answers at most
PUBLIC_MIN_AGE = 17  # children below it are never listed, unless they receive a programme in their own right


class NoSnapshot(RuntimeError):
    pass


class Registry:
    def __init__(self, exchange_dir: str, published_dir: str, refresh_seconds: float = 5.0):
        self.exchange_dir = exchange_dir
        self.published_dir = published_dir
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self.snapshot: str | None = None
        self._checked = 0.0

    def _open(self, month: str) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:")
        folder = os.path.join(self.exchange_dir, month)
        for name in ("person", "family", "region", "source_record", "welfare"):
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?)", [os.path.join(folder, f"{name}.parquet")]
            )
        pub = os.path.join(self.published_dir, month)
        for name, file in (
            ("explanation", "marts.appeal_explanation.parquet"),
            ("exclusion", "marts.exclusions.parquet"),
        ):
            path = os.path.join(pub, file)
            if os.path.exists(path):
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?)", [path])
            else:
                con.execute(f"CREATE TABLE {name} (family_id VARCHAR, program VARCHAR, case_number VARCHAR)")
        payments = glob.glob(os.path.join(self.published_dir, "history", "payment_history", "*", "*.parquet"))
        if payments:
            con.execute("CREATE TABLE payment AS SELECT * FROM read_parquet(?, hive_partitioning = true)", [payments])
        else:
            con.execute("CREATE TABLE payment (family_id VARCHAR, period VARCHAR, program VARCHAR)")
        con.execute("CREATE INDEX person_family ON person (family_id)")
        return con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the latest snapshot (reopened when a newer month was exported)."""
        now = time.monotonic()
        with self._lock:
            if self._con is None or now - self._checked > self.refresh_seconds:
                self._checked = now
                latest = exchange.latest(self.exchange_dir)
                if latest is None:
                    raise NoSnapshot(f"no registry snapshot in {self.exchange_dir}: run the monthly pipeline first")
                if latest != self.snapshot:
                    con = self._open(latest)
                    old, self._con, self.snapshot = self._con, con, latest
                    if old is not None:
                        old.close()
            return self._con.cursor()

    # ------------------------------------------------------------------ public check
    def regions(self, parent: str | None, level: str) -> list[tuple[str, str]]:
        cur = self.cursor()
        if parent:
            return cur.execute(
                "SELECT kode, nama FROM region WHERE tingkat = ? AND kode_induk = ? ORDER BY nama", [level, parent]
            ).fetchall()
        return cur.execute("SELECT kode, nama FROM region WHERE tingkat = ? ORDER BY nama", [level]).fetchall()

    def region_name(self, code: str) -> str | None:
        row = self.cursor().execute("SELECT nama FROM region WHERE kode = ?", [code]).fetchone()
        return row[0] if row else None

    def public_search(self, village_code: str, name: str, limit: int = PUBLIC_RESULTS) -> list[dict]:
        """Living persons of the village whose name matches, at most `limit`, best first: every word of the query
        starts a word of the name and one of its words of three letters or more is a whole word of the name, or the
        whole name is within a typo. Never a child under PUBLIC_MIN_AGE unless the child receives a programme in
        their own right (PIP, a pupil's). A query without a word of three letters finds nobody (a village cannot be
        listed two letters at a time)."""
        words = [w for w in name.upper().split() if w]
        full = [w for w in words if len(w) >= 3]
        if not full:
            return []
        prefixes = " AND ".join(
            "list_contains(list_transform(string_split(name, ' '), lambda x: starts_with(x, ?)), true)" for _ in words
        )
        whole = " OR ".join("list_contains(string_split(name, ' '), ?)" for _ in full)
        cur = self.cursor()
        rows = cur.execute(
            f"""
            SELECT person_id, name, age, sex, {", ".join(f"{p}_recipient" for p in PROGRAMMES)},
                   jaro_winkler_similarity(name, ?) AS score
            FROM person
            WHERE village_code = ? AND NOT coalesce(is_deceased, false)
              AND (coalesce(age, 0) >= ? OR coalesce(pip_recipient, false))
              AND ((({prefixes}) AND ({whole})) OR jaro_winkler_similarity(name, ?) >= 0.92)
            ORDER BY score DESC, person_id LIMIT ?""",
            [" ".join(words), village_code, PUBLIC_MIN_AGE, *words, *full, " ".join(words), limit],
        ).df()
        return rows.to_dict("records")

    def person(self, person_id: str) -> dict | None:
        df = self.cursor().execute("SELECT * FROM person WHERE person_id = ?", [person_id]).df()
        return df.to_dict("records")[0] if len(df) else None

    # ------------------------------------------------------------------ the caseworker desk
    def family(self, family_id: str) -> dict | None:
        cur = self.cursor()
        fam = cur.execute("SELECT * FROM family WHERE family_id = ?", [family_id]).df()
        if not len(fam):
            return None
        members = cur.execute(
            "SELECT * FROM person WHERE family_id = ? ORDER BY is_head DESC, birth_date, person_id", [family_id]
        ).df()
        ids = members["person_id"].tolist()
        records = cur.execute(
            "SELECT * FROM source_record WHERE person_id IN (SELECT unnest(?)) "
            "ORDER BY person_id, source, delivery, record_id",
            [ids],
        ).df()
        welfare = cur.execute("SELECT * FROM welfare WHERE family_id = ?", [family_id]).df()
        explanation = cur.execute("SELECT * FROM explanation WHERE family_id = ? ORDER BY program", [family_id]).df()
        exclusions = cur.execute("SELECT * FROM exclusion WHERE family_id = ? ORDER BY unit, reason", [family_id]).df()
        payments = cur.execute(
            "SELECT * FROM payment WHERE family_id = ? ORDER BY period DESC, program", [family_id]
        ).df()
        return {
            "family": fam.to_dict("records")[0],
            "members": members.to_dict("records"),
            "records": records.to_dict("records"),
            "welfare": welfare.to_dict("records")[0] if len(welfare) else None,
            "explanation": explanation.to_dict("records"),
            "exclusions": exclusions.to_dict("records"),
            "payments": payments.to_dict("records"),
        }

    def outcome(self, case: dict) -> dict | None:
        """What an exported case changed in the latest snapshot (None before it took effect)."""
        if not case.get("export_month"):
            return None
        cur = self.cursor()  # (sets self.snapshot)
        if self.snapshot < case["export_month"]:
            return None
        if case["kind"] == "usulan":
            rows = cur.execute(
                """SELECT r.person_id, r.family_id, f.pkh_recipient, f.sembako_recipient,
                                         f.pbi_recipient, f.pip_recipient
                                  FROM source_record r JOIN family f USING (family_id)
                                  WHERE r.source = 'usulan' AND r.family_id_src = ? ORDER BY r.record_id""",
                [case["ticket"]],
            ).df()
            if not len(rows):
                return None
            first = rows.iloc[0]
            return {
                "month": case["export_month"],
                "snapshot": self.snapshot,
                "family_id": first["family_id"],
                "persons": len(rows),
                "programmes": [p for p in PROGRAMMES if bool(first[f"{p}_recipient"])],
            }
        rows = cur.execute(
            "SELECT unit, family_id, reason, detail FROM exclusion WHERE case_number = ?", [case["ticket"]]
        ).df()
        if not len(rows):
            return None
        return {"month": case["export_month"], "snapshot": self.snapshot, "exclusions": rows.to_dict("records")}
