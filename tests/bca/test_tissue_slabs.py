"""tissues.nii.gz made slab by slab (bounded memory) equals tissue_map over the whole volume."""

from __future__ import annotations

import numpy as np
import pytest

from body_organ_analysis.bca import measure
from body_organ_analysis.bca.threshold import threshold_maps
from body_organ_analysis.bca.tissues import tissue_map


@pytest.mark.parametrize("order", ["F", "C"])
def test_slabs_give_the_whole_volume_map(monkeypatch, small_ct, small_total, order):
    regions, _ = threshold_maps(small_ct, small_total)
    hu = np.asarray(small_ct.data, order=order)
    regions.data = np.asarray(regions.data, order=order)
    windows = measure.hu_windows({"muscle": (-20.0, 140.0)})  # the windows the bca step uses
    whole = tissue_map(hu, regions, windows, small_ct.affine)
    assert len(np.unique(whole.data)) >= 5  # several tissues: a comparison that can fail
    for slab_voxels in (1, 5000, 10**9):  # one plane per slab, ragged slabs, one slab
        monkeypatch.setattr(measure, "SLAB_VOXELS", slab_voxels)
        slabs = measure.tissue_map_by_slabs(hu, regions, windows, small_ct.affine)
        assert slabs.data.dtype == whole.data.dtype and np.array_equal(slabs.data, whole.data)
        assert (slabs.labels, slabs.model, slabs.origin, slabs.details) == (
            whole.labels, whole.model, whole.origin, whole.details)  # fmt: skip
