"""Work on a thread of its own, hence on its own database connection, which commits for real."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


class OnItsOwnConnection(threading.Thread):
    """Runs ``work`` in a thread on its own connection; ``outcome()`` returns its result or re-raises its error.

    In a plain ``db`` test the test's own connection stays inside the test's transaction and sees those commits.
    """

    def __init__(self, work: Callable[[], Any], *, timeout: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.work, self.timeout, self.result, self.error = work, timeout, None, None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as error:  # noqa: BLE001 — handed to the test by outcome()
            self.error = error
        finally:
            connections.close_all()

    def outcome(self, timeout: float | None = None) -> Any:
        self.join(self.timeout if timeout is None else timeout)
        assert not self.is_alive(), "the thread is stuck"
        if self.error is not None:
            raise self.error
        return self.result


def together(*works: Callable[[], Any]) -> list[OnItsOwnConnection]:
    """Start the works at the same instant (a barrier), each on its own connection, and wait for all of them."""
    start = threading.Barrier(len(works))

    def at_the_barrier(work):
        def run():
            start.wait(timeout=10)
            return work()

        return run

    workers = [OnItsOwnConnection(at_the_barrier(work)) for work in works]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert not worker.is_alive(), "a worker is stuck"
    return workers
