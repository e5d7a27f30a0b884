"""segment_codes.csv: a code for every label the tool can produce, all current SNOMED CT, no placeholders."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from body_organ_analysis.models.registry import MODELS
from body_organ_analysis.pacs.dicom_outputs import codes as codes_module
from body_organ_analysis.pacs.dicom_outputs.codes import segment_codes

BCA_TISSUES = ("muscle", "bone", "sat", "vat", "imat", "pat", "eat", "tat")
CATEGORIES = {"123037004", "85756007", "49755003", "260787004"}  # DICOM CID 7150
LATERALITY = {"7771000": "Left", "24028007": "Right"}


def registered_labels() -> set[str]:
    names = {name for spec in MODELS.values() if spec.produces_labelmap for name in spec.labels().values()}
    return names | set(BCA_TISSUES)


def test_every_registered_label_has_a_row() -> None:
    missing = registered_labels() - set(segment_codes())
    assert not missing, f"labels without SNOMED CT codes: {sorted(missing)}"
    assert {f"vertebrae_{v}" for v in ("L3", "T12", "C1", "S1")} <= set(segment_codes())
    assert len(MODELS["total"].labels()) == 117


def test_no_placeholder_or_legacy_codes() -> None:
    raw = (Path(codes_module.__file__).parent / "segment_codes.csv").read_text()
    assert not re.search(r"TODO|SRT|T-[A-Z0-9]{4,}|XXX|\?", raw, re.IGNORECASE)
    for code in segment_codes().values():
        for concept in (code.category, code.type, code.type_modifier, code.region, code.region_modifier):
            if concept is None:
                continue
            assert concept.scheme_designator == "SCT"
            assert re.fullmatch(r"[1-9][0-9]{5,17}", concept.value), (code.structure, concept.value)
            assert concept.meaning.strip() and concept.meaning == concept.meaning.strip()
        assert code.category.value in CATEGORIES, code.structure
        assert all(0 <= c <= 255 for c in code.rgb) and len(code.rgb) == 3


def test_laterality_is_a_modifier_and_matches_the_name() -> None:
    for name, code in segment_codes().items():
        side = "left" if re.search(r"(^|_)left($|_)", name) else "right" if re.search(r"(^|_)right($|_)", name) else None
        modifier = code.type_modifier or code.region_modifier
        if side is None or "left" in code.type.meaning.lower() or "right" in code.type.meaning.lower():
            continue
        assert modifier is not None and LATERALITY.get(modifier.value, "").lower() == side, name


def test_codes_agree_with_dicom_part_16() -> None:
    """Codes known to DICOM PS3.16 must not name a side that contradicts the modifier;
    codes that PS3.16 lacks must come from TotalSegmentator's reviewed mapping (none invented here)."""
    from pydicom.sr._concepts_dict import concepts

    dicom = {}
    for entries in concepts["SCT"].values():
        for value, (meaning, _) in entries.items():
            dicom.setdefault(value, set()).add(meaning.lower())
    totalseg = _totalsegmentator_codes()
    for name, code in segment_codes().items():
        for concept in (code.type, code.region):
            if concept is None:
                continue
            if concept.value in dicom:
                meanings = " ".join(dicom[concept.value])
                if code.type_modifier is not None and concept is code.type:
                    other = "right" if code.type_modifier.value == "7771000" else "left"
                    assert other not in meanings, (name, concept.value, meanings)
            else:
                assert concept.value in totalseg, (name, concept.value, "not in PS3.16 nor TotalSegmentator")


def _totalsegmentator_codes() -> set[str]:
    import totalsegmentator

    path = Path(totalsegmentator.__file__).parent / "resources" / "totalsegmentator_snomed_mapping.csv"
    if not path.exists():
        pytest.skip("TotalSegmentator's SNOMED mapping is not installed")
    with open(path, newline="") as handle:
        return {value for row in csv.DictReader(handle) for key, value in row.items() if key.endswith("CodeValue")}


def test_known_corrections_of_the_upstream_mapping() -> None:
    codes = segment_codes()
    assert codes["subclavian_artery_left"].type.value == "36765005"  # upstream: right subclavian artery
    assert codes["subclavian_artery_left"].type_modifier.value == "7771000"
    assert codes["kidney_left"].type_modifier.meaning == "Left"
    assert codes["liver_segment_4"].type.meaning == "Couinaud hepatic segment IV"
