"""Task statistics: one row per job, in PostgreSQL (psycopg2) or an embedded SQLite file.

The tool creates and migrates the schema itself (table ``schema_version``).
Rows hold the job key (a hash), Orthanc's series id, states, timings and
technical facts; never patient names, IDs or dates. The same store keeps the
trigger's change-log cursor and the series it rejected, with the reason.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Mapping

STATES = ("pending", "queued", "running", "delivered", "partially_delivered", "failed", "refused")
FINAL_STATES = ("delivered", "failed", "refused")  # a job in one of these is never run again

# Each migration moves the schema one version up; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        job_key TEXT PRIMARY KEY,
        orthanc_series_id TEXT NOT NULL,
        calling_aet TEXT,
        instances INTEGER,
        state TEXT NOT NULL,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at {ts} NOT NULL,
        queued_at {ts},
        started_at {ts},
        finished_at {ts},
        image_shape TEXT,
        models TEXT,
        tool_version TEXT,
        contrast_phase TEXT,
        timings_s {json},
        sinks {json}
    );
    CREATE INDEX jobs_state ON jobs (state);
    CREATE INDEX jobs_series ON jobs (orthanc_series_id);
    CREATE TABLE rejected_series (
        orthanc_series_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        rejected_at {ts} NOT NULL
    );
    CREATE TABLE trigger_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)


class StoreUnavailable(Exception):
    """The statistics database cannot be reached (or is locked) now; the job is kept and retried."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class StatsStore:
    """Statistics in PostgreSQL when ``postgres`` (psycopg2.connect keywords) is given, else in SQLite."""

    def __init__(self, postgres: Mapping[str, Any] | None, sqlite_path: Path | None = None) -> None:
        if postgres is None and sqlite_path is None:
            raise ValueError("give PostgreSQL connection keywords or an SQLite path")
        self._postgres = dict(postgres) if postgres is not None else None
        self.sqlite_path = sqlite_path
        self.is_postgres = postgres is not None
        self._types = {"ts": "TIMESTAMPTZ", "json": "JSONB"} if self.is_postgres else {"ts": "TEXT", "json": "TEXT"}

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        transient: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
        if self.is_postgres:
            import psycopg2

            transient = (psycopg2.OperationalError, psycopg2.InterfaceError)
        try:
            with self._transaction() as conn:
                yield conn
        except transient as error:  # the server is away, restarting, or the file is locked
            raise StoreUnavailable(f"statistics database unavailable ({type(error).__name__})") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        if self.is_postgres:
            import psycopg2

            conn = psycopg2.connect(**self._postgres)
        else:
            assert self.sqlite_path is not None
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.sqlite_path), timeout=30, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _run(self, conn: Any, sql: str, params: tuple = ()) -> Any:
        if self.is_postgres:
            sql = sql.replace("?", "%s")
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur

    # schema
    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version."""
        with self._connect() as conn:
            if self.is_postgres:  # one migrator at a time
                self._run(conn, "SELECT pg_advisory_xact_lock(4242)")
            self._run(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._run(conn, "SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0] or 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.format(**self._types).split(";"):
                    if statement.strip():
                        self._run(conn, statement)
                self._run(conn, "INSERT INTO schema_version (version) VALUES (?)", (number,))
            return len(MIGRATIONS)

    # jobs
    def create_job(self, job_key: str, series_id: str, instances: int, calling_aet: str | None) -> bool:
        """Insert a pending job; False when the key exists already (the job is not created twice)."""
        with self._connect() as conn:
            cur = self._run(
                conn,
                "INSERT INTO jobs (job_key, orthanc_series_id, calling_aet, instances, state, created_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (job_key) DO NOTHING",
                (job_key, series_id, calling_aet, instances, now()),
            )
            return cur.rowcount == 1

    def mark_queued(self, job_key: str) -> None:
        with self._connect() as conn:
            self._run(
                conn, "UPDATE jobs SET state='queued', queued_at=? WHERE job_key=? AND state='pending'",
                (now(), job_key),
            )

    def begin_attempt(self, job_key: str, max_attempts: int) -> tuple[str, int] | None:
        """Count one more attempt and mark it running; returns (previous state, attempts).

        A finished job (FINAL_STATES) or one that used up ``max_attempts``
        ('exhausted') is left as it is.
        """
        with self._connect() as conn:
            if self.is_postgres:
                self._run(conn, "SELECT 1 FROM jobs WHERE job_key=? FOR UPDATE", (job_key,))
            row = self._run(conn, "SELECT state, attempts FROM jobs WHERE job_key=?", (job_key,)).fetchone()
            if row is None:
                return None
            state, attempts = row[0], row[1] + 1
            if state in FINAL_STATES:
                return state, row[1]
            if row[1] >= max_attempts:
                return "exhausted", row[1]
            self._run(
                conn, "UPDATE jobs SET state='running', attempts=?, started_at=? WHERE job_key=?",
                (attempts, now(), job_key),
            )
            return state, attempts

    def finish(self, job_key: str, state: str, reason: str | None = None, **facts: Any) -> None:
        """Final (or interim) state with the facts of the run: timings_s, sinks, image_shape ..."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        columns = {"state": state, "reason": reason, "finished_at": now()}
        for name, value in facts.items():
            if name not in ("image_shape", "models", "tool_version", "contrast_phase", "timings_s", "sinks"):
                raise ValueError(f"unknown column {name!r}")
            columns[name] = json.dumps(value) if name in ("timings_s", "sinks") else value
        assignments = ", ".join(f"{name}=?" for name in columns)
        with self._connect() as conn:
            self._run(conn, f"UPDATE jobs SET {assignments} WHERE job_key=?", (*columns.values(), job_key))

    def job(self, job_key: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            cur = self._run(conn, "SELECT * FROM jobs WHERE job_key=?", (job_key,))
            row = cur.fetchone()
            if row is None:
                return None
            record = dict(zip([d[0] for d in cur.description], row))
        for name in ("timings_s", "sinks"):
            if isinstance(record.get(name), str):
                record[name] = json.loads(record[name])
        return record

    def jobs(self) -> list[dict[str, Any]]:
        with self._connect() as conn:
            keys = [r[0] for r in self._run(conn, "SELECT job_key FROM jobs ORDER BY created_at").fetchall()]
        return [j for j in (self.job(k) for k in keys) if j is not None]

    def jobs_for_series(self, series_id: str) -> list[str]:
        with self._connect() as conn:
            rows = self._run(conn, "SELECT job_key FROM jobs WHERE orthanc_series_id=?", (series_id,)).fetchall()
        return [r[0] for r in rows]

    def unqueued_jobs(self, older_than_s: float = 0) -> list[tuple[str, str]]:
        """(job key, series id) of jobs created more than ``older_than_s`` ago but never confirmed on the queue."""
        cutoff = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=older_than_s))
        with self._connect() as conn:
            rows = self._run(
                conn, "SELECT job_key, orthanc_series_id FROM jobs WHERE state='pending' AND created_at <= ?",
                (cutoff.isoformat(timespec="milliseconds"),),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    # trigger bookkeeping
    def record_rejected(self, series_id: str, reason: str) -> None:
        with self._connect() as conn:
            self._run(
                conn,
                "INSERT INTO rejected_series (orthanc_series_id, reason, rejected_at) VALUES (?, ?, ?) "
                "ON CONFLICT (orthanc_series_id) DO UPDATE SET reason=excluded.reason",
                (series_id, reason, now()),
            )

    def rejected(self) -> dict[str, str]:
        with self._connect() as conn:
            rows = self._run(conn, "SELECT orthanc_series_id, reason FROM rejected_series").fetchall()
        return {r[0]: r[1] for r in rows}

    def get_value(self, name: str, default: str | None = None) -> str | None:
        with self._connect() as conn:
            row = self._run(conn, "SELECT value FROM trigger_state WHERE name=?", (name,)).fetchone()
        return row[0] if row else default

    def set_value(self, name: str, value: str) -> None:
        with self._connect() as conn:
            self._run(
                conn,
                "INSERT INTO trigger_state (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value=excluded.value",
                (name, value),
            )
