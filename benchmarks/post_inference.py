"""Benchmark: the whole ``total+bca`` process after the networks, as a user runs it.

The cases are made from the real example CT (../shared/data/ts-example/ct_small.nii.gz,
122 x 101 x 30 voxels) and its ``total`` map (seg_total.nii.gz), resampled up to each
grid (``scipy.ndimage.zoom``: order 1 for HU, order 0 for labels) with a clinical voxel
size (0.75 x 0.75 x 1 mm on a 512 matrix, 1.5 x 1.5 x 1 mm on a 256 matrix):

    512 x 512 x 300   the reference case (targets: <= 10 s, peak RSS <= 950 MB)
    512 x 512 x 600   twice the voxels (targets: <= 2.1 x the time, <= 1.3 x the RSS)
    256 x 256 x 300   half the in-plane matrix

The body maps (``body_regions``, ``body_parts``) come from the threshold engine: one
untimed CLI run makes them, then every timed run supplies all three maps with
``--segmentation`` (``-m total+body_regions+body_parts+bca``), so what is timed is everything after the networks (tissues, slice
tables, aggregation, statistics, CNR, contrast, bone density, label-map writes,
workbook, JSON, PDF) plus process start and imports. Each timed run is a fresh
``python -m body_organ_analysis`` process; wall time and that process's peak RSS
(``os.wait4``) are printed with the per-stage times of its manifest (``timings_s``).

    python benchmarks/post_inference.py [--cache DIR] [--sizes 512x512x300,...]
                                        [--repeat N] [--save FILE.json] [--compare FILE.json]

Generated inputs are cached in ``--cache`` (default: $TMPDIR/boa-post-inference);
``--save`` stores the figures and ``--compare`` prints them beside a saved run
(e.g. one made on the code before an optimisation).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ts-example"
DEFAULT_SIZES = "512x512x300,512x512x600,256x256x300"
CLI = [sys.executable, "-m", "body_organ_analysis"]
MAKE_MAPS_ARGS = ["-m", "total+bca", "--bca-engine", "threshold"]  # body maps made by the engine
THREADED = ("write label maps", "write tissues")  # stages timed in a thread of their own
RUN_ARGS = ["-m", "total+body_regions+body_parts+bca", "--bca-engine", "threshold"]  # all supplied


def spacing_for(shape: tuple[int, int, int]) -> tuple[float, float, float]:
    in_plane = 0.75 * 512 / shape[0]
    return (in_plane, in_plane, 1.0)


def make_case(shape: tuple[int, int, int], cache: Path) -> dict[str, Path]:
    """CT and total map on ``shape`` (cached), then body maps from one threshold-engine run."""
    folder = cache / "x".join(map(str, shape))
    paths = {name: folder / f"{name}.nii.gz" for name in ("ct", "total", "body_regions", "body_parts")}
    if all(p.exists() for p in paths.values()):
        return paths
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    folder.mkdir(parents=True, exist_ok=True)
    source = nib.load(str(DATA / "ct_small.nii.gz"))
    factors = [t / s for t, s in zip(shape, source.shape)]
    affine = np.diag([*spacing_for(shape), 1.0])
    affine[:3, 3] = source.affine[:3, 3]
    hu = np.asanyarray(source.dataobj).astype(np.float32)
    big_hu = np.rint(ndimage.zoom(hu, factors, order=1)).astype(np.int16)
    del hu
    seg = np.asanyarray(nib.load(str(DATA / "seg_total.nii.gz")).dataobj).astype(np.uint8)
    big_seg = ndimage.zoom(seg, factors, order=0).astype(np.uint8)
    assert big_hu.shape == shape == big_seg.shape
    for name, data in (("ct", big_hu), ("total", big_seg)):
        image = nib.Nifti1Image(data, affine)
        image.set_qform(affine, code=1)
        image.set_sform(affine, code=1)
        nib.save(image, str(paths[name]))
    del big_hu, big_seg
    with tempfile.TemporaryDirectory(prefix="boa-bench-maps-", dir=cache) as out:
        subprocess.run(
            [*CLI, "-i", str(paths["ct"]), "-o", out, *MAKE_MAPS_ARGS, "--bca-no-pdf",
             "--skip-contrast-information", "--segmentation", f"total={paths['total']}"],
            check=True, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name in ("body_regions", "body_parts"):
            os.replace(Path(out) / f"{name}.nii.gz", paths[name])
    return paths


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def timed_run(paths: dict[str, Path], out: Path) -> dict:
    """One whole CLI process: wall time, peak RSS (MB) and the manifest's step times."""
    command = [*CLI, "-i", str(paths["ct"]), "-o", str(out), *RUN_ARGS, "--force-recompute"]
    for name in ("total", "body_regions", "body_parts"):
        command += ["--segmentation", f"{name}={paths[name]}"]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the CLI failed with exit code {process.returncode}")
    manifest = json.loads((out / "manifest.json").read_text())
    stages = manifest["timings_s"]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # less sensitive than wall time to other load
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "stages_s": stages,
        # start, imports, exit: what no stage of the main thread timed (the writers' threads overlap them)
        "outside_stages_s": round(wall - sum(t for name, t in stages.items() if name not in THREADED), 2),
    }


