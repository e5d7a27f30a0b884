"""The PDF report as an Encapsulated PDF instance in the source study."""

from __future__ import annotations

from typing import Any, Sequence

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from body_organ_analysis.pacs.dicom_outputs.provenance import Provenance
from body_organ_analysis.pacs.dicom_outputs.uids import UidSource

PATIENT_AND_STUDY = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
    "AccessionNumber", "StudyDescription",
)  # fmt: skip
TYPE_2 = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber",
}
REPORT_CONCEPT = ("18748-4", "LN", "Diagnostic imaging report")


def build_encapsulated_pdf(
    pdf: bytes,
    sources: Sequence[Dataset],
    uids: UidSource,
    tool_version: str,
    series_number: int,
    manufacturer: str,
    dates: dict[str, Any],
    provenance: Provenance = Provenance(),
) -> Dataset:
    source = sources[0]
    ds = Dataset()
    for keyword in PATIENT_AND_STUDY:  # Patient and General Study modules, copied
        if keyword in source:
            ds[keyword] = source[keyword]
        elif keyword in TYPE_2:
            setattr(ds, keyword, "")  # type 2: present, empty
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = uids.uid("pdf", "instance")
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = uids.uid("pdf", "series")
    ds.SeriesNumber = series_number
    ds.SeriesDescription = provenance.describe("BOA report (PDF)")
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = "body-organ-analysis"
    ds.SoftwareVersions = tool_version
    ds.ConversionType = "WSD"  # workstation
    ds.InstanceNumber = 1
    ds.ContentDate = dates.get("content_date", "")
    ds.ContentTime = dates.get("content_time", "")
    ds.SeriesDate = dates.get("series_date", "")
    ds.SeriesTime = dates.get("series_time", "")
    ds.AcquisitionDateTime = f"{ds.ContentDate}{ds.ContentTime}"
    ds.BurnedInAnnotation = "YES"  # the report names the patient
    ds.DocumentTitle = "Body and organ analysis report"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = REPORT_CONCEPT
    ds.ConceptNameCodeSequence = [concept]
    ds.SourceInstanceSequence = []  # the images the report was derived from
    for image in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = image.SOPClassUID
        item.ReferencedSOPInstanceUID = image.SOPInstanceUID
        ds.SourceInstanceSequence.append(item)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.preamble = b"\0" * 128  # a complete Part 10 file however the client encodes it
    ds.file_meta = FileMetaDataset()
    ds.file_meta.FileMetaInformationVersion = b"\0\1"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = source.get("SpecificCharacterSet", "ISO_IR 192")
    return ds
