"""Limber's PostgreSQL backend: Django's, with two changes for the hot paths (issue 20). ``ENGINE`` names it.

1. **A health check without a round trip on a busy connection.** ``CONN_HEALTH_CHECKS`` (persistent connections
   survive a database restart or failover) makes Django send ``SELECT 1`` before the first query of every request:
   one more round trip on every portal read. Here an idle connection whose socket has nothing to read, and that
   passed a real check less than ``RECHECK_SECONDS`` ago, is usable as it is. A server that ends a connection
   (restart, ``pg_terminate_backend``, an idle timeout, a crashed backend: the kernel closes a dead process's
   sockets) says so on the socket, which becomes readable, and Django's ``SELECT 1`` then decides at once. A peer
   gone without a word (a host that died, an address moved by a failover, a NAT or load balancer that forgot an idle
   connection) leaves the socket quiet: the real check, at most ``RECHECK_SECONDS`` apart on each connection, finds
   it as it did before on every request, within TCP's own timeout when the peer is gone entirely (and a connection
   idle that long always gets one).
   A connection whose statement failed with anything but a data or integrity error is replaced at the end of its
   request instead of checked: a prepared statement whose tables a migration changed fails on every run ("cached
   plan must not change result type") until its connection ends.

2. **``prepared_cursor()``**, a cursor that binds its parameters on the server, so psycopg prepares a statement
   once a connection has run it ``prepare_threshold`` times (5) and PostgreSQL then skips parsing and planning
   it. Django binds on the client by default (server-side binding changes how some ORM queries type their
   parameters), so only hand-written hot statements use it: the portal's token and plans statements
   (``patients.api.authentication``, ``prescriptions.selectors.portal``). Behind PgBouncer in transaction mode,
   prepared statements need PgBouncer ≥ 1.21 with ``max_prepared_statements`` set (docs/deploy.md).
"""

from __future__ import annotations

import select
import time

from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe
from psycopg.pq import TransactionStatus

PREPARE_THRESHOLD = 5
"""psycopg's default: a server-binding cursor's statement is prepared once a connection has run it five times. Django's
client-binding cursors (every ORM query) never prepare, whatever this says."""


RECHECK_SECONDS = 5.0
"""The longest a connection goes on the socket's word alone before a real ``SELECT 1``."""


class DatabaseWrapper(base.DatabaseWrapper):
    _bind_on_server = False
    _checked_at = float("-inf")  # when the connection last passed a real check (time.monotonic)

    def get_connection_params(self):
        params = super().get_connection_params()
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:  # Django's default: never (None)
            params["prepare_threshold"] = PREPARE_THRESHOLD
        return params

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        now = time.monotonic()
        if (
            now - self._checked_at < RECHECK_SECONDS
            and connection.info.transaction_status == TransactionStatus.IDLE
            and not _readable(connection.fileno())
        ):
            return True  # checked a moment ago, and nothing was said on the idle connection since
        usable = super().is_usable()
        self._checked_at = now if usable else float("-inf")
        return usable

    def connect(self):
        super().connect()
        self._checked_at = time.monotonic()  # a new connection has just answered

    def close_if_unusable_or_obsolete(self):
        if self.connection is not None and self.errors_occurred and not self.in_atomic_block:
            self.close()  # replaced, not checked: see the module's docstring
            return
        super().close_if_unusable_or_obsolete()

    @async_unsafe
    def prepared_cursor(self):
        """A cursor like ``cursor()`` (wrapped, logged, health-checked) whose statements bind on the server.

        One command per statement (the extended protocol's rule), so while any execute wrapper is installed (one may
        rewrite the statement: inside a pghistory context, a data-modifying statement gets a ``set_config`` command
        before it) this is a plain ``cursor()``. Reads open no pghistory context (``PGHISTORY_MIDDLEWARE_METHODS``,
        ``clinic.api.views.Contextual``): the portal's plans statement, with its access-log insert, is prepared."""
        if self.execute_wrappers:
            # A wrapper may rewrite the statement (pghistory's context prefixes a set_config command): plain cursor.
            return self.cursor()
        self._bind_on_server = True
        try:
            return self.cursor()
        finally:
            self._bind_on_server = False

    def create_cursor(self, name=None):
        if name or not self._bind_on_server:
            return super().create_cursor(name)
        connection = self.connection  # Django's own cursor set-up (its time zone), with psycopg's binding class
        client_binding, connection.cursor_factory = connection.cursor_factory, base.ServerBindingCursor
        try:
            return super().create_cursor()
        finally:
            connection.cursor_factory = client_binding


def _readable(fd: int) -> bool:
    """Whether the socket has something to read (or hung up) right now, without waiting."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
