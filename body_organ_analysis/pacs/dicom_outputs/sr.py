"""TID 1500 measurement report (Comprehensive 3D SR) with the key numbers.

- organ volumes and mean densities (``structure-measurements.json``), one TID 1411
  group per segment, referencing its DICOM-SEG segment (TID 1501 when the
  structure has no segment in a SEG);
- tissue volumes and mean densities per region (``bca-measurements.json``
  "aggregated"), one TID 1501 group per region and tissue;
- cross-sectional tissue areas at the vertebral levels ("vertebral_levels"),
  L3 first, one TID 1501 group per level and tissue.
"""

from __future__ import annotations

from typing import Any, Sequence

import highdicom as hd
from highdicom.sr import CodedConcept
from pydicom import Dataset
from pydicom.sr.codedict import codes

from body_organ_analysis.pacs.dicom_outputs.codes import code_for
from body_organ_analysis.pacs.dicom_outputs.provenance import Provenance
from body_organ_analysis.pacs.dicom_outputs.seg import TOOL_NAME, SegmentRecord
from body_organ_analysis.pacs.dicom_outputs.uids import UidSource
from body_organ_analysis.report.provenance import PROVENANCE_KEY

VOLUME = codes.SCT.Volume
AREA = codes.SCT.Area
ATTENUATION = codes.DCM.AttenuationCoefficient
MEAN = codes.SCT.Mean
MILLILITRE = CodedConcept("ml", "UCUM", "milliliter")
SQUARE_CM = codes.UCUM.SquareCentimeter
HOUNSFIELD = codes.UCUM.HounsfieldUnit
CT_PROCEDURE = CodedConcept("25045-6", "LN", "CT unspecified body region")
LEVEL_TISSUES = ("muscle", "sat", "vat", "imat")


def build_measurement_report(
    sources: Sequence[Dataset],
    segments: Sequence[SegmentRecord],
    organ_measurements: dict[str, Any] | None,
    bca: dict[str, Any] | None,
    uids: UidSource,
    tool_version: str,
    series_number: int,
    manufacturer: str,
    dates: dict[str, Any],
    provenance: Provenance = Provenance(),
) -> Dataset | None:
    """The SR, or None when there is no number to report.

    Body-composition groups from the threshold engine carry the qualitative
    evaluation "approximate" and the method code of the estimate; every group of
    a run on stand-in weights says so.
    """
    algorithm = hd.sr.AlgorithmIdentification(name=TOOL_NAME, version=tool_version)
    organs = Provenance(stand_in=provenance.stand_in)
    body = organs | Provenance(approximate=bool((bca or {}).get("approximate")))
    groups = _organ_groups(organ_measurements or {}, segments, sources, uids, algorithm, organs)
    groups += _tissue_groups((bca or {}).get("aggregated") or {}, uids, algorithm, body)
    groups += _level_groups((bca or {}).get("vertebral_levels") or {}, uids, algorithm, body)
    if not groups:
        return None
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=uids.uid("sr", "device"), name=TOOL_NAME, manufacturer_name=manufacturer,
            model_name=TOOL_NAME,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=CT_PROCEDURE,
        imaging_measurements=groups,
    )
    segs = {record.seg.SOPInstanceUID: record.seg for record in segments}
    evidence = [*segs.values(), *sources]  # the SEGs referenced and the images they derive from
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=uids.uid("sr", "series"),
        series_number=series_number,
        sop_instance_uid=uids.uid("sr", "instance"),
        instance_number=1,
        manufacturer=manufacturer,
        is_complete=True,
        series_description=provenance.describe("BOA measurement report"),
        **dates,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _mean_hu(value: float, provenance: Provenance) -> hd.sr.Measurement:
    return hd.sr.Measurement(name=ATTENUATION, value=value, unit=HOUNSFIELD, derivation=MEAN,
                             method=provenance.method())


