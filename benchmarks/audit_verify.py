"""Verification time of the access log, reported per million rows.

Fills a fresh benchmark database with `--rows` chained rows (built in batches through
`chain.append`, one writer, so filling is fast), then times `chain.verify` over them, and
`--repeat` more times to take the best. The figure scales linearly: verify reads each row once
in seq order per chain and hashes it.

    python benchmarks/audit_verify.py --rows 1000000
    python benchmarks/audit_verify.py --rows 1000000 --reuse   # time again, no refill
"""

from __future__ import annotations

import argparse
import time
import uuid

from audit_common import setup_django


def fill(total: int, batch: int = 5000) -> None:
    from django.db import transaction
    from django.utils import timezone

    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    written = 0
    while written < total:
        size = min(batch, total - written)
        family, plan = uuid.uuid4(), uuid.uuid4()
        rows = [
            AccessEvent(
                recorded_at=timezone.now(),
                action="read",
                outcome="success",
                outcome_code=200,
                actor_user_id=1,
                actor_username="bench",
                actor_display="Bench Worker",
                actor_kind="professional",
                actor_role="child_protection_social_worker",
                actor_plan_role="lead",
                actor_organization_id=family,
                actor_organization_name="Bench org",
                subject_id=uuid.uuid4(),
                family_id=family,
                plan_id=plan,
                object_type="plan",
                object_id=str(plan),
                object_version=3,
                purpose="care",
                legal_basis="statute:LSL 417/2007 §30",
                query={"status": ["active"]},
                result_count=1,
                request_id=uuid.uuid4().hex,
                client_ip="192.0.2.1",
                user_agent="Mozilla/5.0 (bench)",
            )
            for _ in range(size)
        ]
        with transaction.atomic():
            chain.append(rows, key=uuid.uuid4().hex)
        written += size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database of the last run if it has --rows"
    )
    args = parser.parse_args()
    url = setup_django(fresh=not args.reuse)

    from django.db import connection

    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    if AccessEvent.objects.count() != args.rows:
        if args.reuse:
            raise SystemExit(
                "the benchmark database does not hold --rows rows; run without --reuse"
            )
        began = time.perf_counter()
        fill(args.rows)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_accessevent")
        print(f"database {url}: filled {args.rows} rows in {time.perf_counter() - began:.1f} s")
    best = float("inf")
    for run in range(1 + args.repeat):
        began, cpu = time.perf_counter(), time.process_time()
        result = chain.verify(AccessEvent)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        if not result.ok or result.rows_checked != args.rows:
            raise SystemExit(f"verification failed: {result.as_dict()}")
        best = min(best, elapsed)
        print(
            f"run {run + 1}: verified {result.rows_checked} rows in {elapsed:.2f} s "
            f"(client CPU {cpu:.2f} s)"
        )
    per_million = best * 1_000_000 / args.rows
    print(
        f"best {best:.2f} s for {args.rows} rows = {per_million:.1f} s per million rows "
        f"({args.rows / best:.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
