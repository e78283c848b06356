"""gunicorn for Limber's web tier (production and ``make bench``): ``gunicorn -c config/gunicorn.conf.py``.

Every value can be overridden on the command line or with ``GUNICORN_CMD_ARGS``; the ones a deployment
usually sets come from the environment (docs/deploy.md):

- ``WEB_BIND`` (default ``0.0.0.0:8000``) and ``WEB_CONCURRENCY`` (sync workers, default ``2 × cores + 1``).
- ``WEB_TIMEOUT`` seconds before a stuck worker is killed (default 30).

The app is preloaded in the master and its import-time objects are frozen out of the garbage collector
before workers fork (``gc.freeze``): a worker's full collections then walk only what requests allocate, not
Django's and DRF's hundreds of thousands of module-level objects, which is where a Python web worker's
latency tail comes from; and the frozen pages stay shared between workers instead of being copied when the
collector touches them.
"""

from __future__ import annotations

import gc
import multiprocessing
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30
preload_app = True
accesslog = None
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server) -> None:
    # After the preloaded app is imported, before the first fork: nothing the master holds is garbage.
    gc.collect()
    gc.freeze()


def post_fork(server, worker) -> None:
    # Fewer young-generation collections per request; full ones stay cheap since the app's objects are frozen.
    gc.set_threshold(7000, 20, 20)
