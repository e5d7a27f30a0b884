"""Deliver DICOM-SEG, SR and the PDF report into the source study with DICOMweb STOW-RS.

Connection errors, timeouts and HTTP 5xx (and 408/429) are transient:
:class:`RetryableDeliveryError`, the worker retries. Other 4xx answers and
results that cannot be turned into DICOM are permanent: :class:`DeliveryError`.
UIDs are deterministic, so a repeated delivery replaces the earlier objects on a
server that overwrites instances (Orthanc: ``OverwriteInstances``).
"""

from __future__ import annotations

import logging
from typing import Sequence

import requests
from pydicom import Dataset

from body_organ_analysis.pacs.dicom_outputs import DicomOutputError, DicomOutputSettings, build_dicom_outputs
from body_organ_analysis.pacs.sinks.base import Delivery, DeliveryError, RetryableDeliveryError

log = logging.getLogger("body_organ_analysis")

RETRYABLE_STATUS = {408, 429}


class DicomWebSink:
    name = "dicomweb"

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None = None,
        timeout: float = 60,
        settings: DicomOutputSettings | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.settings = settings

    def deliver(self, delivery: Delivery) -> None:
        if not delivery.source_datasets:
            raise DeliveryError("DICOMweb delivery needs the source series' datasets; none were given.")
        try:
            datasets = build_dicom_outputs(delivery.result_dir, delivery.source_datasets, self.settings)
        except DicomOutputError as error:  # its messages name files and settings, never tag values
            raise DeliveryError(str(error)) from None
        if not datasets:  # log lines name counts only: the worker names the job by its key
            log.info("dicomweb: nothing to store")
            return
        self.store(datasets, str(delivery.source_datasets[0].StudyInstanceUID))
        log.info("dicomweb: stored %d object(s)", len(datasets))

    def store(self, datasets: Sequence[Dataset], study_uid: str) -> None:
        """STOW-RS ``datasets`` into study ``study_uid``; errors as Delivery errors."""
        client = self._client()
        try:
            response = client.store_instances(list(datasets), study_instance_uid=study_uid)
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            message = f"The DICOMweb server at {self.url} answered HTTP {status} to STOW-RS."
            if status >= 500 or status in RETRYABLE_STATUS:
                raise RetryableDeliveryError(message + " Retrying later.") from None
            raise DeliveryError(message + " Check the URL, the credentials and the server's log.") from None
        except (requests.ConnectionError, requests.Timeout) as error:
            raise RetryableDeliveryError(
                f"The DICOMweb server at {self.url} cannot be reached ({type(error).__name__}). Retrying later."
            ) from None
        failed = getattr(response, "FailedSOPSequence", None) if response is not None else None
        if failed:
            reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
            raise DeliveryError(
                f"The DICOMweb server at {self.url} refused {len(failed)} of {len(datasets)} object(s) "
                f"(failure reasons {', '.join(reasons)}). Check the server's log."
            )

    def _client(self):
        from dicomweb_client.api import DICOMwebClient

        session = requests.Session()
        if self.auth is not None:
            session.auth = self.auth
        client = DICOMwebClient(self.url, session=session, timeout=self.timeout)
        client.set_http_retry_params(retry=False)  # the worker retries, with backoff
        return client
