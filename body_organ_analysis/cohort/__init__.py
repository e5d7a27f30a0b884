"""``boa cohort``: many CTs -> one tidy table, resumable, locally (--jobs) or on Celery workers."""
