"""Benchmark: body composition after the networks, on a 512 x 512 x 300 CT.

The CT is the real example case (../shared/data/ts-example/ct_small.nii.gz)
upsampled to 512 x 512 x 300 voxels (0.75 x 0.75 x 1 mm); its `total` map is
upsampled the same way, and body_regions / body_parts come from the threshold
engine (timed separately). Then analyze() runs with all three supplied
(``--segmentation``) and the times of its steps are printed: the figure that
counts is everything after the networks (tissues, slice measurements,
aggregation, workbook, PDF), to be compared with the 10 s target.

    python benchmarks/bench_bca.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ts-example"
SHAPE = (512, 512, 300)


def upsample(data, shape):
    import numpy as np

    xs = np.minimum((np.arange(shape[0]) * data.shape[0]) // shape[0], data.shape[0] - 1)
    ys = np.minimum((np.arange(shape[1]) * data.shape[1]) // shape[1], data.shape[1] - 1)
    zs = np.minimum((np.arange(shape[2]) * data.shape[2]) // shape[2], data.shape[2] - 1)
    return np.ascontiguousarray(data[np.ix_(xs, ys, zs)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import nibabel as nib
    import numpy as np

    from body_organ_analysis.bca.threshold import threshold_maps
    from body_organ_analysis.imaging.volume import CTVolume
    from body_organ_analysis.labelmap import LabelMap
    from body_organ_analysis.models.registry import get_model
    from body_organ_analysis.pipeline import analyze
    from body_organ_analysis.settings import build_settings

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_bca_"))
    folder.mkdir(parents=True, exist_ok=True)
    source = nib.load(str(DATA / "ct_small.nii.gz"))
    affine = np.diag([0.75, 0.75, 1.0, 1.0])
    affine[:3, 3] = source.affine[:3, 3]
    hu = upsample(np.asanyarray(source.dataobj).astype(np.int16), SHAPE)
    total_data = upsample(np.asanyarray(nib.load(str(DATA / "seg_total.nii.gz")).dataobj).astype(np.uint8), SHAPE)
    ct = CTVolume(hu, affine, "nifti", "bench_ct.nii.gz")
    total = LabelMap(total_data, affine, get_model("total").labels(), "total")

    start = time.process_time()
    regions, parts = threshold_maps(ct, total)
    engine_with_total = time.process_time() - start
    start = time.process_time()
    threshold_maps(ct, None)
    engine_without_total = time.process_time() - start

    paths = {}
    for name, image in (("ct", ct.to_nifti()), ("total", total.to_nifti()), ("body_regions", regions.to_nifti()),
                        ("body_parts", parts.to_nifti())):  # fmt: skip
        paths[name] = folder / f"{name}.nii.gz"
        nib.save(image, str(paths[name]))
    out = folder / "out"
    settings = build_settings({
        "input_image": paths["ct"], "output_dir": out, "models": ("bca",), "force_recompute": True,
        "segmentations": {name: paths[name] for name in ("total", "body_regions", "body_parts")},
    }, {})  # fmt: skip
    # This machine may be shared: the step times below are CPU seconds of this process
    # (``time.perf_counter`` is swapped for ``time.process_time`` while analyze() runs),
    # which is what they would take on an idle core. The wall time is printed beside.
    wall_clock = time.perf_counter
    start = wall_clock()
    time.perf_counter = time.process_time
    try:
        analyze(settings)
    finally:
        time.perf_counter = wall_clock
    wall = wall_clock() - start
    timings = json.loads((out / "manifest.json").read_text())["timings_s"]
    after_networks = sum(v for k, v in timings.items() if k.startswith("bca") or k in ("write workbook", "write label maps"))
    print(f"CT {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, threads: {os.environ.get('OMP_NUM_THREADS', 'default')}, cores: {os.cpu_count()}")
    print(f"load average: {os.getloadavg()[0]:.1f}; times are CPU seconds of this process")
    print(f"threshold engine (both maps, full resolution input): {engine_with_total:.2f} s with total, "
          f"{engine_without_total:.2f} s without")
    for name, seconds in timings.items():
        print(f"  {name:<28} {seconds:7.2f} s")
    print(f"after the networks (label maps, tissues, slices, aggregation, json, workbook, PDF): {after_networks:.2f} s"
          f" (target < 10 s); analyze() wall time incl. loading the inputs, on this (shared?) machine: {wall:.2f} s")
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
