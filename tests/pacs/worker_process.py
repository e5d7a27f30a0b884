"""Starts the real PACS worker for the tests (``python tests/pacs/worker_process.py``).

With BOA_TEST_REFERENCE_SEGMENTATION set (only while the in-process inference
engine or the stand-in models are not available) the model step returns that
reference label map instead of running nnU-Net; everything else (download,
analyze(), sinks, statistics, Celery) is the production code path.
"""

from __future__ import annotations

import os
import sys


def install_reference_inference(path: str) -> None:
    import types

    import nibabel as nib
    import numpy as np

    from body_organ_analysis.labelmap import LabelMap

    def predict_model(spec, ct, settings, labelmaps):
        image = nib.load(path)
        wanted = nib.orientations.io_orientation(ct.affine)
        have = nib.orientations.io_orientation(image.affine)
        transform = nib.orientations.ornt_transform(have, wanted)
        data = nib.orientations.apply_orientation(np.asarray(image.dataobj), transform).astype(np.uint8)
        labels = spec.labels()
        data[~np.isin(data, list(labels))] = 0
        return LabelMap(data=data, affine=ct.affine.copy(), labels=labels, model=spec.name, origin="stand-in"), {
            "origin": "stand-in", "engine": "reference-file"}

    engine = types.ModuleType("body_organ_analysis.models.engine")
    engine.predict_model = predict_model
    weights = types.ModuleType("body_organ_analysis.models.weights")
    weights.ensure_weights = lambda specs, settings: None
    sys.modules.setdefault("body_organ_analysis.models.engine", engine)
    sys.modules.setdefault("body_organ_analysis.models.weights", weights)


if __name__ == "__main__":
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks of a stuck job, for the test log
    reference = os.environ.get("BOA_TEST_REFERENCE_SEGMENTATION")
    if reference:
        install_reference_inference(reference)
    from body_organ_analysis.pacs.worker import main

    raise SystemExit(main(sys.argv[1:]))
