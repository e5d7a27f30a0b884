"""Settings of the PACS worker and trigger: the only place they read the environment.

Every variable is documented in ``.env_sample`` and docs/pacs_integration.md
(a test keeps the three in step). The analysis itself is configured by the
same variables as the command line (DEVICE, LICENSE_NUMBER, FAST_TOTAL, ...),
merged by :func:`body_organ_analysis.settings.build_settings`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from body_organ_analysis.errors import UsageError
from body_organ_analysis.settings import Settings, build_settings, parse_bool

log = logging.getLogger("body_organ_analysis.pacs")

# variable -> default ("" means unset/optional; None means required)
WORKER_VARIABLES: dict[str, str | None] = {
    "ORTHANC_URL": "http://orthanc:8042",
    "ORTHANC_USERNAME": None,
    "ORTHANC_PASSWORD": None,
    "RABBITMQ_HOST": "rabbitmq",
    "RABBITMQ_PORT": "5672",
    "RABBITMQ_USER": None,
    "RABBITMQ_PASSWORD": None,
    "RABBITMQ_VHOST": "/",
    "PACS_QUEUE": "boa",
    "POSTGRES_HOST": "",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DB": "boa",
    "POSTGRES_USER": "boa",
    "POSTGRES_PASSWORD": "",
    "STATS_SQLITE_PATH": "/storage/boa-stats.sqlite",
    "PACS_MODEL": "total+bca",
    "PACS_WORK_DIR": "/tmp/boa-work",
    "OUTPUT_ROOT": "",
    "OUTPUT_PATIENT_INFO_IN_PATH": "false",
    "SMB_HOST": "",
    "SMB_PORT": "445",
    "SMB_SHARE": "",
    "SMB_DIRECTORY": "",
    "SMB_USERNAME": "",
    "SMB_PASSWORD": "",
    "DICOMWEB_URL": "",
    "DICOMWEB_USERNAME": "",
    "DICOMWEB_PASSWORD": "",
    "DELETE_SOURCE_AFTER_DELIVERY": "true",
    "DOWNLOAD_TIMEOUT_S": "600",
    "TASK_TIME_LIMIT_S": "10800",
    "TASK_MAX_ATTEMPTS": "3",
    "TASK_RETRY_BACKOFF_S": "30",
    "SINK_RETRIES": "3",
    "SINK_RETRY_BACKOFF_S": "5",
    "TRIGGER_POLL_S": "5",
    "TRIGGER_SWEEP_S": "300",
    "MIN_SLICES": "10",
}


@dataclass(frozen=True)
class WorkerSettings:
    orthanc_url: str
    orthanc_username: str
    orthanc_password: str
    broker_url: str
    queue: str
    postgres_dsn: str | None  # None: statistics go to SQLite
    sqlite_path: Path
    models: tuple[str, ...]
    work_dir: Path
    output_root: Path | None
    patient_info_in_path: bool
    smb_host: str | None
    smb_port: int
    smb_share: str
    smb_directory: str
    smb_username: str
    smb_password: str
    dicomweb_url: str | None
    dicomweb_username: str
    dicomweb_password: str
    delete_source: bool
    download_timeout_s: float
    task_time_limit_s: int
    task_max_attempts: int
    task_retry_backoff_s: int
    sink_retries: int
    sink_retry_backoff_s: float
    trigger_poll_s: float
    trigger_sweep_s: float
    min_slices: int
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def analysis_settings(self, input_image: Path, output_dir: Path) -> Settings:
        """The analysis settings for one job: PACS_MODEL plus the CLI's variables."""
        return build_settings(
            {"input_image": input_image, "output_dir": output_dir, "models": self.models},
            self.environ,
        )


