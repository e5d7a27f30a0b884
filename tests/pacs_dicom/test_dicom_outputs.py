"""DICOM-SEG, SR and Encapsulated PDF built from a real result folder, read back and checked."""

from __future__ import annotations

import copy
import json
from io import BytesIO
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from body_organ_analysis import __version__
from body_organ_analysis.pacs.dicom_outputs import DicomOutputError, DicomOutputSettings, build_dicom_outputs
from body_organ_analysis.pacs.dicom_outputs.codes import segment_codes
from body_organ_analysis.pacs.dicom_outputs.grid import sample_frames, sort_sources
from tests.pacs_dicom.conftest import copy_result


def round_trip(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def expected_mask(label_path: Path, source: pydicom.Dataset) -> np.ndarray:
    """Label values at the pixels of one source image, via nibabel's apply_affine (rows x columns)."""
    image = nib.load(str(label_path))
    data = np.asarray(image.dataobj)
    rows, columns = int(source.Rows), int(source.Columns)
    row_dir = np.array(source.ImageOrientationPatient[:3], float)
    col_dir = np.array(source.ImageOrientationPatient[3:], float)
    dr, dc = (float(v) for v in source.PixelSpacing)
    m, n = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    lps = np.array(source.ImagePositionPatient, float) + n[..., None] * dc * row_dir + m[..., None] * dr * col_dir
    ras = lps * np.array([-1.0, -1.0, 1.0])
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(image.affine), ras)).astype(int)
    return data[ijk[..., 0], ijk[..., 1], ijk[..., 2]]


# ---------------------------------------------------------------- SEG


def test_seg_segments_are_the_present_labels_with_their_codes(outputs, result_dir: Path) -> None:
    seg = hd.seg.Segmentation.from_dataset(round_trip(outputs["SEG"]))
    labels = {int(k): v for k, v in json.loads((result_dir / "total.labels.json").read_text())["labels"].items()}
    present = set(np.unique(np.asarray(nib.load(str(result_dir / "total.nii.gz")).dataobj)).tolist()) - {0}
    assert seg.SegmentationType == "BINARY"
    assert [item.SegmentLabel for item in seg.SegmentSequence] == [labels[k] for k in sorted(present)]
    assert len(present) > 10
    for item in seg.SegmentSequence:
        code = segment_codes()[item.SegmentLabel]
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodeValue == code.category.value
        prop = item.SegmentedPropertyTypeCodeSequence[0]
        assert (prop.CodeValue, prop.CodingSchemeDesignator) == (code.type.value, "SCT")
        if code.type_modifier is not None:
            assert prop.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == code.type_modifier.value
        else:
            assert "SegmentedPropertyTypeModifierCodeSequence" not in prop
        algorithm = item.SegmentationAlgorithmIdentificationSequence[0]
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert (item.SegmentAlgorithmName, algorithm.AlgorithmName) == ("body-organ-analysis",) * 2
        assert algorithm.AlgorithmVersion == __version__
        parameters = algorithm.AlgorithmParameters
        assert "model=total" in parameters and "origin=user-supplied" in parameters
        assert len(item.RecommendedDisplayCIELabValue) == 3
    humerus = next(i for i in seg.SegmentSequence if i.SegmentLabel == "humerus_left")
    assert humerus.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning == "Left"


