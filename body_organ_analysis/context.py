"""What the analysis steps share: the CT, the label maps, and what they produce.

Measurement and report steps are functions ``run(ctx: AnalysisContext) -> None``
that read ``ct`` and ``labelmaps`` and add to ``results``, ``sheets`` and
``info``, writing any files through ``ctx.output``. They never write outside
the staging folder and never read the environment.

Keys of ``results`` that other steps read (and the JSON files they become):
- ``"structures"``: {model: {structure: {present, truncated, voxel_count,
  volume_ml, hu_mean, hu_std, hu_min, hu_p25, hu_median, hu_p75, hu_max, cnr}}}
  (``structure-measurements.json``; absent values are None)
- ``"contrast"``: {"phase": str | None, "probability": float | None, "reason": str | None, ...}
- ``"bone_density"``, ``"cnr"``, ``"bca"`` (``bca-measurements.json``)
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from body_organ_analysis.console import log
from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.report.output import OutputStaging
from body_organ_analysis.report.workbook import Sheet
from body_organ_analysis.settings import Settings


@dataclass
class AnalysisContext:
    settings: Settings
    ct: CTVolume
    output: OutputStaging
    labelmaps: dict[str, LabelMap] = field(default_factory=dict)  # model name -> map
    results: dict[str, Any] = field(default_factory=dict)  # JSON-ready, by section
    sheets: list[Sheet] = field(default_factory=list)  # workbook sheets after "info"
    info: dict[str, Any] = field(default_factory=dict)  # rows of the "info" sheet
    timings_s: dict[str, float] = field(default_factory=dict)
    model_records: dict[str, dict[str, Any]] = field(default_factory=dict)  # for the manifest
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step and log one line for it."""
        with timed_step(name, self.timings_s):
            yield


@contextmanager
def timed_step(name: str, timings_s: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    log.info("%s ...", name)
    yield
    elapsed = time.perf_counter() - start
    timings_s[name] = round(elapsed, 3)
    log.info("%s done in %.1f s", name, elapsed)
