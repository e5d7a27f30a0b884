"""The measurement step of analyze(): organ statistics and friends (to be built)."""

from __future__ import annotations

from body_organ_analysis.context import AnalysisContext


def run(ctx: AnalysisContext) -> None:
    """Add organ measurements to ``ctx`` (results, sheets, info, files)."""