def test_seg_frames_equal_the_label_map_at_the_same_position(outputs, source_datasets, ts_example: Path) -> None:
    """Every frame equals the supplied NIfTI (TotalSegmentator's own file) at its ImagePositionPatient."""
    seg = round_trip(outputs["SEG"])
    by_position = {tuple(np.round(np.array(s.ImagePositionPatient, float), 3)): s for s in source_datasets}
    numbers = {item.SegmentNumber: item.SegmentLabel for item in seg.SegmentSequence}
    label_path = ts_example / "seg_total_dicom_series.nii.gz"
    ids = {v: int(k) for k, v in json.loads(json.dumps(_total_labels())).items()}
    expected = {pos: expected_mask(label_path, s) for pos, s in by_position.items()}
    pixels = seg.pixel_array
    seen = {}
    for index, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
        number = frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        position = tuple(np.round(np.array(frame.PlanePositionSequence[0].ImagePositionPatient, float), 3))
        source_uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert by_position[position].SOPInstanceUID == source_uid
        truth = expected[position] == ids[numbers[number]]
        np.testing.assert_array_equal(pixels[index].astype(bool), truth)
        seen[number] = seen.get(number, 0) + int(truth.sum())
    label_data = np.asarray(nib.load(str(label_path)).dataobj)
    for number, name in numbers.items():  # no frame missing: every voxel of the label is in the SEG
        assert seen[number] == int((label_data == ids[name]).sum()), name


def _total_labels() -> dict[int, str]:
    from body_organ_analysis.models.registry import MODELS

    return MODELS["total"].labels()


def test_mapping_puts_the_ct_voxels_on_the_source_pixels(result_dir: Path, series_dir: Path) -> None:
    """image.nii.gz read at the source pixels equals the decoded source slices in HU."""
    sources = sort_sources([pydicom.dcmread(p) for p in sorted(series_dir.iterdir())])
    image = nib.load(str(result_dir / "image.nii.gz"))
    sampled = sample_frames(np.asarray(image.dataobj), image.affine, sources)
    for frame, ds in zip(sampled, sources):
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(frame, hu, atol=1e-3)


def test_orientation_and_source_order_do_not_change_the_seg(outputs, result_dir, source_datasets, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "flipped", ("total.nii.gz", "total.labels.json", "manifest.json"))
    image = nib.load(str(folder / "total.nii.gz"))
    transform = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(image.affine), nib.orientations.axcodes2ornt(("S", "P", "R"))
    )
    turned = image.as_reoriented(transform)  # from LAS: axes permuted and flipped
    nib.save(turned, str(folder / "total.nii.gz"))
    assert nib.aff2axcodes(nib.load(str(folder / "total.nii.gz")).affine) == ("S", "P", "R")
    rebuilt = build_dicom_outputs(folder, list(reversed(source_datasets)), DicomOutputSettings(sr=False))
    assert len(rebuilt) == 1
    original = outputs["SEG"]
    assert rebuilt[0].SOPInstanceUID == original.SOPInstanceUID
    assert rebuilt[0].PixelData == original.PixelData
    assert rebuilt[0].PerFrameFunctionalGroupsSequence == original.PerFrameFunctionalGroupsSequence


def test_a_label_map_off_the_source_grid_is_refused(result_dir, source_datasets, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "shifted", ("total.nii.gz", "total.labels.json"))
    image = nib.load(str(folder / "total.nii.gz"))
    affine = image.affine.copy()
    affine[:3, 3] += 0.4 * affine[:3, 0]  # 0.4 voxel sideways: not on the source pixels
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), affine), str(folder / "total.nii.gz"))
    with pytest.raises(DicomOutputError, match="do not lie on the pixels"):
        build_dicom_outputs(folder, source_datasets)


def test_empty_maps_and_uncoded_labels_are_skipped(result_dir, source_datasets, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "sparse", ("total.nii.gz", "total.labels.json"))
    image = nib.load(str(folder / "total.nii.gz"))
    data = np.zeros(image.shape, np.uint8)
    data[100:110, 100:110, 3:5] = 5  # liver
    data[200:205, 200:205, 7] = 2  # an id the labels file calls by an unknown name
    nib.save(nib.Nifti1Image(data, image.affine), str(folder / "total.nii.gz"))
    labels = json.loads((folder / "total.labels.json").read_text())
    labels["labels"]["2"] = "not_a_known_structure"
    (folder / "total.labels.json").write_text(json.dumps(labels))
    (seg,) = build_dicom_outputs(folder, source_datasets)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["liver"]
    assert int(seg.NumberOfFrames) == 2
    nib.save(nib.Nifti1Image(np.zeros(image.shape, np.uint8), image.affine), str(folder / "total.nii.gz"))
    assert build_dicom_outputs(folder, source_datasets) == []


