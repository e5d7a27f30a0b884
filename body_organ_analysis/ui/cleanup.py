"""Scheduled removal of work folders (uploads) and, if configured, of old runs."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from body_organ_analysis.ui.config import UiConfig
from body_organ_analysis.ui.runs import FINAL_STATES, list_runs, open_run

INTERVAL_S = 900.0


def age_h(path: Path, now: float) -> float:
    return (now - path.stat().st_mtime) / 3600.0


def sweep(config: UiConfig, now: float | None = None) -> list[Path]:
    """Remove expired work folders (never a running run's) and expired finished runs; returns what went."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    if config.work_dir.is_dir():
        for work in config.work_dir.iterdir():
            running = open_run(config, work.name).status().get("state") in ("queued", "running") \
                if not work.name.startswith(".") else False
            if not running and age_h(work, now) >= config.work_retention_h:
                shutil.rmtree(work, ignore_errors=True)
                removed.append(work)
    if config.run_retention_days is not None:
        for run in list_runs(config):
            final = run.status().get("state") in FINAL_STATES
            if final and age_h(run.folder, now) >= config.run_retention_days * 24:
                shutil.rmtree(run.folder, ignore_errors=True)
                removed.append(run.folder)
    return removed


def start_schedule(config: UiConfig, interval_s: float = INTERVAL_S) -> threading.Thread:
    """A daemon thread that sweeps now and every ``interval_s`` seconds."""

    def loop() -> None:
        while True:
            try:
                sweep(config)
            except OSError:
                pass  # a folder that vanished meanwhile; the next sweep tries again
            time.sleep(interval_s)

    thread = threading.Thread(target=loop, name="boa-ui-cleanup", daemon=True)
    thread.start()
    return thread
