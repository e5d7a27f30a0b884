"""Where the numbers of a run come from, said the same way in every JSON, the workbook and the PDF.

Two things make results unfit to read as a real analysis:
- ``stand_in``: a label map came from stand-in (randomly initialised test)
  weights; its model record or map has origin ``"stand-in"``;
- ``approximate``: a label map came from the weights-free threshold engine
  (origin ``"threshold"``, or a model record with ``engine: threshold``).
``run_provenance`` derives both from the label maps and model records of a run
(what the manifest's ``models`` and ``stand_in_models`` hold); ``text`` is the
banner printed on every PDF page and the workbook's note (empty when neither).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

PROVENANCE_KEY = "provenance"  # the key every JSON document carries


@dataclass(frozen=True)
class Provenance:
    stand_in_models: tuple[str, ...] = ()
    approximate_models: tuple[str, ...] = ()

    @property
    def stand_in(self) -> bool:
        return bool(self.stand_in_models)

    @property
    def approximate(self) -> bool:
        return bool(self.approximate_models)

    @property
    def text(self) -> str:
        parts = []
        if self.stand_in:
            parts.append(f"TEST RUN: {', '.join(self.stand_in_models)} came from stand-in (random) model "
                         "weights; these numbers are meaningless.")  # fmt: skip
        if self.approximate:
            parts.append(f"APPROXIMATE: {', '.join(self.approximate_models)} came from the weights-free "
                         "threshold engine; the values derived from them are approximate.")  # fmt: skip
        return " ".join(parts)

    def info_rows(self) -> dict[str, Any]:
        """The workbook's note: rows of its ``info`` sheet (shown in red when there is a warning)."""
        return {
            "provenance": self.text or "all label maps from trained models or supplied by the user",
            "provenance_stand_in_weights": self.stand_in,
            "provenance_approximate": self.approximate,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "stand_in": self.stand_in,
            "approximate": self.approximate,
            "stand_in_models": list(self.stand_in_models),
            "approximate_models": list(self.approximate_models),
            "text": self.text,
        }


def run_provenance(labelmaps: Mapping[str, Any], model_records: Mapping[str, Mapping[str, Any]]) -> Provenance:
    """Provenance of the label maps of a run (``ctx.labelmaps``, ``ctx.model_records``)."""
    names = list(dict.fromkeys([*labelmaps, *model_records]))
    stand_in, approximate = [], []
    for name in names:
        record = model_records.get(name) or {}
        origin = getattr(labelmaps.get(name), "origin", None)
        if "stand-in" in (origin, record.get("origin")):
            stand_in.append(name)
        if "threshold" in (origin, record.get("origin"), record.get("engine")) or record.get("approximate"):
            approximate.append(name)
    return Provenance(tuple(stand_in), tuple(approximate))


def with_provenance(document: Mapping[str, Any], provenance: Provenance) -> dict[str, Any]:
    """``document`` with the ``provenance`` block added (for the JSON files)."""
    return {**document, PROVENANCE_KEY: provenance.as_dict()}
