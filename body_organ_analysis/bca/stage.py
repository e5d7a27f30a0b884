"""The body-composition step of analyze().

Reads ``body_regions`` and ``body_parts`` (run, supplied, or made here by the
threshold engine when absent) and ``total`` when present; writes
``tissues.nii.gz``, ``bca-measurements.json``, the ``bca-*`` workbook sheets
and ``report.pdf``. Supplied body maps are used as given: the clean-up of the
networks' output (models/bca_inference.py) is not applied to them. Maps made
here are measured like every other label map (structure-measurements.json).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from body_organ_analysis.context import AnalysisContext
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.report.provenance import run_provenance, with_provenance
from body_organ_analysis.report.workbook import Sheet

MEASUREMENTS_NAME = "bca-measurements.json"
REPORT_NAME = "report.pdf"


def ensure_body_maps(ctx: AnalysisContext) -> None:
    """Make body_regions/body_parts with the threshold engine where they are missing."""
    missing = [name for name in ("body_regions", "body_parts") if name not in ctx.labelmaps]
    if not missing:
        return
    from body_organ_analysis.bca.threshold import threshold_maps

    with ctx.step("bca threshold engine"):
        regions, parts = threshold_maps(ctx.ct, ctx.labelmaps.get("total"))
    for label_map in (regions, parts):
        if label_map.model in missing:
            ctx.labelmaps[label_map.model] = label_map
            ctx.output.write_labelmap(label_map.model, label_map)
            ctx.model_records[label_map.model] = {"origin": "threshold", "engine": "threshold",
                                                  "approximate": True}  # fmt: skip
    from body_organ_analysis.measure.stage import measure_added_maps

    with ctx.step("structure statistics (threshold body maps)"):
        measure_added_maps(ctx, missing)


def run(ctx: AnalysisContext) -> None:
    """Add body-composition outputs to ``ctx`` (results, sheets, info, files)."""
    from body_organ_analysis.bca.measure import measure_body_composition

    ensure_body_maps(ctx)
    with ctx.step("bca measurements"):
        document, tissues, tables = measure_body_composition(ctx)
    provenance = run_provenance(ctx.labelmaps, ctx.model_records)
    document = with_provenance(document, provenance)
    # tissues.nii.gz is compressed in a thread (zlib releases the GIL) while the PDF is drawn
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="boa-tissues") as writer:
        written = writer.submit(_write_tissues, ctx, tissues)
        with ctx.step("bca write"):
            ctx.results["bca"] = document
            ctx.output.write_json(MEASUREMENTS_NAME, document)
            ctx.sheets.extend(bca_sheets(document, tables))
            ctx.info.update(provenance.info_rows())
            ctx.info.update(bca_info(document))
        if document["approximate"]:
            ctx.warn("body composition comes from the weights-free threshold engine: values are approximate")
        if not ctx.settings.bca_no_pdf:
            from body_organ_analysis.report.pdf import write_report

            with ctx.step("bca report pdf"):
                write_report(ctx.output.path(REPORT_NAME), ctx, document, tissues, tables)
        written.result()  # its errors surface here


def _write_tissues(ctx: AnalysisContext, tissues: LabelMap) -> None:
    with ctx.step("write tissues"):  # timed in its thread: it overlaps the report
        ctx.output.write_labelmap("tissues", tissues)


def bca_sheets(document: dict[str, Any], tables) -> list[Sheet]:
    from body_organ_analysis.bca.aggregation import AGGREGATED_COLUMNS, aggregated_rows
    from body_organ_analysis.bca.levels import LEVEL_COLUMNS, level_rows
    from body_organ_analysis.bca.slices import slice_sheet_rows

    columns, rows = slice_sheet_rows(tables, torso_only=False)
    columns_ne, rows_ne = slice_sheet_rows(tables, torso_only=True)
    return [
        Sheet("bca-aggregated-measurements", AGGREGATED_COLUMNS,
              aggregated_rows(document["aggregated"], document["aggregated_no_extremities"])),
        Sheet("bca-slice-measurements", columns, rows),
        Sheet("bca-slice-measurements_no_ext", columns_ne, rows_ne),
        Sheet("bca-vertebral-levels", LEVEL_COLUMNS, level_rows(document["vertebral_levels"])),
    ]  # fmt: skip


def bca_info(document: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "bca_engine": document["engine"],
        "bca_approximate": document["approximate"],
        "bca_examined_region": document["examined_region"],
        "bca_metal_volume_ml": document["metal"]["volume_ml"],
    }
    l3 = document["vertebral_levels"].get("L3")
    if l3:
        info["bca_l3_muscle_area_cm2"] = l3["muscle_area_cm2"]
        info["bca_l3_smi_cm2_per_m2"] = l3["smi_cm2_per_m2"]
    return info
