"""Benchmark: structure statistics of a 512 x 512 x 300 CT with a 117-label ``total`` map.

The volume is the real example CT (../shared/data/ts-example/ct_small.nii.gz)
and its ``total`` map resampled to 512 x 512 x 300 (linear for HU, nearest for
labels): a realistic body, not noise. Its map holds the 41 structures of the
crop; the "all 117" variant also splits the largest structures into slabs that
take the other ids, so that every label of the 117 is present.

Usage: python benchmarks/bench_structure_stats.py [--naive] [--repeat N]
(--naive also times one full-volume mask per label, the reference tool's way.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ts-example"
SHAPE = (512, 512, 300)


def make_volume() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    ct_image = nib.load(str(DATA / "ct_small.nii.gz"))
    ct = np.asanyarray(ct_image.dataobj).astype(np.float32)
    seg = np.asanyarray(nib.load(str(DATA / "seg_total.nii.gz")).dataobj)
    factors = [t / s for t, s in zip(SHAPE, ct.shape)]
    big_ct = np.rint(ndimage.zoom(ct, factors, order=1)).astype(np.int16)
    big_seg = ndimage.zoom(seg, factors, order=0).astype(np.uint8)
    assert big_ct.shape == SHAPE and big_seg.shape == SHAPE
    spacing = np.asarray(ct_image.header.get_zooms()[:3]) / np.asarray(factors)
    return big_ct, big_seg, all_labels_present(big_seg), float(np.prod(spacing)) / 1000.0


def all_labels_present(seg: np.ndarray) -> np.ndarray:
    """Give every unused id of 1..117 a cranio-caudal slab of one of the largest structures."""
    result = seg.copy()
    counts = np.bincount(seg.reshape(-1), minlength=118)
    unused = [i for i in range(1, 118) if counts[i] == 0]
    largest = [int(i) for i in np.argsort(counts[1:])[::-1][:8] + 1]
    per_structure = -(-len(unused) // len(largest))
    for k, structure in enumerate(largest):
        ids = unused[k * per_structure : (k + 1) * per_structure]
        bounds = np.linspace(0, seg.shape[2], len(ids) + 2).astype(int)
        for new_id, lo, hi in zip(ids, bounds[1:], bounds[2:]):
            slab = result[:, :, lo:hi]
            slab[slab == structure] = new_id
    return result


def naive(ct: np.ndarray, seg: np.ndarray, labels: dict[int, str]) -> None:
    for label in labels:
        mask = seg == label
        if mask.any():
            values = ct[mask]
            values.mean(), values.std(), values.min(), values.max()
            np.percentile(values, [25, 50, 75])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # this checkout's package, not another installed copy
    from totalsegmentator.map_to_binary import class_map

    from body_organ_analysis.measure.structures import structure_statistics

    labels = class_map["total"]
    start = time.perf_counter()
    ct, seg, seg_all, voxel_ml = make_volume()
    print(f"volume {ct.shape} made in {time.perf_counter() - start:.1f} s")
    for title, label_data in (("41 labels present", seg), ("all 117 labels present", seg_all)):
        present = len(np.unique(label_data)) - 1
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            structure_statistics(ct, label_data, labels, voxel_ml)
            times.append(time.perf_counter() - start)
        print(f"{title} ({present}): structure statistics best {min(times):.2f} s, median {np.median(times):.2f} s")
        start = time.perf_counter()
        structure_statistics(ct.astype(np.float32) + 0.5, label_data, labels, voxel_ml)
        print(f"{title}: float CT (sorted path) {time.perf_counter() - start:.2f} s")
        if args.naive:
            start = time.perf_counter()
            naive(ct, label_data, labels)
            print(f"{title}: naive mask per label {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
