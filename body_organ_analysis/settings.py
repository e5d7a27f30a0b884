"""Configuration, built once at the edge from flags and environment, in two typed objects.

- :class:`RuntimeConfig`: how this process runs analyses (device, where the
  weights are and whether they may be downloaded, the licence, the model cache,
  logging). The same for every analysis of a process: a CLI run, a PACS worker,
  the web UI server. ``weights`` commands need nothing else.
- :class:`Settings`: one analysis request (input, output folder, models and
  options), carrying the runtime it runs under as ``settings.runtime``.

Nothing else in the package reads ``os.environ``: the command line, the PACS
worker and the web UI call :func:`build_runtime` / :func:`build_settings` with
their flags and the environment, and pass the results down. A flag wins over its
environment variable. Both objects validate themselves when built.
"""

from __future__ import annotations

import dataclasses
import math
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from body_organ_analysis.errors import UsageError

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

# flag name -> environment variable (booleans and strings alike)
ENV_VARIABLES: dict[str, str] = {
    "device": "DEVICE",
    "license_number": "LICENSE_NUMBER",
    "fast_total": "FAST_TOTAL",
    "verbose": "VERBOSE",
    "offline": "BOA_OFFLINE",
    "weights_dir": "BOA_WEIGHTS_DIR",
    "weights_url": "BOA_WEIGHTS_URL",
    "skip_contrast_information": "SKIP_CONTRAST_INFORMATION",
    "fast_bca": "FAST_BCA",
    "bca_engine": "BCA_ENGINE",
    "bca_no_pdf": "BCA_NO_PDF",
    "theme": "THEME",
    "model_cache_size": "BOA_MODEL_CACHE_SIZE",
}
NUMBER_FIELDS = {"height_cm": "--height-cm", "weight_kg": "--weight-kg"}
# One patient's values: only the command line reads these variables (cli.py), never the
# PACS worker or the web UI, whose environment serves every patient.
PATIENT_VARIABLES = {"height_cm": "BOA_HEIGHT_CM", "weight_kg": "BOA_WEIGHT_KG"}

DEVICE_PATTERN = re.compile(r"^(auto|cpu|(gpu|cuda)(:\d+)?)$")
THEMES = ("light", "dark")
BCA_ENGINES = ("nnunet", "threshold")
BODY_REGIONS = ("abdomen", "thorax", "neck")
LICENSE_LENGTH = 18  # TotalSegmentator's offline format check; no online check is made
LICENSE_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")  # e.g. aca_1234567890ABCD
HEIGHT_RANGE_CM = (50.0, 250.0)
WEIGHT_RANGE_KG = (2.0, 400.0)


DEFAULT_HU_WINDOWS: dict[str, tuple[float, float]] = {
    "muscle": (-29.0, 150.0),
    "fat": (-190.0, -30.0),
    "bone": (-1000.0, 3000.0),  # the reference tool's range; above it is metal
}


