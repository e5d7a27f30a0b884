"""Local folder sink: every result file into ``ROOT/AET/<study>/<series>/``.

The folder is written beside its final place and moved in whole; a repeat
delivery replaces the earlier copy, so there is always exactly one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from body_organ_analysis.pacs.paths import inside
from body_organ_analysis.pacs.sinks.base import Delivery, DeliveryError, RetryableDeliveryError


class FolderSink:
    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def deliver(self, delivery: Delivery) -> None:
        try:
            target = inside(self.root, delivery.destination)
        except Exception as error:  # its message names no path
            raise DeliveryError(str(error)) from None
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.part"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(delivery.result_dir, staging)
            if target.exists():
                old = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
                os.replace(target, old)
                os.replace(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, target)
        except OSError as error:  # a full disk or an unmounted share may come back
            shutil.rmtree(staging, ignore_errors=True)
            # strerror only: the exception's own text names the destination path
            raise RetryableDeliveryError(f"folder {self.root}: {error.strerror or type(error).__name__}") from None
