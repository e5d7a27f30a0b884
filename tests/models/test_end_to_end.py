"""End to end through the command line with stand-in weights: CT grid, label sets, manifest, reuse."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.cli import main
from body_organ_analysis.errors import ExitCode
from body_organ_analysis.models.registry import get_model


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def env(monkeypatch, standin_weights, ts_home):
    for name in ("BOA_WEIGHTS_DIR", "BOA_OFFLINE", "FAST_TOTAL", "DEVICE", "BOA_WEIGHTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(standin_weights))
    return monkeypatch


def check_label_map(out: Path, model: str, grid: nib.Nifti1Image) -> np.ndarray:
    image = nib.load(str(out / f"{model}.nii.gz"))
    assert image.shape == grid.shape
    assert np.allclose(image.affine, grid.affine, atol=1e-6)
    data = np.asarray(image.dataobj)
    expected = get_model(model).labels()
    document = json.loads((out / f"{model}.labels.json").read_text())
    assert {int(k): v for k, v in document["labels"].items()} == expected
    assert set(np.unique(data).tolist()) - {0} <= set(expected)
    assert np.count_nonzero(data) > 0
    return data


def check_manifest(out: Path, models: list[str]) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stand_in_models"] is True
    for model in models:
        record = manifest["models"][model]
        assert record["origin"] == "stand-in" and record["engine"] == "nnunet"
        assert record["weights"] and all(w["stand_in"] for w in record["weights"])
        assert record["load_time_s"] >= 0 and record["inference_time_s"] > 0
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256(out / name)
    return manifest


def test_ct_small_total_fast_reuse_and_recompute(env, standin_weights, ts_example, tmp_path, capsys):
    ct = ts_example / "ct_small.nii.gz"
    out = tmp_path / "out"
    args = ["-i", str(ct), "-o", str(out), "-m", "total", "--fast-total", "-d", "cpu"]
    assert main(args) == 0, capsys.readouterr().err
    first = check_label_map(out, "total", nib.load(str(ct)))
    manifest = check_manifest(out, ["total"])
    assert [w["folder"] for w in manifest["models"]["total"]["weights"]] == [
        "Dataset297_TotalSegmentator_total_3mm_1559subj"
    ]
    before = snapshot(out)

    # a rerun needs no weights: the earlier map is reused
    env.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "no-weights"))
    assert main([*args, "--offline"]) == 0, capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["models"]["total"]["reused"] is True
    assert np.array_equal(np.asarray(nib.load(str(out / "total.nii.gz")).dataobj), first)

    # --force-recompute offline without weights: clear message, exit code, folder untouched
    before = snapshot(out)
    capsys.readouterr()
    assert main([*args, "--offline", "--force-recompute"]) == ExitCode.WEIGHTS_MISSING
    err = " ".join(capsys.readouterr().err.split())
    assert "Dataset297_TotalSegmentator_total_3mm_1559subj" in err and "weights download total" in err
    assert "Traceback" not in err
    assert snapshot(out) == before

    # with weights, --force-recompute runs the model again: same voxels
    env.setenv("TOTALSEG_WEIGHTS_PATH", str(standin_weights))
    assert main([*args, "--force-recompute"]) == 0
    record = json.loads((out / "manifest.json").read_text())["models"]["total"]
    assert "reused" not in record and record["inference_time_s"] > 0
    assert np.array_equal(np.asarray(nib.load(str(out / "total.nii.gz")).dataobj), first)


@pytest.mark.parametrize("series", ["dicom_series", "dicom_series_with_uids"])
def test_dicom_series_total_fast_on_image_grid(env, ts_example, tmp_path, series, capsys):
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / series), "-o", str(out), "-m", "total", "--fast-total", "-d", "cpu"])
    assert code == 0, capsys.readouterr().err
    check_label_map(out, "total", nib.load(str(out / "image.nii.gz")))
    check_manifest(out, ["total"])


def test_crop_model_takes_its_crop_from_total(env, ts_example, tmp_path, capsys):
    """liver_vessels on the liver of the supplied total map: nothing outside the liver box + margin."""
    ct = ts_example / "ct_small.nii.gz"
    out = tmp_path / "out"
    supplied = ts_example / "seg_total.nii.gz"
    code = main(["-i", str(ct), "-o", str(out), "-m", "liver_vessels", "-d", "cpu", "--segmentation", f"total={supplied}"])
    assert code == 0, capsys.readouterr().err
    vessels = check_label_map(out, "liver_vessels", nib.load(str(ct)))
    liver = np.asarray(nib.load(str(supplied)).dataobj) == 5
    low = np.maximum(np.argwhere(liver).min(axis=0) - 20, 0)
    high = np.argwhere(liver).max(axis=0) + 20
    inside = np.zeros_like(liver)
    inside[low[0] : high[0] + 1, low[1] : high[1] + 1, low[2] : high[2] + 1] = True
    assert np.count_nonzero(vessels[~inside]) == 0
    manifest = check_manifest(out, ["liver_vessels"])
    assert manifest["models"]["total"]["origin"] == "user-supplied"


def test_body_composition_networks(env, ts_example, tmp_path, capsys):
    ct = ts_example / "ct_small.nii.gz"
    out = tmp_path / "out"
    code = main(["-i", str(ct), "-o", str(out), "-m", "body_regions+body_parts", "--fast-bca", "-d", "cpu"])
    assert code == 0, capsys.readouterr().err
    for model in ("body_regions", "body_parts"):
        check_label_map(out, model, nib.load(str(ct)))
    manifest = check_manifest(out, ["body_regions", "body_parts"])
    assert manifest["models"]["body_regions"]["weights"][0]["folds"] == [0]


def test_gpu_asked_for_without_gpu(env, ts_example, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "total", "--fast-total", "-d", "gpu"])
    assert code == ExitCode.DEVICE_UNAVAILABLE
    assert "no CUDA GPU is available" in " ".join(capsys.readouterr().err.split())
    assert not out.exists()
