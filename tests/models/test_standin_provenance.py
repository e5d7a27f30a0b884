"""Results from stand-in weights say so in every JSON, the workbook and on every PDF page."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from body_organ_analysis.cli import main


@pytest.fixture()
def env(monkeypatch, standin_weights, ts_home):
    for name in ("BOA_WEIGHTS_DIR", "BOA_OFFLINE", "FAST_TOTAL", "DEVICE", "BOA_WEIGHTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(standin_weights))
    return monkeypatch


def test_stand_in_body_maps_are_flagged_everywhere(env, ts_example, tmp_path, capsys):
    from openpyxl import load_workbook

    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "bca", "--fast-bca", "-d", "cpu",
                 "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert not (out / "total-measurements.json").exists()  # the organ file is named after no model
    for name in ("structure-measurements.json", "cnr.json", "contrast.json", "bone-density.json",
                 "bca-measurements.json"):  # fmt: skip
        provenance = json.loads((out / name).read_text())["provenance"]
        assert provenance["stand_in"] is True and set(provenance["stand_in_models"]) == {"body_regions", "body_parts"}
        assert "TEST RUN" in provenance["text"]
    info = {row[0]: row[1] for row in load_workbook(out / "output.xlsx", read_only=True)["info"].values}
    assert info["provenance_stand_in_weights"] is True and "stand-in" in info["provenance"]
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip
        pages = [page for page in text.split("\f") if page.strip()]
        assert len(pages) >= 3 and all("TEST RUN" in page for page in pages)
