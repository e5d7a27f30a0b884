"""Read an output folder and build its DICOM objects: SEG per label map, SR, Encapsulated PDF."""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import nibabel as nib
import numpy as np
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from body_organ_analysis import __version__
from body_organ_analysis.models.registry import MODELS
from body_organ_analysis.pacs.dicom_outputs.grid import DicomOutputError, sort_sources
from body_organ_analysis.pacs.dicom_outputs.pdf import build_encapsulated_pdf
from body_organ_analysis.pacs.dicom_outputs.provenance import Provenance, of_label_map, of_manifest
from body_organ_analysis.pacs.dicom_outputs.seg import LabelMapInput, SegmentRecord, build_segmentation
from body_organ_analysis.pacs.dicom_outputs.sr import build_measurement_report
from body_organ_analysis.pacs.dicom_outputs.uids import UidSource

log = logging.getLogger("body_organ_analysis")

REPORT_PDF = "report.pdf"
ORGAN_MEASUREMENTS = "structure-measurements.json"
BCA_MEASUREMENTS = "bca-measurements.json"
MANIFEST = "manifest.json"
LABELS_SUFFIX = ".labels.json"


@dataclass(frozen=True)
class DicomOutputSettings:
    """What to build and how to label it."""

    seg: bool = True
    sr: bool = True
    pdf: bool = True
    models: tuple[str, ...] | None = None  # None: every label map in the folder
    manufacturer: str = "body-organ-analysis"
    series_number_start: int = 9000  # SR = start, PDF = start + 1, SEGs = start + 10 + n
    # SEG encoding: uncompressed (fast to build), or JPEG2000Lossless (about 40x smaller, about 8x slower)
    seg_transfer_syntax_uid: str = ExplicitVRLittleEndian


def build_dicom_outputs(
    result_dir: Path, source_datasets: Sequence[Dataset], settings: DicomOutputSettings | None = None
) -> list[Dataset]:
    """The DICOM objects for one output folder, in the order SEGs, SR, PDF.

    Files that are absent are skipped; empty label maps give no SEG. UIDs are
    deterministic (see uids.py): a re-run gives the same UIDs.
    Raises :class:`DicomOutputError` when the folder does not fit the source series.
    """
    settings = settings or DicomOutputSettings()
    result_dir = Path(result_dir)
    sources = sort_sources(source_datasets)
    manifest = _read_json(result_dir / MANIFEST) or {}
    tool_version = str(manifest.get("tool_version") or __version__)
    uids = UidSource(sources, tool_version)
    dates = _dates(manifest)
    organs = _read_json(result_dir / ORGAN_MEASUREMENTS)
    bca = _read_json(result_dir / BCA_MEASUREMENTS)
    run = of_manifest(manifest, bca)  # the qualifier of the SR and the PDF
    outputs: list[Dataset] = []
    segments: list[SegmentRecord] = []
    if settings.seg or settings.sr:
        for index, label_map in enumerate(_label_maps(result_dir, settings.models)):
            seg, records = build_segmentation(
                label_map, sources, uids, tool_version,
                settings.series_number_start + 10 + index, settings.manufacturer,
                settings.seg_transfer_syntax_uid,
                of_label_map(label_map.origin) | Provenance(stand_in=run.stand_in),
            )  # fmt: skip
            if seg is None:
                log.info("%s: no coded segment on the source slices; no DICOM-SEG", label_map.model)
                continue
            _set_dates(seg, dates)
            segments += records
            if settings.seg:
                outputs.append(seg)
    if settings.sr:
        report = build_measurement_report(
            sources,
            segments if settings.seg else [],
            organs,
            bca,
            uids,
            tool_version,
            settings.series_number_start,
            settings.manufacturer,
            dates,
            run,
        )
        if report is not None:
            outputs.append(report)
    pdf_path = result_dir / REPORT_PDF
    if settings.pdf and pdf_path.is_file():
        outputs.append(
            build_encapsulated_pdf(
                pdf_path.read_bytes(), sources, uids, tool_version,
                settings.series_number_start + 1, settings.manufacturer, dates, run,
            )  # fmt: skip
        )
    return outputs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DicomOutputError(f"{path.name} in the output folder cannot be read ({error}). Re-run the analysis.") from None


def _label_maps(result_dir: Path, wanted: tuple[str, ...] | None) -> list[LabelMapInput]:
    """The folder's label maps with their label names, in registry order."""
    order = list(MODELS)
    names = sorted(
        (p.name[: -len(LABELS_SUFFIX)] for p in result_dir.glob(f"*{LABELS_SUFFIX}")),
        key=lambda n: (order.index(n) if n in order else len(order), n),
    )
    maps = []
    for name in names:
        image_path = result_dir / f"{name}.nii.gz"
        if (wanted is not None and name not in wanted) or not image_path.is_file():
            continue
        document = _read_json(result_dir / f"{name}{LABELS_SUFFIX}") or {}
        image = nib.load(str(image_path))
        data = np.asarray(image.dataobj)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        maps.append(
            LabelMapInput(
                model=str(document.get("model") or name),
                data=data,
                affine=image.affine,
                labels={int(k): str(v) for k, v in (document.get("labels") or {}).items()},
                origin=str(document.get("origin") or "inference"),
            )
        )
    return maps


def _dates(manifest: dict[str, Any]) -> dict[str, Any]:
    """Content and series date/time: when the analysis ran (from the manifest), else now."""
    try:
        moment = datetime.datetime.fromisoformat(str(manifest["created_utc"]))
    except (KeyError, ValueError):
        moment = datetime.datetime.now(datetime.timezone.utc)
    day, time = moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")
    return {"content_date": day, "content_time": time, "series_date": day, "series_time": time}


def _set_dates(ds: Dataset, dates: dict[str, Any]) -> None:
    ds.ContentDate, ds.ContentTime = dates["content_date"], dates["content_time"]
    ds.SeriesDate, ds.SeriesTime = dates["series_date"], dates["series_time"]
