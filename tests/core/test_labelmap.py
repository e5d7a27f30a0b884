import nibabel as nib
import numpy as np
from totalsegmentator.nifti_ext_header import load_multilabel_nifti

from body_organ_analysis.labelmap import LabelMap, read_embedded_labels


def test_embedded_label_names_read_back_by_totalsegmentator(tmp_path):
    data = np.zeros((4, 5, 6), dtype=np.uint8)
    data[1, 1, 1] = 2
    data[2, 2, 2] = 7
    label_map = LabelMap(data, np.diag([1.5, 1.5, 3.0, 1.0]), {2: "kidney_right", 7: "a<b & c"}, "test")
    path = tmp_path / "m.nii.gz"
    nib.save(label_map.to_nifti(), str(path))
    image, labels = load_multilabel_nifti(str(path))
    assert labels == {2: "kidney_right", 7: "a<b & c"}
    assert read_embedded_labels(nib.load(str(path))) == {2: "kidney_right", 7: "a<b & c"}
    assert np.array_equal(np.asarray(image.dataobj), data)
    assert np.allclose(image.affine, label_map.affine)


def test_large_label_ids_use_uint16():
    label_map = LabelMap(np.zeros((2, 2, 2)), np.eye(4), {300: "x"}, "test")
    assert label_map.to_nifti().get_data_dtype() == np.uint16
