"""The text and table sections of ``report.pdf`` (reportlab flowables).

Numbers are shown as report/rounding.py rounds them (volumes 0.1 mL or 3
significant digits, areas 0.01 cm², HU 0.1); lists of vertebrae run head to feet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from body_organ_analysis.imaging.metadata import study_year
from body_organ_analysis.report.rounding import format_volume_ml

VERTEBRAE = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 7)] + ["S1"]
SUMMARY_REGIONS = {"abdomen": "abdominal_cavity", "thorax": "thoracic_cavity", "neck": "whole_scan"}
CNR_STRUCTURES = ("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein", "liver", "spleen", "kidney_right",
                  "kidney_left")  # fmt: skip
PT = 0.3528  # mm per point


def _colour(hex_code: str):
    from reportlab.lib import colors

    return colors.HexColor(hex_code)


def table(rows: list[list], theme, widths=None, highlight_rows: tuple[int, ...] = (), warn_rows: tuple[int, ...] = (),
          text_columns: int = 1, left: tuple[int, ...] = ()):
    """A table: header row, numbers right-aligned; the first ``text_columns`` and the ``left`` columns left-aligned."""
    from reportlab.platypus import Table, TableStyle

    result = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    fg, grid = _colour(theme.foreground), _colour(theme.grid)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
        ("TEXTCOLOR", (0, 0), (-1, -1), fg),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, fg),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, grid),
        ("ALIGN", (text_columns, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
    style += [("ALIGN", (column, 0), (column, -1), "LEFT") for column in left]
    for row in highlight_rows:
        style += [("BACKGROUND", (0, row), (-1, row), _colour("#ffbf00" if theme.name == "light" else "#7a5c00")),
                  ("FONT", (0, row), (-1, row), "Helvetica-Bold", 7)]  # fmt: skip
    for row in warn_rows:
        style += [("TEXTCOLOR", (0, row), (-1, row), _colour("#d62728"))]
    result.setStyle(TableStyle(style))
    return result


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return "-" if value != value else f"{value:.{digits}f}"
    return str(value)


def _cell(text: str, styles):
    from reportlab.platypus import Paragraph

    return Paragraph(text, styles["cell"])


def _pretty(name: str) -> str:
    return name.replace("_", " ")


# ---------------------------------------------------------------- page 1


def study_block(ctx, styles, theme) -> list:
    """The study, de-identified: no name, ID, birth date, accession number, file name, free-text
    description or full date (the study year only: imaging/metadata.py ``study_year``)."""
    from reportlab.platypus import Paragraph

    meta, patient = ctx.ct.metadata, ctx.ct.patient
    scanner = " ".join(str(v) for v in (meta.get("Manufacturer"), meta.get("ManufacturerModelName")) if v)
    axis = int(np.argmax(np.abs(np.asarray(ctx.ct.affine)[2, :3]) / np.asarray(ctx.ct.spacing)))
    thickness = meta.get("SliceThickness")
    spacing = ctx.ct.spacing
    contrast = ctx.results.get("contrast") or {}
    phase = contrast.get("phase")
    phase_text = (f"{_pretty(phase)} (probability {contrast.get('probability'):.2f}, TotalSegmentator's phase model)"
                  if phase and contrast.get("probability") is not None
                  else (_pretty(phase) if phase else f"not predicted ({contrast.get('reason') or 'no contrast step'})"))  # fmt: skip
    missing = "not in the input" if ctx.ct.source != "nifti" else "not in a NIfTI input"
    rows = [
        ["Study year", study_year(meta) or missing],
        ["Series number", meta.get("SeriesNumber") or missing],
        ["Scanner", scanner or missing],
        ["Tube voltage, kernel", " / ".join(str(v) for v in (f"{meta['KVP']:g} kV" if meta.get("KVP") else None,
                                                             meta.get("ConvolutionKernel")) if v) or missing],  # fmt: skip
        ["Slice thickness", f"{thickness:g} mm" if thickness else f"{spacing[axis]:.2f} mm slice spacing ({missing})"],
        ["Grid", f"{'x'.join(str(s) for s in ctx.ct.shape)} voxels of {' x '.join(f'{s:.2f}' for s in spacing)} mm, "
                 f"{ctx.ct.source} input"],
        ["Contrast phase (IV)", phase_text],
        *_patient_rows(ctx, patient),
    ]  # fmt: skip
    rows = [[name, _cell(str(value), styles)] for name, value in rows]
    return [Paragraph("Study", styles["h2"]), table([["item", "value"], *rows], theme, widths=[45 / PT, 135 / PT], text_columns=2)]


def _patient_rows(ctx, patient: dict[str, Any]) -> list[list]:
    """Age, sex, height and weight with where they came from (never name, ID or birth date)."""
    from body_organ_analysis.bca.levels import patient_height_m
    from body_organ_analysis.imaging.body_size import body_size

    rows = []
    if patient.get("PatientAge") or patient.get("PatientSex"):
        rows.append(["Age, sex", " / ".join(str(v) for v in (patient.get("PatientAge"), patient.get("PatientSex")) if v)])
    size = body_size(patient)
    height, reason = patient_height_m(patient)
    height_text = f"{height:.2f} m" if height else reason.replace("patient height unknown: ", "unknown: ")
    rows.append(["Height", _with_source(height_text, size["height_source"])])
    weight = size.get("weight_kg")
    rows.append(["Weight", _with_source(f"{weight:.1f} kg", size["weight_source"]) if weight else "unknown"])
    if size.get("bmi_kg_per_m2"):
        rows.append(["BMI", f"{size['bmi_kg_per_m2']:.1f} kg/m²"])
    return rows


def _with_source(text: str, source: str | None) -> str:
    return f"{text} ({source})" if source else text


def key_numbers(ctx, document: dict[str, Any], styles, theme) -> list:
    from reportlab.platypus import Paragraph

    whole = document["aggregated"].get("whole_scan", {})
    l3 = document["vertebral_levels"].get("L3")
    rows = [["measure", "value"]]
    for tissue in ("muscle", "sat", "vat", "imat", "tat", "bone"):
        stats = whole.get(tissue)
        if stats:
            rows.append([f"{tissue.upper()} volume, whole scan (mL)", format_volume_ml(stats["volume_ml"])])
    if l3:
        smi = (fmt(l3["smi_cm2_per_m2"], 2) if l3["smi_cm2_per_m2"] is not None
               else _cell(f"- ({l3['smi_missing_reason']})", styles))  # fmt: skip
        rows += [
            ["L3 skeletal muscle area (cm²)", fmt(l3["muscle_area_cm2"], 2)],
            ["L3 muscle mean HU", fmt(l3["muscle_hu_mean"])],
            ["L3 skeletal muscle index (cm²/m²)", smi],
        ]
    else:
        rows.append(["L3 measurements", "- (L3 not in the scan, or no total map)"])
    bone = ((ctx.results.get("bone_density") or {}).get("vertebrae") or {}).get("vertebrae_L1")
    if bone and bone.get("hu_mean") is not None:
        flag = "" if bone["quality"] == "ok" else f" - CHECK: {'; '.join(bone['quality_reasons'])}"
        rows.append(["L1 trabecular bone density (HU)", _cell(f"{bone['hu_mean']:.1f}{flag}", styles)])
    metal = document.get("metal") or {}
    if metal.get("voxel_count"):
        rows.append([f"metal above {metal['above_hu']:g} HU (mL, not counted as bone)", format_volume_ml(metal["volume_ml"])])
    warn = tuple(i for i, row in enumerate(rows) if i and "CHECK" in getattr(row[1], "text", ""))
    return [Paragraph("Key numbers", styles["h2"]), table(rows, theme, widths=[70 / PT, 110 / PT], warn_rows=warn)]


# ---------------------------------------------------------------- tables


def aggregated_tables(document: dict[str, Any], styles, theme) -> list:
    from reportlab.platypus import Paragraph

    region = SUMMARY_REGIONS.get(document["examined_region"], "whole_scan")
    shown = ["whole_scan"] + ([region] if region != "whole_scan" else [])
    shown += [r for r in ("ventral_cavity", "thoracic_cavity", "abdominal_cavity") if r not in shown]
    out = [
        Paragraph("Aggregated measurements", styles["h2"]),
        Paragraph("Volume: the tissue's voxels in the region's slices (mL). Mean HU: over those voxels. "
                  "The five mL/slice columns describe the tissue's volume per slice, in mL: mean, "
                  "standard deviation (population, ddof=0), minimum, median and maximum over the slices.",
                  styles["small"]),
    ]  # fmt: skip
    header = ["tissue", "volume (mL)", "mean (HU)", "mean (mL/slice)", "SD (mL/slice)", "min (mL/slice)",
              "median (mL/slice)", "max (mL/slice)"]  # fmt: skip
    keys = ("ml_per_slice_mean", "ml_per_slice_std", "ml_per_slice_min", "ml_per_slice_median", "ml_per_slice_max")
    for key, label in (("aggregated", "with extremities"), ("aggregated_no_extremities", "torso only")):
        for name in shown[:3] if key == "aggregated" else shown[:1]:
            tissues = document[key].get(name)
            if not tissues:
                continue
            rows = [header]
            for tissue, stats in tissues.items():
                rows.append([tissue.upper(), format_volume_ml(stats["volume_ml"]), fmt(stats["hu_mean"]),
                             *(format_volume_ml(stats[k]) for k in keys)])  # fmt: skip
            count = tissues["muscle"]["slice_count"]
            out += [Paragraph(f"<b>{_pretty(name)}</b> ({label}, {count} slices)", styles["body"]), table(rows, theme)]
    return out


def levels_table(levels: dict[str, dict], styles, theme) -> list:
    from reportlab.platypus import Paragraph

    title = Paragraph("Vertebral levels", styles["h2"])
    if not levels:
        return [title, Paragraph("No vertebrae found (needs the total label map).", styles["body"])]
    rows = [["level", "slice", "muscle (cm²)", "muscle (HU)", "SAT (cm²)", "VAT (cm²)", "IMAT (cm²)", "SMI (cm²/m²)",
             "note"]]  # fmt: skip
    highlight = []
    for name in sorted(levels, key=lambda n: VERTEBRAE.index(n) if n in VERTEBRAE else len(VERTEBRAE)):
        v = levels[name]
        if name == "L3":
            highlight.append(len(rows))
        rows.append([name, v["slice_index"], fmt(v["muscle_area_cm2"], 2), fmt(v["muscle_hu_mean"]),
                     fmt(v["sat_area_cm2"], 2), fmt(v["vat_area_cm2"], 2), fmt(v["imat_area_cm2"], 2),
                     fmt(v["smi_cm2_per_m2"], 2), "truncated" if v["truncated"] else ""])  # fmt: skip
    note = Paragraph("Head to feet; at the middle slice of each vertebra, torso only. Truncated: the vertebra "
                     "touches the first or last slice, so its middle slice is uncertain.", styles["small"])  # fmt: skip
    return [title, note, table(rows, theme, highlight_rows=tuple(highlight), left=(8,))]


def organ_table(structures: dict | None, styles, theme) -> list:
    from reportlab.platypus import Paragraph

    if not structures:
        return []
    rows = [["model", "structure", "volume (mL)", "mean (HU)", "SD (HU)", "median (HU)", "note"]]
    for model, entries in structures.items():
        for name, s in entries.items():
            if not s.get("present"):
                continue
            rows.append([model, name, format_volume_ml(s.get("volume_ml")), fmt(s.get("hu_mean")), fmt(s.get("hu_std")),
                         fmt(s.get("hu_median")), "truncated" if s.get("truncated") else ""])  # fmt: skip
    if len(rows) == 1:
        return []
    return [Paragraph("Organ measurements", styles["h2"]),
            Paragraph("Every present structure of every label map of the run. SD: population (ddof=0). "
                      "Truncated: touches the edge of the scan, so part of it may lie outside.", styles["small"]),
            table(rows, theme, text_columns=2, left=(6,))]  # fmt: skip


def cnr_section(cnr: dict | None, structures: dict | None, styles, theme) -> list:
    from reportlab.platypus import Paragraph

    out = [Paragraph("Contrast-to-noise ratio", styles["h2"])]
    if not cnr:
        return out + [Paragraph("Not computed: the measurement step did not run.", styles["body"])]
    if cnr.get("reason"):
        return out + [Paragraph(f"Not computed: {cnr['reason']}.", styles["body"])]
    out.append(Paragraph(
        f"Noise: {fmt(cnr.get('noise_hu'))} HU, the SD of the {_pretty(cnr.get('reference', '')).replace('+', ' and ')} muscles "
        f"(mean {fmt(cnr.get('reference_mean_hu'))} HU, {cnr.get('reference_voxel_count')} voxels). "
        "CNR = (structure mean - reference mean) / noise.", styles["body"]))  # fmt: skip
    total = (structures or {}).get("total") or {}
    rows = [["structure", "mean (HU)", "CNR"]]
    for name in CNR_STRUCTURES:
        entry = total.get(name)
        if entry and entry.get("present"):
            rows.append([name, fmt(entry.get("hu_mean")), fmt(entry.get("cnr"), 2)])
    for name, entry in (cnr.get("adjusted") or {}).items():
        rows.append([f"{name} (eroded ROI)", fmt(entry.get("hu_mean")), fmt(entry.get("cnr"), 2)])
    if len(rows) > 1:
        out.append(table(rows, theme))
    return out


def bone_density_section(bone: dict | None, styles, theme) -> list:
    from reportlab.platypus import Paragraph

    out = [Paragraph("Bone density (trabecular HU)", styles["h2"])]
    if not bone:
        return out + [Paragraph("Not computed: the measurement step did not run.", styles["body"])]
    vertebrae = bone.get("vertebrae") or {}
    if not vertebrae:
        return out + [Paragraph(f"Not computed: {bone.get('reason')}.", styles["body"])]
    rows = [["vertebra", "mean (HU)", "SD (HU)", "ROI (mL)", "quality", "note"]]
    warn = []
    for name, entry in vertebrae.items():  # head to feet
        note = "; ".join(entry.get("quality_reasons") or []) or entry.get("reason") or ""
        if entry.get("quality") == "check":
            warn.append(len(rows))
        rows.append([name.removeprefix("vertebrae_"), fmt(entry.get("hu_mean")), fmt(entry.get("hu_std")),
                     format_volume_ml(entry.get("roi_volume_ml")), entry.get("quality", ""), _cell(note, styles)])  # fmt: skip
    return out + [
        Paragraph("Opportunistic, not phantom-calibrated: kVp and kernel change HU. L1 is the level of the "
                  "literature. Values marked check have the reasons given; do not read them like the others.",
                  styles["small"]),
        table(rows, theme, widths=[16 / PT, 16 / PT, 14 / PT, 14 / PT, 18 / PT, 102 / PT], warn_rows=tuple(warn),
              left=(4, 5)),
    ]  # fmt: skip


def findings(document: dict[str, Any], styles, theme) -> list:
    from reportlab.platypus import Paragraph

    found = document["findings"]
    rows = [["cavity", "volume (mL)"]] + [[_pretty(k), format_volume_ml(v)] for k, v in found["cavity_volumes_ml"].items()]
    implants = found["breast_implants"]
    text = ("Breast implants: none found." if not implants else "Breast implants: " + ", ".join(
        f"{i['side']} ({format_volume_ml(i['volume_ml'])} mL)" for i in implants) + ".")  # fmt: skip
    metal = document.get("metal") or {}
    metal_text = (f"Metal (body voxels above {metal.get('above_hu', 3000):g} HU, kept out of the bone tissue): "
                  f"{format_volume_ml(metal.get('volume_ml'))} mL ({metal.get('voxel_count', 0)} voxels).")  # fmt: skip
    return [Paragraph("Other findings", styles["h2"]), table(rows, theme), Paragraph(text, styles["body"]),
            Paragraph(metal_text, styles["body"])]  # fmt: skip


# ---------------------------------------------------------------- methods


def methods(ctx, document: dict[str, Any], styles, theme, disclaimer: str) -> list:
    from reportlab.platypus import Paragraph

    from body_organ_analysis import __version__

    windows = document["hu_window_settings"]
    approximate = document["approximate"]
    engine = ("the weights-free threshold engine (HU rules, morphology and connected components); its maps "
              "are approximate" if approximate else
              "the reference tool's nnU-Net body-composition networks")  # fmt: skip
    sentences = (
        f"Body regions and body parts come from {engine}; organs from the total label map. "
        "Tissues are HU windows inside their body region: muscle and intermuscular fat in the muscle region, "
        "subcutaneous fat in the subcutaneous tissue, visceral fat in the abdominal cavity, paracardial fat in "
        "the mediastinum, epicardial fat in the pericardium, bone in the bone region; TAT is the sum of the fat "
        "tissues. Volumes are voxel counts times the voxel volume; areas are per axial slice. "
        "Vertebral levels are measured at the middle slice of each vertebra, on the torso only. "
        "The skeletal muscle index is the L3 muscle area divided by the height squared. "
        "Every standard deviation is the population SD (ddof=0)."
    )
    rows = [["item", "setting"]]
    for name, record in ctx.model_records.items():
        origin = record.get("origin", "inference")
        weights = record.get("weights") or record.get("weights_version")
        rows.append([f"label map {name}", _cell(f"{origin}{f', weights {weights}' if weights else ''}", styles)])
    rows += [
        ["muscle window", f"{windows['muscle'][0]:g} to {windows['muscle'][1]:g} HU"],
        ["fat window", f"{windows['fat'][0]:g} to {windows['fat'][1]:g} HU"],
        ["bone window", f"{windows['bone'][0]:g} to {windows['bone'][1]:g} HU (above: metal, reported apart)"],
        ["standard deviation", "population (ddof=0), every table"],
        ["rounding", "volumes 0.1 mL or 3 significant digits, areas 0.01 cm², HU 0.1"],
        ["examined region", f"{document['examined_region']}{' (forced)' if document['examined_region_forced'] else ''}"],
        ["tool", f"body-organ-analysis {__version__}, theme {ctx.settings.theme}"],
    ]  # fmt: skip
    return [Paragraph("Methods", styles["h2"]), Paragraph(sentences, styles["body"]),
            table(rows, theme, widths=[40 / PT, 140 / PT], text_columns=2), Paragraph(disclaimer, styles["body"])]  # fmt: skip
