"""The segment step: one label map per requested model, in registry order.

For each model, in this order of preference: a map the user supplied with
``--segmentation``; the map of an earlier run in the same output folder when
its manifest shows the same input and settings (unless ``--force-recompute``);
otherwise the model runs (in-process nnU-Net, or the weights-free
body-composition engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from body_organ_analysis.context import AnalysisContext, log
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import ModelSpec
from body_organ_analysis.models.supplied import load_supplied
from body_organ_analysis.report.output import sha256_file


def segment_models(
    ctx: AnalysisContext, specs: list[ModelSpec], previous_manifest: dict[str, Any] | None
) -> None:
    fingerprint = ctx.ct.fingerprint()
    for spec in specs:
        if not spec.produces_labelmap:
            continue
        with ctx.step(f"segment {spec.name}"):
            label_map, record = _obtain(ctx, spec, previous_manifest, fingerprint)
        ctx.labelmaps[spec.name] = label_map
        record["total_time_s"] = ctx.timings_s[f"segment {spec.name}"]
        record["settings"] = ctx.settings.result_affecting()
        ctx.model_records[spec.name] = record


def _obtain(
    ctx: AnalysisContext,
    spec: ModelSpec,
    previous_manifest: dict[str, Any] | None,
    fingerprint: str,
) -> tuple[LabelMap, dict[str, Any]]:
    settings = ctx.settings
    if spec.name in settings.segmentations:
        path = Path(settings.segmentations[spec.name])
        return load_supplied(path, spec, ctx.ct), {"origin": "user-supplied", "file": path.name}
    reused = _reusable(ctx, spec, previous_manifest, fingerprint)
    if reused is not None:
        return reused
    if spec.engine == "bca" and settings.bca_engine == "threshold":
        from body_organ_analysis.bca.threshold import predict_threshold_model

        label_map = predict_threshold_model(spec, ctx.ct, ctx.labelmaps)
        return label_map, {"origin": label_map.origin, "engine": "threshold"}
    from body_organ_analysis.models.engine import predict_model

    return predict_model(spec, ctx.ct, settings, ctx.labelmaps)


def _reusable(
    ctx: AnalysisContext,
    spec: ModelSpec,
    previous_manifest: dict[str, Any] | None,
    fingerprint: str,
) -> tuple[LabelMap, dict[str, Any]] | None:
    """An earlier run's map of this model, if it provably came from the same input and settings."""
    if ctx.settings.force_recompute or not previous_manifest:
        return None
    record = previous_manifest.get("models", {}).get(spec.name)
    if (
        record is None
        or previous_manifest.get("input_fingerprint") != fingerprint
        or record.get("settings") != ctx.settings.result_affecting()
        or record.get("origin") == "user-supplied"
    ):
        return None
    stored = ctx.output.stored_name(spec.output_file)
    path = ctx.settings.output_dir / stored
    expected = previous_manifest.get("files", {}).get(stored, {}).get("sha256")
    if not path.exists() or expected != sha256_file(path):
        return None
    import nibabel as nib
    import numpy as np

    image = nib.load(str(path))
    label_map = LabelMap(
        data=np.asarray(image.dataobj),
        affine=ctx.ct.affine.copy(),
        labels=spec.labels(),
        model=spec.name,
        origin=record.get("origin", "inference"),
    )
    log.info("%s: reusing the map of an earlier run with the same input and settings", spec.name)
    return label_map, {**record, "reused": True}