# ---------------------------------------------------------------- SR


def test_sr_reports_organs_tissues_and_levels(outputs, result_dir: Path) -> None:
    ds = round_trip(outputs["SR"])
    assert ds.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.StudyInstanceUID == outputs["SEG"].StudyInstanceUID
    report = hd.sr.Comprehensive3DSR.from_dataset(ds).content
    organs = json.loads((result_dir / "structure-measurements.json").read_text())["total"]
    present = {name for name, values in organs.items() if values["present"]}
    seg = outputs["SEG"]
    segment_labels = {item.SegmentNumber: item.SegmentLabel for item in seg.SegmentSequence}
    evidence = {
        series.SeriesInstanceUID
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
    }
    assert evidence == {seg.SeriesInstanceUID, seg.ReferencedSeriesSequence[0].SeriesInstanceUID}
    groups = report.get_volumetric_roi_measurement_groups()
    assert {g.tracking_identifier.removeprefix("total/") for g in groups} == present
    for group in groups:
        name = group.tracking_identifier.removeprefix("total/")
        reference = group.referenced_segment
        assert reference.referenced_sop_instance_uid == seg.SOPInstanceUID
        (number,) = reference.referenced_segment_numbers
        assert segment_labels[number] == name
        assert reference.source_series_for_segmentation.value == seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        assert group.finding_type.value == segment_codes()[name].type.value
        values = {m.name.value: (m.value, m.unit.value) for m in group.get_measurements()}
        assert values["118565006"] == (pytest.approx(organs[name]["volume_ml"]), "ml")
        assert values["112031"] == (pytest.approx(organs[name]["hu_mean"]), "[hnsf'U]")
    liver = next(g for g in groups if g.tracking_identifier == "total/liver")
    count = int((np.asarray(nib.load(str(result_dir / "total.nii.gz")).dataobj) == 5).sum())
    volume = next(m.value for m in liver.get_measurements() if m.name.value == "118565006")
    assert volume == pytest.approx(count * 0.976562 * 0.976562 * 2.0 / 1000, rel=1e-4)

    others = report.get_image_measurement_groups()
    identifiers = [g.tracking_identifier for g in others]
    assert identifiers[:4] == ["muscle in whole_scan", "sat in whole_scan", "vat in abdominal_cavity", "imat in vertebrae_L1"]
    levels = identifiers[4:]
    assert levels == ["muscle at L3", "sat at L3", "vat at L3", "imat at L3", "muscle at L1", "sat at L1", "vat at L1", "imat at L1"]
    muscle_l3 = others[4]
    values = {m.name.value: (m.value, m.unit.value) for m in muscle_l3.get_measurements()}
    assert values["42798000"] == (pytest.approx(140.75), "cm2")
    assert values["112031"] == (pytest.approx(40.5), "[hnsf'U]")
    assert [s.value.value for s in muscle_l3.finding_sites] == ["36470004"]  # L3 vertebra
    sat_l3 = others[5]
    assert [s.value.value for s in sat_l3.finding_sites] == ["71966008", "36470004"]  # subcutaneous, at L3


def test_sr_without_measurement_files_is_not_made(result_dir, source_datasets, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "bare", ("total.nii.gz", "total.labels.json", "manifest.json"))
    built = build_dicom_outputs(folder, source_datasets)
    assert [ds.Modality for ds in built] == ["SEG"]


# ---------------------------------------------------------------- PDF and UIDs


def test_encapsulated_pdf_holds_the_report(outputs, result_dir: Path, source_datasets) -> None:
    ds = round_trip(outputs["DOC"])
    assert ds.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    pdf = (result_dir / "report.pdf").read_bytes()
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == pdf
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    source = source_datasets[0]
    for keyword in ("StudyInstanceUID", "PatientID", "AccessionNumber"):
        assert ds[keyword].value == source[keyword].value
    assert ds.SeriesInstanceUID != source.SeriesInstanceUID


