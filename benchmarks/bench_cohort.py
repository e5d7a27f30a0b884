"""Benchmark: cohort throughput, ``--jobs 1`` against ``--jobs 2`` (and ``--celery`` when a broker is configured).

The cohort is the test cohort of tests/cohort (23 cases made from the example CT,
``total`` supplied, body composition by the threshold engine, so no weights
are needed). Each mode runs into a fresh folder; the figure printed is cases
per minute of the analysis phase, from each run's run.json.

    python benchmarks/bench_cohort.py [--celery]   # --celery: RABBITMQ_* etc. set, PACS workers running
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ts-example"
ANALYSIS = ["-m", "total+bca", "--bca-engine", "threshold", "--bca-no-pdf", "--offline", "--no-progress"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--celery", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.cohort.conftest import make_cohort

    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_cohort(DATA, Path(tmp) / "inputs")
        modes = [("--jobs 1", ["--jobs", "1"]), ("--jobs 2", ["--jobs", "2"])]
        if args.celery:
            modes.append(("--celery", ["--celery"]))
        for name, flags in modes:
            out = Path(tmp) / name.strip("-").replace(" ", "")
            subprocess.run([sys.executable, "-m", "body_organ_analysis", "cohort", "--manifest", str(manifest),
                            "-o", str(out), *ANALYSIS, *flags], check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                           stderr=subprocess.DEVNULL)
            run = json.loads((out / "run.json").read_text())
            timings = run["timings"]
            print(f"{name:10s} {run['cases']} cases ({run['counts']['done']} done, {run['counts']['failed']} failed): "
                  f"{timings['analysis_wall_s']:.1f} s, {timings['cases_per_minute']:.1f} cases/min")


if __name__ == "__main__":
    main()
