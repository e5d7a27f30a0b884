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
from typing import Any, Mapping
from urllib.parse import quote

from body_organ_analysis.errors import UsageError
from body_organ_analysis.settings import RuntimeConfig, Settings, build_runtime, build_settings, parse_bool

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
    "WORK_DIR_MAX_AGE_H": "24",
    "OUTPUT_ROOT": "",
    "OUTPUT_IDENTIFYING_PATHS": "false",
    "RESULT_PATH_KEY": "",
    "RESULT_PATH_KEY_FILE": "/storage/result-path.key",
    "ALLOW_STAND_IN_RESULTS": "false",
    "SMB_HOST": "",
    "SMB_PORT": "445",
    "SMB_SHARE": "",
    "SMB_DIRECTORY": "",
    "SMB_USERNAME": "",
    "SMB_PASSWORD": "",
    "DICOMWEB_URL": "",
    "DICOMWEB_AUTH": "basic",
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


SECRET_VARIABLES = {"ORTHANC_PASSWORD", "RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "SMB_PASSWORD",
                    "DICOMWEB_PASSWORD", "RESULT_PATH_KEY"}


def usage(program: str) -> str:
    """``--help`` of the worker and the trigger: the variables and their defaults, never a value set."""
    lines = [f"usage: python -m {program}", "", "Configured by environment variables (docs/pacs_integration.md):"]
    for name, default in WORKER_VARIABLES.items():
        if default is None:
            shown = "required"
        elif name in SECRET_VARIABLES:
            shown = "secret, never shown"
        else:
            shown = f"default {default!r}"
        lines.append(f"  {name:<30} {shown}")
    lines.append("and the command line's analysis variables (DEVICE, FAST_TOTAL, BCA_ENGINE, ...).")
    return "\n".join(lines)


def _secret(default: Any = "") -> Any:
    """A field left out of repr(), so it never reaches a log line, a traceback or --help."""
    return field(default=default, repr=False)


@dataclass(frozen=True)
class WorkerSettings:
    orthanc_url: str
    orthanc_username: str
    orthanc_password: str = _secret()
    broker_url: str = _secret()  # holds the broker password
    queue: str = "boa"
    postgres: Mapping[str, Any] | None = _secret(None)  # psycopg2.connect keywords; None: statistics go to SQLite
    sqlite_path: Path = Path("boa-stats.sqlite")
    models: tuple[str, ...] = ("total",)
    work_dir: Path = Path("/tmp/boa-work")
    work_dir_max_age_h: float = 24
    output_root: Path | None = None
    identifying_paths: bool = False
    result_path_key: str = _secret()  # RESULT_PATH_KEY ("" : the key file)
    result_path_key_file: Path = Path("result-path.key")
    allow_stand_in_results: bool = False
    smb_host: str | None = None
    smb_port: int = 445
    smb_share: str = ""
    smb_directory: str = ""
    smb_username: str = ""
    smb_password: str = _secret()
    dicomweb_url: str | None = None
    dicomweb_username: str = ""
    dicomweb_password: str = _secret()
    delete_source: bool = True
    download_timeout_s: float = 600
    task_time_limit_s: int = 10800
    task_max_attempts: int = 3
    task_retry_backoff_s: int = 30
    sink_retries: int = 3
    sink_retry_backoff_s: float = 5
    trigger_poll_s: float = 5
    trigger_sweep_s: float = 300
    min_slices: int = 10
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig, repr=False)  # device, weights, licence: the CLI's variables

    @property
    def verbose(self) -> bool:
        """VERBOSE, as the command line reads it."""
        return self.runtime.verbose

    def analysis_settings(self, input_image: Path, output_dir: Path) -> Settings:
        """The analysis request of one job: PACS_MODEL plus the CLI's variables, under this worker's runtime."""
        return build_settings(
            {"input_image": input_image, "output_dir": output_dir, "models": self.models},
            self.environ, self.runtime,
        )


