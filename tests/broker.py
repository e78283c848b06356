"""A really unreachable broker: the Celery app pointed at a closed port, its pooled connections dropped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import kombu.pools

from config.celery import app

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Every publish inside fails as it would with Redis down; the original broker is back afterwards."""
    original = app.conf.broker_url
    app.pool.force_close_all()
    app.conf.broker_url = CLOSED_PORT_BROKER
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.pool.force_close_all()
        app.conf.broker_url = original
        app._pool = None
        app.amqp._producer_pool = None
        kombu.pools.reset()  # the closed pool would otherwise refuse every later publish in this process
