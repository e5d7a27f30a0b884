"""Run folders under ``<results>/runs/<run id>``: the request, its status, log and outputs.

A run id is the UTC start time plus a random suffix: no patient identifier ever
goes into a folder or file name. Uploads are stored under generic names in the
run's work folder ``<results>/.work/<run id>``, which is removed on a schedule.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from body_organ_analysis.ui.config import UiConfig

REQUEST = "request.json"
STATUS = "status.json"
LOG = "log.txt"
OUTPUT = "output"
VIEWER_CT = "ct.nii.gz"  # the analysed CT for the viewer when the output folder has no image.nii.gz
FINAL_STATES = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Run:
    run_id: str
    folder: Path
    work: Path

    @property
    def output(self) -> Path:
        return self.folder / OUTPUT

    def status(self) -> dict[str, Any]:
        return read_json(self.folder / STATUS) or {"state": "unknown"}

    def request(self) -> dict[str, Any]:
        return read_json(self.folder / REQUEST) or {}

    def log_tail(self, lines: int = 12) -> str:
        try:
            return "\n".join((self.folder / LOG).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def ct_path(self) -> Path | None:
        for candidate in (self.output / "image.nii.gz", self.folder / VIEWER_CT):
            if candidate.is_file():
                return candidate
        return None


def new_run(config: UiConfig) -> Run:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{secrets.token_hex(3)}"
    run = open_run(config, run_id)
    run.folder.mkdir(parents=True)
    run.work.mkdir(parents=True)
    return run


def open_run(config: UiConfig, run_id: str) -> Run:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValueError("not a run id")
    return Run(run_id, config.runs_dir / run_id, config.work_dir / run_id)


def list_runs(config: UiConfig) -> list[Run]:
    """All runs, newest first."""
    if not config.runs_dir.is_dir():
        return []
    ids = sorted((p.name for p in config.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                 reverse=True)  # fmt: skip
    return [open_run(config, run_id) for run_id in ids]


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)
