"""One pass over a label map: what every measurement of its structures needs.

:class:`LabelIndex` gathers, each at most once per label map and only when first
asked for, the voxel count and bounding box of every label
(``ndimage.find_objects``), the labels that touch the edge of the volume, and the
joint (label, HU) histogram of an integer-valued CT, from which each label's HU sum,
mean, spread and exact percentiles follow. Structure statistics, CNR and bone
density share one index per map, so none of them scans or masks the whole volume
per structure: a structure's work happens inside its bounding box.

Voxel order never matters here: the label map and the CT are walked in the memory
order of the label map (nibabel reads Fortran-ordered arrays), so no full-volume
copy is made when both share it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterable

import numpy as np

from body_organ_analysis.labelmap import is_fortran, label_boxes, label_counts

Box = tuple[slice, ...]
CHUNK_VOXELS = 1 << 23  # 8 Mi voxels per chunk: bounds every temporary to tens of MB
MAX_HISTOGRAM_BINS = 1 << 24  # labels x HU range (128 MiB of counts); beyond this, no histogram


class LabelIndex:
    """Counts, boxes, edge labels and the (label, HU) histogram of one label map.

    ``labels_data`` holds integer ids (0 is background); ``ct``, when given, lies on
    the same grid. Nothing is computed before it is asked for.
    """

    def __init__(self, labels_data: np.ndarray, ct: np.ndarray | None = None) -> None:
        if not np.issubdtype(labels_data.dtype, np.integer):
            raise ValueError(f"a label map holds integers, not {labels_data.dtype}")
        if ct is not None and ct.shape != labels_data.shape:
            raise ValueError(f"CT {ct.shape} and label map {labels_data.shape} differ in shape")
        self.data = labels_data
        self.ct = ct
        self.order = "F" if is_fortran(labels_data) else "C"

    # --- labels alone -------------------------------------------------------------
    @cached_property
    def flat_labels(self) -> np.ndarray:
        return self.data.ravel(order=self.order)  # a view when the map is contiguous

    @cached_property
    def counts(self) -> np.ndarray:
        """Voxels per label id (index = id; index 0 is background)."""
        histogram = self.histogram if self.ct is not None else None
        if histogram is None:
            return label_counts(self.data)
        counts = histogram[0].sum(axis=1)  # the labelled voxels, counted in the same pass
        counts[0] = self.data.size - counts[1:].sum()
        return counts

    @cached_property
    def max_label(self) -> int:
        return int(self.flat_labels.max()) if self.data.size else 0

    @cached_property
    def boxes(self) -> list[Box | None]:
        """Bounding box of every id 1..max (``boxes[id - 1]``; None when absent)."""
        return label_boxes(self.data)

    def present(self, label: int) -> bool:
        return 0 < label < self.counts.size and bool(self.counts[label])

    def count(self, label: int) -> int:
        return int(self.counts[label]) if 0 <= label < self.counts.size else 0

    def box(self, labels: int | Iterable[int], pad: int | Iterable[int] = 0) -> Box | None:
        """Smallest box holding every voxel of ``labels``, grown by ``pad`` voxels per axis
        (clipped to the volume); None when none of them is present."""
        ids = [labels] if isinstance(labels, (int, np.integer)) else list(labels)
        found = [self.boxes[i - 1] for i in ids if self.present(i)]
        if not found:
            return None
        pads = [pad] * self.data.ndim if isinstance(pad, (int, np.integer)) else list(pad)
        return tuple(
            slice(max(min(b[axis].start for b in found) - p, 0),
                  min(max(b[axis].stop for b in found) + p, self.data.shape[axis]))
            for axis, p in enumerate(pads)
        )  # fmt: skip

    def mask(self, labels: int | Iterable[int], box: Box) -> np.ndarray:
        """Boolean mask of ``labels`` inside ``box`` (box-sized, never the whole volume)."""
        local = self.data[box]
        if isinstance(labels, (int, np.integer)):
            return local == labels
        return np.isin(local, list(labels))

    @cached_property
    def edge_labels(self) -> frozenset[int]:
        """Labels with a voxel in the first or last plane along any axis.

        Only labels whose box reaches a face are checked, and only on that face of
        their box.
        """
        found: set[int] = set()
        shape = self.data.shape
        for index, box in enumerate(self.boxes):
            if box is None:
                continue
            label = index + 1
            for axis, side in enumerate(box):
                for plane in {0, shape[axis] - 1} & {side.start, side.stop - 1}:
                    face = list(box)
                    face[axis] = slice(plane, plane + 1)
                    if np.any(self.data[tuple(face)] == label):
                        found.add(label)
                        break
                if label in found:
                    break
        return frozenset(found)

    # --- labels and HU ----------------------------------------------------------
    def _flat_hu(self) -> np.ndarray:
        if self.ct is None:
            raise ValueError("this label index has no CT")
        return self.ct.ravel(order=self.order)  # a view when the CT shares the map's layout

    def _chunks(self) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(labels, HU) of the labelled voxels, chunk by chunk."""
        labels, hu = self.flat_labels, self._flat_hu()
        for start in range(0, labels.size, CHUNK_VOXELS):
            chunk = labels[start : start + CHUNK_VOXELS]
            labelled = chunk != 0
            yield chunk[labelled], hu[start : start + CHUNK_VOXELS][labelled]

    @cached_property
    def hu_integer_valued(self) -> bool:
        hu = self._flat_hu()
        if np.issubdtype(hu.dtype, np.integer):
            return True
        if not np.issubdtype(hu.dtype, np.floating):
            return False
        for _, values in self._chunks():
            if not (np.all(np.isfinite(values)) and np.array_equal(values, np.round(values))):
                return False
        return True

    @cached_property
    def hu_range(self) -> tuple[float, float] | None:
        """Lowest and highest HU of the labelled voxels; None when nothing is labelled."""
        lowest, highest = np.inf, -np.inf
        for _, values in self._chunks():
            if values.size:
                lowest, highest = min(lowest, values.min()), max(highest, values.max())
        return None if lowest > highest else (lowest, highest)

    @cached_property
    def histogram(self) -> tuple[np.ndarray, int] | None:
        """(counts[label, HU - lowest], lowest) for an integer-valued CT whose labels x HU
        range fits MAX_HISTOGRAM_BINS; else None."""
        if not self.hu_integer_valued or self.hu_range is None:
            return None
        lowest, highest = int(self.hu_range[0]), int(self.hu_range[1])
        width = highest - lowest + 1
        n_labels = self.max_label + 1
        if n_labels * width > MAX_HISTOGRAM_BINS:
            return None
        histogram = np.zeros(n_labels * width, dtype=np.int64)
        for label_values, values in self._chunks():
            key = label_values.astype(np.intp)  # label * width + (HU - lowest), built in place
            key *= width
            key += values.astype(np.intp, copy=False)
            key -= lowest
            histogram += np.bincount(key, minlength=n_labels * width)
        return histogram.reshape(n_labels, width), lowest

    @cached_property
    def hu_sums(self) -> np.ndarray:
        """Sum of HU per label id (float64), from the histogram or one weighted bincount."""
        if self.histogram is not None:
            counts, lowest = self.histogram
            values = np.arange(lowest, lowest + counts.shape[1], dtype=np.float64)
            return counts @ values
        sums = np.zeros(self.counts.size)
        for label_values, values in self._chunks():
            sums += np.bincount(label_values, weights=values, minlength=self.counts.size)
        return sums

    def labelled_values(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, HU as float64) of every labelled voxel: for CTs the histogram cannot hold."""
        parts = list(self._chunks())
        labels = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, self.data.dtype)
        hu = np.concatenate([p[1].astype(np.float64) for p in parts]) if parts else np.zeros(0)
        return labels, hu
