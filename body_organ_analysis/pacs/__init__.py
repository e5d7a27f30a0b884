"""PACS integration (optional extra ``pacs``): trigger, worker, sinks, DICOM outputs, statistics."""
