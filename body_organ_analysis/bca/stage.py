"""The body-composition step of analyze() (to be built)."""

from __future__ import annotations

from body_organ_analysis.context import AnalysisContext


def run(ctx: AnalysisContext) -> None:
    """Add body-composition outputs to ``ctx`` (results, sheets, info, files)."""
