"""Per axial slice: volume (mL), cross-sectional area (cm^2) and mean HU of every tissue.

One pass over the slices counts, with ``np.bincount``, the voxels and HU sums
of every tissue (for all voxels, and for the torso alone: voxels that
``body_parts`` labels ``torso``; head, arms, legs and unlabelled voxels are
left out of the "without extremities" tables), the
voxels of every body region and of every `total` structure. Everything later
(aggregation, vertebral levels, findings, report) works from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from body_organ_analysis.bca.tissues import ALL_TISSUES, FAT_TISSUES, TISSUE_IDS
from body_organ_analysis.imaging.orientation import array_axis, slice_positions_mm, voxel_spacing
from body_organ_analysis.labelmap import LabelMap, is_fortran
from body_organ_analysis.models.registry import BODY_PARTS_LABELS
from body_organ_analysis.report.rounding import round_area_cm2, round_hu, round_volume_ml

TORSO = "torso"  # the only body part counted "without extremities"
N_TISSUE_CODES = 8  # 0 background + 7 tissue labels


@dataclass
class SliceTables:
    axis: int  # the CT array axis that runs head-feet
    position_mm: np.ndarray  # (nz,) world coordinate (RAS z) of each slice centre
    voxel_ml: float
    pixel_cm2: float
    counts: np.ndarray  # (nz, 8) voxels per tissue code, all voxels
    hu_sums: np.ndarray  # (nz, 8)
    counts_torso: np.ndarray  # (nz, 8) torso only (body_parts "torso")
    hu_sums_torso: np.ndarray
    region_present: np.ndarray  # (nz, 12) bool: slice within the extent of each body region
    region_voxels: np.ndarray  # (12,) voxels of each body region
    total_present: np.ndarray | None  # (nz, max id + 1) bool: slice within each `total` structure's extent

    @property
    def slice_count(self) -> int:
        return int(self.counts.shape[0])

    def tissue_counts(self, tissue: str, torso_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(voxels, HU sum) per slice of a tissue; 'tat' is the sum of the fat tissues."""
        counts = self.counts_torso if torso_only else self.counts
        sums = self.hu_sums_torso if torso_only else self.hu_sums
        if tissue == "tat":
            ids = [TISSUE_IDS[t] for t in FAT_TISSUES]
            return counts[:, ids].sum(axis=1), sums[:, ids].sum(axis=1)
        return counts[:, TISSUE_IDS[tissue]], sums[:, TISSUE_IDS[tissue]]

    def volume_ml(self, tissue: str, torso_only: bool = False) -> np.ndarray:
        return self.tissue_counts(tissue, torso_only)[0] * self.voxel_ml

    def area_cm2(self, tissue: str, torso_only: bool = False) -> np.ndarray:
        return self.tissue_counts(tissue, torso_only)[0] * self.pixel_cm2

    def mean_hu(self, tissue: str, torso_only: bool = False) -> np.ndarray:
        counts, sums = self.tissue_counts(tissue, torso_only)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def axial_axis(affine: np.ndarray) -> int:
    return array_axis(affine, 2)  # the array axis closest to world z


