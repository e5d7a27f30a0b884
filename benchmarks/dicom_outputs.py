"""Time to build the DICOM outputs (SEG, SR, PDF) for the real 512 x 512 x 20 series.

Run from the repository root:  python benchmarks/dicom_outputs.py [repeats]
Makes a result folder with analyze() (TotalSegmentator's `total` map of the
series supplied), adds measurement files and a PDF, then times each output.
"""

from __future__ import annotations

import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pydicom  # noqa: E402
from pydicom.uid import JPEG2000Lossless  # noqa: E402

from body_organ_analysis.pacs.dicom_outputs import DicomOutputSettings, build_dicom_outputs  # noqa: E402
from body_organ_analysis.pipeline import analyze  # noqa: E402
from body_organ_analysis.settings import RuntimeConfig, Settings  # noqa: E402
from tests.pacs_dicom.results import complete_result_folder  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "ts-example"


def best_of(repeats: int, build) -> tuple[float, list]:
    times, result = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - start)
    return min(times), result


def encoded_size(datasets) -> int:
    total = 0
    for ds in datasets:
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        total += buffer.tell()
    return total


def main(repeats: int = 3) -> None:
    series = DATA / "dicom_series_with_uids"
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(series.iterdir())]
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result"
        analyze(Settings(input_image=series, output_dir=result, runtime=RuntimeConfig(device="cpu"),
                         segmentations={"total": DATA / "seg_total_dicom_series.nii.gz"}))  # fmt: skip
        complete_result_folder(result)
        cases = {
            "SEG (total)": DicomOutputSettings(sr=False, pdf=False),
            "SEG, JPEG 2000 lossless": DicomOutputSettings(
                sr=False, pdf=False, seg_transfer_syntax_uid=JPEG2000Lossless
            ),
            "SR (+ SEG it references)": DicomOutputSettings(pdf=False),
            "PDF": DicomOutputSettings(seg=False, sr=False),
            "all (SEG, SR, PDF)": DicomOutputSettings(),
        }
        print(f"source: {len(sources)} slices of {sources[0].Rows} x {sources[0].Columns}; best of {repeats}")
        for name, settings in cases.items():
            seconds, built = best_of(repeats, lambda: build_dicom_outputs(result, sources, settings))
            frames = sum(int(getattr(ds, "NumberOfFrames", 0) or 0) for ds in built)
            print(f"{name:28s} {seconds:6.2f} s  {len(built)} object(s), {frames} SEG frames, "
                  f"{encoded_size(built) / 1e6:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
