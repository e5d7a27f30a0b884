"""Time one model call: the in-process engine vs TotalSegmentator's python API, same stand-in weights.

    python benchmarks/bench_inference.py [--model total] [--fast] [--ct PATH] [--threads N] [--repeat 2]

Stand-in weights (tiny random networks) are generated in a temporary folder,
so the figures measure everything but the network itself: loading,
pre/postprocessing, process pools. Prints one line per call.
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


if __name__ == "__main__":
    main()
