"""``report.pdf``: the body-composition report (A4, reportlab + matplotlib, light or dark).

Page 1: the study (de-identified: descriptions, date, scanner, slice thickness,
contrast phase), the patient's height and weight with their source, key
numbers, coronal/sagittal views with the tissue overlay and composition per
slice. Then equidistant axial slices with region / tissue / total overlays and
the tissue heatmaps; aggregated tables and vertebral levels (head to feet, L3
highlighted); organs, CNR, bone density (with its quality flags), other
findings; and the methods as sentences and a table. Every page says "not for
clinical use", and carries a red banner when the results come from stand-in
weights or the threshold engine (report/provenance.py).
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any

from body_organ_analysis import __version__
from body_organ_analysis.report import pdf_sections as sections
from body_organ_analysis.report.pdf_figures import THEMES, Theme, axial_figure, heatmap_figure, ras_volumes, summary_figure
from body_organ_analysis.report.provenance import run_provenance

DISCLAIMER = "NOT FOR CLINICAL USE - research software, results are not validated for diagnosis."
BANNER_HEIGHT_MM = 11


def write_report(path: Path, ctx, document: dict[str, Any], tissues, tables) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer

    theme = THEMES[ctx.settings.theme]
    styles = _styles(theme)
    provenance = run_provenance(ctx.labelmaps, ctx.model_records)
    total = ctx.labelmaps.get("total")
    from reportlab import rl_config

    rl_config.useA85 = 0  # binary image streams: ASCII85 text is slow pure Python here, and larger
    vol = ras_volumes(ctx.ct.data, ctx.ct.affine, tissues.data, ctx.labelmaps["body_regions"].data,
                      None if total is None else total.data)  # fmt: skip
    levels = document["vertebral_levels"]
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    story: list = [
        Paragraph("Body composition report", styles["title"]),
        Paragraph(f"body-organ-analysis {__version__}, created {created}. {DISCLAIMER}", styles["small"]),
        Spacer(1, 2 * mm),
        *sections.study_block(ctx, styles, theme),
        Spacer(1, 2 * mm),
        *sections.key_numbers(ctx, document, styles, theme),
        Spacer(1, 2 * mm),
        _image(summary_figure(vol, tables, theme, {k: v["position_mm"] for k, v in levels.items()}), 175 * mm),
        PageBreak(),
        Paragraph("Axial slices", styles["h2"]),
        _image(axial_figure(vol, theme), 180 * mm),
        Paragraph("Tissue heatmaps", styles["h2"]),
        _image(heatmap_figure(vol, tables, theme), 180 * mm),
        PageBreak(),
        *sections.aggregated_tables(document, styles, theme),
        KeepTogether(sections.levels_table(levels, styles, theme)),
        PageBreak(),
        *sections.organ_table(ctx.results.get("structures"), styles, theme),
        KeepTogether(sections.cnr_section(ctx.results.get("cnr"), ctx.results.get("structures"), styles, theme)),
        KeepTogether(sections.bone_density_section(ctx.results.get("bone_density"), styles, theme)),
        KeepTogether(sections.findings(document, styles, theme)),
        KeepTogether(sections.methods(ctx, document, styles, theme, DISCLAIMER)),
    ]

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFillColor(_colour(theme.background))
        canvas.rect(0, 0, A4[0], A4[1], stroke=0, fill=1)
        if provenance.text:
            _banner(canvas, provenance.text, A4, mm)
        canvas.setFillColor(_colour(theme.foreground))
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, 8 * mm, f"body-organ-analysis {__version__} - {DISCLAIMER}")
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    top = (BANNER_HEIGHT_MM + 15 if provenance.text else 12) * mm
    pdf = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=top, bottomMargin=15 * mm, title="Body composition report",
                            author="body-organ-analysis", subject=provenance.text or DISCLAIMER)  # fmt: skip
    pdf.build(story, onFirstPage=decorate, onLaterPages=decorate)


def _banner(canvas, text: str, page, mm: float) -> None:
    """A red band across the top of the page with the provenance text (wrapped)."""
    from reportlab.lib.utils import simpleSplit

    height = BANNER_HEIGHT_MM * mm
    canvas.setFillColor(_colour("#c00000"))
    canvas.rect(10 * mm, page[1] - 8 * mm - height, page[0] - 20 * mm, height, stroke=0, fill=1)
    canvas.setFillColor(_colour("#ffffff"))
    canvas.setFont("Helvetica-Bold", 8)
    lines = simpleSplit(text, "Helvetica-Bold", 8, page[0] - 26 * mm)[:3]
    y = page[1] - 8 * mm - 3.6 * mm
    for line in lines:
        canvas.drawString(13 * mm, y, line)
        y -= 3.4 * mm


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
        "cell": ParagraphStyle("c", parent=base["BodyText"], textColor=fg, fontSize=7, leading=8.5),
        "warning": ParagraphStyle("w", parent=base["BodyText"], textColor=_colour("#d62728"), fontSize=9,
                                  fontName="Helvetica-Bold"),  # fmt: skip
    }


def _image(png: bytes, width: float):
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    reader = ImageReader(io.BytesIO(png))
    w, h = reader.getSize()
    return Image(io.BytesIO(png), width=width, height=width * h / w)