def test_uids_are_deterministic_and_depend_on_source_and_version(outputs, result_dir, source_datasets, tmp_path) -> None:
    again = {ds.Modality: ds for ds in build_dicom_outputs(result_dir, source_datasets)}
    for modality, ds in outputs.items():
        assert again[modality].SOPInstanceUID == ds.SOPInstanceUID
        assert again[modality].SeriesInstanceUID == ds.SeriesInstanceUID
        assert ds.SOPInstanceUID.startswith("2.25.") and len(ds.SOPInstanceUID) <= 64
    uids = [ds.SOPInstanceUID for ds in outputs.values()] + [ds.SeriesInstanceUID for ds in outputs.values()]
    assert len(set(uids)) == len(uids)
    folder = copy_result(result_dir, tmp_path / "other-version")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tool_version"] = "9.9.9"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    newer = {ds.Modality: ds for ds in build_dicom_outputs(folder, source_datasets)}
    assert all(newer[m].SOPInstanceUID != outputs[m].SOPInstanceUID for m in outputs)


def test_sources_that_do_not_fit_are_refused(result_dir, source_datasets) -> None:
    mixed = [copy.deepcopy(source_datasets[0]), *source_datasets[1:]]
    mixed[0].SeriesInstanceUID = "1.2.3.4"
    with pytest.raises(DicomOutputError, match="several series"):
        build_dicom_outputs(result_dir, mixed)
    bare = copy.deepcopy(source_datasets)  # Dataset.copy() shares its elements
    del bare[3].ImagePositionPatient
    with pytest.raises(DicomOutputError, match="missing: ImagePositionPatient"):
        build_dicom_outputs(result_dir, bare)
    with pytest.raises(DicomOutputError, match="No source images"):
        build_dicom_outputs(result_dir, [])


def test_seg_can_be_stored_compressed(result_dir, source_datasets, outputs, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "crop", ("total.nii.gz", "total.labels.json", "manifest.json"))
    image = nib.load(str(folder / "total.nii.gz"))
    data = np.asarray(image.dataobj).copy()
    data[data != 5] = 0  # liver only: keeps the JPEG 2000 encoding quick
    nib.save(nib.Nifti1Image(data, image.affine), str(folder / "total.nii.gz"))
    settings = DicomOutputSettings(sr=False, pdf=False, seg_transfer_syntax_uid=pydicom.uid.JPEG2000Lossless)
    (seg,) = build_dicom_outputs(folder, source_datasets, settings)
    back = round_trip(seg)
    assert back.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    for index, frame in enumerate(back.PerFrameFunctionalGroupsSequence):
        source = next(
            s for s in source_datasets
            if s.SOPInstanceUID == frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        )
        np.testing.assert_array_equal(back.pixel_array[index].astype(bool), expected_mask(folder / "total.nii.gz", source) == 5)


def test_objects_pass_the_dicom3tools_validator(outputs, tmp_path) -> None:
    """dciodvfy (dicom3tools) checks each object against its IOD: no error, no unknown attribute."""
    import shutil
    import subprocess

    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    for modality, ds in outputs.items():
        path = tmp_path / f"{modality}.dcm"
        ds.save_as(path, enforce_file_format=True)
        report = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True).stderr
        problems = [
            line for line in report.splitlines()
            if line.startswith("Error") or "not present in standard DICOM IOD" in line
        ]  # fmt: skip
        assert not problems, f"{modality}: {problems[:5]}"


# ---------------------------------------------------------------- provenance


def _qualities(group) -> list[str]:
    return [e.value.value for e in group.get_qualitative_evaluations()]


