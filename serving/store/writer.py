"""Background writer: requests append their scored rows to a buffer, one thread inserts them in batches.

A commit per request would cost more than scoring the lead (an fsync on SQLite, a round trip on PostgreSQL),
so the hot path only appends a finished list of rows to a ``deque``. It deliberately wakes nobody: a
``queue.Queue`` notifies the writer thread on every put, and at 1k+ requests/s those wake-ups hand the GIL
back and forth between the event loop and the writer (measured: a quarter of the request time went to
``Condition.notify``). The writer instead wakes every ``flush_seconds`` (or at once for ``flush``/``stop``, or
when the buffer is full) and takes everything in one go.

Nothing is dropped silently: a full buffer makes the producer wait or, with a timeout (the event loop cannot
wait), refuse its rows so the request is refused (back-pressure instead of loss); an insert that failed for
a transient reason (the database is down or locked) is retried with back-off; ``stop()`` drains everything
before the process exits, and if the database stays down it gives up after ``stop_retries`` attempts and
counts and logs the rows it could not write. Rows the database refuses for what they hold (a NUL, a value too
long) are the exception: retrying them would stall the log for good and then, once the buffer is full, every
request. They are bisected out of their batch, so the rest is written, and counted as ``rejected``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from leadscore.serving.store.store import PredictionRow, PredictionStore

logger = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 30.0
_FULL_WAIT_SECONDS = 0.002
_STOP_BACKOFF_SECONDS = 0.2


class PredictionWriter:
    """Batches prediction rows into the store from a single daemon thread.

    Args:
        store: where rows go.
        batch_size: rows per INSERT.
        flush_seconds: longest a submitted row waits before the writer picks it up.
        queue_max: submitted lists (requests) waiting before ``submit`` blocks.
        stop_retries: insert attempts per batch during shutdown before the rows are reported lost.
    """

    def __init__(
        self,
        store: PredictionStore,
        *,
        batch_size: int = 500,
        flush_seconds: float = 0.25,
        queue_max: int = 200_000,
        stop_retries: int = 3,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._queue_max = queue_max
        self._stop_retries = stop_retries
        # deque.append/popleft are atomic in CPython: producers and the writer need no lock.
        self._pending: deque[Sequence[PredictionRow]] = deque()
        self._flushes: deque[threading.Event] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._stop_requested = threading.Event()  # cuts a retry back-off short
        self._thread = threading.Thread(target=self._run, name="prediction-writer", daemon=True)
        self.written = 0
        self.failed_batches = 0
        self.lost = 0
        self.rejected = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Submitted lists not yet picked up by the writer."""
        return len(self._pending)

    def submit(self, rows: Sequence[PredictionRow], *, timeout: float | None = None) -> bool:
        """Buffer rows for insertion, waiting while the buffer is full (the database is far behind).

        Args:
            rows: the rows of one request.
            timeout: longest wait for room in seconds; None waits as long as the writer runs, 0 never waits
                (the event loop must not sleep).

        Returns:
            False, with nothing buffered, when the buffer was still full after ``timeout``: the caller refuses
            its request rather than lose the rows.
        """
        if not len(rows):
            return True
        if len(self._pending) >= self._queue_max and self._thread.is_alive():
            self._wake.set()
            deadline = None if timeout is None else time.monotonic() + timeout
            while len(self._pending) >= self._queue_max and self._thread.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(_FULL_WAIT_SECONDS)
        self._pending.append(rows)
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row submitted before this call is committed; False on timeout."""
        if not self._thread.is_alive():
            return not self._pending
        done = threading.Event()
        self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Drain the buffer, commit the remainder and stop the thread (called from the lifespan exit)."""
        if not self._thread.is_alive():
            return
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "prediction writer did not finish within %.0f s; %d requests' rows pending",
                timeout,
                len(self._pending),
            )
        else:
            logger.info("prediction writer stopped: %d rows written, %d lost", self.written, self.lost)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            stopping = self._stopping
            # Flush requests first, rows second: every row submitted before a flush() call is taken below.
            flushes = [self._flushes.popleft() for _ in range(len(self._flushes))]
            items = [self._pending.popleft() for _ in range(len(self._pending))]
            self._write(items, final=stopping)
            for done in flushes:
                done.set()
            if stopping and not self._pending:
                return

    def _write(self, items: list[Sequence[PredictionRow]], *, final: bool) -> None:
        rows = [row for item in items for row in item]
        if not rows:
            return
        todo: deque[Sequence[PredictionRow]] = deque(
            rows[start : start + self._batch_size] for start in range(0, len(rows), self._batch_size)
        )
        rejected = 0
        backoff = 0.5
        attempt = 0
        while todo:
            batch = todo[0]
            try:
                self.written += self._store.insert_predictions(batch)
            except Exception as exc:
                if is_permanent(exc):
                    # The database refuses these rows themselves: retrying cannot help and would stall the log
                    # (and, once the buffer fills, every request). Bisect to write the good rows.
                    todo.popleft()
                    if len(batch) == 1:
                        rejected += 1
                    else:
                        middle = len(batch) // 2
                        todo.extendleft((batch[middle:], batch[:middle]))
                    attempt = 0
                    continue
                attempt += 1
                self.failed_batches += 1
                # Class and driver message only: the engine hides parameters, and no row value is logged.
                logger.error(
                    "prediction log insert failed (%d rows, %s); retrying in %.1f s",
                    len(batch),
                    _describe(exc),
                    backoff,
                )
                # ``_stopping`` too, not only ``final``: stop() may come while this batch is retried.
                if (final or self._stopping) and attempt >= self._stop_retries:
                    # Shutting down with the database gone: say what is lost rather than hang forever.
                    unwritten = sum(len(b) for b in todo)
                    self.lost += unwritten
                    logger.error("prediction log: %d rows not written before shutdown", unwritten)
                    break
                if self._stopping:
                    time.sleep(_STOP_BACKOFF_SECONDS)
                else:
                    self._stop_requested.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                continue
            todo.popleft()
            attempt = 0
        if rejected:
            self.rejected += rejected
            logger.error(
                "prediction log: %d of %d rows rejected by the database and not written (%d rejected so far)",
                rejected,
                len(rows),
                self.rejected,
            )


def is_permanent(exc: BaseException) -> bool:
    """Whether an insert failed because of the rows themselves (retrying the same rows fails again).

    The database refusing a value (DataError: a NUL in a PostgreSQL text column, a string too long), a broken
    constraint (IntegrityError), or a value the driver or SQLAlchemy cannot even bind (StatementError caused
    by a ValueError or TypeError, or the same raised while encoding the row). Everything else
    (OperationalError: connection lost, database locked, table missing during a migration) is transient and
    retried.
    """
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, StatementError):
        return isinstance(exc.orig, ValueError | TypeError)
    return isinstance(exc, ValueError | TypeError)


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "orig", None) or exc
    lines = str(reason).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
