"""Statistics of every labelled structure, computed in one pass over the volume.

For each label of a model: presence, voxel count, volume, HU mean, standard
deviation, minimum, 25th percentile, median, 75th percentile, maximum, and
whether the structure touches the edge of the scanned volume (truncated).

Conventions (docs/measurements.md):
- standard deviation: population (ddof=0), as ``numpy.std``;
- percentiles: linear interpolation between order statistics (numpy's default
  ``method="linear"``, Hyndman & Fan type 7); the median is the 50th percentile;
- truncated: at least one voxel of the structure lies in the first or last
  plane of the volume along any of its three axes.

The volume is never masked once per label: counts, edges and the joint (label, HU)
histogram come from the map's :class:`~body_organ_analysis.measure.label_index.LabelIndex`
(one pass, shared with CNR and bone density). For integer-valued CTs every
statistic, percentiles included, is exact from that histogram. Other CTs sort one
float64 key (label, HU) once, which puts each label's values together and in order.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from body_organ_analysis.measure.label_index import LabelIndex

STAT_KEYS = (
    "present", "truncated", "voxel_count", "volume_ml", "hu_mean", "hu_std", "hu_min",
    "hu_p25", "hu_median", "hu_p75", "hu_max", "cnr",
)  # fmt: skip
HU_KEYS = ("hu_mean", "hu_std", "hu_min", "hu_p25", "hu_median", "hu_p75", "hu_max")
PERCENTILES = {"hu_p25": 25.0, "hu_median": 50.0, "hu_p75": 75.0}


def absent_entry() -> dict[str, Any]:
    """The entry of a label that has no voxel."""
    entry: dict[str, Any] = {key: None for key in STAT_KEYS}
    entry.update(present=False, truncated=False, voxel_count=0, volume_ml=0.0)
    return entry


def structure_statistics(
    ct: np.ndarray,
    labels_data: np.ndarray,
    labels: dict[int, str],
    voxel_volume_ml: float,
    index: LabelIndex | None = None,
) -> dict[str, dict[str, Any]]:
    """{name: statistics} for every label in ``labels`` (absent ones too), in label order.

    ``index`` is the :class:`LabelIndex` of ``labels_data`` with ``ct`` when the caller
    shares one with other measurements. ``cnr`` is left None here;
    :mod:`body_organ_analysis.measure.cnr` fills it in.
    """
    if ct.shape != labels_data.shape:
        raise ValueError(f"CT {ct.shape} and label map {labels_data.shape} differ in shape")
    index = index if index is not None else LabelIndex(labels_data, ct)
    counts = index.counts
    if index.histogram is not None:
        hu_stats = _histogram_stats(*index.histogram, labels, counts)
    elif index.hu_range is None:
        hu_stats = {}
    else:
        labelled_counts = counts.copy()
        labelled_counts[0] = 0  # the sorted key holds labelled voxels only
        hu_stats = _sorted_stats(*index.labelled_values(), labels, labelled_counts)
    at_edge = index.edge_labels
    result: dict[str, dict[str, Any]] = {}
    for label, name in sorted(labels.items()):
        count = index.count(label)
        if count == 0:
            result[name] = absent_entry()
            continue
        entry: dict[str, Any] = {
            "present": True,
            "truncated": label in at_edge,
            "voxel_count": count,
            "volume_ml": count * voxel_volume_ml,
            **hu_stats[label],
            "cnr": None,
        }
        result[name] = {key: entry[key] for key in STAT_KEYS}
    return result


def edge_labels(labels_data: np.ndarray) -> set[int]:
    """Labels with a voxel in the first or last plane along any axis."""
    return set(LabelIndex(labels_data).edge_labels)


def _histogram_stats(
    histogram: np.ndarray, lowest: int, labels: dict[int, str], counts: np.ndarray
) -> dict[int, dict[str, float]]:
    """Exact statistics from the joint (label, HU) histogram of :class:`LabelIndex`."""
    n_labels, width = histogram.shape
    bin_values = np.arange(lowest, lowest + width, dtype=np.float64)
    stats: dict[int, dict[str, float]] = {}
    for label in labels:
        if label >= n_labels or counts[label] == 0:
            continue
        row = histogram[label]
        occupied = np.flatnonzero(row)
        weights = row[occupied].astype(np.float64)
        values = bin_values[occupied]
        n = float(counts[label])
        mean = float(np.dot(weights, values) / n)
        variance = float(np.dot(weights, (values - mean) ** 2) / n)
        cumulative = np.cumsum(row[occupied])
        entry = {
            "hu_mean": mean,
            "hu_std": float(np.sqrt(variance)),
            "hu_min": float(values[0]),
            "hu_max": float(values[-1]),
        }
        for key_name, percent in PERCENTILES.items():
            entry[key_name] = _histogram_percentile(values, cumulative, int(n), percent)
        stats[label] = {k: entry[k] for k in HU_KEYS}
    return stats


def _histogram_percentile(values: np.ndarray, cumulative: np.ndarray, n: int, percent: float) -> float:
    """numpy's linear percentile from a histogram: order statistics by cumulative count."""
    position = (n - 1) * percent / 100.0
    below = int(np.floor(position))
    above = min(below + 1, n - 1)
    value_below = values[np.searchsorted(cumulative, below, side="right")]
    value_above = values[np.searchsorted(cumulative, above, side="right")]
    return float(value_below + (value_above - value_below) * (position - below))


def _sorted_stats(
    label_values: np.ndarray, hu: np.ndarray, labels: Iterable[int], counts: np.ndarray
) -> dict[int, dict[str, float]]:
    """Statistics from one sort of the key label * span + (HU - lowest): each label's
    values end up contiguous and in order. Float64 keeps them to within 1e-9 HU."""
    lowest = float(hu.min())
    span = float(2.0 ** np.ceil(np.log2(float(hu.max()) - lowest + 1.0)))
    key = label_values * span + (hu - lowest)
    key.sort()
    starts = np.concatenate([[0], np.cumsum(counts)])
    stats: dict[int, dict[str, float]] = {}
    for label in labels:
        if label >= counts.size or counts[label] == 0:
            continue
        values = key[starts[label] : starts[label + 1]] - (label * span - lowest)
        n = values.size
        entry = {
            "hu_mean": float(values.mean()),
            "hu_std": float(values.std()),
            "hu_min": float(values[0]),
            "hu_max": float(values[-1]),
        }
        for key_name, percent in PERCENTILES.items():
            position = (n - 1) * percent / 100.0
            below = int(np.floor(position))
            above = min(below + 1, n - 1)
            entry[key_name] = float(values[below] + (values[above] - values[below]) * (position - below))
        stats[label] = {k: entry[k] for k in HU_KEYS}
    return stats
