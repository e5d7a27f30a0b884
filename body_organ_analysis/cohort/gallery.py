"""QC gallery: one small coronal picture per case with the ``total`` overlay, and an index page.

Radiological convention: the patient's right on the viewer's left (letters R
and L), head up; the cut runs through the centre of the labelled voxels (the
middle of the volume without labels) and pixels are made square in mm.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np
from scipy import ndimage

from body_organ_analysis.report.preview import OVERLAY_ALPHA, WINDOW_HU, label_colour

PIXEL_MM = 2.0  # small: a hundred cases on a screen


def coronal_rgb(ct: np.ndarray, labels: np.ndarray | None, affine: np.ndarray) -> np.ndarray:
    """RGB uint8 coronal view; rows run head to feet, columns patient's right to left."""
    image = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(ct, dtype=np.float32), affine))
    ras = np.asarray(image.dataobj)
    spacing = np.linalg.norm(image.affine[:3, :3], axis=0)
    lab = None
    if labels is not None:
        lab = np.asarray(nib.as_closest_canonical(nib.Nifti1Image(np.asarray(labels, np.int16), affine)).dataobj)
    y = int(round(np.argwhere(lab > 0)[:, 1].mean())) if lab is not None and lab.any() else ras.shape[1] // 2
    # plane (x, z) -> rows: z from superior down; columns: x from the patient's right (high x in RAS) to left
    def view(plane: np.ndarray) -> np.ndarray:
        return plane[::-1, ::-1].T

    zoom = (spacing[2] / PIXEL_MM, spacing[0] / PIXEL_MM)
    low, high = WINDOW_HU
    grey = ndimage.zoom(np.clip((view(ras[:, y, :]) - low) / (high - low), 0, 1), zoom, order=1)
    rgb = np.repeat((grey * 255.0)[..., None], 3, axis=2)
    if lab is not None:
        plane = ndimage.zoom(view(lab[:, y, :]), zoom, order=0)
        palette = np.array([label_colour(v) if v else (0, 0, 0) for v in range(int(plane.max()) + 1)], float)
        inside = plane > 0
        rgb[inside] = (1 - OVERLAY_ALPHA) * rgb[inside] + OVERLAY_ALPHA * palette[plane[inside]]
    return np.round(rgb).astype(np.uint8)


def write_case_picture(ct_path: Path, labels_path: Path, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    ct = nib.load(str(ct_path))
    labels = np.asarray(nib.load(str(labels_path)).dataobj) if labels_path.exists() else None
    rgb = coronal_rgb(np.asarray(ct.dataobj), labels, ct.affine)
    height, width = rgb.shape[:2]
    figure = plt.figure(figsize=(width / 50, height / 50), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(rgb, interpolation="nearest")
    axes.axis("off")
    for x, letter, align in ((0.02, "R", "left"), (0.98, "L", "right")):
        axes.text(x, 0.5, letter, color="yellow", fontsize=10, fontweight="bold", ha=align, va="center",
                  transform=axes.transAxes)
    figure.savefig(target, dpi=100)
    plt.close(figure)


def index_html(entries: Sequence[dict]) -> str:
    """``entries``: case, picture (relative path or None), status, flags (list of text)."""
    cards = []
    for entry in entries:
        flags = "".join(f"<li>{html.escape(flag)}</li>" for flag in entry["flags"]) or "<li class=ok>no flags</li>"
        picture = (f'<img src="{html.escape(entry["picture"])}" alt="coronal view of {html.escape(entry["case"])}">'
                   if entry.get("picture") else "<p class=none>no picture</p>")
        cards.append(f'<div class="card {html.escape(entry["status"])}"><h2>{html.escape(entry["case"])}'
                     f' <small>{html.escape(entry["status"])}</small></h2>{picture}<ul>{flags}</ul></div>')
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Cohort QC</title><style>"
        "body{font-family:sans-serif;background:#222;color:#eee}.card{display:inline-block;vertical-align:top;"
        "width:260px;margin:4px;padding:4px;background:#333}.card img{max-width:256px}.failed{background:#622}"
        "h2{font-size:13px;margin:2px}ul{font-size:11px;padding-left:16px;margin:2px}.ok{color:#8c8}</style></head>"
        "<body><h1>Cohort QC</h1><p>Coronal views, radiological: the patient's right (R) on the left.</p>"
        + "".join(cards) + "</body></html>"
    )