def build_worker_settings(environ: Mapping[str, str]) -> WorkerSettings:
    """Read and validate every worker variable; missing required ones are one clear error."""
    values = {name: environ.get(name, default) for name, default in WORKER_VARIABLES.items()}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise UsageError(
            f"Required variable(s) not set: {', '.join(missing)}. "
            "Set them in .env (see .env_sample and docs/pacs_integration.md)."
        )
    v: dict[str, str] = {k: str(x) for k, x in values.items()}
    broker = (
        f"amqp://{quote(v['RABBITMQ_USER'], safe='')}:{quote(v['RABBITMQ_PASSWORD'], safe='')}"
        f"@{v['RABBITMQ_HOST']}:{_int(v, 'RABBITMQ_PORT')}/{quote(v['RABBITMQ_VHOST'], safe='')}"
    )
    if not v["DICOMWEB_USERNAME"] and v["DICOMWEB_URL"].startswith(v["ORTHANC_URL"].rstrip("/") + "/"):
        v["DICOMWEB_USERNAME"], v["DICOMWEB_PASSWORD"] = v["ORTHANC_USERNAME"], v["ORTHANC_PASSWORD"]
    dsn = None
    if v["POSTGRES_HOST"]:
        if not v["POSTGRES_PASSWORD"]:
            raise UsageError("POSTGRES_HOST is set but POSTGRES_PASSWORD is not; set a password.")
        dsn = (
            f"host={v['POSTGRES_HOST']} port={_int(v, 'POSTGRES_PORT')} dbname={v['POSTGRES_DB']} "
            f"user={v['POSTGRES_USER']} password={v['POSTGRES_PASSWORD']} connect_timeout=10"
        )
    settings = WorkerSettings(
        orthanc_url=v["ORTHANC_URL"].rstrip("/"),
        orthanc_username=v["ORTHANC_USERNAME"],
        orthanc_password=v["ORTHANC_PASSWORD"],
        broker_url=broker,
        queue=v["PACS_QUEUE"],
        postgres_dsn=dsn,
        sqlite_path=Path(v["STATS_SQLITE_PATH"]),
        models=known_models(v["PACS_MODEL"]),
        work_dir=Path(v["PACS_WORK_DIR"]),
        output_root=Path(v["OUTPUT_ROOT"]) if v["OUTPUT_ROOT"] else None,
        patient_info_in_path=parse_bool("OUTPUT_PATIENT_INFO_IN_PATH", v["OUTPUT_PATIENT_INFO_IN_PATH"]),
        smb_host=v["SMB_HOST"] or None,
        smb_port=_int(v, "SMB_PORT"),
        smb_share=v["SMB_SHARE"],
        smb_directory=v["SMB_DIRECTORY"],
        smb_username=v["SMB_USERNAME"],
        smb_password=v["SMB_PASSWORD"],
        dicomweb_url=v["DICOMWEB_URL"].rstrip("/") or None,
        dicomweb_username=v["DICOMWEB_USERNAME"],
        dicomweb_password=v["DICOMWEB_PASSWORD"],
        delete_source=parse_bool("DELETE_SOURCE_AFTER_DELIVERY", v["DELETE_SOURCE_AFTER_DELIVERY"]),
        download_timeout_s=float(_int(v, "DOWNLOAD_TIMEOUT_S")),
        task_time_limit_s=_int(v, "TASK_TIME_LIMIT_S"),
        task_max_attempts=max(1, _int(v, "TASK_MAX_ATTEMPTS")),
        task_retry_backoff_s=_int(v, "TASK_RETRY_BACKOFF_S"),
        sink_retries=_int(v, "SINK_RETRIES"),
        sink_retry_backoff_s=float(_int(v, "SINK_RETRY_BACKOFF_S")),
        trigger_poll_s=float(_float(v, "TRIGGER_POLL_S")),
        trigger_sweep_s=float(_float(v, "TRIGGER_SWEEP_S")),
        min_slices=_int(v, "MIN_SLICES"),
        environ=dict(environ),
    )
    if settings.smb_host and not settings.smb_share:
        raise UsageError("SMB_HOST is set but SMB_SHARE is not; name the share to write to.")
    settings.analysis_settings(Path("."), Path("."))  # validate the CLI variables now, not per job
    return settings


def known_models(text: str) -> tuple[str, ...]:
    """PACS_MODEL split on '+'; unknown names are dropped with a warning."""
    from body_organ_analysis.models.registry import MODELS

    names = [n.strip() for n in text.split("+") if n.strip()]
    kept = tuple(n for n in names if n == "all" or n in MODELS)
    for name in names:
        if name not in kept:
            log.warning("PACS_MODEL: unknown model %r dropped (valid: %s)", name, ", ".join(MODELS))
    if not kept:
        raise UsageError(f"PACS_MODEL={text!r} names no known model. Valid: {', '.join(MODELS)}.")
    return kept


def _int(values: Mapping[str, str], name: str) -> int:
    try:
        return int(values[name])
    except ValueError:
        raise UsageError(f"{name}={values[name]!r} is not a whole number.") from None


def _float(values: Mapping[str, str], name: str) -> float:
    try:
        return float(values[name])
    except ValueError:
        raise UsageError(f"{name}={values[name]!r} is not a number.") from None
