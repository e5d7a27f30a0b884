"""The segment step: one label map per requested model, in registry order.

For each model, in this order of preference: a map the user supplied with
``--segmentation``; the map of an earlier run in the same output folder when
its manifest shows the same input and settings (unless ``--force-recompute``);
otherwise the model runs (in-process nnU-Net, or the weights-free
body-composition engine). A model that is only an optional helper of another
(``total`` for the threshold engine) runs only when its weights are already
present: it is never downloaded, and without it the run goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from body_organ_analysis.context import AnalysisContext, log
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import ModelSpec, optional_models
from body_organ_analysis.models.supplied import load_supplied
from body_organ_analysis.report.output import sha256_file


def segment_models(
    ctx: AnalysisContext, specs: list[ModelSpec], previous_manifest: dict[str, Any] | None
) -> None:
    fingerprint = ctx.ct.fingerprint()
    sources = {
        spec.name: _choose_source(ctx, spec, previous_manifest, fingerprint)
        for spec in specs
        if spec.produces_labelmap
    }
    to_run = [spec for spec in specs if sources.get(spec.name) == "nnunet"]
    for spec in _optional_without_weights(ctx, to_run):
        del sources[spec.name]
        to_run.remove(spec)
        ctx.warn(f"the optional '{spec.name}' model did not run: its weights are not installed. Results "
                 f"that need it are missing; give --segmentation {spec.name}=FILE or install its weights "
                 f"(body_organ_analysis weights download {spec.name})")
    if to_run:  # before any model runs: a missing GPU or missing weights stop the run here
        from body_organ_analysis.models.predictors import resolve_device
        from body_organ_analysis.models.weights import ensure_weights

        resolve_device(ctx.settings.runtime.device)
        ensure_weights(to_run, ctx.settings.runtime, ctx.settings.fast_total, ctx.settings.fast_bca)
    for spec in specs:
        if spec.name not in sources:
            continue
        if sources[spec.name] == "supplied":  # nothing is segmented: say so, not "segmented in 0.0 s"
            with ctx.step(f"read supplied {spec.name}"):  # read and checked: a step of its own
                label_map, record = _obtain(ctx, spec, "supplied", previous_manifest)
            log.info("%s: supplied with --segmentation (not segmented)", spec.name)
            ctx.timings_s[f"segment {spec.name}"] = 0.0
        else:
            with ctx.step(f"segment {spec.name}"):
                label_map, record = _obtain(ctx, spec, sources[spec.name], previous_manifest)
        ctx.labelmaps[spec.name] = label_map
        record["total_time_s"] = ctx.timings_s[f"segment {spec.name}"]
        record["settings"] = ctx.settings.result_affecting()
        ctx.model_records[spec.name] = record


def _optional_without_weights(ctx: AnalysisContext, to_run: list[ModelSpec]) -> list[ModelSpec]:
    """Models of ``to_run`` that are only optional here and whose weights are not on disk."""
    settings = ctx.settings
    optional = optional_models(settings.models, settings.runtime.license_number, settings.bca_engine)
    candidates = [spec for spec in to_run if spec.name in optional]
    if not candidates:
        return []
    from body_organ_analysis.models.weights import needed_networks, weights_root

    root = weights_root(settings.runtime)
    return [
        spec
        for spec in candidates
        if not all(item.network.is_present(root) for item in needed_networks([spec], settings.fast_total, settings.fast_bca))
    ]


def _choose_source(
    ctx: AnalysisContext, spec: ModelSpec, previous_manifest: dict[str, Any] | None, fingerprint: str
) -> str:
    """'supplied', 'reuse', 'threshold' or 'nnunet'."""
    if spec.name in ctx.settings.segmentations:
        return "supplied"
    if _reusable_file(ctx, spec, previous_manifest, fingerprint) is not None:
        return "reuse"
    if spec.engine == "bca" and ctx.settings.bca_engine == "threshold":
        return "threshold"
    return "nnunet"


def _obtain(
    ctx: AnalysisContext, spec: ModelSpec, source: str, previous_manifest: dict[str, Any] | None
) -> tuple[LabelMap, dict[str, Any]]:
    settings = ctx.settings
    if source == "supplied":
        path = Path(settings.segmentations[spec.name])
        return load_supplied(path, spec, ctx.ct), {"origin": "user-supplied", "file": path.name}
    if source == "reuse":
        return _load_reused(ctx, spec, previous_manifest or {})
    if source == "threshold":
        from body_organ_analysis.bca.threshold import predict_threshold_model

        label_map = predict_threshold_model(spec, ctx.ct, ctx.labelmaps)
        return label_map, {"origin": label_map.origin, "engine": "threshold"}
    from body_organ_analysis.models.engine import predict_model

    return predict_model(spec, ctx.ct, settings, ctx.labelmaps)


def _reusable_file(
    ctx: AnalysisContext,
    spec: ModelSpec,
    previous_manifest: dict[str, Any] | None,
    fingerprint: str,
) -> Path | None:
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
    return path


def _load_reused(
    ctx: AnalysisContext, spec: ModelSpec, previous_manifest: dict[str, Any]
) -> tuple[LabelMap, dict[str, Any]]:
    import nibabel as nib
    import numpy as np

    path = ctx.settings.output_dir / ctx.output.stored_name(spec.output_file)
    record = previous_manifest["models"][spec.name]
    label_map = LabelMap(
        data=np.asarray(nib.load(str(path)).dataobj),
        affine=ctx.ct.affine.copy(),
        labels=spec.labels(),
        model=spec.name,
        origin=record.get("origin", "inference"),
    )
    log.info("%s: reusing the map of an earlier run with the same input and settings", spec.name)
    return label_map, {**record, "reused": True}
