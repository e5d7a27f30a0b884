"""SNOMED CT codes of every segment the tool can produce (``segment_codes.csv``).

The table started from TotalSegmentator's ``totalsegmentator_snomed_mapping.csv``
and was reviewed against the SNOMED CT concepts of DICOM PS3.16 (see
docs/dicom_outputs.md for the corrections). One row per structure name; every
code is SCT (no SNOMED-RT, no placeholders). Laterality is a type modifier.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

from highdicom.color import CIELabColor
from highdicom.sr import CodedConcept

SCHEME = "SCT"
LATERALITY_CODES = {"7771000", "24028007", "51440002"}  # left, right, both


@dataclass(frozen=True)
class SegmentCode:
    structure: str
    category: CodedConcept
    type: CodedConcept
    type_modifier: CodedConcept | None
    region: CodedConcept | None
    region_modifier: CodedConcept | None
    rgb: tuple[int, int, int]

    @property
    def laterality(self) -> CodedConcept | None:
        modifier = self.type_modifier
        return modifier if modifier is not None and modifier.value in LATERALITY_CODES else None

    @property
    def display_color(self) -> CIELabColor:
        return CIELabColor.from_rgb(*self.rgb)


def _concept(value: str, meaning: str) -> CodedConcept | None:
    return CodedConcept(value, SCHEME, meaning) if value else None


@functools.lru_cache(maxsize=1)
def segment_codes() -> dict[str, SegmentCode]:
    """Structure name -> its codes, from the shipped table."""
    text = resources.files(__package__).joinpath("segment_codes.csv").read_text(encoding="utf-8")
    table: dict[str, SegmentCode] = {}
    for row in csv.DictReader(io.StringIO(text)):
        table[row["structure"]] = SegmentCode(
            structure=row["structure"],
            category=CodedConcept(row["category_code"], SCHEME, row["category_meaning"]),
            type=CodedConcept(row["type_code"], SCHEME, row["type_meaning"]),
            type_modifier=_concept(row["type_modifier_code"], row["type_modifier_meaning"]),
            region=_concept(row["region_code"], row["region_meaning"]),
            region_modifier=_concept(row["region_modifier_code"], row["region_modifier_meaning"]),
            rgb=tuple(int(v) for v in row["rgb"].split(",")),  # type: ignore[arg-type]
        )
    return table


def code_for(structure: str) -> SegmentCode | None:
    return segment_codes().get(structure)
