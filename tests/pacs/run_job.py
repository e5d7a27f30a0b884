"""Runs one job's task body in this process, as the Celery worker would (tests only).

``python tests/pacs/run_job.py JOB_KEY SERIES_ID [--die-before-bookkeeping]`` with the
worker's environment. With ``--die-before-bookkeeping`` the process kills itself
(SIGKILL) at the moment the job would be recorded as delivered: after every sink
confirmed, before the statistics database knows; the same as a worker killed there.
Prints the job's final state.
"""

from __future__ import annotations

import os
import signal
import sys

from body_organ_analysis.pacs import worker
from body_organ_analysis.pacs.runtime import configure_logging
from body_organ_analysis.pacs.settings import build_worker_settings
from body_organ_analysis.pacs.stats import StatsStore


class NoRetries:
    def retry(self, countdown: int, max_retries: int | None) -> Exception:
        return SystemExit(f"retry requested in {countdown} s")


def main(argv: list[str]) -> int:
    key, series_id = argv[0], argv[1]
    if "--die-before-bookkeeping" in argv:
        finish = StatsStore.finish

        def finish_or_die(self, job_key, state, reason=None, **facts):
            if state == "delivered":
                os.kill(os.getpid(), signal.SIGKILL)
            return finish(self, job_key, state, reason, **facts)

        StatsStore.finish = finish_or_die
    settings = build_worker_settings(dict(os.environ))
    configure_logging(False)
    print(worker.run_task(NoRetries(), settings, key, series_id))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
