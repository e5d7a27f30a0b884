"""The in-process engine equals TotalSegmentator's python API on the same (stand-in) weights.

Both run in this process on the same CT with the same weights folder; the
label maps must be identical voxel for voxel. TotalSegmentator's usage
statistics are off (its config in a temporary TOTALSEG_HOME_DIR).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.imaging import load_ct
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.engine import predict_model
from body_organ_analysis.models.registry import get_model
from body_organ_analysis.settings import RuntimeConfig, Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parity_weights(tmp_path_factory) -> Path:
    """Stand-ins of total (both variants), hip_implant and TotalSegmentator's 6 mm crop model 298."""
    from totalsegmentator.map_tasks_config import DEFAULT_CONFIG, TASK_CONFIGS

    from body_organ_analysis.models.networks import ts_networks_for_task
    from helpers.standins import make_standin_network, make_standins

    root = tmp_path_factory.mktemp("parity-weights")
    make_standins(root, ["total", "hip_implant"])
    for network in ts_networks_for_task("total", {**DEFAULT_CONFIG, **TASK_CONFIGS["total"]["sub_modes"]["fastest"]}):
        make_standin_network(root, network)
    return root


@pytest.fixture()
def ts_env(parity_weights, ts_home, monkeypatch) -> Path:
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(parity_weights))
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # TotalSegmentator sets them
        monkeypatch.setenv(name, str(parity_weights))
    return parity_weights


def ours(ct_path: Path, model: str, weights: Path, fast: bool = False, labelmaps=None) -> np.ndarray:
    settings = Settings(
        input_image=ct_path, output_dir=ct_path.parent / "out", fast_total=fast,
        runtime=RuntimeConfig(device="cpu", weights_dir=weights),
    )
    label_map, _ = predict_model(get_model(model), load_ct(ct_path), settings, labelmaps or {})
    return np.asarray(label_map.data)


def theirs(ct_path: Path, task: str, fast: bool = False) -> np.ndarray:
    from totalsegmentator.python_api import totalsegmentator

    image = totalsegmentator(str(ct_path), None, task=task, fast=fast, device="cpu", quiet=True, nr_thr_saving=1)
    return np.asarray(image.dataobj)


def assert_identical(mine: np.ndarray, reference: np.ndarray) -> None:
    assert mine.shape == reference.shape
    assert int(np.count_nonzero(mine != reference)) == 0
    assert len(np.unique(reference)) > 3  # the comparison is not between two empty maps


def test_total_fast_parity(ts_env, ts_example):
    ct = ts_example / "ct_small.nii.gz"
    assert_identical(ours(ct, "total", ts_env, fast=True), theirs(ct, "total", fast=True))


def test_total_five_parts_parity(ts_env, ts_example, tmp_path):
    """The 1.5 mm total (five networks combined) on a part of ct_small, to keep it short."""
    image = nib.load(str(ts_example / "ct_small.nii.gz"))
    part = image.slicer[20:84, 20:84, 8:24]
    ct = tmp_path / "ct_part.nii.gz"
    nib.save(part, str(ct))
    assert_identical(ours(ct, "total", ts_env), theirs(ct, "total"))


def test_crop_task_parity(ts_env, ts_example):
    """hip_implant, cropped to the femurs and hips of TotalSegmentator's own rough map (model 298).

    TotalSegmentator's API makes that rough map itself; the engine takes its crop from the
    ``total`` map of the run, so it is given the same rough map (made in-process) as ``total``.
    """
    from totalsegmentator.map_tasks_config import DEFAULT_CONFIG, TASK_CONFIGS

    from body_organ_analysis.models.networks import ts_networks_for_task
    from body_organ_analysis.models.predictors import resolve_device
    from body_organ_analysis.models.ts_inference import run_task

    ct_path = ts_example / "ct_small.nii.gz"
    config = {**DEFAULT_CONFIG, **TASK_CONFIGS["total"]["sub_modes"]["fastest"]}
    rough, _ = run_task(
        nib.load(str(ct_path)), "total", config, ts_networks_for_task("total", config), ts_env, resolve_device("cpu")
    )
    ids = [k for k, v in get_model("total").labels().items() if v in ("femur_left", "femur_right", "hip_left", "hip_right")]
    assert np.isin(rough, ids).any(), "the stand-in crop is empty: the test would prove nothing"
    ct = load_ct(ct_path)
    total = LabelMap(data=rough, affine=ct.affine, labels=get_model("total").labels(), model="total")
    mine = ours(ct_path, "hip_implant", ts_env, labelmaps={"total": total})
    reference = theirs(ct_path, "hip_implant")
    assert mine.shape == reference.shape and int(np.count_nonzero(mine != reference)) == 0
    assert np.count_nonzero(reference) > 0
