"""The UI's configuration: built once from the environment that ``boa ui`` hands to Streamlit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from body_organ_analysis.pacs.settings import postgres_parameters

DEFAULT_RESULTS_DIR = Path("boa-ui-results")
DEFAULT_WORK_RETENTION_H = 24.0
DEFAULT_UPLOAD_LIMIT_MB = 2048


@dataclass(frozen=True)
class UiConfig:
    results_dir: Path  # one folder per run (``runs/``) and the work folders (``.work/``)
    data_root: Path | None  # server-side inputs may be picked under this folder only
    password_hash: str | None  # required when the app listens beyond loopback
    require_password: bool
    work_retention_h: float  # work folders (unpacked uploads) older than this are removed
    run_retention_days: float | None  # None: runs are kept until removed by hand
    stats_sqlite: Path | None  # PACS task statistics (read-only)
    stats_postgres: dict[str, Any] | None = field(default=None, repr=False)  # keyword parameters (POSTGRES_*)

    @property
    def runs_dir(self) -> Path:
        return self.results_dir / "runs"

    @property
    def work_dir(self) -> Path:
        return self.results_dir / ".work"

    @property
    def pacs_configured(self) -> bool:
        return self.stats_sqlite is not None or self.stats_postgres is not None


def config_from_env(environ: Mapping[str, str]) -> UiConfig:
    def path(name: str) -> Path | None:
        return Path(environ[name]).expanduser() if environ.get(name) else None

    days = environ.get("BOA_UI_RUN_RETENTION_DAYS", "")
    return UiConfig(
        results_dir=(path("BOA_UI_RESULTS_DIR") or DEFAULT_RESULTS_DIR).resolve(),
        data_root=(lambda p: p.resolve() if p else None)(path("BOA_UI_DATA_ROOT")),
        password_hash=environ.get("BOA_UI_PASSWORD_HASH") or None,
        require_password=environ.get("BOA_UI_REQUIRE_PASSWORD", "") == "1",
        work_retention_h=float(environ.get("BOA_UI_WORK_RETENTION_H") or DEFAULT_WORK_RETENTION_H),
        run_retention_days=float(days) if days else None,
        stats_sqlite=path("STATS_SQLITE_PATH"),
        stats_postgres=postgres_parameters(environ),
    )


def inside_data_root(root: Path, chosen: str) -> Path | None:
    """``chosen`` (relative to ``root``) resolved, or None when it leaves the root (``..``, links)."""
    target = (root / chosen).resolve()
    return target if target == root or root in target.parents else None
