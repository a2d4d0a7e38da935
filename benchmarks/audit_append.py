"""Append throughput of the access log with concurrent writers (default 8 processes).

Each writer is a separate process with its own connection (as gunicorn workers are) and does
`--transactions` transactions, each appending `--rows` rows (one request touching that many
people) through `chain.append`, i.e. under the chain's advisory lock, spread over AUDIT_CHAINS
chains by a random request id. Prints rows/s and transactions/s, then verifies the chains.

    python benchmarks/audit_append.py --writers 8 --transactions 500 --rows 3
    python benchmarks/audit_append.py --writers 8 --transactions 500 --rows 3 --plain  # baseline
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import uuid

from audit_common import setup_django


def _writer(count: int, rows: int, start: mp.Event, plain: bool) -> None:  # type: ignore[valid-type]
    from django.db import connection, transaction
    from django.utils import timezone

    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    start.wait()
    for _ in range(count):
        request_id = uuid.uuid4().hex
        batch = [
            AccessEvent(
                recorded_at=timezone.now(),
                action="read",
                outcome="success",
                actor_user_id=1,
                actor_username="bench",
                actor_kind="professional",
                subject_id=uuid.uuid4(),
                family_id=uuid.uuid4(),
                plan_id=uuid.uuid4(),
                object_type="plan",
                object_id=str(uuid.uuid4()),
                object_version=1,
                purpose="care",
                legal_basis="statute:LSL 417/2007 §30",
                request_id=request_id,
                client_ip="192.0.2.1",
                user_agent="bench",
            )
            for _ in range(rows)
        ]
        with transaction.atomic():
            if plain:  # baseline: the same insert without lock, head lookup or hashing
                for n, row in enumerate(batch):
                    row.chain, row.seq = 1000 + n, abs(hash(request_id)) % 10**15
                    row.prev_hash = row.row_hash = "0" * 64
                AccessEvent.objects.bulk_create(batch)
            else:
                chain.append(batch, key=request_id)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--transactions", type=int, default=500, help="per writer")
    parser.add_argument("--rows", type=int, default=3, help="rows per transaction")
    parser.add_argument(
        "--plain", action="store_true", help="baseline: plain inserts, no chain (no verify)"
    )
    args = parser.parse_args()
    url = setup_django(fresh=True)

    from django.conf import settings
    from django.db import connections

    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    connections.close_all()  # each forked writer opens its own
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_writer, args=(args.transactions, args.rows, start, args.plain))
        for _ in range(args.writers)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every writer import and connect before the clock starts
    began = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - began
    if any(p.exitcode for p in procs):
        raise SystemExit("a writer failed")
    rows = AccessEvent.objects.count()
    txs = args.writers * args.transactions
    print(f"database {url}; AUDIT_CHAINS={settings.AUDIT_CHAINS}")
    print(
        f"{args.writers} writers, {txs} transactions x {args.rows} rows = {rows} rows "
        f"in {elapsed:.2f} s: {rows / elapsed:.0f} rows/s, {txs / elapsed:.0f} transactions/s"
    )
    if not args.plain:
        result = chain.verify(AccessEvent)
        print(f"verify: {result.as_dict()}")


if __name__ == "__main__":
    main()
