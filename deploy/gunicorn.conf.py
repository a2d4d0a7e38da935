"""Production server configuration: `gunicorn -c deploy/gunicorn.conf.py`.

Why this shape (docs/operations.md, "Serving"): gunicorn's default sync workers give every
connection a whole worker, so a few idle or slow clients (a phone on a bad network, a
slowloris) take the service down. Here each worker is an asyncio event loop (uvicorn, through
Django's ASGI entry point): idle connections and clients that send their headers or bodies
slowly cost a socket each, never a worker. Django's synchronous views run each on a thread of
its own, after the whole request has arrived, with a database connection from the worker's
pool (plan_service/asgi.py), so a slow sender never holds the database or a view. A test
starts this file with 200 idle and 200 slow-header connections open and requires /healthz to
answer within a second (tests/test_serving.py).

Everything can be overridden from the environment: GUNICORN_BIND, GUNICORN_WORKERS,
GUNICORN_TIMEOUT, GUNICORN_KEEPALIVE, GUNICORN_MAX_REQUESTS.
"""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "plan_service.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(multiprocessing.cpu_count() * 2 + 1)))
#: A worker whose event loop has not reported for this long is restarted (seconds).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
#: Idle keep-alive connections are closed after this many seconds.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
#: Recycle workers now and then (jitter spreads the restarts).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
#: The request line and headers are bounded (an over-long request line answers 414 or 400).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
backlog = 2048
accesslog = "-"
errorlog = "-"
#: Trust X-Forwarded-* only from a proxy on this machine.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
