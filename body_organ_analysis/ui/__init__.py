"""The web UI (extra ``ui``): a Streamlit app over ``analyze()``.

Start it with ``boa ui`` (see :mod:`body_organ_analysis.ui.cli` and docs/ui.md).
Nothing here is imported by the rest of the package.
"""