def best_of(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall_s"])


def print_case(name: str, result: dict, before: dict | None) -> None:
    def figures(r: dict) -> str:
        cpu = f", CPU {r['cpu_s']:.2f} s" if "cpu_s" in r else ""
        return f"wall {r['wall_s']:.2f} s{cpu}, peak RSS {r['peak_rss_mb']:.0f} MB"

    print(f"\n== {name}: {figures(result)}" + (f"  (before: {figures(before)})" if before else ""))
    stages = dict(result["stages_s"], **{"(process start, imports, exit)": result["outside_stages_s"]})
    old = dict(before["stages_s"], **{"(process start, imports, exit)": before["outside_stages_s"]}) if before else {}
    names = list(dict.fromkeys([*old, *stages]))
    header = f"   {'stage':<34} {'now s':>8}" + (f" {'before s':>9}" if before else "")
    print(header)
    for stage in names:
        now = f"{stages[stage]:8.2f}" if stage in stages else f"{'-':>8}"
        row = f"   {stage:<34} {now}"
        if before:
            row += f" {old[stage]:9.2f}" if stage in old else f" {'-':>9}"
        print(row)


def print_growth(results: dict[str, dict]) -> None:
    base = results.get("512x512x300")
    if not base:
        return
    print("\ngrowth against 512x512x300 (voxels, wall time, CPU time, peak RSS):")
    for name, result in results.items():
        voxels = eval_voxels(name) / eval_voxels("512x512x300")
        print(f"   {name:<14} {voxels:5.2f} x voxels  {result['wall_s'] / base['wall_s']:5.2f} x time"
              f"  {result['cpu_s'] / base['cpu_s']:5.2f} x CPU  {result['peak_rss_mb'] / base['peak_rss_mb']:5.2f} x RSS")  # fmt: skip


def eval_voxels(name: str) -> int:
    x, y, z = (int(v) for v in name.split("x"))
    return x * y * z


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "boa-post-inference")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated XxYxZ (default {DEFAULT_SIZES})")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest is shown")
    parser.add_argument("--save", type=Path, help="store the figures in this JSON file")
    parser.add_argument("--compare", type=Path, help="a JSON file of --save to print beside")
    parser.add_argument("--keep-outputs", action="store_true", help="keep the output folders in --cache")
    args = parser.parse_args()
    before = json.loads(args.compare.read_text())["results"] if args.compare else {}
    args.cache.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for name in args.sizes.split(","):
        shape = tuple(int(v) for v in name.split("x"))
        start = time.perf_counter()
        paths = make_case(shape, args.cache)  # type: ignore[arg-type]
        print(f"{name}: inputs ready in {time.perf_counter() - start:.1f} s ({paths['ct'].parent})", flush=True)
        runs = []
        for _ in range(args.repeat):
            out = args.cache / f"out-{name}"
            runs.append(timed_run(paths, out))
            if not args.keep_outputs:
                import shutil

                shutil.rmtree(out, ignore_errors=True)
        results[name] = best_of(runs)
        print_case(name, results[name], before.get(name))
    print_growth(results)
    if args.save:
        args.save.write_text(json.dumps({"python": sys.version.split()[0], "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