def postgres_parameters(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """psycopg2 keyword parameters from the POSTGRES_* variables (None: POSTGRES_HOST unset).

    Keywords, never a DSN string: any character is safe in any value. The worker and the
    web UI's PACS page read the task statistics this one way.
    """
    v = {name: str(environ.get(name, WORKER_VARIABLES[name]) or "") for name in
         ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD")}  # fmt: skip
    if not v["POSTGRES_HOST"]:
        return None
    if not v["POSTGRES_PASSWORD"]:
        raise UsageError("POSTGRES_HOST is set but POSTGRES_PASSWORD is not; set a password.")
    return {"host": v["POSTGRES_HOST"], "port": _int(v, "POSTGRES_PORT"), "dbname": v["POSTGRES_DB"],
            "user": v["POSTGRES_USER"], "password": v["POSTGRES_PASSWORD"], "connect_timeout": 10}


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
    _check_dicomweb(v)
    postgres = postgres_parameters(v)
    settings = WorkerSettings(
        orthanc_url=v["ORTHANC_URL"].rstrip("/"),
        orthanc_username=v["ORTHANC_USERNAME"],
        orthanc_password=v["ORTHANC_PASSWORD"],
        broker_url=broker,
        queue=v["PACS_QUEUE"],
        postgres=postgres,
        sqlite_path=Path(v["STATS_SQLITE_PATH"]),
        models=known_models(v["PACS_MODEL"]),
        work_dir=Path(v["PACS_WORK_DIR"]),
        work_dir_max_age_h=_float(v, "WORK_DIR_MAX_AGE_H"),
        output_root=Path(v["OUTPUT_ROOT"]) if v["OUTPUT_ROOT"] else None,
        identifying_paths=parse_bool("OUTPUT_IDENTIFYING_PATHS", v["OUTPUT_IDENTIFYING_PATHS"]),
        result_path_key=v["RESULT_PATH_KEY"],
        result_path_key_file=Path(v["RESULT_PATH_KEY_FILE"]),
        allow_stand_in_results=parse_bool("ALLOW_STAND_IN_RESULTS", v["ALLOW_STAND_IN_RESULTS"]),
        smb_host=v["SMB_HOST"] or None,
        smb_port=_int(v, "SMB_PORT"),
        smb_share=v["SMB_SHARE"],
        smb_directory=v["SMB_DIRECTORY"],
        smb_username=v["SMB_USERNAME"],
        smb_password=v["SMB_PASSWORD"],
        dicomweb_url=v["DICOMWEB_URL"].rstrip("/") or None,
        dicomweb_username=v["DICOMWEB_USERNAME"] if v["DICOMWEB_AUTH"].strip().lower() == "basic" else "",
        dicomweb_password=v["DICOMWEB_PASSWORD"] if v["DICOMWEB_AUTH"].strip().lower() == "basic" else "",
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
        runtime=build_runtime({}, environ),
    )
    if settings.smb_host and not settings.smb_share:
        raise UsageError("SMB_HOST is set but SMB_SHARE is not; name the share to write to.")
    settings.analysis_settings(settings.work_dir / "input", settings.work_dir / "output")  # validate now, not per job
    return settings


def _check_dicomweb(v: Mapping[str, str]) -> None:
    """The DICOMweb target is explicit: a URL and its authentication, nothing borrowed or assumed."""
    url, auth = v["DICOMWEB_URL"], v["DICOMWEB_AUTH"].strip().lower()
    if auth not in ("basic", "none"):
        raise UsageError(f"DICOMWEB_AUTH={v['DICOMWEB_AUTH']!r}: use 'basic' (with DICOMWEB_USERNAME and "
                         "DICOMWEB_PASSWORD) or 'none'.")
    if not url:
        return
    if not url.startswith(("http://", "https://")):
        raise UsageError("DICOMWEB_URL must be an http:// or https:// URL (or empty for no DICOMweb delivery).")
    if auth == "basic" and not (v["DICOMWEB_USERNAME"] and v["DICOMWEB_PASSWORD"]):
        raise UsageError("DICOMWEB_URL is set but DICOMWEB_USERNAME or DICOMWEB_PASSWORD is not. Set both "
                         "(for Orthanc: its user), or DICOMWEB_AUTH=none for a server without authentication.")


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