def hu_windows(overrides: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """The HU windows in force: defaults updated with the user's (``--bca-hu-window``)."""
    windows = dict(DEFAULT_HU_WINDOWS)
    for name, window in (overrides or {}).items():
        if name not in windows:
            raise UsageError(f"Unknown HU window {name!r}. Windows: {', '.join(windows)}.")
        low, high = float(window[0]), float(window[1])
        if not low < high:
            raise UsageError(f"HU window {name}: the lower bound {low} is not below the upper {high}.")
        windows[name] = (low, high)
    return windows


def public_url(url: str) -> str:
    """``url`` without user, password or query (a mirror's credentials are never logged or recorded)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class RuntimeConfig:
    """How this process runs analyses; the same for all of them. Validated in ``__post_init__``."""

    device: str = "auto"  # auto: the first GPU if there is one, else the CPU
    license_number: str | None = field(default=None, repr=False)  # a secret: never in a manifest, log or message
    offline: bool = False
    weights_dir: Path | None = None  # None: where TotalSegmentator looks
    weights_url: str | None = field(default=None, repr=False)  # base URL of the archives (may hold credentials)
    totalseg_weights_path: Path | None = None  # TOTALSEG_WEIGHTS_PATH
    totalseg_home_dir: Path | None = None  # TOTALSEG_HOME_DIR
    model_cache_size: int = 8  # loaded predictors kept per process (least recently used go first)
    verbose: bool = False

    def __post_init__(self) -> None:
        if not DEVICE_PATTERN.match(self.device):
            raise UsageError(
                f"Unknown device {self.device!r}. Use one of: auto, gpu, cuda, gpu:N, cuda:N, cpu."
            )
        if self.license_number is not None and not LICENSE_PATTERN.match(self.license_number):
            raise UsageError(
                "The licence number holds characters other than letters, digits, '_' and '-'; "
                "TotalSegmentator licence numbers look like aca_1234567890ABCD. Check "
                "-l/--license_number or LICENSE_NUMBER (and quote it in the shell)."
            )
        if self.license_number is not None and len(self.license_number) != LICENSE_LENGTH:
            raise UsageError(
                f"The licence number has {len(self.license_number)} characters; TotalSegmentator "
                f"licence numbers have {LICENSE_LENGTH}. Check -l/--license_number or LICENSE_NUMBER."
            )
        try:
            object.__setattr__(self, "model_cache_size", int(self.model_cache_size))
        except ValueError:
            raise UsageError(f"BOA_MODEL_CACHE_SIZE={self.model_cache_size!r} is not a whole number.") from None
        if self.model_cache_size < 1:
            raise UsageError(f"BOA_MODEL_CACHE_SIZE is {self.model_cache_size}; keep at least 1 model loaded.")

    def for_manifest(self) -> dict[str, Any]:
        """JSON-ready values; the licence number only as "set"."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "license_number":
                value = None if value is None else "set"
            elif f.name == "weights_url" and value:
                value = public_url(value)
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class Settings:
    """One analysis request: input, output folder, models and options. Validated in ``__post_init__``."""

    input_image: Path
    output_dir: Path
    models: tuple[str, ...] = ("total",)
    fast_total: bool = False
    use_study_prefix: bool = False
    force_recompute: bool = False
    segmentations: Mapping[str, Path] = field(default_factory=dict)
    series_uid: str | None = None
    # measurements (organ statistics, contrast, CNR, preview, radiomics)
    skip_contrast_information: bool = False
    cnr_adjustment: bool = False
    preview: bool = False
    radiomics: bool = False
    # body composition and report
    fast_bca: bool = False
    bca_engine: str = "nnunet"
    bca_examined_body_region: str | None = None
    bca_no_pdf: bool = False
    bca_hu_windows: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # e.g. {"fat": (-190, -30)}
    theme: str = "light"
    # the patient's height and weight (NIfTI carries neither; they override DICOM's values)
    height_cm: float | None = None
    weight_kg: float | None = None
    runtime: RuntimeConfig = field(default_factory=lambda: RuntimeConfig())

    def __post_init__(self) -> None:
        if self.theme not in THEMES:
            raise UsageError(f"Unknown theme {self.theme!r}. Use one of: {', '.join(THEMES)}.")
        if self.bca_engine not in BCA_ENGINES:
            raise UsageError(
                f"Unknown body-composition engine {self.bca_engine!r}. "
                f"Use one of: {', '.join(BCA_ENGINES)}."
            )
        if (
            self.bca_examined_body_region is not None
            and self.bca_examined_body_region not in BODY_REGIONS
        ):
            raise UsageError(
                f"Unknown examined body region {self.bca_examined_body_region!r}. "
                f"Use one of: {', '.join(BODY_REGIONS)}."
            )
        for name, (low, high), unit in (
            ("height_cm", HEIGHT_RANGE_CM, "cm"),
            ("weight_kg", WEIGHT_RANGE_KG, "kg"),
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, int | float):
                raise UsageError(f"{NUMBER_FIELDS[name]} {value!r} is not a number.")
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                raise UsageError(
                    f"{NUMBER_FIELDS[name]} {value:g} is outside {low:g}-{high:g} {unit}. Give the "
                    f"patient's {name.split('_')[0]} in {unit} (flag {NUMBER_FIELDS[name]} or "
                    f"{PATIENT_VARIABLES[name]})."
                )
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "segmentations", dict(self.segmentations))
        object.__setattr__(self, "bca_hu_windows", {k: tuple(v) for k, v in self.bca_hu_windows.items()})
        if self.bca_hu_windows:
            hu_windows(self.bca_hu_windows)  # validates names and bounds

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def for_manifest(self) -> dict[str, Any]:
        """The settings as JSON-ready values, without the licence number."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in NUMBER_FIELDS:  # one patient's values
                value = None if value is None else "set"
            elif isinstance(value, RuntimeConfig):
                value = value.for_manifest()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Mapping):
                value = {k: (list(v) if isinstance(v, tuple) else str(v)) for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def result_affecting(self) -> dict[str, Any]:
        """The settings that change what a model produces (for output reuse)."""
        return {
            "fast_total": self.fast_total,
            "fast_bca": self.fast_bca,
            "bca_engine": self.bca_engine,
            "license": bool(self.runtime.license_number),
        }


def parse_bool(name: str, text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(f"{name}={text!r} is not a boolean. Use 1/0 or true/false.")


def parse_number(name: str, text: str | float) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{name}={text!r} is not a number. Write it like 172 or 68.5.") from None


RUNTIME_FIELDS = {f.name for f in dataclasses.fields(RuntimeConfig)}


def build_runtime(flags: Mapping[str, Any], environ: Mapping[str, str]) -> RuntimeConfig:
    """The runtime from flags (field names of :class:`RuntimeConfig`, None = not given) and the environment."""
    return RuntimeConfig(**_merged(flags, environ, RuntimeConfig, RUNTIME_FIELDS))


def build_settings(flags: Mapping[str, Any], environ: Mapping[str, str], runtime: RuntimeConfig | None = None) -> Settings:
    """One analysis request and its runtime from flags (field names of :class:`Settings` and
    :class:`RuntimeConfig`, None = not given) and the environment, validated. A long-lived
    process (the PACS worker) passes the ``runtime`` it built once at start."""
    if runtime is None:
        runtime = build_runtime({k: v for k, v in flags.items() if k in RUNTIME_FIELDS}, environ)
    request_fields = {f.name for f in dataclasses.fields(Settings)} - {"runtime"}
    values = _merged({k: v for k, v in flags.items() if k not in RUNTIME_FIELDS}, environ, Settings, request_fields)
    for name, option in NUMBER_FIELDS.items():  # a web form or job may give text
        if isinstance(values.get(name), str):
            values[name] = parse_number(option, values[name])
    return Settings(**values, runtime=runtime)


def _merged(flags: Mapping[str, Any], environ: Mapping[str, str], kind: type, names: set[str]) -> dict[str, Any]:
    """``flags`` (None = not given) completed from the environment variables of fields ``names``."""
    values: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    bool_fields = {f.name for f in dataclasses.fields(kind) if f.type in ("bool", bool)}
    for name, variable in ENV_VARIABLES.items():
        if name not in names or name in values or variable not in environ:
            continue
        text = environ[variable]
        if name in bool_fields:
            values[name] = parse_bool(variable, text)
        elif text != "":
            values[name] = Path(text) if name == "weights_dir" else text
    for name, variable in (
        ("totalseg_weights_path", "TOTALSEG_WEIGHTS_PATH"),
        ("totalseg_home_dir", "TOTALSEG_HOME_DIR"),
    ):
        if name in names and environ.get(variable):
            values.setdefault(name, Path(environ[variable]))
    return values
