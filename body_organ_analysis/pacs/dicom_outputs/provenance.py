"""What every DICOM output says about where its values come from.

Values from the weights-free threshold engine are approximate; values from
stand-in (test) weights are not results at all. Both are said in the
SeriesDescription of every SEG, SR and PDF object, and in the SR as a
qualitative evaluation of each affected measurement group plus a method code on
each affected measurement (private coding scheme ``99BOA``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import highdicom as hd
from highdicom.sr import CodedConcept

from body_organ_analysis.report.provenance import run_provenance

SCHEME = "99BOA"
RESULT_QUALITY = CodedConcept("RESULTQUAL", SCHEME, "Result quality")
APPROXIMATE = CodedConcept("APPROX", SCHEME, "Approximate (weights-free threshold engine)")
STAND_IN = CodedConcept("STANDIN", SCHEME, "Stand-in test weights, not a result")
THRESHOLD_METHOD = CodedConcept("THRESHOLD", SCHEME, "Approximate HU-threshold estimate")
MAX_LO = 64  # SeriesDescription is LO


@dataclass(frozen=True)
class Provenance:
    approximate: bool = False
    stand_in: bool = False

    def __or__(self, other: "Provenance") -> "Provenance":
        return Provenance(self.approximate or other.approximate, self.stand_in or other.stand_in)

    def describe(self, base: str) -> str:
        """``base`` with the qualifier, e.g. ``BOA tissues segmentation [APPROXIMATE, threshold engine]``.

        The qualifier always fits: the base is shortened when the whole would pass 64 characters.
        """
        marks = ["STAND-IN WEIGHTS"] if self.stand_in else []
        if self.approximate:
            marks.append("APPROXIMATE, threshold engine" if not self.stand_in else "APPROXIMATE")
        if not marks:
            return base[:MAX_LO]
        suffix = f" [{'; '.join(marks)}]"
        return base[: MAX_LO - len(suffix)] + suffix

    def evaluations(self) -> list[hd.sr.QualitativeEvaluation]:
        values = ([STAND_IN] if self.stand_in else []) + ([APPROXIMATE] if self.approximate else [])
        return [hd.sr.QualitativeEvaluation(name=RESULT_QUALITY, value=v) for v in values]

    def method(self) -> CodedConcept | None:
        return THRESHOLD_METHOD if self.approximate else None


def of_label_map(origin: str) -> Provenance:
    return Provenance(approximate=origin == "threshold", stand_in=origin == "stand-in")


def of_manifest(manifest: Mapping[str, Any], bca: Mapping[str, Any] | None) -> Provenance:
    """The whole run, by the rule every output shares (report/provenance.py): stand-in when any
    model ran on stand-in weights, approximate when any map or the body composition came from
    the threshold engine."""
    run = run_provenance({}, {k: v for k, v in (manifest.get("models") or {}).items() if isinstance(v, Mapping)})
    return Provenance(
        approximate=run.approximate or bool((bca or {}).get("approximate")),
        stand_in=run.stand_in or bool(manifest.get("stand_in_models")),
    )
