"""Jobs: the idempotent key of a series and putting a job on the queue.

The key is a hash of Orthanc's series id and the sorted ids of its instances
(Orthanc derives both from the DICOM UIDs), so the same series with the same
instances is always the same job, however often the trigger sees it, and a
series that later receives more instances becomes a new job.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

TASK_NAME = "boa.analyze_series"


def job_key(series_id: str, instance_ids: Iterable[str]) -> str:
    text = "\n".join(["boa-job-v1", series_id, *sorted(instance_ids)])
    return hashlib.sha256(text.encode()).hexdigest()


def publish(app: Any, queue: str, key: str, series_id: str) -> None:
    """Send one job (JSON, persistent, durable queue); returns once the broker confirmed it."""
    app.send_task(
        TASK_NAME,
        kwargs={"job_key": key, "series_id": series_id},
        queue=queue,
        serializer="json",
        delivery_mode=2,
        task_id=key,
        retry=True,
        retry_policy={"max_retries": 5, "interval_start": 1, "interval_step": 2, "interval_max": 10},
    )
