"""Imports only for what runs: an analysis with every map supplied and no figure loads no
network or plotting library; the contrast-phase mapping kept here equals TotalSegmentator's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from body_organ_analysis.measure.contrast import pi_time_to_phase

HEAVY = ("torch", "nnunetv2", "sklearn", "matplotlib")
REPO = Path(__file__).resolve().parents[2]


def test_phase_mapping_equals_totalsegmentators():
    from totalsegmentator.bin.totalseg_get_phase import pi_time_to_phase as reference

    for pi_time in [*np.arange(-5.0, 130.0, 0.25), 4.999, 5.0, 59.99, 60.0, 1e6]:
        phase, probability = reference(float(pi_time))
        assert pi_time_to_phase(float(pi_time)) == (phase, probability), pi_time


def test_analysis_without_networks_or_figures_imports_none_of_them(ts_example: Path, tmp_path: Path):
    script = (
        "import json, sys\n"
        "from body_organ_analysis.cli import main\n"
        f"code = main(['-i', {str(ts_example / 'ct_small.nii.gz')!r}, '-o', {str(tmp_path / 'out')!r},"
        " '-m', 'total+bca', '--bca-engine', 'threshold', '--bca-no-pdf',"
        f" '--segmentation', 'total=' + {str(ts_example / 'seg_total.nii.gz')!r}])\n"
        f"print(json.dumps([code, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0
    assert loaded == []
    contrast = json.loads((tmp_path / "out" / "contrast.json").read_text())
    assert contrast["phase"] is not None  # the XGBoost phase model did run, without scikit-learn
