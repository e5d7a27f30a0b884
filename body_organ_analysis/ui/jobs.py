"""Start, follow and cancel background analyses (one worker process per run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from body_organ_analysis.ui.runs import REQUEST, STATUS, Run, write_json

CANCEL_FLAG = "cancel-requested"


def start(run: Run, flags: dict[str, Any]) -> int:
    """Write the request and start the worker; returns its process id."""
    request = {key: (str(value) if isinstance(value, Path) else value) for key, value in flags.items()}
    request["segmentations"] = {k: str(v) for k, v in flags.get("segmentations", {}).items()}
    write_json(run.folder / REQUEST, {"flags": request})
    write_json(run.folder / STATUS, {"state": "queued", "stage": "starting", "fraction": 0.0, "done_stages": []})
    process = subprocess.Popen(
        [sys.executable, "-m", "body_organ_analysis.ui.worker", str(run.folder)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, cwd=str(run.folder), env=_worker_env(),
    )  # fmt: skip
    _children[run.run_id] = process
    return process.pid


def is_alive(run: Run) -> bool:
    process = _children.get(run.run_id)
    if process is not None:
        return process.poll() is None
    pid = run.status().get("pid")
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def current_status(run: Run) -> dict[str, Any]:
    """The worker's status; a worker that died without a word is reported as failed."""
    status = run.status()
    if status.get("state") in ("queued", "running") and not is_alive(run):
        status = run.status()  # it may have finished between the two reads
        if status.get("state") in ("queued", "running") and (run.folder / CANCEL_FLAG).exists():
            status = {**status, "state": "cancelled", "message": "Cancelled; no output was written."}
        elif status.get("state") in ("queued", "running"):
            status = {**status, "state": "failed", "message": "The analysis process ended unexpectedly."}
    return status


def cancel(run: Run) -> None:
    """Ask the worker to stop (it discards its staging folder and reports 'cancelled')."""
    (run.folder / CANCEL_FLAG).touch()
    process = _children.get(run.run_id)
    pid = process.pid if process is not None else run.status().get("pid")
    if pid:
        try:
            os.kill(int(pid), signal.SIGTERM)
        except OSError:
            pass


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BOA_UI_PASSWORD_HASH", None)  # the worker has no use for it
    return env


_children: dict[str, subprocess.Popen] = {}
