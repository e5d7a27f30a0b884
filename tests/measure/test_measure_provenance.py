"""The provenance every JSON, the workbook and the PDF carry (report/provenance.py)."""

from __future__ import annotations

import numpy as np

from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.report.provenance import run_provenance, with_provenance


def label_map(name: str, origin: str) -> LabelMap:
    return LabelMap(np.zeros((2, 2, 2), dtype=np.uint8), np.eye(4), {1: "a"}, name, origin=origin)


def test_stand_in_weights_and_threshold_engine_are_named():
    maps = {"total": label_map("total", "stand-in"), "body_regions": label_map("body_regions", "threshold"),
            "lung_vessels": label_map("lung_vessels", "inference")}  # fmt: skip
    records = {"total": {"origin": "stand-in"}, "body_parts": {"origin": "threshold", "engine": "threshold"}}
    provenance = run_provenance(maps, records)
    assert provenance.stand_in_models == ("total",)
    assert provenance.approximate_models == ("body_regions", "body_parts")
    assert "TEST RUN" in provenance.text and "APPROXIMATE" in provenance.text
    document = with_provenance({"x": 1}, provenance)
    assert document["provenance"]["stand_in"] is True and document["x"] == 1


def test_trained_or_supplied_maps_carry_no_warning():
    provenance = run_provenance({"total": label_map("total", "user-supplied")}, {"total": {"origin": "user-supplied"}})
    assert not provenance.stand_in and not provenance.approximate and provenance.text == ""
    assert provenance.info_rows()["provenance_stand_in_weights"] is False
