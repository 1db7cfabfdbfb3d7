"""uvicorn's httptools protocol, sending a response's head and body in one write.

Why: uvicorn writes the status line and headers when the app sends ``http.response.start`` and the body when
it sends ``http.response.body``: two ``send`` system calls and two TCP segments per response, each of which
wakes the client. For a single-lead score (a few hundred bytes, ~0.3 ms of CPU) the second write was ~8% of
the server's CPU under load and cost the client (on the same cores, in the benchmark) a second wake-up.

``CoalescingTransport`` holds a write that is a complete response head (``HTTP/...`` up to the blank line)
and sends it together with the next write, the body, which every route here sends right after the head in
the same step of the event loop. Anything else that is held (a streaming response whose body comes later)
goes out at the end of that loop iteration, so nothing waits longer than that. Order is preserved; closing
or writing lines flushes first; aborting drops the held head with the connection.

Use ``leadscore serve`` (or ``uvicorn.Config(..., http=CoalescingHttpToolsProtocol)``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_START = b"HTTP/"
_HEAD_END = b"\r\n\r\n"


class CoalescingTransport:
    """Wraps a transport: a response head is held until the next write (or the end of the loop iteration)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``, joined to a held head; hold it instead when it is a head itself."""
        held = self._held
        if held is not None:
            self._release()
            self._transport.write(held + bytes(data))
            return
        if data[:5] == _HEAD_START and data[-4:] == _HEAD_END:
            self._held = bytes(data)
            self._flush_handle = self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now (end of the loop iteration, or before closing)."""
        held = self._held
        if held is not None:
            self._release()
            if not self._transport.is_closing():
                self._transport.write(held)

    def _release(self) -> None:
        self._held = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def writelines(self, lines: Any) -> None:
        """Flush, then write the lines."""
        self.flush()
        self._transport.writelines(lines)

    def write_eof(self) -> None:
        """Flush, then close the write side."""
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        """Flush, then close."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping what is held (and what the transport buffered)."""
        self._release()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent, the held head included."""
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, flow control, extra info, is_closing) is the transport's own.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport, then set up as uvicorn does."""
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
