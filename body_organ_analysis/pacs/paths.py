"""Where one series' results go: ``AET/<study>/<series>``, by default from keyed hashes.

Default layout: ``<study>`` and ``<series>`` are HMAC-SHA256 digests (keyed with
the secret RESULT_PATH_KEY, see :func:`load_path_key`) of the Study and Series
Instance UIDs. Without the key nobody can link a folder to a study, not even
someone who knows the UIDs. The identifying layout (StudyDate, AccessionNumber,
patient name and birth date in the folder names) is used only when the operator
opts in with OUTPUT_IDENTIFYING_PATHS=true.

Every part is sanitised so that no tag value (a crafted accession number, an AE
title ...) can leave the output root: only letters, digits, ``.``, ``_`` and
``-`` survive, never a leading dot, at most 64 characters.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Mapping

from body_organ_analysis.errors import OutputError, UsageError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_PART = 64
KEY_BYTES = 32
DIGEST_CHARS = 24  # 96 bits of the HMAC: no collisions in any archive's lifetime


def safe_part(value: object, fallback: str = "unknown") -> str:
    """One path component made of safe characters only."""
    text = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", str(value or ""))))
    text = text.strip("._-")[:MAX_PART].rstrip("._-")
    return text or fallback


def short_hash(value: str, length: int = 12) -> str:
    """An unkeyed digest (for non-identifying values such as job keys)."""
    return hashlib.sha256(value.encode()).hexdigest()[:length]


def keyed_hash(key: bytes, *values: str) -> str:
    """HMAC-SHA256 of ``values`` under ``key``, hex, DIGEST_CHARS characters."""
    message = "\x1f".join(values).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:DIGEST_CHARS]


def destination(tags: Mapping[str, str], calling_aet: str | None, key: bytes, identifying: bool = False) -> str:
    """``AET/<study>/<series>`` for a series' main DICOM tags (keyword -> value).

    ``identifying=False`` (default): ``<study>`` = keyed hash of the Study Instance UID,
    ``<series>`` = keyed hash of the Study and Series Instance UIDs.
    ``identifying=True`` (operator opt-in): ``<name>_<birth date>_<study date>_<accession>``
    and ``<series number>_<keyed hash>``.
    """
    study_uid = str(tags.get("StudyInstanceUID", ""))
    series_uid = str(tags.get("SeriesInstanceUID", ""))
    study = keyed_hash(key, "study", study_uid)
    series = keyed_hash(key, "series", study_uid, series_uid)
    if identifying:
        accession = tags.get("AccessionNumber")
        parts = (
            safe_part(tags.get("PatientName"), "noname"),
            safe_part(tags.get("PatientBirthDate"), "nobirthdate"),
            safe_part(tags.get("StudyDate"), "nodate"),
            safe_part(accession) if accession else study[:12],
        )
        study = "_".join(parts)
        series = f"{safe_part(tags.get('SeriesNumber'), 'x')}_{series}"
    return "/".join((safe_part(calling_aet, "UNKNOWN_AET"), safe_part(study), safe_part(series)))


def load_path_key(environ_key: str, key_file: Path) -> bytes:
    """The HMAC key: RESULT_PATH_KEY when set, else the key file, created (mode 0600) on first use.

    A key given in the environment must be at least 32 characters. The file holds
    64 hex characters; a second process racing to create it reads the winner's key.
    """
    if environ_key:
        if len(environ_key) < 32:
            raise UsageError("RESULT_PATH_KEY is shorter than 32 characters; use e.g. `openssl rand -hex 32`.")
        return environ_key.encode()
    try:
        text = key_file.read_text().strip()
    except FileNotFoundError:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            text = key_file.read_text().strip()
        else:
            text = secrets.token_hex(KEY_BYTES)
            with os.fdopen(fd, "w") as handle:
                handle.write(text + "\n")
    if len(text) < 32:
        raise UsageError(
            f"The result-path key file {key_file} is damaged (fewer than 32 characters). "
            "Restore it from a backup: without it, new results land in new folders."
        )
    return text.encode()


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would resolve outside ``root``."""
    parts = relative.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise OutputError("Refused an output path that is not a plain relative path.")
    base = root.resolve()
    target = (base / Path(*parts)).resolve()
    if base != target and base not in target.parents:
        raise OutputError("Refused an output path that leaves the output root.")
    return target
