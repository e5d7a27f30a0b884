"""The measurement step of analyze(): structure statistics, CNR, contrast, bone density,
workbook sheets, preview and radiomics. Files: docs/measurements.md.

Every JSON file carries a ``provenance`` block (report/provenance.py); numbers
are rounded by report/rounding.py, the same in the JSON, the workbook and the PDF.
Label maps made later in the run (the body maps of the threshold engine) are
measured by :func:`measure_added_maps`.
"""

from __future__ import annotations

from typing import Any

from body_organ_analysis.context import AnalysisContext
from body_organ_analysis.measure.label_index import LabelIndex
from body_organ_analysis.measure.structures import HU_KEYS, STAT_KEYS, structure_statistics
from body_organ_analysis.report.provenance import run_provenance, with_provenance
from body_organ_analysis.report.rounding import round_hu, round_ratio, round_volume_ml
from body_organ_analysis.report.workbook import Sheet

STRUCTURES_FILE = "structure-measurements.json"  # every label map of the run, not only total
CNR_FILE = "cnr.json"
CONTRAST_FILE = "contrast.json"
BONE_DENSITY_FILE = "bone-density.json"
RADIOMICS_FILE = "radiomics.json"
PREVIEW_MODEL = "total"

STATISTICS_SHEET = "regions-statistics"
# workbook column -> key of a structure entry: the same spelling (the unit is in the name, cnr has none)
STATISTICS_COLUMNS = tuple((key, key) for key in STAT_KEYS)


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
        cnr_block: dict[str, Any] = rounded_cnr(reference.as_dict())
        if reference.reason:
            ctx.warn(f"CNR not computed: {reference.reason}.")
        if ctx.settings.cnr_adjustment:
            adjusted, warnings = adjusted_cnr(ct.data, ctx.labelmaps, reference, indexes)
            cnr_block["adjusted"] = {name: rounded_entry(row) for name, row in adjusted.items()}
            for warning in warnings:
                ctx.warn(warning)
    structures = {model: {name: rounded_entry(e) for name, e in entries.items()} for model, entries in structures.items()}
    ctx.results["structures"] = structures
    ctx.results["cnr"] = cnr_block
    provenance = run_provenance(ctx.labelmaps, ctx.model_records)
    ctx.output.write_json(STRUCTURES_FILE, with_provenance(structures, provenance))
    ctx.output.write_json(CNR_FILE, with_provenance(cnr_block, provenance))

    with ctx.step("contrast"):
        ctx.results["contrast"] = contrast_information(ctx, structures)
    ctx.output.write_json(CONTRAST_FILE, with_provenance(ctx.results["contrast"], provenance))

    with ctx.step("bone density"):
        ctx.results["bone_density"] = bone_density(ct.data, ctx.labelmaps.get("total"), indexes.get("total"))
    del indexes  # their histograms and boxes are not needed after the measurements
    ctx.output.write_json(BONE_DENSITY_FILE, with_provenance(ctx.results["bone_density"], provenance))

    bone, contrast = ctx.results["bone_density"], ctx.results["contrast"]
    ctx.info.update(provenance_info(ctx))
    ctx.info.update(info_rows(ct, structures, cnr_block, bone, contrast))
    ctx.sheets.extend(measurement_sheets(structures, cnr_block, bone))
    if ctx.settings.preview:
        write_previews(ctx)
    if ctx.settings.radiomics:
        with ctx.step("radiomics"):
            from body_organ_analysis.measure.radiomics import radiomics_features

            features = radiomics_features(ct.data, ct.affine, ctx.labelmaps)
        ctx.output.write_json(RADIOMICS_FILE, with_provenance(features, provenance))


def measure_added_maps(ctx: AnalysisContext, names: list[str]) -> None:
    """Measure label maps made after the measurement step (threshold body maps) like the others,
    and rewrite the structure file with the run's provenance."""
    from body_organ_analysis.measure.cnr import add_cnr, reference_region

    ct = ctx.ct
    reference = reference_region(ct.data, ctx.labelmaps)
    added = {name: structure_statistics(ct.data, ctx.labelmaps[name].data, ctx.labelmaps[name].labels,
                                        ct.voxel_volume_ml) for name in names}  # fmt: skip
    add_cnr(added, reference)
    added = {model: {name: rounded_entry(e) for name, e in entries.items()} for model, entries in added.items()}
    structures = {**ctx.results.get("structures", {}), **added}
    ctx.results["structures"] = structures
    ctx.output.write_json(STRUCTURES_FILE, with_provenance(structures, run_provenance(ctx.labelmaps, ctx.model_records)))
    rows = statistics_rows(added)
    for sheet in ctx.sheets:
        if sheet.name == STATISTICS_SHEET:
            sheet.rows.extend(rows)
            break
    else:
        ctx.sheets.insert(0, Sheet(STATISTICS_SHEET, ["model", "structure", *(c for c, _ in STATISTICS_COLUMNS)], rows))
    ctx.info.update(provenance_info(ctx))


def provenance_info(ctx: AnalysisContext) -> dict[str, Any]:
    """The workbook note: the ``provenance`` rows of the info sheet."""
    return {**run_provenance(ctx.labelmaps, ctx.model_records).info_rows(),
            "sd_convention": "population standard deviation (ddof=0) in every table"}


def rounded_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A structure or ROI entry rounded as reported (report/rounding.py)."""
    out = dict(entry)
    for key, value in entry.items():
        if key in HU_KEYS:
            out[key] = round_hu(value)
        elif key == "volume_ml":
            out[key] = round_volume_ml(value)
        elif key == "cnr":
            out[key] = round_ratio(value)
    return out


def rounded_cnr(block: dict[str, Any]) -> dict[str, Any]:
    return {**block, "reference_mean_hu": round_hu(block.get("reference_mean_hu")),
            "noise_hu": round_hu(block.get("noise_hu"))}  # fmt: skip


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


def statistics_rows(structures: dict[str, Any]) -> list[list]:
    return [[model, name, *(entry[key] for _, key in STATISTICS_COLUMNS)]
            for model, entries in structures.items() for name, entry in entries.items()]  # fmt: skip


def measurement_sheets(
    structures: dict[str, Any], cnr_block: dict[str, Any], bone: dict[str, Any]
) -> list[Sheet]:
    statistics = Sheet(STATISTICS_SHEET, ["model", "structure", *(c for c, _ in STATISTICS_COLUMNS)],
                       statistics_rows(structures))  # fmt: skip
    sheets = [statistics]
    if "adjusted" in cnr_block:
        sheets.append(Sheet(
            "cnr-adjusted",
            ["structure", "model", "voxel_count", "hu_mean", "hu_std", "noise_hu", "cnr", "reason"],
            [[name, row["model"], row["voxel_count"], row["hu_mean"], row["hu_std"], cnr_block["noise_hu"],
              row["cnr"], row["reason"]] for name, row in cnr_block["adjusted"].items()],
        ))  # fmt: skip
    rows = [[name, e["hu_mean"], e["hu_std"], e["roi_voxel_count"], e["roi_volume_ml"], e["quality"],
             "; ".join(e["quality_reasons"]) or None, e["reason"]]
            for name, e in bone["vertebrae"].items()]  # fmt: skip
    if not rows:
        rows = [[None, None, None, None, None, "not measured", None, bone["reason"]]]
    sheets.append(Sheet(
        "bone-density",
        ["vertebra", "hu_mean", "hu_std", "roi_voxel_count", "roi_volume_ml", "quality", "quality_reasons", "reason"],
        rows,
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
