"""Every bad input, through the command line: its exit code, a one-paragraph message,
no traceback, and the output folder left exactly as it was."""

from __future__ import annotations

import gzip
import os
import tempfile
import tracemalloc
import uuid
import zipfile
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pydicom
import pytest

from body_organ_analysis.cli import main
from body_organ_analysis.errors import ExitCode
from body_organ_analysis.demo.dicom_series import phantom, write_ct_series

HU = phantom(12, 24, 20)


def nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.diag([1.5, 1.5, 2.0, 1.0]) if affine is None else affine), path)
    return path


def dicom(folder: Path, hu: np.ndarray = HU, **kwargs) -> Path:
    write_ct_series(folder, hu, **kwargs)
    return folder


def edit_headers(folder: Path, **values) -> Path:
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return folder


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def build_zip(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            bundle.writestr(info, "/etc/passwd")
    return path


def absurd_nifti(path: Path) -> Path:
    header = nib.Nifti1Header()
    header.set_data_shape((30000, 30000, 30000))
    header.set_data_dtype(np.int16)
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\1" * 1000)
    return path


def pixdim_only_nifti(path: Path, spacing: tuple[float, float, float]) -> Path:
    """A NIfTI whose grid comes from pixdim alone (no qform/sform), stored byte for byte:
    nibabel would quietly write (and read) a zero pixdim as 1 mm."""
    nifti(path, HU.T.copy())
    header = nib.Nifti1Header.from_fileobj(path.open("rb"), check=False)
    header["pixdim"][1:4] = spacing
    header["qform_code"] = header["sform_code"] = 0
    path.write_bytes(header.binaryblock + path.read_bytes()[348:])
    return path


def stacked_positions(gaps: list[float]) -> list[tuple[float, float, float]]:
    z = np.concatenate([[0.0], np.cumsum(gaps)])
    return [(0.0, 0.0, float(v)) for v in z]


def tilted(folder: Path, degrees: float) -> Path:
    shift = 2.0 * np.tan(np.radians(degrees))
    return dicom(folder, positions=[(0.0, k * shift, 2.0 * k) for k in range(len(HU))])


TRAVERSAL_NAME = f"boa-escape-{uuid.uuid4().hex}.dcm"

CASES: dict[str, tuple[Callable[[Path], Path], ExitCode, str]] = {
    "missing path": (lambda t: t / "nothing-here", ExitCode.INPUT_NOT_FOUND, "does not exist"),
    "empty folder": (lambda t: (t / "empty").mkdir() or t / "empty", ExitCode.INPUT_NOT_FOUND, "is empty"),
    "folder without dicom": (
        lambda t: (t / "docs").mkdir() or (t / "docs" / "a.txt").write_text("x") and t / "docs",
        ExitCode.INPUT_NOT_FOUND, "no DICOM image"),
    "unknown file type": (lambda t: (t / "ct.txt").write_text("x") and t / "ct.txt",
                          ExitCode.INPUT_UNREADABLE, "neither a NIfTI"),
    "garbage nifti": (lambda t: (t / "ct.nii.gz").write_bytes(b"not a nifti at all") and t / "ct.nii.gz",
                      ExitCode.INPUT_UNREADABLE, "cannot be read"),
    "truncated nii.gz": (lambda t: truncate(nifti(t / "ct.nii.gz", HU.T.copy())),
                         ExitCode.INPUT_UNREADABLE, "truncated"),
    "truncated nii": (lambda t: truncate(nifti(t / "ct.nii", HU.T.copy())), ExitCode.INPUT_UNREADABLE,
                      "truncated"),
    "truncated dicom pixels": (lambda t: truncate(sorted(dicom(t / "s").iterdir())[4], 0.9) and t / "s",
                               ExitCode.INPUT_UNREADABLE, "truncated or damaged (e.g. IM0004.dcm)"),
    "truncated dicom header": (lambda t: truncate(sorted(dicom(t / "s").iterdir())[4], 0.5) and t / "s",
                               ExitCode.INPUT_UNREADABLE, "is missing 1 slice(s)"),
    "truncated jpeg2000 slice": (
        lambda t: truncate(sorted(dicom(t / "s", transfer_syntax="jpeg2000").iterdir())[4], 0.7) and t / "s",
        ExitCode.INPUT_UNREADABLE, "cannot be decoded"),
    "all dicom headers broken": (
        lambda t: [truncate(p, 0.5) for p in sorted(dicom(t / "s").iterdir())] and t / "s",
        ExitCode.INPUT_UNREADABLE, "none of which can be read"),
    "mr series": (lambda t: dicom(t / "s", attributes={"Modality": "MR"}), ExitCode.NOT_CT, "modality MR"),
    "mr-like nifti": (lambda t: nifti(t / "mr.nii.gz", np.random.default_rng(0).integers(0, 900, (20, 20, 12), dtype=np.int16)),
                      ExitCode.NOT_CT, "Hounsfield"),
    "dicom without rescale": (lambda t: edit_headers(dicom(t / "s"), RescaleIntercept="0"),
                              ExitCode.NOT_CT, "Hounsfield"),
    "2-d nifti": (lambda t: nifti(t / "ct.nii.gz", HU[0].copy()), ExitCode.BAD_DIMENSIONS, "2 dimension"),
    "4-d nifti": (lambda t: nifti(t / "ct.nii.gz", np.stack([HU.T] * 3, axis=-1)), ExitCode.BAD_DIMENSIONS,
                  "4 dimension"),
    "too few slices": (lambda t: dicom(t / "s", HU[:5]), ExitCode.BAD_DIMENSIONS, "only 5 slice"),
    "single dicom slice": (lambda t: dicom(t / "s", HU[:1]), ExitCode.BAD_DIMENSIONS, "only 1 slice"),
    "absurd nifti header": (lambda t: absurd_nifti(t / "ct.nii"), ExitCode.BAD_DIMENSIONS, "claims an image"),
    "absurd dicom header": (lambda t: edit_headers(dicom(t / "s"), Rows=60000, Columns=60000, NumberOfFrames=9000),
                            ExitCode.BAD_DIMENSIONS, "claims an image"),
    "missing slices": (lambda t: dicom(t / "s", positions=stacked_positions([2.0] * 5 + [6.0] + [2.0] * 5)),
                       ExitCode.BAD_GEOMETRY, "missing 2 slice"),
    "uneven spacing": (lambda t: dicom(t / "s", positions=stacked_positions([2.0] * 5 + [3.1] + [2.0] * 5)),
                       ExitCode.BAD_GEOMETRY, "unevenly spaced"),
    "duplicate positions": (lambda t: dicom(t / "s", positions=stacked_positions([2.0] * 5 + [0.0] + [2.0] * 5)),
                            ExitCode.BAD_GEOMETRY, "same position"),
    "sheared nifti": (lambda t: nifti(t / "ct.nii.gz", HU.T.copy(), np.array(
        [[1.0, 0, 0, 0], [0, 1.0, 0.5, 0], [0, 0, 2.0, 0], [0, 0, 0, 1]])), ExitCode.BAD_GEOMETRY, "not perpendicular"),
    "non-orthonormal dicom": (lambda t: dicom(t / "s", orientation=(1, 0, 0, 0.3, 1, 0)),
                              ExitCode.BAD_GEOMETRY, "not orthonormal"),
    "gantry tilt over 45 degrees": (lambda t: tilted(t / "s", 60.0), ExitCode.BAD_GEOMETRY, "gantry tilt"),
    "zero pixdim nifti": (lambda t: pixdim_only_nifti(t / "ct.nii", (1.5, 1.5, 0.0)), ExitCode.BAD_GEOMETRY,
                          "1.5 x 1.5 x 0 mm"),
    "microscopic nifti spacing": (lambda t: nifti(t / "ct.nii.gz", HU.T.copy(), np.diag([1e-3, 1e-3, 2.0, 1.0])),
                                  ExitCode.BAD_GEOMETRY, "voxel spacing of the NIfTI file ct.nii.gz is 0.001 x 0.001 x 2 mm"),
    "100 m nifti spacing": (lambda t: nifti(t / "ct.nii.gz", HU.T.copy(), np.diag([1.5, 1.5, 1e5, 1.0])),
                            ExitCode.BAD_GEOMETRY, "1.5 x 1.5 x 100000 mm"),
    "100 m pixdim nifti": (lambda t: pixdim_only_nifti(t / "ct.nii", (1e5, 1.5, 2.0)), ExitCode.BAD_GEOMETRY,
                           "100000 x 1.5 x 2 mm"),
    "zero dicom pixel spacing": (lambda t: edit_headers(dicom(t / "s"), PixelSpacing=[0, 0]),
                                 ExitCode.BAD_GEOMETRY, "PixelSpacing"),
    "microscopic dicom pixel spacing": (lambda t: edit_headers(dicom(t / "s"), PixelSpacing=[1e-3, 1e-3]),
                                        ExitCode.BAD_GEOMETRY, "0.001 x 0.001 x 2 mm"),
    "100 m dicom pixel spacing": (lambda t: edit_headers(dicom(t / "s"), PixelSpacing=[1e5, 1e5]),
                                  ExitCode.BAD_GEOMETRY, "100000 x 100000 x 2 mm"),
    "100 m between dicom slices": (lambda t: dicom(t / "s", positions=stacked_positions([1e5] * 11)),
                                   ExitCode.BAD_GEOMETRY, "0.8 x 0.8 x 100000 mm"),
    "dicom slices 1 um apart": (lambda t: dicom(t / "s", positions=stacked_positions([1e-3] * 11)),
                                ExitCode.BAD_GEOMETRY, "same position"),
    "dicom rescale slope 0": (lambda t: edit_headers(dicom(t / "s"), RescaleSlope=0),
                              ExitCode.INPUT_UNREADABLE, "have a RescaleSlope of 0"),
    "nan voxels": (lambda t: nifti(t / "ct.nii.gz", np.where(HU.T == 40, np.nan, HU.T).astype(np.float32)),
                   ExitCode.BAD_VOXELS, "NaN or infinite"),
    "inf voxels": (lambda t: nifti(t / "ct.nii.gz", np.where(HU.T == 40, np.inf, HU.T).astype(np.float32)),
                   ExitCode.BAD_VOXELS, "NaN or infinite"),
    "no suitable series": (
        lambda t: dicom(t / "f" / "a", attributes={"Modality": "MR"}) and dicom(t / "f" / "b", HU[:3]) and t / "f",
        ExitCode.NO_SUITABLE_SERIES, "Found: series number"),
    "damaged zip": (lambda t: (t / "ct.zip").write_bytes(b"PK\3\4 broken") and t / "ct.zip",
                    ExitCode.INPUT_UNREADABLE, "cannot be read"),
    "empty zip": (lambda t: build_zip(t / "ct.zip", {}), ExitCode.INPUT_NOT_FOUND, "is empty"),
    "zip path traversal": (lambda t: build_zip(t / "ct.zip", {f"../{TRAVERSAL_NAME}": b"x"}),
                           ExitCode.UNSAFE_ARCHIVE, "unsafe path"),
    "zip absolute path": (lambda t: build_zip(t / "ct.zip", {f"/tmp/{TRAVERSAL_NAME}": b"x"}),
                          ExitCode.UNSAFE_ARCHIVE, "unsafe path"),
    "zip symlink": (lambda t: build_zip(t / "ct.zip", {"a.dcm": b"x"}, links=("link.dcm",)),
                    ExitCode.UNSAFE_ARCHIVE, "symbolic link"),
}  # fmt: skip


def tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="session")
def unused_map(tmp_path_factory) -> Path:
    """A valid 3-D label map: passes the checks made before work; the CT is refused before it is used."""
    return nifti(tmp_path_factory.mktemp("map") / "unused.nii.gz", np.zeros((4, 4, 4), np.uint8))


