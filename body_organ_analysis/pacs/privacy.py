"""Keep a study's identifying values out of every text the worker stores or logs.

Sinks and the analysis build their messages from fixed words, but an error from
a library may quote a path or a value. :class:`Redactor` knows the identifying
values of the job at hand (its patient and study tags and its result path) and
replaces each occurrence with ``[redacted]`` before a text reaches the
statistics database or a log line.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

IDENTIFYING_TAGS = (
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientSex", "PatientAge",
    "AccessionNumber", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate",
    "ContentDate", "StudyDescription", "SeriesDescription", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "RequestingPhysician", "StudyID", "StationName", "ProtocolName",
    "RequestedProcedureDescription", "PerformedProcedureStepDescription",
)  # fmt: skip
MIN_LENGTH = 3  # shorter values (a sex, "CT") would blank out ordinary words, and identify no one
MARK = "[redacted]"


class Redactor:
    """Replaces the identifying values of one job in any text."""

    def __init__(self, values: Iterable[str]) -> None:
        pieces: set[str] = set()
        for value in values:
            text = str(value or "").strip()
            if not text:
                continue
            pieces.add(text)
            pieces.update(p.strip() for p in re.split(r"[\^\\]", text))  # person-name parts, multi-values
        kept = sorted((p for p in pieces if len(p) >= MIN_LENGTH), key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(p) for p in kept), re.IGNORECASE) if kept else None

    @classmethod
    def for_tags(cls, tags: Mapping[str, object], *extra: str) -> "Redactor":
        return cls([*(str(tags.get(name) or "") for name in IDENTIFYING_TAGS), *extra])

    def __call__(self, text: str | None) -> str | None:
        if text is None or self._pattern is None:
            return text
        return self._pattern.sub(MARK, text)


def errors_text(outcome: Mapping[str, Mapping[str, object]]) -> str:
    """``sink: error; ...`` of the sinks that failed."""
    return "; ".join(f"{name}: {o['error']}" for name, o in outcome.items() if not o["ok"])
