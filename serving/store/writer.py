"""Background writer: request threads hand scored rows to a queue, one thread inserts them in batches.

A commit per request would cost more than scoring the lead (an fsync on SQLite, a round trip on PostgreSQL),
so the hot path only appends to a queue. Nothing is dropped: a full queue blocks the producer (back-pressure
instead of loss), a failed insert is retried with back-off, and ``stop()`` drains everything before the
process exits.

Queue items are sized objects (a list of rows, or anything with ``__len__`` that ``prepare`` turns into rows):
the service queues scored leads whose logged feature values are computed here, in batches, off the request
path.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass

from serving.store.store import PredictionRow, PredictionStore

logger = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 30.0

Prepare = Callable[[list[Sized]], list[PredictionRow]]


def flatten_rows(items: list[Sized]) -> list[PredictionRow]:
    """Default ``prepare``: items are lists of finished rows."""
    return [row for item in items for row in item]  # type: ignore[attr-defined]


@dataclass
class _Flush:
    """Marker put on the queue: set once every row queued before it has been committed."""

    done: threading.Event


_STOP = object()


class PredictionWriter:
    """Batches prediction rows into the store from a single daemon thread.

    Args:
        store: where rows go.
        batch_size: rows per INSERT (and the most rows ``prepare`` sees at once, roughly).
        flush_seconds: longest a queued row waits before it is written.
        queue_max: queued items (requests) before ``submit`` blocks.
        prepare: turns a list of queued items into rows, in the writer thread.
        stop_retries: insert attempts per batch during shutdown before the rows are reported lost.
    """

    def __init__(
        self,
        store: PredictionStore,
        *,
        batch_size: int = 500,
        flush_seconds: float = 0.25,
        queue_max: int = 200_000,
        prepare: Prepare = flatten_rows,
        stop_retries: int = 3,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._prepare = prepare
        self._stop_retries = stop_retries
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_max)
        self._thread = threading.Thread(target=self._run, name="prediction-writer", daemon=True)
        self.written = 0
        self.failed_batches = 0
        self.lost = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread.is_alive()

    def submit(self, item: Sized | Sequence[PredictionRow]) -> None:
        """Queue rows for insertion (blocks only when the queue is full, i.e. the database is far behind)."""
        if len(item):
            self._queue.put(item)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row submitted before this call is committed; False on timeout."""
        if not self._thread.is_alive():
            return self._queue.empty()
        marker = _Flush(threading.Event())
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Drain the queue, commit the remainder and stop the thread (called from the lifespan exit)."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "prediction writer did not finish within %.0f s; %d items pending",
                timeout,
                self._queue.qsize(),
            )
        else:
            logger.info("prediction writer stopped: %d rows written, %d lost", self.written, self.lost)

    def _run(self) -> None:
        stop = False
        while not stop:
            items: list[Sized] = []
            markers: list[_Flush] = []
            n_rows = 0
            deadline = time.monotonic() + self._flush_seconds
            # Collect until the batch is full, the flush interval ends, a flush is asked for or we stop.
            while n_rows < self._batch_size and not markers:
                timeout = deadline - time.monotonic() if items else self._flush_seconds
                if timeout <= 0:
                    break
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    if items:
                        break
                    deadline = time.monotonic() + self._flush_seconds
                    continue
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, _Flush):
                    markers.append(item)
                else:
                    assert isinstance(item, Sized)
                    items.append(item)
                    n_rows += len(item)
            if stop:
                items.extend(self._drain(markers))
            self._write(items, final=stop)
            for marker in markers:
                marker.done.set()

    def _drain(self, markers: list[_Flush]) -> list[Sized]:
        items: list[Sized] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if isinstance(item, _Flush):
                markers.append(item)
            elif item is not _STOP:
                assert isinstance(item, Sized)
                items.append(item)

    def _write(self, items: list[Sized], *, final: bool) -> None:
        if not items:
            return
        rows: list[PredictionRow] = []
        for start in range(0, len(items), self._batch_size):
            chunk = items[start : start + self._batch_size]
            try:
                rows.extend(self._prepare(chunk))
            except Exception:  # a bug in preparing must not cost the predictions themselves
                logger.exception("preparing %d log items failed; writing them without extras", len(chunk))
                rows.extend(flatten_rows([getattr(item, "rows", item) for item in chunk]))
        backoff = 0.5
        for start in range(0, len(rows), self._batch_size):
            batch = rows[start : start + self._batch_size]
            attempt = 0
            while True:
                attempt += 1
                try:
                    self.written += self._store.insert_predictions(batch)
                    break
                except Exception:
                    self.failed_batches += 1
                    logger.exception(
                        "prediction log insert failed (%d rows); retrying in %.1f s", len(batch), backoff
                    )
                    if final and attempt >= self._stop_retries:
                        # Shutting down with the database gone: say what is lost rather than hang forever.
                        self.lost += len(rows) - start
                        logger.error("prediction log: %d rows not written before shutdown", len(rows) - start)
                        return
                    time.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
