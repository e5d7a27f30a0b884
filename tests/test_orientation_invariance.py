"""The same CT stored in four orientations gives the same numbers and the same label maps.

The real example CT and TotalSegmentator's `total` map for it are stored (by nibabel,
exact flips and axis swaps) as RAS, LAS, LPS and PIR (an axis-permuted order with the
slices stored head first) and analysed by analyze() with ``-m total+bca
--bca-engine threshold --cnr-adjustment``: once with the threshold engine making
body_regions/body_parts, once with those maps supplied (the RAS run's maps, stored in
the same orientation as the CT). Every number of every JSON result (organ volumes and
HU, CNR, contrast, bone density, tissue volumes and statistics, every vertebral-level
row, findings) must agree as reported; ``slice_index`` is an array index, so it must
point at the same world position instead. Run with ``-s`` to see the table of the
largest relative difference per quantity.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.pipeline import analyze
from body_organ_analysis.settings import build_settings

ORDERS = ("RAS", "LAS", "LPS", "PIR")
MAPS = ("body_regions", "body_parts", "tissues")
SIGNIFICANT_DIGITS = 6  # the reports show fewer; float sums in another order differ at ~1e-16


def stored_as(image: nib.Nifti1Image, codes: str) -> nib.Nifti1Image:
    transform = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(image.affine), nib.orientations.axcodes2ornt(tuple(codes))
    )
    return image.as_reoriented(transform)


def run(folder: Path, ct: nib.Nifti1Image, maps: dict[str, nib.Nifti1Image], codes: str) -> Path:
    folder.mkdir(parents=True)
    nib.save(stored_as(ct, codes), folder / "ct.nii.gz")
    supplied = {}
    for name, image in maps.items():
        supplied[name] = folder / f"{name}.nii.gz"
        nib.save(stored_as(image, codes), supplied[name])
    out = folder / "out"
    settings = build_settings({
        "input_image": folder / "ct.nii.gz", "output_dir": out, "models": (*maps, "bca"),
        "segmentations": supplied, "bca_engine": "threshold", "cnr_adjustment": True,
    }, {})  # fmt: skip
    analyze(settings)
    return out


def results(out: Path) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))
            if p.name != "manifest.json" and not p.name.endswith(".labels.json")}  # fmt: skip


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, str(index)))
    else:
        yield path, value


def quantity(file: str, path: tuple[str, ...]) -> str:
    """Group name of a leaf: file, section and the measured key (not the structure's name)."""
    stem = file.removesuffix(".json")
    if len(path) == 1 or path[0] == "features_median_hu":
        return f"{stem}: {path[0]}"
    if stem == "bone-density":  # {vertebra: {key: value}}
        return f"{stem}: {path[-1]}"
    return f"{stem}: {path[0]} / {path[-1]}"


def as_reported(value: Any) -> Any:
    if isinstance(value, float) and np.isfinite(value) and value != 0:
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


@pytest.fixture(scope="module")
def runs(ts_example: Path, tmp_path_factory) -> dict[str, dict[str, Path]]:
    root = tmp_path_factory.mktemp("orientations")
    ct = nib.load(str(ts_example / "ct_small.nii.gz"))
    total = nib.load(str(ts_example / "seg_total.nii.gz"))
    done: dict[str, dict[str, Path]] = {"threshold engine": {}, "supplied maps": {}}
    for codes in ORDERS:
        done["threshold engine"][codes] = run(root / f"engine-{codes}", ct, {"total": total}, codes)
    made = {name: nib.load(str(done["threshold engine"]["RAS"] / f"{name}.nii.gz")) for name in MAPS[:2]}
    for codes in ORDERS:
        done["supplied maps"][codes] = run(root / f"supplied-{codes}", ct, {"total": total, **made}, codes)
    return done


def test_the_inputs_really_are_stored_differently(runs):
    codes = {nib.aff2axcodes(nib.load(str(out.parent / "ct.nii.gz")).affine) for out in runs["threshold engine"].values()}
    assert codes == {tuple(c) for c in ORDERS}


@pytest.mark.parametrize("variant", ["threshold engine", "supplied maps"])
def test_every_reported_number_is_the_same_in_every_orientation(runs, variant):
    outs = runs[variant]
    reference = dict(leaves(results(outs["RAS"])))
    assert len(reference) > 500
    worst: dict[str, float] = defaultdict(float)
    mismatches = []
    for codes in ORDERS[1:]:
        other = dict(leaves(results(outs[codes])))
        assert set(other) == set(reference), (codes, set(other) ^ set(reference))
        for path, value in reference.items():
            got = other[path]
            file, rest = path[0], path[1:]
            if rest[-1] == "slice_index":  # an array index: the same world position instead
                position = (*path[:-1], "position_mm")
                assert reference[position] == other[position]
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and isinstance(got, (int, float)) and value is not None:
                scale = max(abs(value), abs(got))
                difference = abs(value - got) / scale if scale else 0.0
                key = quantity(file, rest)
                worst[key] = max(worst[key], difference)
            if as_reported(value) != as_reported(got):
                mismatches.append((codes, "/".join(path), value, got))
    print(f"\nmax relative difference vs RAS over LAS, LPS, PIR ({variant}):")
    for key in sorted(worst):
        print(f"  {key:<72} {worst[key]:.1e}")
    assert not mismatches, mismatches[:20]


@pytest.mark.parametrize("variant", ["threshold engine", "supplied maps"])
def test_label_maps_are_the_same_voxels_in_every_orientation(runs, variant):
    """body_regions, body_parts (arms and legs by side) and tissues, brought back to RAS."""
    outs = runs[variant]
    for name in MAPS:
        reference = np.asanyarray(stored_as(nib.load(str(outs["RAS"] / f"{name}.nii.gz")), "RAS").dataobj)
        for codes in ORDERS[1:]:
            image = nib.load(str(outs[codes] / f"{name}.nii.gz"))
            assert nib.aff2axcodes(image.affine) == tuple(codes)  # written on the input grid
            np.testing.assert_array_equal(np.asanyarray(stored_as(image, "RAS").dataobj), reference, err_msg=name)
