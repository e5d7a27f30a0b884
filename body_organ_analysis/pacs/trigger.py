"""The trigger: turns each stable, analysable CT series in Orthanc into exactly one job.

Orthanc's "stable series" event is not persisted across an Orthanc restart, so
the trigger follows Orthanc's change log from a cursor kept in the statistics
store, and sweeps from time to time for stable series without a job (and for
jobs created but never confirmed by the broker). Job creation is idempotent
(:func:`body_organ_analysis.pacs.jobs.job_key`). Series that cannot be
analysed are recorded with the reason. Run: ``python -m body_organ_analysis.pacs.trigger``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Callable, Mapping, Sequence

from body_organ_analysis.pacs.jobs import job_key, publish
from body_organ_analysis.pacs.orthanc import Orthanc, OrthancUnavailable
from body_organ_analysis.pacs.settings import WorkerSettings, build_worker_settings
from body_organ_analysis.pacs.stats import StatsStore

log = logging.getLogger("body_organ_analysis.pacs.trigger")

CURSOR = "orthanc_change_cursor"
CT_STORAGE = {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"}  # CT, Enhanced CT
OWN_OUTPUT_MARK = "body-organ-analysis"
REFUSED_IMAGE_TYPES = ("LOCALIZER", "DERIVED", "SECONDARY", "SCOUT")
PUBLISH_GRACE_S = 60  # a job still unconfirmed after this long is published again (another trigger may be at it)


def rejection_reason(series: Mapping[str, Any], tags: Mapping[str, Any], min_slices: int) -> str | None:
    """Why a series cannot be analysed, or None. ``tags``: simplified tags of one instance."""
    main = series.get("MainDicomTags", {})
    marks = " ".join(str(tags.get(k, "")) for k in ("Manufacturer", "SoftwareVersions", "ManufacturerModelName"))
    if OWN_OUTPUT_MARK in marks.lower():
        return "our own output stored back"
    modality = main.get("Modality") or tags.get("Modality")
    if modality != "CT":
        return f"modality {modality or 'missing'} is not CT"
    if tags.get("SOPClassUID") not in CT_STORAGE:
        return "not a CT image storage object (e.g. secondary capture)"
    image_type = str(tags.get("ImageType", "")).upper().split("\\")
    refused = [word for word in REFUSED_IMAGE_TYPES if word in image_type]
    if refused:
        return f"image type {'/'.join(refused)}"
    orientation = str(tags.get("ImageOrientationPatient", "")).split("\\")
    try:
        row, col = [float(x) for x in orientation[:3]], [float(x) for x in orientation[3:6]]
        normal_z = row[0] * col[1] - row[1] * col[0]
    except (ValueError, IndexError):
        return "no usable image orientation"
    if abs(normal_z) < 0.9:
        return "not axial"
    slices = max(len(series.get("Instances", [])), int(tags.get("NumberOfFrames") or 1))
    if slices < min_slices:
        return f"{slices} slices, fewer than MIN_SLICES={min_slices}"
    return None


class Trigger:
    def __init__(self, settings: WorkerSettings, orthanc: Orthanc, store: StatsStore,
                 publish_job: Callable[[str, str], None]) -> None:
        self.settings, self.orthanc, self.store, self.publish_job = settings, orthanc, store, publish_job

    def consider(self, series_id: str) -> str:
        """'queued', 'known' (a job exists), 'rejected' or 'gone'."""
        try:
            series = self.orthanc.series(series_id)
        except OrthancUnavailable:
            raise
        except Exception:  # deleted in the meantime (404)
            return "gone"
        instances = series.get("Instances", [])
        if not instances:
            return "gone"
        tags = self.orthanc.instance_tags(instances[0])
        reason = rejection_reason(series, tags, self.settings.min_slices)
        if reason is not None:
            self.store.record_rejected(series_id, reason)
            log.info("series %s not analysed: %s", series_id, reason)
            return "rejected"
        key = job_key(series_id, instances)
        aet = self.orthanc.instance_metadata(instances[0], "RemoteAET")
        if not self.store.create_job(key, series_id, len(instances), aet):
            return "known"
        self.publish_job(key, series_id)
        self.store.mark_queued(key)
        log.info("series %s: job %s queued", series_id, key[:12])
        return "queued"

    def follow_changes(self) -> int:
        """Handle every change since the stored cursor; returns how many series were considered."""
        cursor = int(self.store.get_value(CURSOR, "0") or 0)
        considered = 0
        while True:
            page = self.orthanc.changes(cursor)
            for change in page.get("Changes", []):
                if change.get("ChangeType") == "StableSeries":
                    self.consider(change["ID"])
                    considered += 1
            cursor = int(page.get("Last", cursor))
            self.store.set_value(CURSOR, str(cursor))
            if page.get("Done", True):
                return considered

    def republish_unqueued(self) -> int:
        """Publish the jobs that were created but never confirmed by the broker (e.g. it was down)."""
        pending = self.store.unqueued_jobs(older_than_s=PUBLISH_GRACE_S)
        for key, series_id in pending:
            self.publish_job(key, series_id)
            self.store.mark_queued(key)
        return len(pending)

    def sweep(self) -> int:
        """Stable series without a job or a rejection, and jobs never confirmed by the broker."""
        self.republish_unqueued()
        rejected = self.store.rejected()
        found = 0
        for series_id in self.orthanc.all_series():
            if series_id in rejected or self.store.jobs_for_series(series_id):
                continue
            if self.orthanc.series(series_id).get("IsStable"):
                found += self.consider(series_id) == "queued"
        return found

    def run_forever(self) -> None:
        next_sweep = 0.0
        while True:
            try:
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.settings.trigger_sweep_s
                self.follow_changes()
                self.republish_unqueued()
            except OrthancUnavailable as error:  # its text: method, path with Orthanc ids, status
                log.warning("Orthanc unavailable (%s); trying again", error)
            except Exception as error:  # broker or database away: the next round catches up
                log.warning("trigger round failed (%s); trying again", type(error).__name__)
            time.sleep(self.settings.trigger_poll_s)


def build_trigger(settings: WorkerSettings) -> Trigger:
    from body_organ_analysis.pacs.celery_app import create_app

    app = create_app(settings)
    store = StatsStore(settings.postgres, settings.sqlite_path)
    store.migrate()
    orthanc = Orthanc(settings.orthanc_url, settings.orthanc_username, settings.orthanc_password)
    return Trigger(settings, orthanc, store, lambda key, sid: publish(app, settings.queue, key, sid))


def main(argv: Sequence[str] | None = None) -> int:
    from body_organ_analysis.pacs.runtime import configure_logging, run_guarded
    from body_organ_analysis.pacs.settings import usage

    if argv and ("--help" in argv or "-h" in argv):
        print(usage("body_organ_analysis.pacs.trigger"))
        return 0

    def start() -> int:
        settings = build_worker_settings(dict(os.environ))
        configure_logging(False)
        build_trigger(settings).run_forever()
        return 0

    return run_guarded(start)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
