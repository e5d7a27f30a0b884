"""Health check of the worker and trigger containers: exit 0 when Orthanc, the broker and
the statistics store answer with the configured credentials, else 1 with the reason.
Run: ``python -m body_organ_analysis.pacs.health``.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from body_organ_analysis.pacs.settings import WorkerSettings, build_worker_settings


def checks(settings: WorkerSettings) -> dict[str, Callable[[], object]]:
    def orthanc() -> object:
        from body_organ_analysis.pacs.orthanc import Orthanc

        return Orthanc(settings.orthanc_url, settings.orthanc_username, settings.orthanc_password, 10).get("/system")

    def broker() -> object:
        from kombu import Connection

        with Connection(settings.broker_url, connect_timeout=10) as conn:
            return conn.ensure_connection(max_retries=1)

    def statistics() -> object:
        from body_organ_analysis.pacs.stats import StatsStore

        return StatsStore(settings.postgres, settings.sqlite_path).get_value("health")

    return {"orthanc": orthanc, "broker": broker, "statistics": statistics}


def main() -> int:
    try:
        settings = build_worker_settings(dict(os.environ))
    except Exception as error:
        print(f"unhealthy: settings: {error}", file=sys.stderr)
        return 1
    for name, check in checks(settings).items():
        try:
            check()
        except Exception as error:
            print(f"unhealthy: {name}: {type(error).__name__}", file=sys.stderr)
            return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