def test_threshold_values_are_qualified_as_approximate(outputs, result_dir) -> None:
    """The fixture's body composition comes from the threshold engine; its organs do not."""
    assert json.loads((result_dir / "bca-measurements.json").read_text())["approximate"] is True
    sr = round_trip(outputs["SR"])
    assert sr.SeriesDescription == "BOA measurement report [APPROXIMATE, threshold engine]"
    assert round_trip(outputs["DOC"]).SeriesDescription == "BOA report (PDF) [APPROXIMATE, threshold engine]"
    assert outputs["SEG"].SeriesDescription == "BOA total segmentation"  # supplied total map: a plain result
    report = hd.sr.Comprehensive3DSR.from_dataset(sr).content
    tissue_groups = report.get_image_measurement_groups()
    assert len(tissue_groups) == 12
    for group in tissue_groups:
        assert _qualities(group) == ["APPROX"], group.tracking_identifier
        assert all(m.method is not None and m.method.value == "THRESHOLD" for m in group.get_measurements())
    for group in report.get_volumetric_roi_measurement_groups():
        assert _qualities(group) == []
        assert all(m.method is None for m in group.get_measurements())


def test_stand_in_results_say_so_everywhere(result_dir, source_datasets, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "standin")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["stand_in_models"] = True
    (folder / "manifest.json").write_text(json.dumps(manifest))
    built = {ds.Modality: ds for ds in build_dicom_outputs(folder, source_datasets)}
    for modality, ds in built.items():
        assert "[STAND-IN WEIGHTS" in ds.SeriesDescription, modality
        assert len(ds.SeriesDescription) <= 64
    report = hd.sr.Comprehensive3DSR.from_dataset(round_trip(built["SR"])).content
    for group in report.get_volumetric_roi_measurement_groups():
        assert _qualities(group) == ["STANDIN"]
    for group in report.get_image_measurement_groups():
        assert _qualities(group) == ["STANDIN", "APPROX"]


def test_plain_results_carry_no_qualifier(result_dir, source_datasets, tmp_path) -> None:
    folder = copy_result(result_dir, tmp_path / "plain")
    bca = json.loads((folder / "bca-measurements.json").read_text())
    bca.update(engine="nnunet", approximate=False)
    (folder / "bca-measurements.json").write_text(json.dumps(bca))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not manifest["stand_in_models"]
    manifest["models"] = {name: {**record, "origin": "inference"} for name, record in manifest["models"].items()}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    built = {ds.Modality: ds for ds in build_dicom_outputs(folder, source_datasets)}
    assert built["SR"].SeriesDescription == "BOA measurement report"
    assert built["DOC"].SeriesDescription == "BOA report (PDF)"
    report = hd.sr.Comprehensive3DSR.from_dataset(round_trip(built["SR"])).content
    assert all(_qualities(g) == [] for g in report.get_image_measurement_groups())


def test_qualifier_always_fits_in_the_series_description() -> None:
    from body_organ_analysis.pacs.dicom_outputs.provenance import Provenance

    long_name = "BOA " + "x" * 80 + " segmentation"
    described = Provenance(approximate=True, stand_in=True).describe(long_name)
    assert len(described) == 64 and described.endswith(" [STAND-IN WEIGHTS; APPROXIMATE]")
    assert Provenance().describe(long_name) == long_name[:64]


def test_no_site_or_staff_identifier_is_copied(result_dir, source_datasets) -> None:
    """Only the patient and study modules come from the source; its equipment's site and staff do not."""
    sources = copy.deepcopy(source_datasets)
    for ds in sources:
        ds.InstitutionName, ds.InstitutionalDepartmentName = "QZ-INSTITUTION", "QZ-DEPARTMENT"
        ds.StationName, ds.OperatorsName = "QZ-STATION", "QZ^OPERATOR"
    built = build_dicom_outputs(result_dir, sources)
    assert {ds.Modality for ds in built} == {"SEG", "SR", "DOC"}
    for ds in built:
        leaked = [e.keyword for e in round_trip(ds).iterall() if "QZ-" in str(e.value) or "QZ^" in str(e.value)]
        assert leaked == [], (ds.Modality, leaked)
    seg = next(ds for ds in built if ds.Modality == "SEG")
    assert len(seg.ContributingEquipmentSequence) >= 1  # the equipment record itself stays
