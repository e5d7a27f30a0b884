"""Deterministic UIDs: the same source series, output and tool version give the same UID.

A re-run therefore stores instances with the UIDs of the earlier run, and a
DICOMweb server replaces them instead of keeping two copies. UIDs are
``2.25.<integer>`` where the integer is a name-based UUID (version 5, SHA-1)
of their inputs, the form PS3.5 B.2 allows without an organisation root.
"""

from __future__ import annotations

import uuid
from typing import Sequence

from pydicom import Dataset

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:body-organ-analysis:dicom-outputs")


class UidSource:
    """Derives UIDs for one analysed series and one tool version."""

    def __init__(self, sources: Sequence[Dataset], tool_version: str) -> None:
        self.study_uid = str(sources[0].StudyInstanceUID)
        self.series_uid = str(sources[0].SeriesInstanceUID)
        self._basis = [tool_version, self.study_uid, self.series_uid] + sorted(
            str(ds.SOPInstanceUID) for ds in sources
        )

    def uid(self, *output: str) -> str:
        """UID for the named output, e.g. ``uid("seg", "total", "series")``."""
        return f"2.25.{uuid.uuid5(NAMESPACE, chr(10).join([*self._basis, *output])).int}"
