"""``analyze()``: load -> segment -> measure -> write, for one CT.

The command line, the PACS worker and the web UI call this and nothing else.
"""

from __future__ import annotations

import datetime
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from body_organ_analysis import __version__
from body_organ_analysis.context import AnalysisContext, timed_step
from body_organ_analysis.imaging import load_ct
from body_organ_analysis.imaging.body_size import body_size, with_body_size
from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.models.registry import ModelSpec, resolve_models
from body_organ_analysis.preflight import check_before_work
from body_organ_analysis.report.output import MANIFEST_NAME, OutputStaging, read_manifest
from body_organ_analysis.report.workbook import WORKBOOK_NAME, info_sheet, write_workbook
from body_organ_analysis.settings import Settings

IMAGE_NAME = "image.nii.gz"


@dataclass
class AnalysisResult:
    output_dir: Path
    files: list[str]
    manifest: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def analyze(settings: Settings) -> AnalysisResult:
    """Run the whole analysis of ``settings.input_image`` into ``settings.output_dir``.

    Raises :class:`body_organ_analysis.errors.BoaError` for every problem a
    user can fix; the output folder is then left as it was.
    """
    timings: dict[str, float] = {}
    specs = resolve_models(settings.models, settings.runtime.license_number, settings.bca_engine)
    _check_supplied_names(settings, specs)
    check_before_work(settings)
    if settings.radiomics:  # fail before any work when the optional extra is missing
        from body_organ_analysis.measure.radiomics import require_pyradiomics

        require_pyradiomics()
    with timed_step("load", timings):
        ct = load_ct(settings.input_image, series_uid=settings.series_uid)
    ct.patient = with_body_size(ct.patient, settings.height_cm, settings.weight_kg)
    prefix = study_prefix(ct) if settings.use_study_prefix else None
    previous = None if settings.force_recompute else read_manifest(settings.output_dir, prefix)
    output = OutputStaging(settings.output_dir, prefix)
    try:
        ctx = AnalysisContext(settings=settings, ct=ct, output=output, timings_s=timings)
        _run_steps(ctx, specs, previous)
        manifest = output.commit(build_manifest(ctx))
    except BaseException:
        output.discard()
        raise
    files = sorted([*manifest["files"], output.stored_name(MANIFEST_NAME)])
    return AnalysisResult(settings.output_dir, files, manifest, ctx.results, ctx.warnings)


def _run_steps(ctx: AnalysisContext, specs: list[ModelSpec], previous: dict[str, Any] | None) -> None:
    from body_organ_analysis.bca import stage as bca_stage
    from body_organ_analysis.measure import stage as measure_stage
    from body_organ_analysis.segment import segment_models

    if ctx.ct.source != "nifti":
        with ctx.step("write image"):
            import nibabel as nib

            nib.save(ctx.ct.to_nifti(), str(ctx.output.path(IMAGE_NAME)))
    segment_models(ctx, specs, previous)
    # gzip (zlib releases the GIL) in a thread while the measurements run; its errors surface here
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="boa-write") as writer:
        written = writer.submit(_write_labelmaps, ctx, list(ctx.labelmaps.items()))
        measure_stage.run(ctx)
        if any(spec.name == "bca" for spec in specs):
            bca_stage.run(ctx)
        written.result()
    with ctx.step("write workbook"):
        ctx.info = {**base_info(ctx), **ctx.info}
        write_workbook(ctx.output.path(WORKBOOK_NAME), [info_sheet(ctx.info), *ctx.sheets])


def _write_labelmaps(ctx: AnalysisContext, label_maps: list[tuple[str, Any]]) -> None:
    with ctx.step("write label maps"):  # timed in its thread: it overlaps the measurements
        for name, label_map in label_maps:
            ctx.output.write_labelmap(name, label_map)


def base_info(ctx: AnalysisContext) -> dict[str, Any]:
    ct = ctx.ct
    return {
        "tool_version": __version__,
        "input": ct.source_name,
        "input_type": ct.source,
        "image_shape_voxels": "x".join(str(s) for s in ct.shape),
        "voxel_spacing_mm": "x".join(f"{s:.3f}" for s in ct.spacing),
        "models": ", ".join(ctx.labelmaps),
        **{f"patient_{key}": value for key, value in body_size(ct.patient).items() if value is not None},
    }


def build_manifest(ctx: AnalysisContext) -> dict[str, Any]:
    stand_in = any(r.get("origin") == "stand-in" for r in ctx.model_records.values())
    return {
        "tool": "body-organ-analysis",
        "tool_version": __version__,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "type": ctx.ct.source,
            "name": ctx.ct.source_name,
            "shape": list(ctx.ct.shape),
            "spacing_mm": list(ctx.ct.spacing),
            "affine": ctx.ct.affine.tolist(),
            "series_instance_uid": ctx.ct.metadata.get("SeriesInstanceUID"),
            "notes": ctx.ct.notes,
        },
        "input_fingerprint": ctx.ct.fingerprint(),
        "settings": ctx.settings.for_manifest(),
        "models_requested": list(ctx.settings.models),
        "models": ctx.model_records,
        "stand_in_models": stand_in,
        "timings_s": ctx.timings_s,
        "warnings": ctx.warnings,
    }


def study_prefix(ct: CTVolume) -> str:
    """File-name prefix from the input's name (``--use-study-prefix``), made safe for paths."""
    name = ct.source_name
    for suffix in (".nii.gz", ".nii", ".zip"):
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"


def _check_supplied_names(settings: Settings, specs: list[ModelSpec]) -> None:
    from body_organ_analysis.errors import ExitCode, UsageError

    names = {spec.name for spec in specs}
    for name in settings.segmentations:
        if name not in names:
            raise UsageError(
                f"--segmentation {name}=... names a model that is not part of this run "
                f"({', '.join(sorted(names))}). Add it with -m or drop the --segmentation.",
                ExitCode.USAGE,
            )
