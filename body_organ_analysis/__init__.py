"""body-organ-analysis: body and organ analysis of CT scans.

The public entry point is :func:`body_organ_analysis.pipeline.analyze`.
Importing the package has no side effects.
"""

__version__ = "0.1.0"
