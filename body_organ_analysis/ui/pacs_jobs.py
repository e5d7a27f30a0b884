"""Read-only queries of the PACS task-statistics database (SQLite file or PostgreSQL).

Only the columns below are read: the job key (a hash), states, times, attempts,
reasons and timings; never Orthanc's series id or the calling AE title.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pandas as pd

from body_organ_analysis.ui.config import UiConfig

COLUMNS = ("job_key", "state", "reason", "attempts", "created_at", "queued_at", "started_at", "finished_at",
           "models", "tool_version", "timings_s")  # fmt: skip
QUERY = f"SELECT {', '.join(COLUMNS)} FROM jobs ORDER BY created_at"


class StatsUnavailable(Exception):
    pass


def load_jobs(config: UiConfig) -> pd.DataFrame:
    try:
        rows = _query_postgres(config.stats_postgres) if config.stats_postgres else _query_sqlite(config)
    except StatsUnavailable:
        raise
    except Exception as error:  # the database is someone else's service: say what failed, not more
        raise StatsUnavailable(f"The task-statistics database could not be read ({type(error).__name__}).") from None
    jobs = pd.DataFrame(rows, columns=list(COLUMNS))
    for name in ("created_at", "queued_at", "started_at", "finished_at"):
        jobs[name] = pd.to_datetime(jobs[name], utc=True, errors="coerce", format="ISO8601")
    jobs["timings_s"] = jobs["timings_s"].map(lambda v: json.loads(v) if isinstance(v, str) else (v or {}))
    return jobs


def _query_sqlite(config: UiConfig) -> list[tuple]:
    path = config.stats_sqlite
    if path is None or not path.is_file():
        raise StatsUnavailable(f"No task-statistics database at {path}.")
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(QUERY).fetchall()


def _query_postgres(parameters: dict[str, Any]) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(**parameters)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute(QUERY)
            return cur.fetchall()
    finally:
        conn.close()


def by_state_and_day(jobs: pd.DataFrame) -> pd.DataFrame:
    day = jobs["created_at"].dt.strftime("%Y-%m-%d").rename("day (UTC)")
    return jobs.groupby([day, "state"]).size().unstack(fill_value=0)


def stage_durations(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per stage: count, median and max seconds, from each job's recorded timings."""
    long = [(stage, float(seconds)) for timings in jobs["timings_s"] for stage, seconds in timings.items()
            if isinstance(seconds, (int, float))]  # fmt: skip
    waits = pd.DataFrame({
        "queue wait": (jobs["started_at"] - jobs["queued_at"]).dt.total_seconds(),
        "job total": (jobs["finished_at"] - jobs["started_at"]).dt.total_seconds(),
    })  # fmt: skip
    long += [(name, s) for name in waits for s in waits[name].dropna()]
    table = pd.DataFrame(long, columns=["stage", "seconds"])
    if table.empty:
        return table
    return table.groupby("stage")["seconds"].agg(["count", "median", "max"]).round(2)


def failures(jobs: pd.DataFrame) -> pd.DataFrame:
    failed = jobs[jobs["state"].isin(["failed", "partially_delivered"])]
    return failed[["job_key", "state", "attempts", "reason", "finished_at"]].set_index("job_key")
