"""What ``boa evaluate`` compares: pairs of label maps, their grids and the labels to score."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from body_organ_analysis.errors import ExitCode, InputError, SegmentationError, UsageError

NIFTI_SUFFIXES = (".nii.gz", ".nii")
IGNORE_VALUE = 255  # SAROS: reference voxels not annotated


@dataclass(frozen=True)
class Pair:
    case: str
    pred: Path
    ref: Path


@dataclass(frozen=True)
class Structure:
    """One scored structure: prediction values ``pred_values`` against reference values ``ref_values``."""

    label: int
    name: str
    pred_values: tuple[int, ...]
    ref_values: tuple[int, ...]


def case_name(path: Path) -> str:
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def find_pairs(pred: Path | None, ref: Path | None, pairs_csv: Path | None) -> list[Pair]:
    """Two files, two folders matched by file name, or a CSV with columns case,pred,ref."""
    if pairs_csv is not None:
        if pred is not None or ref is not None:
            raise UsageError("Give either --pairs CSV or --pred and --ref, not both.")
        return _pairs_from_csv(pairs_csv)
    if pred is None or ref is None:
        raise UsageError("Give --pred and --ref (two files or two folders), or --pairs CSV.")
    for path in (pred, ref):
        if not path.exists():
            raise InputError(f"{path} does not exist. Check the path given to --pred/--ref.", ExitCode.INPUT_NOT_FOUND)
    if pred.is_file() and ref.is_file():
        return [Pair(case_name(ref), pred, ref)]
    if pred.is_dir() and ref.is_dir():
        return _pairs_from_folders(pred, ref)
    raise UsageError("--pred and --ref must both be files or both be folders.")


def _nifti_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and p.name.endswith(NIFTI_SUFFIXES)}


def _pairs_from_folders(pred: Path, ref: Path) -> list[Pair]:
    preds, refs = _nifti_files(pred), _nifti_files(ref)
    common = sorted(set(preds) & set(refs))
    if not common:
        raise InputError(
            f"No file name is in both {pred} and {ref}. Prediction and reference label maps are "
            "matched by file name (e.g. case01.nii.gz in both folders).",
            ExitCode.INPUT_NOT_FOUND,
        )
    return [Pair(case_name(refs[name]), preds[name], refs[name]) for name in common]


def _pairs_from_csv(path: Path) -> list[Pair]:
    rows = _read_csv(path, required=("pred", "ref"))
    base = path.parent
    pairs = []
    for number, row in enumerate(rows, start=2):
        pred, ref = base / row["pred"].strip(), base / row["ref"].strip()
        for file in (pred, ref):
            if not file.is_file():
                raise InputError(f"{path}, line {number}: {file} does not exist.", ExitCode.INPUT_NOT_FOUND)
        pairs.append(Pair((row.get("case") or "").strip() or case_name(ref), pred, ref))
    cases = [p.case for p in pairs]
    if len(set(cases)) != len(cases):
        raise UsageError(f"{path}: case names repeat; give each pair its own case name.")
    return pairs


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path} does not exist.", ExitCode.INPUT_NOT_FOUND)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(f"{path} lacks the column(s) {', '.join(missing)}; its header must name {', '.join(required)}.")
        return list(reader)


def read_structures(path: Path) -> list[Structure]:
    """A label-map CSV: columns ``pred,ref[,name]``; each cell one value or '+'-joined values.

    Several reference values mapped to one structure are merged (e.g. SAROS's
    parotid, submandibular and thyroid glands against body_regions' ``glands``).
    """
    structures = []
    for number, row in enumerate(_read_csv(path, required=("pred", "ref")), start=2):
        try:
            pred = tuple(int(v) for v in row["pred"].split("+"))
            ref = tuple(int(v) for v in row["ref"].split("+"))
        except ValueError:
            raise UsageError(f"{path}, line {number}: pred and ref must be label numbers, e.g. 6 or 6+12+13.") from None
        structures.append(Structure(pred[0], (row.get("name") or "").strip() or f"label_{pred[0]}", pred, ref))
    return structures


def model_structures(labels: dict[int, str], present: set[int]) -> list[Structure]:
    """Every label of the model's table, and any other value found in either map."""
    values = sorted(set(labels) | present)
    return [Structure(v, labels.get(v, f"label_{v}"), (v,), (v,)) for v in values]


@dataclass
class LabelImage:
    data: np.ndarray
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))


def load_labels(path: Path, what: str) -> LabelImage:
    """A label map in canonical (RAS) array order, so stored orientation never changes a number."""
    try:
        image = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asanyarray(image.dataobj)
    except Exception as error:
        raise InputError(f"The {what} {path.name} cannot be read as NIfTI ({type(error).__name__}).") from None
    if data.ndim != 3:
        raise SegmentationError(f"The {what} {path.name} has {data.ndim} dimensions; a label map has 3.")
    if np.issubdtype(data.dtype, np.floating) and not np.array_equal(data, np.round(data)):
        raise SegmentationError(f"The {what} {path.name} holds fractional values; a label map holds whole label numbers.")
    return LabelImage(data.astype(np.int32), image.affine)


def same_grid(a: LabelImage, b: LabelImage) -> bool:
    return a.data.shape == b.data.shape and np.allclose(a.affine, b.affine, atol=1e-3)


def resample_nearest(moving: LabelImage, target: LabelImage) -> LabelImage:
    """``moving`` on ``target``'s grid, nearest neighbour; voxels outside it become 0."""
    from scipy import ndimage

    voxel_to_voxel = np.linalg.inv(moving.affine) @ target.affine
    data = ndimage.affine_transform(
        moving.data, voxel_to_voxel[:3, :3], offset=voxel_to_voxel[:3, 3],
        output_shape=target.data.shape, order=0, mode="constant", cval=0,
    )
    return LabelImage(data, target.affine)


def grid_error(pair: Pair, pred: LabelImage, ref: LabelImage) -> SegmentationError:
    return SegmentationError(
        f"Case {pair.case}: the prediction ({'x'.join(map(str, pred.data.shape))} voxels, spacing "
        f"{_mm(pred.spacing)} mm) and the reference ({'x'.join(map(str, ref.data.shape))} voxels, spacing "
        f"{_mm(ref.spacing)} mm) are not on the same grid. Give --resample to resample the prediction "
        "onto the reference grid (nearest neighbour), or compare label maps of the same image."
    )


def _mm(spacing: tuple[float, ...]) -> str:
    return "x".join(f"{s:.3g}" for s in spacing)
