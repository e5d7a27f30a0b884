"""The measurement step of analyze(): structure statistics, CNR, contrast, bone density,
workbook sheets, preview and radiomics. Files: docs/measurements.md.
"""

from __future__ import annotations

from typing import Any

from body_organ_analysis.context import AnalysisContext
from body_organ_analysis.measure.label_index import LabelIndex
from body_organ_analysis.measure.structures import structure_statistics
from body_organ_analysis.report.workbook import Sheet

STRUCTURES_FILE = "total-measurements.json"
CNR_FILE = "cnr.json"
CONTRAST_FILE = "contrast.json"
BONE_DENSITY_FILE = "bone-density.json"
RADIOMICS_FILE = "radiomics.json"
PREVIEW_MODEL = "total"

# workbook column (unit in the name) -> key of a structure entry
STATISTICS_COLUMNS = (
    ("present", "present"), ("truncated", "truncated"), ("voxel_count", "voxel_count"),
    ("volume_ml", "volume_ml"), ("mean_hu", "hu_mean"), ("std_hu", "hu_std"), ("min_hu", "hu_min"),
    ("p25_hu", "hu_p25"), ("median_hu", "hu_median"), ("p75_hu", "hu_p75"), ("max_hu", "hu_max"),
    ("cnr_unitless", "cnr"),
)  # fmt: skip


def run(ctx: AnalysisContext) -> None:
    """Add organ measurements to ``ctx`` (results, sheets, info, files)."""
    from body_organ_analysis.measure.bone_density import bone_density
    from body_organ_analysis.measure.cnr import add_cnr, adjusted_cnr, reference_region
    from body_organ_analysis.measure.info import info_rows

    ct = ctx.ct
    if not ctx.labelmaps:
        return
    # one pass per label map (counts, boxes, edges, HU histogram), shared by every measurement
    indexes = {model: LabelIndex(label_map.data, ct.data) for model, label_map in ctx.labelmaps.items()}
    with ctx.step("structure statistics"):
        structures = {
            model: structure_statistics(
                ct.data, label_map.data, label_map.labels, ct.voxel_volume_ml, indexes[model]
            )
            for model, label_map in ctx.labelmaps.items()
        }
    with ctx.step("cnr"):
        reference = reference_region(ct.data, ctx.labelmaps, indexes)
        add_cnr(structures, reference)
        cnr_block: dict[str, Any] = reference.as_dict()
        if reference.reason:
            ctx.warn(f"CNR not computed: {reference.reason}.")
        if ctx.settings.cnr_adjustment:
            cnr_block["adjusted"], warnings = adjusted_cnr(ct.data, ctx.labelmaps, reference, indexes)
            for warning in warnings:
                ctx.warn(warning)
    ctx.results["structures"] = structures
    ctx.results["cnr"] = cnr_block
    ctx.output.write_json(STRUCTURES_FILE, structures)
    ctx.output.write_json(CNR_FILE, cnr_block)

    with ctx.step("contrast"):
        ctx.results["contrast"] = contrast_information(ctx, structures)
    ctx.output.write_json(CONTRAST_FILE, ctx.results["contrast"])

    with ctx.step("bone density"):
        ctx.results["bone_density"] = bone_density(ct.data, ctx.labelmaps.get("total"), indexes.get("total"))
    del indexes  # their histograms and boxes are not needed after the measurements
    ctx.output.write_json(BONE_DENSITY_FILE, ctx.results["bone_density"])

    bone, contrast = ctx.results["bone_density"], ctx.results["contrast"]
    ctx.info.update(info_rows(ct, structures, cnr_block, bone, contrast))
    ctx.sheets.extend(measurement_sheets(structures, cnr_block, bone))
    if ctx.settings.preview:
        write_previews(ctx)
    if ctx.settings.radiomics:
        with ctx.step("radiomics"):
            from body_organ_analysis.measure.radiomics import radiomics_features

            features = radiomics_features(ct.data, ct.affine, ctx.labelmaps)
        ctx.output.write_json(RADIOMICS_FILE, features)


def contrast_information(ctx: AnalysisContext, structures: dict[str, Any]) -> dict[str, Any]:
    from body_organ_analysis.measure.contrast import not_predicted, predict_phase
    from body_organ_analysis.measure.gi_contrast import predict_gi_contrast

    if ctx.settings.skip_contrast_information:
        skipped = "skipped (--skip-contrast-information / SKIP_CONTRAST_INFORMATION)"
        return {**not_predicted(skipped), "gi": {"gi_contrast": None, "reason": skipped}}
    phase = predict_phase(structures.get("total"))
    if phase["reason"]:
        ctx.warn(f"Contrast phase not predicted: {phase['reason']}.")
    try:
        gi = predict_gi_contrast(ctx.ct.to_nifti(), ctx.labelmaps)
    except Exception as error:  # an optional add-on must never fail the run
        gi = {"gi_contrast": None, "reason": f"boa-contrast failed ({type(error).__name__})"}
    return {**phase, "gi": gi}


def measurement_sheets(
    structures: dict[str, Any], cnr_block: dict[str, Any], bone: dict[str, Any]
) -> list[Sheet]:
    statistics = Sheet(
        "regions-statistics",
        ["model", "structure", *(column for column, _ in STATISTICS_COLUMNS)],
        [
            [model, name, *(entry[key] for _, key in STATISTICS_COLUMNS)]
            for model, entries in structures.items()
            for name, entry in entries.items()
        ],
    )
    sheets = [statistics]
    if "adjusted" in cnr_block:
        sheets.append(Sheet(
            "cnr-adjusted",
            ["structure", "model", "roi_voxel_count", "mean_hu", "std_hu", "noise_hu", "cnr_unitless",
             "reason"],
            [[name, row["model"], row["voxel_count"], row["hu_mean"], row["hu_std"], cnr_block["noise_hu"],
              row["cnr"], row["reason"]] for name, row in cnr_block["adjusted"].items()],
        ))  # fmt: skip
    sheets.append(Sheet(
        "bone-density",
        ["vertebra", "mean_hu", "std_hu", "roi_voxel_count", "roi_volume_ml", "reason"],
        [[name, e["hu_mean"], e["hu_std"], e["roi_voxel_count"], e["roi_volume_ml"], e["reason"]]
         for name, e in bone.items()],
    ))  # fmt: skip
    return sheets


def write_previews(ctx: AnalysisContext) -> None:
    from body_organ_analysis.report.preview import write_preview

    label_map = ctx.labelmaps.get(PREVIEW_MODEL)
    if label_map is None:
        ctx.warn(f"--preview draws the {PREVIEW_MODEL!r} label map, which this run did not produce.")
        return
    with ctx.step("preview"):
        path = ctx.output.path(f"preview_{PREVIEW_MODEL}.png")
        write_preview(path, ctx.ct.data, label_map.data, ctx.ct.affine)