def _group_fields(
    uids: UidSource,
    key: tuple[str, ...],
    identifier: str,
    finding_type: CodedConcept,
    sites: list[hd.sr.FindingSite] | None,
    algorithm: hd.sr.AlgorithmIdentification,
    primary: tuple[CodedConcept, float, CodedConcept],
    mean_hu: float | None,
    provenance: Provenance,
) -> dict[str, Any]:
    """The arguments every measurement group shares: identity, finding, the measurements (mean HU if
    known), and the provenance qualifiers (an empty list when the values are plain results)."""
    name, value, unit = primary
    items = [hd.sr.Measurement(name=name, value=value, unit=unit, method=provenance.method())]
    if mean_hu is not None:
        items.append(_mean_hu(mean_hu, provenance))
    return dict(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uids.uid("sr", *key), identifier=identifier),
        finding_type=finding_type,
        finding_sites=sites,
        algorithm_id=algorithm,
        measurements=items,
        qualitative_evaluations=provenance.evaluations() or None,
    )


def _organ_groups(
    measurements: dict[str, Any],
    segments: Sequence[SegmentRecord],
    sources: Sequence[Dataset],
    uids: UidSource,
    algorithm: hd.sr.AlgorithmIdentification,
    provenance: Provenance,
) -> list:
    by_name = {(s.model, s.structure): s for s in segments}
    series = hd.sr.SourceSeriesForSegmentation(str(sources[0].SeriesInstanceUID))
    groups: list = []
    for model, structures in measurements.items():
        if model == PROVENANCE_KEY:  # not a model: where the numbers come from
            continue
        for structure, values in (structures or {}).items():
            code = code_for(structure)
            volume = _number((values or {}).get("volume_ml"))
            if code is None or volume is None or not values.get("present", True):
                continue
            common = _group_fields(
                uids, ("organ", model, structure), f"{model}/{structure}", code.type,
                [_site(code.type, code.laterality)], algorithm,
                (VOLUME, volume, MILLILITRE), _number(values.get("hu_mean")), provenance,
            )
            record = by_name.get((model, structure))
            if record is not None:
                reference = hd.sr.ReferencedSegment(
                    sop_class_uid=record.seg.SOPClassUID,
                    sop_instance_uid=record.seg.SOPInstanceUID,
                    segment_number=record.segment_number,
                    source_series=series,
                )
                groups.append(
                    hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(referenced_segment=reference, **common)
                )
            else:
                groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(**common))
    return groups


def _site(location: CodedConcept, laterality: CodedConcept | None = None) -> hd.sr.FindingSite:
    return hd.sr.FindingSite(anatomic_location=location, laterality=laterality)


def _sites(tissue_region: CodedConcept | None, region: str) -> list[hd.sr.FindingSite] | None:
    """Where a tissue lies (subcutaneous, ...) and the region it was measured in."""
    sites = [_site(tissue_region)] if tissue_region is not None else []
    code = code_for(region)
    if code is not None:
        sites.append(_site(code.type, code.laterality))
    return sites or None


def _tissue_groups(
    aggregated: dict[str, Any], uids: UidSource, algorithm: hd.sr.AlgorithmIdentification, provenance: Provenance
) -> list:
    groups: list = []
    for region, tissues in aggregated.items():
        for tissue, values in (tissues or {}).items():
            code = code_for(tissue)
            volume = _number((values or {}).get("volume_ml"))
            if code is None or volume is None:
                continue
            fields = _group_fields(
                uids, ("tissue", region, tissue), f"{tissue} in {region}", code.type,
                _sites(code.region, region), algorithm,
                (VOLUME, volume, MILLILITRE), _number(values.get("hu_mean")), provenance,
            )
            groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(**fields))
    return groups


def _level_groups(
    levels: dict[str, Any], uids: UidSource, algorithm: hd.sr.AlgorithmIdentification, provenance: Provenance
) -> list:
    groups: list = []
    ordered = sorted(levels, key=lambda level: level != "L3")  # L3 first, then as given
    for level in ordered:
        values = levels[level] or {}
        for tissue in LEVEL_TISSUES:
            code = code_for(tissue)
            area = _number(values.get(f"{tissue}_area_cm2"))
            if code is None or area is None:
                continue
            fields = _group_fields(
                uids, ("level", level, tissue), f"{tissue} at {level}", code.type,
                _sites(code.region, f"vertebrae_{level}"), algorithm,
                (AREA, area, SQUARE_CM), _number(values.get(f"{tissue}_hu_mean")), provenance,
            )
            groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(**fields))
    return groups
