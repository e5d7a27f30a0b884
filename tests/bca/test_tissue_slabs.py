"""tissues.nii.gz made slab by slab (bounded memory) equals tissue_map over the whole volume."""

from __future__ import annotations

import numpy as np
import pytest

from body_organ_analysis.bca import measure
from body_organ_analysis.imaging import slabs as slab_module
from body_organ_analysis.bca.threshold import threshold_maps
from body_organ_analysis.bca.tissues import metal_voxels, tissue_map


@pytest.mark.parametrize("order", ["F", "C"])
def test_slabs_give_the_whole_volume_map(monkeypatch, small_ct, small_total, order):
    regions, _ = threshold_maps(small_ct, small_total)
    hu = np.asarray(small_ct.data, order=order)
    regions.data = np.asarray(regions.data, order=order)
    windows = measure.hu_windows({"muscle": (-20.0, 140.0)})  # the windows the bca step uses
    whole = tissue_map(hu, regions, windows, small_ct.affine)
    assert len(np.unique(whole.data)) >= 5  # several tissues: a comparison that can fail
    hu_metal = hu.copy(order=order)
    hu_metal[hu_metal > 300] = 5000  # bright bone as "metal": a count that can be wrong
    metal = int(np.count_nonzero((hu_metal > windows["bone"][1]) & (regions.data > 0)))
    assert metal > 0
    for slab_voxels in (1, 5000, 10**9):  # one plane per slab, ragged slabs, one slab
        monkeypatch.setattr(slab_module, "SLAB_VOXELS", slab_voxels)
        assert metal_voxels(hu_metal, regions, windows) == metal
        slabs = measure.tissue_map_by_slabs(hu, regions, windows, small_ct.affine)
        assert slabs.data.dtype == whole.data.dtype and np.array_equal(slabs.data, whole.data)
        assert (slabs.labels, slabs.model, slabs.origin, slabs.details) == (
            whole.labels, whole.model, whole.origin, whole.details)  # fmt: skip
