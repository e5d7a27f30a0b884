"""Where one series' results go: ``AET/<study>/<series>``, from non-identifying values.

Every part is sanitised so that no tag value (SeriesDescription, AE title, a
crafted accession number ...) can leave the output root: only letters, digits,
``.``, ``_`` and ``-`` survive, never a leading dot, at most 64 characters.
Patient name and birth date appear only when explicitly enabled.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Mapping

from body_organ_analysis.errors import OutputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_PART = 64


def safe_part(value: object, fallback: str = "unknown") -> str:
    """One path component made of safe characters only."""
    text = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", str(value or ""))))
    text = text.strip("._-")[:MAX_PART].rstrip("._-")
    return text or fallback


def short_hash(value: str, length: int = 12) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:length]


def destination(tags: Mapping[str, str], calling_aet: str | None, patient_info: bool = False) -> str:
    """``AET/<study>/<series>`` for a series' main DICOM tags (keyword -> value)."""
    study_uid = tags.get("StudyInstanceUID", "")
    series_uid = tags.get("SeriesInstanceUID", "")
    study_date = safe_part(tags.get("StudyDate"), "nodate")
    accession = tags.get("AccessionNumber")
    study = f"{study_date}_{safe_part(accession) if accession else short_hash(study_uid)}"
    if patient_info:
        name = safe_part(tags.get("PatientName"), "noname")
        birth = safe_part(tags.get("PatientBirthDate"), "nobirthdate")
        study = f"{name}_{birth}_{study}"
    series = f"{safe_part(tags.get('SeriesNumber'), 'x')}_{short_hash(series_uid)}"
    return "/".join((safe_part(calling_aet, "UNKNOWN_AET"), safe_part(study), safe_part(series)))


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would resolve outside ``root``."""
    parts = relative.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise OutputError(f"Refused the output path {relative!r}: it is not a plain relative path.")
    base = root.resolve()
    target = (base / Path(*parts)).resolve()
    if base != target and base not in target.parents:
        raise OutputError(f"Refused the output path {relative!r}: it leaves the output root.")
    return target
