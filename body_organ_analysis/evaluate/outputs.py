"""Files of ``boa evaluate``: long table (CSV, Parquet), summary, workbook, one box plot per structure."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from body_organ_analysis.errors import ExitCode, OutputError
from body_organ_analysis.report.workbook import Sheet, write_workbook

TABLE = "evaluation"
PLOTS = "plots"


def write_outputs(table: pd.DataFrame, summary: pd.DataFrame, output_dir: Path) -> list[Path]:
    """Write everything into a temporary folder beside ``output_dir``, then move the files in."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".evaluate-", dir=output_dir))
    except OSError as error:
        raise OutputError(f"Cannot write to {output_dir} ({error.strerror}). Choose a writable -o folder.",
                          ExitCode.OUTPUT_NOT_WRITABLE) from None
    try:
        table.to_csv(staging / f"{TABLE}.csv", index=False)
        table.to_parquet(staging / f"{TABLE}.parquet", index=False)
        summary.to_csv(staging / f"{TABLE}_summary.csv", index=False)
        write_workbook(staging / f"{TABLE}.xlsx", [_sheet("cases", table), _sheet("summary", summary)])
        box_plots(table, staging / PLOTS)
        written = []
        for item in sorted(staging.iterdir()):
            target = output_dir / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sheet(name: str, frame: pd.DataFrame) -> Sheet:
    rows = [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)]
    return Sheet(name, list(frame.columns), rows)


def box_plots(table: pd.DataFrame, folder: Path) -> None:
    """One PNG per structure that was scored in at least one case: Dice and NSD over cases."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folder.mkdir()
    for (label, name), group in table.groupby(["label", "name"], sort=True):
        values = [group[m].dropna().to_numpy() for m in ("dice", "nsd")]
        if not len(values[0]):
            continue
        figure, axes = plt.subplots(figsize=(3.2, 3.0), dpi=100)
        axes.boxplot(values, showmeans=True)
        axes.set_xticks([1, 2], ["Dice", f"NSD {group['tolerance_mm'].iloc[0]:g} mm"])
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(f"{name} (n={len(values[0])})", fontsize=9)
        figure.tight_layout()
        figure.savefig(folder / f"{int(label):03d}_{_safe(name)}.png")
        plt.close(figure)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)
