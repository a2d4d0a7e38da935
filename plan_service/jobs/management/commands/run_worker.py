"""`manage.py run_worker [--concurrency N] [--queue Q ...] [--one-shot]`: a job worker.

Production runs one or more of these beside the web processes, on any number of machines; they
share the work through PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED) and need no other server.
On start the worker puts back jobs of workers that stopped answering (no heartbeat for
JOB_STALLED_SECONDS), so a job killed mid-run runs again; a periodic task does the same every
minute while workers run.
"""

from __future__ import annotations

import asyncio
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run a background-job worker (procrastinate) against the service's PostgreSQL."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--queue", action="append", dest="queues", default=None)
        parser.add_argument(
            "--one-shot", action="store_true", help="Stop when the queues are empty."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from procrastinate.contrib.django import app

        from plan_service.jobs.tasks import retry_stalled

        async def run(worker_app: Any) -> None:
            async with worker_app.open_async():
                await retry_stalled(worker_app)
                await worker_app.run_worker_async(
                    queues=options["queues"],
                    concurrency=options["concurrency"],
                    wait=not options["one_shot"],
                )

        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
            asyncio.run(run(worker_app))
