"""Output files for download: each one, one zip of all, and the PDF as page images."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

MIME = {".json": "application/json", ".pdf": "application/pdf", ".png": "image/png", ".gz": "application/gzip",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip


def output_files(output: Path) -> list[Path]:
    return sorted(p for p in output.rglob("*") if p.is_file() and not p.name.startswith("."))


def mime_of(path: Path) -> str:
    return MIME.get(path.suffix, "application/octet-stream")


def zip_bytes(output: Path) -> bytes:
    """All output files in one zip, paths relative to the output folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in output_files(output):
            archive.write(path, path.relative_to(output).as_posix())
    return buffer.getvalue()


def pdf_pages_png(pdf: Path, dpi: int = 70) -> list[bytes]:
    """The PDF's pages as PNG (poppler's pdftoppm); empty when pdftoppm is not installed."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        return []
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([tool, "-png", "-r", str(dpi), str(pdf), f"{folder}/page"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)  # fmt: skip
        return [p.read_bytes() for p in sorted(Path(folder).glob("page*.png"))]
