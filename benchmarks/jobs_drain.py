"""How fast workers drain the job queue: enqueue N `ping` jobs, then time W workers emptying it.

Each worker is a separate `python -m plan_service run_worker --one-shot --queue ping` process
(as in production, each with its own connections); the clock runs from the moment the workers
are started until the last one exits, so it includes each worker's start-up (about a second of
Django set-up). Jobs are enqueued in one `batch_defer` (one INSERT) before the clock starts.

    python benchmarks/jobs_drain.py --jobs 10000 --workers 2 --concurrency 4

Uses its own database (`bench_jobs` on BENCH_PG, re-created on each run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from audit_common import ROOT, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    os.environ.setdefault("BENCH_DATABASE_URL", f"{base}/bench_jobs")
    url = setup_django(fresh=True)

    from django.db import connection, transaction

    from plan_service.jobs.tasks import ping

    started = time.perf_counter()
    with transaction.atomic():
        for first in range(0, args.jobs, 1000):
            ping.batch_defer(*({"n": i} for i in range(first, min(first + 1000, args.jobs))))
    enqueue = time.perf_counter() - started
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "JOB_POLL_SECONDS": "0.2"}
    command = [sys.executable, "-m", "plan_service", "run_worker", "--one-shot", "--queue", "ping"]
    command += ["--concurrency", str(args.concurrency)]
    started = time.perf_counter()
    workers = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(args.workers)]  # noqa: S603
    for worker in workers:
        worker.wait()
    drain = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")
        statuses = dict(cursor.fetchall())
    if statuses.get("succeeded") != args.jobs:
        raise SystemExit(f"not every job succeeded: {statuses}")
    print(f"enqueued {args.jobs} jobs in {enqueue:.2f} s ({args.jobs / enqueue:,.0f} jobs/s)")
    print(
        f"{args.workers} workers x concurrency {args.concurrency} drained them in {drain:.1f} s: "
        f"{args.jobs / drain:,.0f} jobs/s"
    )


if __name__ == "__main__":
    main()