def slice_tables(
    hu: np.ndarray,
    affine: np.ndarray,
    tissues: LabelMap,
    regions: LabelMap,
    parts: LabelMap,
    total: LabelMap | None,
) -> SliceTables:
    axis = axial_axis(affine)
    spacing = voxel_spacing(affine)
    nz = hu.shape[axis]
    # 0 for torso voxels, 1 for everything else (head, arms, legs, unlabelled, unknown ids)
    parts_max = max(max(BODY_PARTS_LABELS), int(parts.data.max()) if parts.data.size else 0)
    not_torso = np.ones(parts_max + 1, dtype=np.uint8)
    for label, name in BODY_PARTS_LABELS.items():
        if name == TORSO:
            not_torso[label] = 0
    codes = 2 * N_TISSUE_CODES
    counts = np.zeros(codes * nz, dtype=np.int64)
    sums = np.zeros(codes * nz, dtype=np.float64)

    def last(a: np.ndarray) -> np.ndarray:  # the head-feet axis last
        return np.moveaxis(a, axis, -1)

    hu_v, tissue_v, parts_v = last(hu), last(tissues.data), last(parts.data)
    # Work in memory order: for Fortran-ordered arrays (as nibabel gives them) use the
    # transposed views, which are C-ordered with z first. Blocks of about 1 M voxels.
    fortran = is_fortran(hu_v)
    if fortran:
        hu_v, tissue_v, parts_v = hu_v.T, tissue_v.T, parts_v.T
    rows = max(1, (1 << 20) * hu_v.shape[0] // max(1, hu_v.size))
    z_index = np.arange(nz, dtype=np.int32)
    for start in range(0, hu_v.shape[0], rows):
        block = slice(start, start + rows)
        tissue_block = tissue_v[block]
        where = tissue_block > 0  # only tissue voxels are counted
        z_block = z_index[block][:, None, None] if fortran else z_index[None, None, :]
        z = np.broadcast_to(z_block, tissue_block.shape)[where]
        code = tissue_block[where].astype(np.int32) + N_TISSUE_CODES * not_torso[parts_v[block][where]]
        flat = code * nz + z
        counts += np.bincount(flat, minlength=codes * nz)
        sums += np.bincount(flat, weights=hu_v[block][where], minlength=codes * nz)
    counts = counts.reshape(codes, nz).T
    sums = sums.reshape(codes, nz).T
    region_present = extents(regions.data, axis, 12, nz)
    from body_organ_analysis.labelmap import label_counts  # chunked: no full-volume intp copy

    region_voxels = label_counts(regions.data, minlength=12)[:12]
    total_present = None
    if total is not None:
        total_present = extents(total.data, axis, max(total.labels) + 1, nz)
    position = slice_positions_mm(affine, hu.shape, axis)
    in_plane = [s for i, s in enumerate(spacing) if i != axis]
    return SliceTables(
        axis=axis,
        position_mm=position,
        voxel_ml=float(np.prod(spacing)) / 1000.0,
        pixel_cm2=float(in_plane[0] * in_plane[1]) / 100.0,
        counts=counts[:, :N_TISSUE_CODES] + counts[:, N_TISSUE_CODES:],
        hu_sums=sums[:, :N_TISSUE_CODES] + sums[:, N_TISSUE_CODES:],
        counts_torso=counts[:, :N_TISSUE_CODES],
        hu_sums_torso=sums[:, :N_TISSUE_CODES],
        region_present=region_present,
        region_voxels=region_voxels,
        total_present=total_present,
    )


def extents(labels: np.ndarray, axis: int, count: int, nz: int) -> np.ndarray:
    """(nz, count) bool: which slices lie within each label's extent along ``axis`` (one C pass)."""
    from body_organ_analysis.labelmap import label_boxes

    present = np.zeros((nz, count), dtype=bool)
    for index, box in enumerate(label_boxes(labels, max_label=count - 1), start=1):
        if box is not None:
            present[box[axis], index] = True
    return present


def slice_sheet_rows(tables: SliceTables, torso_only: bool) -> tuple[list[str], list[list]]:
    columns = ["slice_index", "position_mm"]
    for tissue in ALL_TISSUES:
        columns += [f"{tissue}_volume_ml", f"{tissue}_area_cm2", f"{tissue}_hu_mean"]
    series = []
    for tissue in ALL_TISSUES:
        series += [
            tables.volume_ml(tissue, torso_only),
            tables.area_cm2(tissue, torso_only),
            tables.mean_hu(tissue, torso_only),
        ]
    matrix = np.column_stack([np.arange(tables.slice_count), tables.position_mm, *series])
    rows = []
    for row in matrix:
        values: list = [int(row[0]), round(float(row[1]), 2)]
        for volume, area, hu in row[2:].reshape(-1, 3):
            values += [round_volume_ml(volume), round_area_cm2(area), round_hu(hu)]
        rows.append(values)
    return columns, rows
