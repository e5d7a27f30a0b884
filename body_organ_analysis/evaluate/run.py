"""Score pairs of label maps into one long table (one row per case and structure)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from body_organ_analysis.evaluate.inputs import (
    IGNORE_VALUE,
    Pair,
    Structure,
    grid_error,
    load_labels,
    model_structures,
    resample_nearest,
    same_grid,
)
from body_organ_analysis.evaluate.metrics import score_label

COLUMNS = ["case", "label", "name", "dice", "nsd", "pred_voxels", "ref_voxels", "overlap_voxels",
           "ignored_voxels", "tolerance_mm", "resampled"]


def score_pair(
    pair: Pair,
    tolerance_mm: float,
    labels: dict[int, str] | None = None,
    structures: Sequence[Structure] | None = None,
    resample: bool = False,
) -> list[dict]:
    """Rows for one pair: every structure of ``structures``, or of the label table ``labels``."""
    pred, ref = load_labels(pair.pred, "prediction"), load_labels(pair.ref, "reference")
    resampled = False
    if not same_grid(pred, ref):
        if not resample:
            raise grid_error(pair, pred, ref)
        pred, resampled = resample_nearest(pred, ref), True
    known = ref.data != IGNORE_VALUE
    if structures is None:
        present = set(np.unique(pred.data).tolist()) | set(np.unique(ref.data[known]).tolist())
        structures = model_structures(labels or {}, present - {0, IGNORE_VALUE})
    rows = []
    for structure in structures:
        score = score_label(
            np.isin(pred.data, structure.pred_values),
            np.isin(ref.data, structure.ref_values),
            ref.spacing, tolerance_mm, known,
        )
        rows.append({
            "case": pair.case, "label": structure.label, "name": structure.name,
            "dice": score.dice, "nsd": score.nsd, "pred_voxels": score.pred_voxels,
            "ref_voxels": score.ref_voxels, "overlap_voxels": score.overlap_voxels,
            "ignored_voxels": int((~known).sum()), "tolerance_mm": tolerance_mm, "resampled": resampled,
        })
    return rows


def evaluate_pairs(
    pairs: Sequence[Pair],
    tolerance_mm: float = 3.0,
    labels: dict[int, str] | None = None,
    structures: Sequence[Structure] | None = None,
    resample: bool = False,
) -> pd.DataFrame:
    rows = [row for pair in pairs for row in score_pair(pair, tolerance_mm, labels, structures, resample)]
    return pd.DataFrame(rows, columns=COLUMNS)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per structure: cases scored, mean, median and interquartile range of Dice and NSD (NaN = not applicable, left out)."""
    out = []
    for (label, name), group in table.groupby(["label", "name"], sort=True):
        row: dict = {"label": label, "name": name, "cases_scored": int(group["dice"].notna().sum())}
        for measure in ("dice", "nsd"):
            values = group[measure].dropna()
            row[f"{measure}_mean"] = values.mean()
            row[f"{measure}_median"] = values.median()
            row[f"{measure}_q1"] = values.quantile(0.25) if len(values) else np.nan
            row[f"{measure}_q3"] = values.quantile(0.75) if len(values) else np.nan
            row[f"{measure}_iqr"] = row[f"{measure}_q3"] - row[f"{measure}_q1"]
        out.append(row)
    return pd.DataFrame(out)
