"""The output folder contract, end to end through the command line."""

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.cli import main
from body_organ_analysis.errors import ExitCode
from body_organ_analysis.imaging import load_ct


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def stderr_text(capsys) -> str:
    """Captured stderr with line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def run(ts_example: Path, out: Path, *extra: str) -> int:
    return main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), *extra])


def test_supplied_total_written_with_manifest(ts_example, tmp_path):
    out = tmp_path / "out"
    supplied = ts_example / "seg_total.nii.gz"
    assert run(ts_example, out, "--segmentation", f"total={supplied}") == 0

    written = nib.load(str(out / "total.nii.gz"))
    reference = nib.load(str(supplied))
    assert np.array_equal(np.asarray(written.dataobj), np.asarray(reference.dataobj))
    assert np.allclose(written.affine, reference.affine)
    labels = json.loads((out / "total.labels.json").read_text())["labels"]
    assert len(labels) == 117 and labels["5"] == "liver"

    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in out.iterdir()} - {"manifest.json"}
    for name, record in manifest["files"].items():
        assert record["sha256"] == sha256(out / name)
        assert record["size_bytes"] == (out / name).stat().st_size
    assert manifest["input_fingerprint"] == load_ct(ts_example / "ct_small.nii.gz").fingerprint()
    assert manifest["models"]["total"]["origin"] == "user-supplied"
    assert manifest["stand_in_models"] is False
    assert "segment total" in manifest["timings_s"]


def test_study_prefix_names_every_file(ts_example, tmp_path):
    out = tmp_path / "out"
    assert run(ts_example, out, "--use-study-prefix", "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}") == 0
    names = {p.name for p in out.iterdir()}
    assert names and all(name.startswith("ct_small_") for name in names)
    assert "ct_small_manifest.json" in names


def staging_folders(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".boa-" in p.name]


def make_previous_run(ts_example: Path, out: Path) -> dict[str, str]:
    assert run(ts_example, out, "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}") == 0
    (out / "notes.txt").write_text("the user's own file")
    return snapshot(out)


def test_bad_segmentation_leaves_folder_as_it_was(ts_example, tmp_path, capsys):
    out = tmp_path / "out"
    before = make_previous_run(ts_example, out)
    image = nib.load(str(ts_example / "seg_total.nii.gz"))
    cropped = tmp_path / "cropped.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:50], image.affine), str(cropped))
    capsys.readouterr()

    code = run(ts_example, out, "--segmentation", f"total={cropped}")

    assert code == ExitCode.BAD_SEGMENTATION
    err = stderr_text(capsys)
    assert "does not lie on the CT's grid" in err and "Traceback" not in err
    assert snapshot(out) == before
    assert staging_folders(tmp_path) == []


def test_foreign_labels_rejected(ts_example, tmp_path, capsys):
    image = nib.load(str(ts_example / "seg_total.nii.gz"))
    data = np.asarray(image.dataobj).copy()
    data[0, 0, 0] = 200
    bad = tmp_path / "bad.nii.gz"
    nib.save(nib.Nifti1Image(data, image.affine), str(bad))
    assert run(ts_example, tmp_path / "out", "--segmentation", f"total={bad}") == ExitCode.BAD_SEGMENTATION
    assert "label ids [200] are not in the 'total' label set" in stderr_text(capsys)
    assert not (tmp_path / "out").exists()


def test_failure_in_a_late_step_leaves_folder_as_it_was(ts_example, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    before = make_previous_run(ts_example, out)

    def broken(ctx):
        raise RuntimeError("simulated crash after segmentation")

    monkeypatch.setattr("body_organ_analysis.measure.stage.run", broken)
    code = run(ts_example, out, "--force-recompute", "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}")

    assert code == ExitCode.INTERNAL
    assert "internal error (RuntimeError)" in stderr_text(capsys)
    assert snapshot(out) == before
    assert staging_folders(tmp_path) == []


def test_segmentation_for_a_model_not_requested(ts_example, tmp_path, capsys):
    code = run(ts_example, tmp_path / "out", "--segmentation", f"liver_vessels={ts_example / 'seg_total.nii.gz'}")
    assert code == ExitCode.USAGE
    assert "not part of this run" in stderr_text(capsys)


@pytest.mark.parametrize("models", ["foo", "total+foo"])
def test_unknown_model_exit_code(ts_example, tmp_path, models, capsys):
    assert run(ts_example, tmp_path / "out", "-m", models) == ExitCode.UNKNOWN_MODEL
    assert "Valid models: total" in stderr_text(capsys)
