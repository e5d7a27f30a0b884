"""The Celery application of the PACS worker: JSON only, late acks, one job at a time.

- ``acks_late`` + ``reject_on_worker_lost``: a job whose worker dies is given to
  the next worker; the attempt counter in the statistics store parks a job that
  keeps killing workers as failed after TASK_MAX_ATTEMPTS (see worker.py).
- prefetch 1, concurrency 1, prefork pool (time limits and worker-loss
  handling need it), a hard and a soft time limit.
- Publisher confirms on a durable queue with persistent messages.
- RabbitMQ's consumer acknowledgement timeout is raised in rabbitmq.conf above
  TASK_TIME_LIMIT_S, so long analyses are not cut.
"""

from __future__ import annotations

from typing import Any

from body_organ_analysis.pacs.settings import WorkerSettings


def create_app(settings: WorkerSettings) -> Any:
    """The configured Celery app, without tasks: the worker registers its task on it
    (:func:`body_organ_analysis.pacs.worker.create_worker_app`), the trigger only publishes."""
    from celery import Celery
    from kombu import Exchange, Queue

    app = Celery("body_organ_analysis", broker=settings.broker_url, set_as_current=False,
                 include=["body_organ_analysis.cohort.celery_task"])  # boa cohort --celery: file jobs
    exchange = Exchange(settings.queue, type="direct", durable=True)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_pool="prefork",
        worker_max_tasks_per_child=1,  # a fresh process per job: no memory creep between analyses
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(1, settings.task_time_limit_s - 60),
        task_default_queue=settings.queue,
        task_queues=[Queue(settings.queue, exchange, routing_key=settings.queue, durable=True)],
        task_default_exchange=settings.queue,
        task_default_routing_key=settings.queue,
        task_default_delivery_mode="persistent",
        broker_transport_options={"confirm_publish": True},
        broker_connection_retry_on_startup=True,
        broker_heartbeat=30,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_create_missing_queues=False,
    )
    return app
