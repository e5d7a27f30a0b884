"""DICOM outputs of an analysis: DICOM-SEG per label map, TID 1500 SR, Encapsulated PDF.

``build_dicom_outputs(result_dir, source_datasets)`` reads the output folder
(docs/output_folder.md) and returns pydicom datasets ready to store into the
source study. See docs/dicom_outputs.md.
"""

from body_organ_analysis.pacs.dicom_outputs.build import DicomOutputSettings, build_dicom_outputs
from body_organ_analysis.pacs.dicom_outputs.grid import DicomOutputError

__all__ = ["DicomOutputError", "DicomOutputSettings", "build_dicom_outputs"]
