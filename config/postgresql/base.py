"""Limber's PostgreSQL backend: Django's, with two changes for the hot paths (issue 20). ``ENGINE`` names it.

1. **A health check without a round trip.** ``CONN_HEALTH_CHECKS`` (persistent connections survive a database
   restart or failover) makes Django send ``SELECT 1`` before the first query of every request: one more round
   trip on every portal read. Here an idle connection whose socket has nothing to read is usable as it is. A
   server that ends a connection (restart, failover, ``pg_terminate_backend``, an idle timeout, a crash: the
   kernel closes a dead process's sockets) says so on the socket, which becomes readable; only then is Django's
   ``SELECT 1`` run to decide. A peer gone without a word (a cut network) leaves the socket quiet, but
   ``SELECT 1`` would have hung on it until the TCP timeout too.

2. **``prepared_cursor()``**, a cursor that binds its parameters on the server, so psycopg prepares a statement
   once a connection has run it ``prepare_threshold`` times (5) and PostgreSQL then skips parsing and planning
   it. Django binds on the client by default (server-side binding changes how some ORM queries type their
   parameters), so only hand-written hot statements use it: the portal's token and plans statements
   (``patients.api.authentication``, ``prescriptions.selectors.portal``). Behind PgBouncer in transaction mode,
   prepared statements need PgBouncer ≥ 1.21 with ``max_prepared_statements`` set (docs/deploy.md).
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe
from psycopg.pq import TransactionStatus

PREPARE_THRESHOLD = 5
"""psycopg's default: a server-binding cursor's statement is prepared on its fifth run on a connection. Django's
client-binding cursors (every ORM query) never prepare, whatever this says."""


class DatabaseWrapper(base.DatabaseWrapper):
    _bind_on_server = False

    def get_connection_params(self):
        params = super().get_connection_params()
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:  # Django's default: never (None)
            params["prepare_threshold"] = PREPARE_THRESHOLD
        return params

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE and not _readable(connection.fileno()):
            return True  # nothing was said on an idle connection: the server has not ended it
        return super().is_usable()

    @async_unsafe
    def prepared_cursor(self):
        """A cursor like ``cursor()`` (wrapped, logged, health-checked) whose statements bind on the server.

        One command per statement (the extended protocol's rule): a data-modifying statement run through it inside a
        pghistory context would get pghistory's ``set_config`` prefix, a second command, and fail. Reads open no
        pghistory context (``PGHISTORY_MIDDLEWARE_METHODS``, ``clinic.api.views.Contextual``), which is where the
        portal's plans statement, with its access-log insert, runs; the token statement is a SELECT, which pghistory
        never prefixes."""
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