def run_cli(given: Path, out: Path, capsys, supplied: Path, *extra: str) -> tuple[int, str]:
    # a supplied map for 'total' keeps the run from needing model weights
    code = main(["-i", str(given), "-o", str(out), "--segmentation", f"total={supplied}", *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_cleanly(case, tmp_path, capsys, unused_map):
    build, code, words = CASES[case]
    given = build(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("left alone")
    before = tree(tmp_path)
    exit_code, stderr = run_cli(given, out, capsys, unused_map)
    assert exit_code == code, stderr
    assert "error: " in stderr, stderr
    message = stderr.split("error: ", 1)[1]
    assert words in message.replace("\n", " ") and "\n\n" not in message.strip()
    assert "Traceback" not in stderr
    assert "Synthetic" not in stderr and "SYN0001" not in stderr and "19700101" not in stderr
    assert tree(tmp_path) == before
    assert not (Path(tempfile.gettempdir()) / TRAVERSAL_NAME).exists()


def test_absurd_header_is_refused_before_allocating(tmp_path, capsys, unused_map):
    given = absurd_nifti(tmp_path / "ct.nii")
    tracemalloc.start()
    try:
        exit_code, _ = run_cli(given, tmp_path / "out", capsys, unused_map)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exit_code == ExitCode.BAD_DIMENSIONS
    assert peak < 50 << 20


def test_zip_larger_than_the_limit_is_not_unpacked(tmp_path, capsys, monkeypatch, unused_map):
    from body_organ_analysis.imaging import archive

    folder = dicom(tmp_path / "s")
    bundle = build_zip(tmp_path / "ct.zip", {p.name: p.read_bytes() for p in sorted(folder.iterdir())})
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 10_000)
    exit_code, stderr = run_cli(bundle, tmp_path / "out", capsys, unused_map)
    assert exit_code == ExitCode.UNSAFE_ARCHIVE and "unpacks to" in stderr


def test_zip_member_larger_than_its_header_says_is_stopped(tmp_path, capsys, unused_map):
    """A zip bomb whose local header understates the size: extraction stops at the announced size."""
    payload = b"\0" * 200_000
    bundle = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("a.dcm", payload)
    raw = bytearray(bundle.read_bytes())
    central = raw.rfind(b"PK\1\2")
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")  # claimed uncompressed size
    bundle.write_bytes(bytes(raw))
    exit_code, stderr = run_cli(bundle, tmp_path / "out", capsys, unused_map)
    assert exit_code in (ExitCode.UNSAFE_ARCHIVE, ExitCode.INPUT_UNREADABLE), stderr
    assert "Traceback" not in stderr


def test_dicom_that_fits_after_the_refusals_still_loads(tmp_path):
    """The builders above differ from a good series only in what they break."""
    from body_organ_analysis.imaging import load_ct

    assert load_ct(dicom(tmp_path / "s")).shape == (20, 24, 12)
    truncate(tmp_path / "s" / "IM0000.dcm")  # the end slice: the rest is a complete series
    shorter = load_ct(tmp_path / "s")
    assert shorter.shape == (20, 24, 11) and "1 truncated or damaged DICOM file(s) skipped" in shorter.notes
    assert load_ct(tilted(tmp_path / "t", 10.0)).notes


# Bad settings: found before the CT is read (or, for a map's voxels, before anything is
# written), each with its exit code, one paragraph, no traceback, the folders left as they were.

def good_ct(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    return nifti(folder / "ct.nii.gz", HU.T.copy())


def empty_map(folder: Path) -> Path:
    return nifti(folder / "empty.nii.gz", np.zeros(HU.T.shape, np.uint8))


def four_d_map(folder: Path) -> Path:
    return nifti(folder / "labels4d.nii.gz", np.zeros((*HU.T.shape, 3), np.uint8))


SETTINGS_CASES: dict[str, tuple[Callable[[Path], list[str]], ExitCode, str]] = {
    "output is an existing file": (
        lambda t: ["-o", str(t / "ct.nii.gz")], ExitCode.OUTPUT_NOT_WRITABLE, "is an existing file, not a folder"),
    "output path under a file": (
        lambda t: ["-o", str(t / "ct.nii.gz" / "out")], ExitCode.OUTPUT_NOT_WRITABLE, "is a file, not a folder"),
    "empty output path": (lambda t: ["-o", ""], ExitCode.USAGE, "-o/--output-dir is empty"),
    "empty input path": (lambda t: ["-i", " "], ExitCode.USAGE, "-i/--input-image is empty"),
    "missing segmentation file": (
        lambda t: ["--segmentation", f"total={t / 'nope.nii.gz'}"], ExitCode.BAD_SEGMENTATION,
        "nope.nii.gz: the file does not exist"),
    "segmentation is a folder": (
        lambda t: ["--segmentation", f"total={t}"], ExitCode.BAD_SEGMENTATION, "the file is a folder"),
    "4-d segmentation": (
        lambda t: ["--segmentation", f"total={four_d_map(t)}"], ExitCode.BAD_SEGMENTATION,
        "has 4 dimension(s) (20, 24, 12, 3)"),
    "all-zero segmentation": (
        lambda t: ["--segmentation", f"total={empty_map(t)}"], ExitCode.BAD_SEGMENTATION, "every voxel is 0"),
    "licence with shell characters": (
        lambda t: ["-l", "aca_12345;rm -rf x", "-m", "total"], ExitCode.USAGE, "characters other than letters"),
    "misspelt model": (lambda t: ["-m", "totl"], ExitCode.UNKNOWN_MODEL, "Did you mean 'total'?"),
    "misspelt bca model": (lambda t: ["-m", "total+body_part"], ExitCode.UNKNOWN_MODEL,
                           "Did you mean 'body_parts'?"),
    "height out of range": (lambda t: ["--height-cm", "1.8"], ExitCode.USAGE, "--height-cm 1.8 is outside 50-250 cm"),
    "weight out of range": (lambda t: ["--weight-kg", "8000"], ExitCode.USAGE, "--weight-kg 8000 is outside 2-400 kg"),
    "height not a number": (lambda t: ["--height-cm", "nan"], ExitCode.USAGE, "outside 50-250 cm"),
}  # fmt: skip


def run_with(tmp_path: Path, capsys, unused_map: Path, extra: list[str], environ: dict[str, str] | None = None,
             monkeypatch=None) -> tuple[int, str, dict, dict]:
    """Run the CLI on a good CT with ``extra`` flags (later flags win); return code, stderr and trees."""
    ct = good_ct(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "sentinel.txt").write_text("left alone")
    before = tree(tmp_path)
    for name, value in (environ or {}).items():
        monkeypatch.setenv(name, value)
    argv = ["-i", str(ct), "-o", str(out), "--segmentation", f"total={unused_map}", *extra]
    if "--segmentation" in extra:
        argv[4:6] = []
    code = main(argv)
    return code, capsys.readouterr().err, before, tree(tmp_path)


def assert_clean_refusal(code: int, stderr: str, expected: ExitCode, words: str) -> None:
    assert code == expected, stderr
    message = stderr.split("error: ", 1)[1]
    assert words in message.replace("\n", " ") and "\n\n" not in message.strip(), message
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", list(SETTINGS_CASES))
def test_bad_setting_is_refused_before_work(case, tmp_path, capsys, unused_map):
    build, expected, words = SETTINGS_CASES[case]
    (tmp_path / "in").mkdir()
    extra = build(tmp_path / "in")
    code, stderr, before, after = run_with(tmp_path, capsys, unused_map, extra)
    assert_clean_refusal(code, stderr, expected, words)
    assert after == before
    if expected != ExitCode.BAD_SEGMENTATION or "every voxel" not in words:
        assert "load" not in stderr  # refused before the CT was read


@pytest.mark.parametrize("variable,value,words", [
    ("BOA_HEIGHT_CM", "tall", "BOA_HEIGHT_CM='tall' is not a number"),
    ("BOA_WEIGHT_KG", "0.5", "--weight-kg 0.5 is outside 2-400 kg"),
    ("LICENSE_NUMBER", "aca_12345$(reboot)", "characters other than letters"),
])  # fmt: skip
def test_bad_environment_value_is_a_usage_error(variable, value, words, tmp_path, capsys, unused_map, monkeypatch):
    code, stderr, before, after = run_with(tmp_path, capsys, unused_map, [], {variable: value}, monkeypatch)
    assert_clean_refusal(code, stderr, ExitCode.USAGE, words)
    assert after == before


def test_read_only_location_is_refused(tmp_path, capsys, unused_map):
    """/sys is mounted read-only (even root cannot create a folder there)."""
    target = Path("/sys") / f"boa-out-{uuid.uuid4().hex}"
    try:
        target.mkdir()
    except OSError:
        pass
    else:  # pragma: no cover - a machine where /sys is writable
        target.rmdir()
        pytest.skip("/sys is writable here")
    code, stderr, before, after = run_with(tmp_path, capsys, unused_map, ["-o", str(target / "out")])
    assert_clean_refusal(code, stderr, ExitCode.OUTPUT_NOT_WRITABLE, "cannot be written")
    assert after == before and not target.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder whatever its permissions")
def test_folder_without_write_permission_is_refused(tmp_path, capsys, unused_map):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, stderr, before, after = run_with(tmp_path, capsys, unused_map, ["-o", str(locked / "out")])
    finally:
        locked.chmod(0o700)
    assert_clean_refusal(code, stderr, ExitCode.OUTPUT_NOT_WRITABLE, "cannot be written")
    assert after == before


def test_gpu_asked_for_without_one_even_when_every_map_is_supplied(tmp_path, capsys, unused_map):
    from body_organ_analysis.preflight import no_gpu_possible

    if not no_gpu_possible():
        pytest.skip("this machine may have a GPU")
    code, stderr, before, after = run_with(tmp_path, capsys, unused_map, ["-d", "gpu"])
    assert_clean_refusal(code, stderr, ExitCode.DEVICE_UNAVAILABLE, "Device 'gpu' was asked for")
    assert after == before and "load" not in stderr


def test_zero_pixdim_as_a_user_sees_it(tmp_path, unused_map):
    """In a real process: exit code 7 and our message, not nibabel's 'setting 0 dims to 1'."""
    import subprocess
    import sys

    given = pixdim_only_nifti(tmp_path / "ct.nii", (1.5, 0.0, 2.0))
    done = subprocess.run(
        [sys.executable, "-m", "body_organ_analysis", "-i", str(given), "-o", str(tmp_path / "out"),
         "--segmentation", f"total={unused_map}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == ExitCode.BAD_GEOMETRY, done.stderr
    assert "1.5 x 0 x 2 mm" in done.stderr.replace("\n", " ")
    assert "should be non-zero" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
