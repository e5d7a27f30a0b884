"""The per-slice body-composition plot with vertebra markers (L3 in bold)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

SLICE_SHEET = "bca-slice-measurements"
TISSUES = ("muscle", "sat", "vat", "imat", "bone")


def slice_table(output: Path) -> pd.DataFrame | None:
    workbook = output / "output.xlsx"
    if not workbook.is_file():
        return None
    try:
        return pd.read_excel(workbook, sheet_name=SLICE_SHEET)
    except ValueError:  # no such sheet: the run had no body composition
        return None


def composition_figure(slices: pd.DataFrame, levels: dict[str, Any]) -> Any:
    """Area (cm²) of each tissue along the body axis, with a line at each vertebra's slice."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.2), dpi=100)
    axes = figure.add_subplot()
    for tissue in TISSUES:
        column = f"{tissue}_area_cm2"
        if column in slices:
            axes.plot(slices["position_mm"], slices[column], label=tissue if tissue in ("muscle", "bone") else tissue.upper())
    for name, level in levels.items():
        position = level.get("position_mm")
        if position is None:
            continue
        bold = name == "L3"
        axes.axvline(position, color="black" if bold else "grey", linestyle="-" if bold else ":",
                     linewidth=1.6 if bold else 0.8)  # fmt: skip
        axes.text(position, axes.get_ylim()[1], name, ha="center", va="bottom", fontsize=8,
                  fontweight="bold" if bold else "normal")  # fmt: skip
    axes.set_xlabel("position along the body axis (mm, inferior -> superior)")
    axes.set_ylabel("area per slice (cm²)")
    axes.legend(fontsize=8, ncol=len(TISSUES), loc="upper left", bbox_to_anchor=(0, -0.25))
    figure.tight_layout()
    return figure
