"""Per-case records: what was run from what, and how it ended.

``cases/<id>/cohort-case.json`` holds the run key (input content hash, tool
version, options), the status (done / failed), the error for failures and the
timing. A case whose record has the current key is not run again.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from body_organ_analysis import __version__

RECORD_NAME = "cohort-case.json"
CASES_DIR = "cases"
# settings that say where, not what: left out of the run key
NOT_RESULT_AFFECTING = {"input_image", "output_dir", "segmentations", "series_uid", "force_recompute"}
RUNTIME_NOT_RESULT_AFFECTING = {"verbose", "model_cache_size", "offline"}


def case_dir(output_dir: Path, case_id: str) -> Path:
    return output_dir / CASES_DIR / case_id


def options_of(settings_json: dict[str, Any]) -> dict[str, Any]:
    """The options that change a case's results: the request's, and of the runtime the weights,
    device and licence (not logging, the model cache or the download policy)."""
    options = {k: v for k, v in sorted(settings_json.items()) if k not in NOT_RESULT_AFFECTING | {"runtime"}}
    runtime = settings_json.get("runtime") or {}
    options["runtime"] = {k: v for k, v in sorted(runtime.items()) if k not in RUNTIME_NOT_RESULT_AFFECTING}
    return options


def run_key(input_hash: str, options: dict[str, Any], case_extra: dict[str, Any]) -> str:
    text = json.dumps({"input": input_hash, "tool_version": __version__, "options": options, "case": case_extra},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(output_dir: Path, case_id: str) -> dict[str, Any] | None:
    try:
        return json.loads((case_dir(output_dir, case_id) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None


def write_record(output_dir: Path, case_id: str, record: dict[str, Any]) -> None:
    folder = case_dir(output_dir, case_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / RECORD_NAME, json.dumps(record, indent=2, default=str).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path``, then rename: readers never see half a file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
