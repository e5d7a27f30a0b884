"""report.pdf and the demo: render the pages (pdftoppm) and read the numbers back (pdftotext)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from body_organ_analysis.demo.run import main as demo_main

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils missing (scripts/install.sh --system installs it)",
)


def pdf_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


def render(path: Path, folder: Path, dpi: int = 40) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(folder / "page")], check=True)
    return sorted(folder.glob("page*.png"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    start = time.perf_counter()
    code = demo_main(["--output-dir", str(out)], {})
    return code, out, time.perf_counter() - start


def test_demo_writes_everything_fast(demo_run):
    code, out, seconds = demo_run
    assert code == 0
    assert seconds < 60
    for name in ("body_regions.nii.gz", "body_parts.nii.gz", "tissues.nii.gz", "bca-measurements.json",
                 "output.xlsx", "report.pdf", "manifest.json", "demo-input/phantom_ct.nii.gz"):  # fmt: skip
        assert (out / name).is_file(), name


@needs_poppler
def test_pdf_pages_and_numbers(demo_run, tmp_path: Path):
    from PIL import Image

    _, out, _ = demo_run
    doc = json.loads((out / "bca-measurements.json").read_text())
    text = pdf_text(out / "report.pdf")
    assert "NOT FOR CLINICAL USE" in text and "APPROXIMATE" in text
    l3 = doc["vertebral_levels"]["L3"]
    assert f"L3 skeletal muscle area (cm²) {l3['muscle_area_cm2']:.2f}" in text
    assert f"MUSCLE volume, whole scan (mL) {doc['aggregated']['whole_scan']['muscle']['volume_ml']:.1f}" in text
    assert "Patient's Size" in text  # why the SMI is missing
    assert "Vertebral levels" in text and "Methods" in text and "-29 to 150 HU" in text
    assert "-1000 to 3000 HU" in text  # the bone window
    assert "`" not in text and "{'" not in text  # no raw Markdown, no Python dicts
    # every page carries the provenance banner (the demo uses the threshold engine)
    pages_text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                                check=True).stdout.split("\f")  # fmt: skip
    pages_text = [page for page in pages_text if page.strip()]
    assert len(pages_text) >= 3 and all("APPROXIMATE" in page for page in pages_text)
    # vertebral levels head to feet in the levels table
    levels_text = text[text.index("Vertebral levels"):]
    order = [name for name in ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5") if f" {name} " in levels_text]
    positions = [levels_text.index(f" {name} ") for name in order]
    assert len(order) >= 3 and positions == sorted(positions)
    pages = render(out / "report.pdf", tmp_path)
    assert len(pages) >= 3
    with Image.open(pages[0]) as image:
        width, height = image.size
        assert height / width == pytest.approx(297 / 210, rel=0.02)  # A4
        pixels = np.asarray(image.convert("L"))
    assert pixels[5, 5] > 240  # light theme
    assert pixels.std() > 20  # not blank: figures and text


@needs_poppler
def test_dark_theme_and_organ_table(small_ct, small_total, tmp_path: Path):
    from PIL import Image

    from body_organ_analysis.bca import stage
    from body_organ_analysis.context import AnalysisContext
    from body_organ_analysis.report.output import OutputStaging
    from body_organ_analysis.settings import build_settings

    settings = build_settings({"input_image": Path("ct_small.nii.gz"), "output_dir": tmp_path / "o",
                               "models": ("bca",), "theme": "dark"}, {})  # fmt: skip
    ctx = AnalysisContext(settings=settings, ct=small_ct, output=OutputStaging(tmp_path / "o"))
    ctx.labelmaps["total"] = small_total
    ctx.results["structures"] = {"total": {
        "liver": {"present": True, "truncated": False, "volume_ml": 1234.5, "hu_mean": 55.25, "hu_std": 9.5, "hu_median": 56.0},
        "brain": {"present": False, "volume_ml": None},
    }}  # fmt: skip
    try:
        stage.run(ctx)
        report = ctx.output.files["report.pdf"]
        text = pdf_text(report)
        assert "Organ measurements" in text and "liver 1234.5 55.2" in text and "brain" not in text
        page = render(report, tmp_path)[0]
        with Image.open(page) as image:
            assert np.asarray(image.convert("L"))[5, 5] < 40  # dark background
        assert ctx.labelmaps["body_regions"].origin == "threshold"  # made by the stage itself
    finally:
        ctx.output.discard()
