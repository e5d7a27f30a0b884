"""``boa evaluate`` end to end on the real example label maps."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from body_organ_analysis.cli import main
from tests.evaluate.reference import reference_dice, reference_nsd


def run(*args: str) -> int:
    return main(["evaluate", *map(str, args)])


def canonical(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    image = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(image.dataobj).astype(int), tuple(float(s) for s in image.header.get_zooms()[:3])


def test_real_label_maps_against_independent_values(ts_example: Path, tmp_path: Path) -> None:
    pred, ref = ts_example / "seg_total_fast.nii.gz", ts_example / "seg_total.nii.gz"
    assert run("--pred", pred, "--ref", ref, "-o", tmp_path) == 0
    table = pd.read_csv(tmp_path / "evaluation.csv")
    assert table.equals(pd.read_parquet(tmp_path / "evaluation.parquet"))
    liver = table[table["name"] == "liver"].iloc[0]
    p, spacing = canonical(pred)
    r, _ = canonical(ref)
    assert liver["label"] == 5
    assert liver["dice"] == pytest.approx(reference_dice(p == 5, r == 5))
    assert liver["nsd"] == pytest.approx(reference_nsd(p == 5, r == 5, spacing, 3.0))
    assert liver["ref_voxels"] == (r == 5).sum() and liver["pred_voxels"] == (p == 5).sum()
    assert 0.9 < liver["dice"] < 1.0
    # every label of total's table has a row; labels in neither map are not applicable (empty), never 0 or 1
    assert len(table) == 117
    brain = table[table["name"] == "brain"].iloc[0]
    assert not ((p == brain["label"]).any() or (r == brain["label"]).any())
    assert math.isnan(brain["dice"]) and math.isnan(brain["nsd"])
    summary = pd.read_csv(tmp_path / "evaluation_summary.csv")
    assert summary.set_index("name").loc["liver", "dice_median"] == pytest.approx(liver["dice"])
    assert (tmp_path / "evaluation.xlsx").is_file()
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert "005_liver.png" in plots and not any("brain" in name for name in plots)


def reoriented(path: Path, target: Path, axcodes: tuple[str, str, str]) -> Path:
    image = nib.load(str(path))
    start = nib.orientations.io_orientation(image.affine)
    transform = nib.orientations.ornt_transform(start, nib.orientations.axcodes2ornt(axcodes))
    nib.save(image.as_reoriented(transform), str(target))
    return target


def test_stored_orientation_changes_no_number(ts_example: Path, tmp_path: Path) -> None:
    pred, ref = ts_example / "seg_total_fast.nii.gz", ts_example / "seg_total.nii.gz"
    assert run("--pred", pred, "--ref", ref, "-o", tmp_path / "ras") == 0
    lps = reoriented(pred, tmp_path / "pred_lps.nii.gz", ("L", "P", "S"))
    permuted = reoriented(ref, tmp_path / "ref_sal.nii.gz", ("S", "A", "L"))
    assert run("--pred", lps, "--ref", permuted, "-o", tmp_path / "other") == 0
    a = pd.read_csv(tmp_path / "ras" / "evaluation.csv").drop(columns="case")
    b = pd.read_csv(tmp_path / "other" / "evaluation.csv").drop(columns="case")
    pd.testing.assert_frame_equal(a, b)


def test_different_grids_stop_unless_resample(ts_example: Path, tmp_path: Path, capsys) -> None:
    ref = ts_example / "seg_total.nii.gz"
    image = nib.load(str(ref))
    data = np.asarray(image.dataobj)
    zoom_affine = image.affine.copy()
    zoom_affine[:3, :3] /= 2  # the same label map at half the voxel size, twice the voxels
    fine = np.repeat(np.repeat(np.repeat(data, 2, 0), 2, 1), 2, 2)
    zoom_affine[:3, 3] -= image.affine[:3, :3] @ np.array([0.25, 0.25, 0.25])  # voxel centres of the finer grid
    nib.save(nib.Nifti1Image(fine, zoom_affine), str(tmp_path / "fine.nii.gz"))
    out = tmp_path / "out"
    assert run("--pred", tmp_path / "fine.nii.gz", "--ref", ref, "-o", out) == 10
    message = capsys.readouterr().err
    assert "not on the same grid" in message and "--resample" in message and "Traceback" not in message
    assert not out.exists() or not any(out.iterdir())
    assert run("--pred", tmp_path / "fine.nii.gz", "--ref", ref, "-o", out, "--resample") == 0
    table = pd.read_csv(out / "evaluation.csv")
    scored = table.dropna(subset=["dice"])
    assert scored["resampled"].all() and (scored["dice"] == 1.0).all() and (scored["nsd"] == 1.0).all()


def test_folders_pairs_csv_and_label_map_merging(ts_example: Path, tmp_path: Path) -> None:
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir(), refs.mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        shutil.copy(ts_example / "seg_total_fast.nii.gz", preds / name)
        shutil.copy(ts_example / "seg_total.nii.gz", refs / name)
    shutil.copy(ts_example / "seg_total.nii.gz", refs / "unmatched.nii.gz")
    # one structure from two prediction values against two merged reference values
    (tmp_path / "map.csv").write_text("pred,ref,name\n2+3,1+2,kidneys\n5,5,liver\n")
    assert run("--pred", preds, "--ref", refs, "-o", tmp_path / "out", "--label-map", tmp_path / "map.csv") == 0
    table = pd.read_csv(tmp_path / "out" / "evaluation.csv")
    assert sorted(table["case"].unique()) == ["a", "b"] and len(table) == 4
    p, spacing = canonical(ts_example / "seg_total_fast.nii.gz")
    r, _ = canonical(ts_example / "seg_total.nii.gz")
    kidneys = table[table["name"] == "kidneys"]
    expected = reference_dice(np.isin(p, [2, 3]), np.isin(r, [1, 2]))  # spleen+right kidney in the reference
    assert kidneys["dice"].to_numpy() == pytest.approx([expected, expected])
    (tmp_path / "pairs.csv").write_text("case,pred,ref\nx,pred/a.nii.gz,ref/a.nii.gz\n")
    assert run("--pairs", tmp_path / "pairs.csv", "-o", tmp_path / "csv") == 0
    assert pd.read_csv(tmp_path / "csv" / "evaluation.csv")["case"].unique().tolist() == ["x"]


def test_bad_arguments_are_clear(tmp_path: Path, capsys) -> None:
    assert run("--pred", tmp_path / "missing.nii.gz", "--ref", tmp_path, "-o", tmp_path / "o") == 3
    assert run("--pred", tmp_path, "--ref", tmp_path, "-o", tmp_path / "o") == 3
    assert "matched by file name" in " ".join(capsys.readouterr().err.split())  # however the message is wrapped
