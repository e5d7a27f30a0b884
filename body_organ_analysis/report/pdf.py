"""``report.pdf``: the body-composition report (A4, reportlab + matplotlib, light or dark).

Contents: summary (key numbers, coronal/sagittal views with the tissue
overlay, composition per slice), equidistant axial slices with region /
tissue / `total` overlays, tissue heatmaps, aggregated tables, vertebral
levels (L3 highlighted), the organ table of the measurement step when it ran,
other findings, and the methods (models, weights, HU windows, engine, tool
version). Every page says "not for clinical use".
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any

import numpy as np

from body_organ_analysis import __version__
from body_organ_analysis.report.pdf_figures import THEMES, Theme, axial_figure, heatmap_figure, ras_volumes, summary_figure

DISCLAIMER = "NOT FOR CLINICAL USE - research software, results are not validated for diagnosis."
AGGREGATE_COLUMNS = ("volume_ml", "mean_hu", "mean_ml_per_slice", "std", "min", "median", "max")
SUMMARY_REGIONS = {"abdomen": "abdominal_cavity", "thorax": "thoracic_cavity", "neck": "whole_scan"}


def write_report(path: Path, ctx, document: dict[str, Any], tissues, tables) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    theme = THEMES[ctx.settings.theme]
    styles = _styles(theme)
    total = ctx.labelmaps.get("total")
    from reportlab import rl_config

    rl_config.useA85 = 0  # binary image streams: ASCII85 text is slow pure Python here, and larger
    vol = ras_volumes(ctx.ct.data, ctx.ct.affine, tissues.data, ctx.labelmaps["body_regions"].data,
                      None if total is None else total.data)  # fmt: skip
    levels = document["vertebral_levels"]
    story: list = [
        Paragraph("Body composition report", styles["title"]),
        Paragraph(_subtitle(ctx, document), styles["small"]),
        Paragraph(DISCLAIMER, styles["warning"]),
    ]
    if document["approximate"]:
        story.append(Paragraph(
            "Body regions from the weights-free threshold engine: all values are APPROXIMATE.", styles["warning"]))
    story += [Spacer(1, 3 * mm), _key_numbers(document, styles, theme), Spacer(1, 3 * mm)]
    story.append(_image(summary_figure(vol, tables, theme, {k: v["position_mm"] for k, v in levels.items()}), 180 * mm))
    story += [PageBreak(), Paragraph("Axial slices", styles["h2"]), _image(axial_figure(vol, theme), 180 * mm)]
    story += [Paragraph("Tissue heatmaps", styles["h2"]), _image(heatmap_figure(vol, tables, theme), 180 * mm)]
    story += [PageBreak(), Paragraph("Aggregated measurements", styles["h2"])]
    story += _aggregated_tables(document, styles, theme)
    story += [Paragraph("Vertebral levels", styles["h2"]), _levels_table(levels, styles, theme)]
    organs = _organ_table(ctx.results.get("structures"), styles, theme)
    if organs is not None:
        story += [PageBreak(), Paragraph("Organ measurements (total)", styles["h2"]), organs]
    story += [Paragraph("Other findings", styles["h2"]), *_findings(document, styles, theme)]
    story += [Paragraph("Methods", styles["h2"]), *_methods(ctx, document, styles)]

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFillColor(_colour(theme.background))
        canvas.rect(0, 0, A4[0], A4[1], stroke=0, fill=1)
        canvas.setFillColor(_colour(theme.foreground))
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, 8 * mm, f"body-organ-analysis {__version__} - {DISCLAIMER}")
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    pdf = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=12 * mm, bottomMargin=15 * mm, title="Body composition report",
                            author="body-organ-analysis", subject=DISCLAIMER)  # fmt: skip
    pdf.build(story, onFirstPage=decorate, onLaterPages=decorate)


def _colour(hex_code: str):
    from reportlab.lib import colors

    return colors.HexColor(hex_code)


def _styles(theme: Theme) -> dict:
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    fg = _colour(theme.foreground)
    return {
        "title": ParagraphStyle("t", parent=base["Title"], textColor=fg, fontSize=18, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], textColor=fg, fontSize=12, spaceBefore=6),
        "body": ParagraphStyle("b", parent=base["BodyText"], textColor=fg, fontSize=8, leading=10),
        "small": ParagraphStyle("s", parent=base["BodyText"], textColor=fg, fontSize=7, leading=9),
        "warning": ParagraphStyle("w", parent=base["BodyText"], textColor=_colour("#d62728"), fontSize=9,
                                  fontName="Helvetica-Bold"),  # fmt: skip
    }


def _image(png: bytes, width: float):
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    reader = ImageReader(io.BytesIO(png))
    w, h = reader.getSize()
    return Image(io.BytesIO(png), width=width, height=width * h / w)


def _table(rows: list[list], theme: Theme, widths=None, highlight_rows: tuple[int, ...] = ()):
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    fg, grid = _colour(theme.foreground), _colour(theme.grid)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
        ("TEXTCOLOR", (0, 0), (-1, -1), fg),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, fg),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, grid),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
    for row in highlight_rows:
        style += [("BACKGROUND", (0, row), (-1, row), _colour("#ffbf00" if theme.name == "light" else "#7a5c00")),
                  ("FONT", (0, row), (-1, row), "Helvetica-Bold", 7)]  # fmt: skip
    table.setStyle(TableStyle(style))
    return table


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return "-" if value != value else f"{value:.{digits}f}"
    return str(value)


def _subtitle(ctx, document: dict[str, Any]) -> str:
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shape = "x".join(str(s) for s in ctx.ct.shape)
    spacing = " x ".join(f"{s:.2f}" for s in ctx.ct.spacing)
    return (f"Input: {ctx.ct.source_name} ({shape} voxels, {spacing} mm). Engine: {document['engine']}. "
            f"Examined region: {document['examined_region']}. Created {created}.")  # fmt: skip


def _key_numbers(document: dict[str, Any], styles, theme: Theme):
    whole = document["aggregated"].get("whole_scan", {})
    l3 = document["vertebral_levels"].get("L3")
    rows = [["measure", "value"]]
    for tissue in ("muscle", "sat", "vat", "imat", "tat", "bone"):
        stats = whole.get(tissue)
        if stats:
            rows.append([f"{tissue.upper()} volume, whole scan (mL)", _fmt(stats["volume_ml"])])
    if l3:
        rows += [
            ["L3 skeletal muscle area (cm²)", _fmt(l3["muscle_area_cm2"])],
            ["L3 muscle mean HU", _fmt(l3["muscle_mean_hu"])],
            ["L3 skeletal muscle index (cm²/m²)", _fmt(l3["smi_cm2_per_m2"]) if l3["smi_cm2_per_m2"] is not None
             else f"- ({l3['smi_missing_reason']})"],
        ]  # fmt: skip
    else:
        rows.append(["L3 measurements", "- (L3 not in the scan or no `total` map)"])
    return _table(rows, theme, widths=[70 * 2.835, 110 * 2.835])


def _aggregated_tables(document: dict[str, Any], styles, theme: Theme) -> list:
    from reportlab.platypus import Paragraph

    region = SUMMARY_REGIONS.get(document["examined_region"], "whole_scan")
    shown = ["whole_scan"] + ([region] if region != "whole_scan" else [])
    shown += [r for r in ("ventral_cavity", "thoracic_cavity", "abdominal_cavity") if r not in shown]
    out = []
    for key, label in (("aggregated", "with extremities"), ("aggregated_no_extremities", "without extremities")):
        for name in shown[:3] if key == "aggregated" else shown[:1]:
            table = document[key].get(name)
            if not table:
                continue
            rows = [["tissue", "volume (mL)", "mean HU", "mL/slice mean", "SD", "min", "median", "max"]]
            for tissue, stats in table.items():
                rows.append([tissue.upper()] + [_fmt(stats[c]) for c in AGGREGATE_COLUMNS])
            out += [Paragraph(f"{name.replace('_', ' ')} ({label}, {table['muscle']['slice_count']} slices)",
                              styles["body"]), _table(rows, theme)]  # fmt: skip
    return out


def _levels_table(levels: dict[str, dict], styles, theme: Theme):
    from reportlab.platypus import Paragraph

    if not levels:
        return Paragraph("No vertebrae found (needs the `total` label map).", styles["body"])
    rows = [["level", "slice", "muscle (cm²)", "muscle HU", "SAT (cm²)", "VAT (cm²)", "IMAT (cm²)", "SMI (cm²/m²)", "note"]]
    highlight = []
    for name, v in levels.items():
        if name == "L3":
            highlight.append(len(rows))
        note = "truncated" if v["truncated"] else ""
        rows.append([name, v["slice_index"], _fmt(v["muscle_area_cm2"]), _fmt(v["muscle_mean_hu"]),
                     _fmt(v["sat_area_cm2"]), _fmt(v["vat_area_cm2"]), _fmt(v["imat_area_cm2"]),
                     _fmt(v["smi_cm2_per_m2"]), note])  # fmt: skip
    return _table(rows, theme, highlight_rows=tuple(highlight))


def _organ_table(structures: dict | None, styles, theme: Theme):
    if not structures:
        return None
    rows = [["model", "structure", "volume (mL)", "HU mean", "HU SD", "HU median", "note"]]
    for model, entries in structures.items():
        for name, s in entries.items():
            if not s.get("present"):
                continue
            rows.append([model, name, _fmt(s.get("volume_ml")), _fmt(s.get("hu_mean")), _fmt(s.get("hu_std")),
                         _fmt(s.get("hu_median")), "truncated" if s.get("truncated") else ""])  # fmt: skip
    return _table(rows, theme) if len(rows) > 1 else None


def _findings(document: dict[str, Any], styles, theme: Theme) -> list:
    from reportlab.platypus import Paragraph

    found = document["findings"]
    rows = [["cavity", "volume (mL)"]] + [[k.replace("_", " "), _fmt(v)] for k, v in found["cavity_volumes_ml"].items()]
    implants = found["breast_implants"]
    text = ("Breast implants: none found." if not implants else "Breast implants: " + ", ".join(
        f"{i['side']} ({i['volume_ml']:.0f} mL)" for i in implants) + ".")  # fmt: skip
    return [_table(rows, theme), Paragraph(text, styles["body"])]


def _methods(ctx, document: dict[str, Any], styles) -> list:
    from reportlab.platypus import Paragraph

    windows = ", ".join(f"{t.upper()} {lo:g} to {hi:g} HU" for t, (lo, hi) in document["hu_windows"].items())
    models = []
    for name, record in ctx.model_records.items():
        origin = record.get("origin", "inference")
        weights = record.get("weights") or record.get("weights_version") or ""
        models.append(f"{name}: {origin}{(' (' + str(weights) + ')') if weights else ''}")
    engine = ("weights-free threshold engine (HU rules, morphology, connected components; approximate)"
              if document["approximate"] else "nnU-Net body-composition models (Dataset542/543)")  # fmt: skip
    return [
        Paragraph(f"Body regions and parts: {engine}. Models: {'; '.join(models) or '-'}.", styles["body"]),
        Paragraph(f"Tissues: muscle and fat by HU window inside their body region ({windows}); "
                  "bone is the bone region; TAT = SAT + VAT + IMAT + PAT + EAT. Areas are per axial slice, "
                  "volumes are voxel counts times voxel volume. Vertebral levels: middle slice of each "
                  "vertebra of `total`, torso without extremities. SMI = muscle area / height².",
                  styles["body"]),  # fmt: skip
        Paragraph(f"Tool: body-organ-analysis {__version__}, theme {ctx.settings.theme}. {DISCLAIMER}", styles["body"]),
    ]
