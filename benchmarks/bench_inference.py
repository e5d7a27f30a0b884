"""Time one model call: the in-process engine vs TotalSegmentator's python API and its command, same stand-in weights.

    python benchmarks/bench_inference.py [--model total] [--fast] [--ct PATH] [--threads N] [--repeat 2]
                                         [--against api,command]

The command (``TotalSegmentator -i CT -o DIR -ta TASK -d cpu -ml``) runs as a process of
its own per call, as a user runs it, with OMP_NUM_THREADS set to --threads.

Stand-in weights (tiny random networks) are generated in a temporary folder. With
``--fast`` the figures are mostly what surrounds the network (loading, pre- and
postprocessing, process pools); at 1.5 mm the stand-in's own convolutions, the same work
in both tools, take most of a call (docs/models.md). Prints one line per call.
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
DEFAULT_CT = REPO.parent / "shared" / "data" / "ts-example" / "ct_small.nii.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="total")
    parser.add_argument("--fast", action="store_true", help="the fast variant (total: 3 mm)")
    parser.add_argument("--ct", type=Path, default=DEFAULT_CT)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeat", type=int, default=2, help="calls of each kind")
    parser.add_argument("--against", default="api,command", help="api, command or both (comma-separated)")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="boa-bench-") as temporary:
        root = Path(temporary) / "weights"
        home = Path(temporary) / "tshome"
        home.mkdir()
        (home / "config.json").write_text(json.dumps({"totalseg_id": "bench", "send_usage_stats": False,
                                                      "prediction_counter": 0, "statistics_disclaimer_shown": True}))
        os.environ.update(TOTALSEG_WEIGHTS_PATH=str(root), TOTALSEG_HOME_DIR=str(home))
        from body_organ_analysis.imaging import load_ct
        from body_organ_analysis.models.engine import predict_model
        from body_organ_analysis.models.registry import get_model
        from body_organ_analysis.settings import RuntimeConfig, Settings
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test stand-ins
        from helpers.standins import make_standins

        make_standins(root, [args.model])
        settings = Settings(input_image=args.ct, output_dir=Path(temporary) / "out", fast_total=args.fast,
                            runtime=RuntimeConfig(device="cpu", weights_dir=root))
        ct = load_ct(args.ct)
        spec = get_model(args.model)
        labelmaps = {}
        if spec.requires:  # crop models: their crop comes from total, made first (not timed)
            labelmaps["total"], _ = predict_model(get_model("total"), ct, settings, {})
        ours = None
        for call in range(1, args.repeat + 1):
            start = time.perf_counter()
            label_map, record = predict_model(spec, ct, settings, labelmaps)
            elapsed = time.perf_counter() - start
            ours = label_map.data
            print(f"in-process engine, call {call}: {elapsed:6.1f} s "
                  f"(load {record['load_time_s']:.1f} s, inference {record['inference_time_s']:.1f} s)")

        against = set(args.against.split(","))
        if "command" in against:
            time_command(args, spec.task or spec.name, Path(temporary) / "ts-command")
        if "api" not in against:
            return
        from totalsegmentator.python_api import totalsegmentator

        for call in range(1, args.repeat + 1):
            start = time.perf_counter()
            image = totalsegmentator(str(args.ct), None, task=spec.task, fast=args.fast, device="cpu",
                                     quiet=True, nr_thr_saving=1)
            elapsed = time.perf_counter() - start
            print(f"TotalSegmentator API, call {call}: {elapsed:6.1f} s")
        if not spec.requires:
            differing = int(np.count_nonzero(np.asarray(image.dataobj) != ours))
            print(f"differing voxels between the two: {differing}")


def time_command(args: argparse.Namespace, task: str, out: Path) -> None:
    """Wall time of the TotalSegmentator command, a fresh process per call."""
    import subprocess

    command = [str(Path(sys.executable).with_name("TotalSegmentator")), "-i", str(args.ct), "-o", str(out),
               "-ta", task, "-d", "cpu", "-ml", "-q", *(["--fast"] if args.fast else [])]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for call in range(1, args.repeat + 1):
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"TotalSegmentator command, call {call}: {time.perf_counter() - start:6.1f} s")


if __name__ == "__main__":
    main()
