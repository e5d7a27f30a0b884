"""The viewer component: NiiVue (shipped in ``static/viewer``) inside a Streamlit component."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

STATIC = Path(__file__).parent / "static" / "viewer"
SLICE_TYPES = {"multiplanar + 3-D": 3, "axial": 0, "coronal": 1, "sagittal": 2, "3-D render": 4}

_component = components.declare_component("boa_viewer", path=str(STATIC))


def viewer(ct_b64: str, volume_id: str, label_b64: str | None, labels: dict[int, str],
           colours: dict[int, tuple[int, int, int]], window: tuple[float, float], opacity: float,
           slice_type: int, jump: dict[str, Any] | None, height: int = 620, key: str = "viewer") -> Any:  # fmt: skip
    """Draw the CT with one label map over it; returns the last clicked point ({mm, click, ...}) or None."""
    return _component(
        ct_b64=ct_b64, volume_id=volume_id, label_b64=label_b64,
        labels={str(k): v for k, v in labels.items()}, colours={str(k): list(v) for k, v in colours.items()},
        window=list(window), opacity=opacity, slice_type=slice_type, jump=jump, height=height,
        key=key, default=None,
    )  # fmt: skip
