"""One DICOM-SEG (BINARY, pixel-aligned with the source series) per label map."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian

from body_organ_analysis.pacs.dicom_outputs.codes import code_for
from body_organ_analysis.pacs.dicom_outputs.grid import sample_frames
from body_organ_analysis.pacs.dicom_outputs.provenance import Provenance
from body_organ_analysis.pacs.dicom_outputs.uids import UidSource

log = logging.getLogger("body_organ_analysis")

TOOL_NAME = "body-organ-analysis"
# where the source was made: highdicom copies them into the SEG's Contributing Equipment
# Sequence (all type 3 there). They identify the hospital and its staff: left out.
SITE_IDENTIFIERS = ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
                    "OperatorsName", "PerformingPhysicianName")


@dataclass
class SegmentRecord:
    """What the SR needs to reference one segment."""

    model: str
    structure: str
    segment_number: int
    seg: Dataset


@dataclass
class LabelMapInput:
    model: str
    data: np.ndarray  # on the CT grid
    affine: np.ndarray  # voxel -> RAS mm
    labels: dict[int, str]
    origin: str = "inference"


def build_segmentation(
    label_map: LabelMapInput,
    sources: Sequence[Dataset],
    uids: UidSource,
    tool_version: str,
    series_number: int,
    manufacturer: str,
    transfer_syntax_uid: str = ExplicitVRLittleEndian,
    provenance: Provenance = Provenance(),
) -> tuple[Dataset | None, list[SegmentRecord]]:
    """The SEG of one label map, or None when none of its coded labels is present."""
    frames = sample_frames(label_map.data, label_map.affine, sources)
    present = set(np.unique(frames).tolist()) - {0}
    descriptions: list[hd.seg.SegmentDescription] = []
    numbers: dict[int, int] = {}  # label id -> segment number
    algorithm = hd.AlgorithmIdentificationSequence(
        name=TOOL_NAME,
        family=codes.cid7162.ArtificialIntelligence,
        version=tool_version,
        parameters={"model": label_map.model, "origin": label_map.origin},
    )
    for label_id, structure in sorted(label_map.labels.items()):
        if label_id not in present:
            continue
        code = code_for(structure)
        if code is None:
            log.warning("%s: label %r has no SNOMED CT code; left out of the DICOM-SEG", label_map.model, structure)
            continue
        number = len(descriptions) + 1
        numbers[label_id] = number
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=structure,
            segmented_property_category=_copy(code.category),
            segmented_property_type=_copy(code.type),  # a copy: the modifier is added to it below
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=uids.uid("segment", label_map.model, structure),
            tracking_id=f"{label_map.model}/{structure}",
            anatomic_regions=[_copy(code.region)] if code.region is not None else None,
            display_color=code.display_color,
        )
        if code.type_modifier is not None:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                code.type_modifier
            ]
        if code.region is not None and code.region_modifier is not None:
            description.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [code.region_modifier]
        descriptions.append(description)
    if not descriptions:
        return None, []
    lookup = np.zeros(max(int(frames.max()), max(numbers)) + 1, dtype=np.uint16)
    for label_id, number in numbers.items():
        lookup[label_id] = number
    pixels = lookup[frames]
    pixels = pixels.astype(np.uint8 if len(descriptions) < 256 else np.uint16)
    seg = hd.seg.Segmentation(
        source_images=list(sources),
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=uids.uid("seg", label_map.model, "series"),
        series_number=series_number,
        sop_instance_uid=uids.uid("seg", label_map.model, "instance"),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=TOOL_NAME,
        software_versions=tool_version,
        device_serial_number=tool_version,
        content_label=_content_label(label_map.model),
        content_description=f"{label_map.model} segmentation",
        series_description=provenance.describe(f"BOA {label_map.model} segmentation"),
        transfer_syntax_uid=transfer_syntax_uid,
    )
    _drop_site_identifiers(seg)
    records = [SegmentRecord(label_map.model, label_map.labels[k], n, seg) for k, n in numbers.items()]
    return seg, sorted(records, key=lambda r: r.segment_number)


def _drop_site_identifiers(seg: Dataset) -> None:
    for item in (seg, *seg.get("ContributingEquipmentSequence", [])):
        for keyword in SITE_IDENTIFIERS:
            if keyword in item:
                del item[keyword]


def _copy(concept: hd.sr.CodedConcept) -> hd.sr.CodedConcept:
    """A new concept object, so that the shared code table is never changed."""
    return hd.sr.CodedConcept(concept.value, concept.scheme_designator, concept.meaning)


def _content_label(model: str) -> str:
    """A Content Label (CS: upper case, digits, underscore, at most 16)."""
    text = "".join(c if c.isalnum() else "_" for c in model.upper())
    return text[:16] or "SEGMENTATION"
