"""What every sink shares: the delivery it receives and the errors it raises.

A sink raises :class:`RetryableDeliveryError` for transient problems (connection
refused, timeout, HTTP 5xx): the worker retries with backoff and keeps the source
series. :class:`DeliveryError` is permanent (bad credentials, rejected data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from pydicom import Dataset


class DeliveryError(Exception):
    """A sink could not deliver, and trying again will not help."""


class RetryableDeliveryError(DeliveryError):
    """A sink could not deliver now; the same delivery may succeed later."""


@dataclass(frozen=True)
class Delivery:
    result_dir: Path  # the output folder that analyze() wrote (docs/output_folder.md)
    destination: str  # relative path of this series' results, e.g. "AET/<study>/<series>"
    source_datasets: Sequence[Dataset] = field(default_factory=tuple)  # the analysed series (pixel data may be absent)


class Sink(Protocol):
    name: str

    def deliver(self, delivery: Delivery) -> None:
        """Deliver the results; idempotent (a repeat replaces, never duplicates)."""
