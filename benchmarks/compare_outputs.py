"""Are two output folders of the same input the same results? (e.g. before/after an optimisation)

JSON files byte for byte (the manifest without its times, date and file hashes), label
maps by their NIfTI bytes, the workbook cell by cell; the PDF is not compared (it embeds
its creation time). Usage: python benchmarks/compare_outputs.py FOLDER_A FOLDER_B
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path


def manifest_without_run_details(path: Path) -> dict:
    manifest = json.loads(path.read_text())
    for key in ("created_utc", "timings_s", "files"):
        manifest.pop(key, None)
    for record in manifest.get("models", {}).values():
        record.pop("total_time_s", None)
    return manifest


def workbook_cells(path: Path) -> dict[str, list[list]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    return {sheet: [list(row) for row in book[sheet].iter_rows(values_only=True)] for sheet in book.sheetnames}


def same(a: Path, b: Path) -> bool:
    if a.name.endswith("manifest.json"):
        return manifest_without_run_details(a) == manifest_without_run_details(b)
    if a.name.endswith(".nii.gz"):
        return gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())
    if a.suffix == ".xlsx":
        return workbook_cells(a) == workbook_cells(b)
    return a.read_bytes() == b.read_bytes()


def main(argv: list[str]) -> int:
    first, second = (Path(a) for a in argv)
    names_a = {p.name for p in first.iterdir()}
    names_b = {p.name for p in second.iterdir()}
    differences = sorted(names_a ^ names_b)
    for name in sorted(names_a & names_b):
        if name.endswith(".pdf"):
            print(f"{name:<32} not compared (it embeds its creation time)")
            continue
        if not same(first / name, second / name):
            differences.append(name)
        print(f"{name:<32} {'same' if name not in differences else 'DIFFERENT'}")
    for name in sorted(names_a ^ names_b):
        print(f"{name:<32} only in {'the first' if name in names_a else 'the second'} folder")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
