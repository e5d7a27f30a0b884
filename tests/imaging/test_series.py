"""Choosing the series in a folder that holds several."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging import load_ct
from body_organ_analysis.demo.dicom_series import phantom, write_ct_series

SAGITTAL = (0, 1, 0, 0, 0, -1)


def series(folder: Path, slices: int, number: int, description: str, **kwargs) -> str:
    attributes = {"SeriesNumber": number, "SeriesDescription": description, **kwargs.pop("attributes", {})}
    paths = write_ct_series(folder, phantom(slices, 24, 20), attributes=attributes, **kwargs)
    import pydicom

    return str(pydicom.dcmread(paths[0]).SeriesInstanceUID)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("study")
    uids = {
        "small": series(root / "a" / "s3", 12, 3, "abdomen 3mm"),
        "best": series(root / "b" / "deep" / "s4", 16, 4, "abdomen 1mm"),
        "localizer": series(root / "s1", 1, 1, "Topogram 0.6",
                            attributes={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]}),
        "mpr": series(root / "s5", 30, 5, "cor MPR", orientation=SAGITTAL,
                      attributes={"ImageType": ["DERIVED", "SECONDARY", "REFORMATTED"]}),
        "derived": series(root / "s6", 40, 6, "axial derived",
                          attributes={"ImageType": ["DERIVED", "SECONDARY", "AXIAL"]}),
        "mr": series(root / "s7", 50, 7, "t1", attributes={"Modality": "MR"}),
        "sc": series(root / "s8", 60, 8, "dose report",
                     attributes={"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}),
    }  # fmt: skip
    (root / "README.txt").write_text("not a DICOM file")
    (root / "DICOMDIR.bin").write_bytes(b"\0" * 300)
    return root, uids


def test_rule_picks_the_original_axial_ct_with_most_slices(study, caplog):
    root, uids = study
    with caplog.at_level(logging.INFO, logger="body_organ_analysis"):
        ct = load_ct(root)
    assert ct.metadata["SeriesInstanceUID"] == uids["best"]
    assert ct.shape[2] == 16
    assert "abdomen 1mm" in caplog.text and "most slices" in caplog.text
    assert "of 7 series found, 2 qualified" in caplog.text
    assert "Synthetic" not in caplog.text and "SYN0001" not in caplog.text


def test_series_uid_picks_explicitly(study):
    root, uids = study
    assert load_ct(root, series_uid=uids["small"]).metadata["SeriesNumber"] == 3
    assert load_ct(root, series_uid=uids["derived"]).shape[2] == 40  # explicit choice wins the rule


def test_series_uid_of_a_non_ct_gets_the_specific_error(study):
    root, uids = study
    with pytest.raises(InputError) as caught:
        load_ct(root, series_uid=uids["mr"])
    assert caught.value.exit_code == ExitCode.NOT_CT


def test_unknown_series_uid_lists_what_was_found(study):
    root, _ = study
    with pytest.raises(InputError) as caught:
        load_ct(root, series_uid="1.2.3.4")
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.NO_SUITABLE_SERIES
    assert "abdomen 1mm" in message and "16 slice(s)" in message and "series number 7" in message


def test_no_qualifying_series_lists_each_with_its_reason(study, tmp_path):
    root, _ = study
    for name in ("s1", "s5", "s6", "s7", "s8"):
        shutil.copytree(root / name, tmp_path / name)
    with pytest.raises(InputError) as caught:
        load_ct(tmp_path)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.NO_SUITABLE_SERIES
    assert "'Topogram 0.6', CT, 1 slice(s)" in message and "localizer" in message
    assert "modality MR" in message and "secondary capture" in message and "not axial" in message
    assert "derived or reformatted" in message
    assert "Synthetic" not in message and "SYN0001" not in message and "19700101" not in message
    assert "\n" not in message


def test_blank_uids_are_grouped_by_other_attributes(tmp_path):
    blank = dict(series_uid=None, study_uid=None)
    write_ct_series(tmp_path / "x", phantom(12, 24, 20), attributes={"SeriesNumber": 2}, **blank)
    write_ct_series(tmp_path / "y", phantom(14, 24, 20), attributes={"SeriesNumber": 3}, origin=(0, 0, 500),
                    **blank)  # fmt: skip
    # a localizer inside the same blank-UID series 3 becomes a stack of its own
    write_ct_series(tmp_path / "y", phantom(1, 30, 30), attributes={"SeriesNumber": 3}, prefix="LOC",
                    orientation=(1, 0, 0, 0, 0, -1), **blank)  # fmt: skip
    ct = load_ct(tmp_path)
    assert ct.metadata["SeriesNumber"] == 3 and ct.shape == (20, 24, 14)
    assert ct.metadata["SeriesInstanceUID"] is None


def test_enhanced_multiframe_headers_become_one_slice_per_frame(tmp_path):
    """eCT_Supplemental.dcm (pydicom-data): enhanced CT, positions in per-frame groups."""
    import data_store
    import pydicom

    from body_organ_analysis.imaging.slices import scan_folder

    shutil.copy(Path(data_store.__file__).parent / "data" / "eCT_Supplemental.dcm", tmp_path)
    scan = scan_folder(tmp_path)
    assert [ref.frame for ref in scan.slices] == [0, 1]
    header = pydicom.dcmread(tmp_path / "eCT_Supplemental.dcm", stop_before_pixels=True)
    for ref, groups in zip(scan.slices, header.PerFrameFunctionalGroupsSequence):
        expected = [float(v) for v in groups.PlanePositionSequence[0].ImagePositionPatient]
        assert np.allclose(ref.position, expected)
        assert ref.intercept == -1024.0 and ref.pixel_spacing == (0.388672, 0.388672)
    with pytest.raises(InputError) as caught:  # two frames: too few slices for a CT volume
        load_ct(tmp_path)
    assert caught.value.exit_code == ExitCode.BAD_DIMENSIONS


def test_enhanced_multiframe_ct_loads_like_single_frame_series(tmp_path):
    from body_organ_analysis.demo.dicom_series import write_enhanced_ct

    hu = phantom(12, 24, 20)
    write_enhanced_ct(tmp_path / "enhanced" / "ct.dcm", hu)
    write_ct_series(tmp_path / "single", hu)
    enhanced, single = load_ct(tmp_path / "enhanced"), load_ct(tmp_path / "single")
    assert np.array_equal(enhanced.data, single.data)
    assert np.allclose(enhanced.affine, single.affine)


def test_files_without_preamble_are_read(tmp_path):
    """Old exports: a bare dataset (implicit VR, no 128-byte preamble, no file meta)."""
    import pydicom

    hu = phantom(12, 24, 20)
    (tmp_path / "bare").mkdir()
    for path in write_ct_series(tmp_path / "with", hu):
        ds = pydicom.dcmread(path)
        del ds.file_meta
        ds.preamble = None
        ds.save_as(tmp_path / "bare" / path.name, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert (tmp_path / "bare" / "IM0000.dcm").read_bytes()[:2] == b"\x08\x00"
    assert np.array_equal(load_ct(tmp_path / "bare").data, load_ct(tmp_path / "with").data)
