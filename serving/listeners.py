"""One listening socket per worker process (SO_REUSEPORT), so the kernel spreads connections over workers.

Why: uvicorn's multi-worker mode binds one socket in the parent and every worker accepts from it. An idle
worker woken for a new connection accepts everything queued (uvloop accepts until the queue is empty), so a
client that opens its connections in a burst, as connection pools and load generators do, often lands them
all on one worker: measured here with 8 keep-alive connections and 2 workers, one run in four sent all 8 to
one process, which then served ~2,700 requests/s while the other idled (~4,500 when split).

With SO_REUSEPORT each worker binds and listens on the same address itself, and the kernel assigns every new
connection to one of the listening sockets by a hash of its addresses: bursts are spread like any other
traffic, and a worker that dies takes its socket with it instead of leaving connections queued for nobody.
The parent binds the address too (without listening, so it is never handed a connection): that reserves
the port, resolves port 0 to one port for all workers and reports "address in use" before any worker starts.
"""

from __future__ import annotations

import socket
from typing import Any

_BACKLOG = 2048


def bind_reuse_port(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket on (host, port) with SO_REUSEPORT (and TCP_NODELAY for the connections it accepts).

    IPPROTO_TCP explicitly: asyncio turns on TCP_NODELAY only for sockets that say they are TCP, and Linux
    copies the option from the listening socket to accepted ones.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class WorkerListener:
    """Stands in for a socket in uvicorn's worker arguments; each worker unpickles it into its own socket.

    uvicorn hands the same ``sockets`` list to every worker process it spawns (and to the replacements it
    starts), pickled. Pickling this object records only the address; unpickling, in the worker, binds and
    listens there (``bind_reuse_port``).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        """Rebuild as a freshly bound listening socket (in the worker process)."""
        return bind_reuse_port, (self.host, self.port)


def reserve(host: str, port: int) -> tuple[socket.socket, WorkerListener]:
    """Bind the address in the parent (kept open, never listening) and the listener to give the workers.

    Raises:
        OSError: the address cannot be bound (in use by a socket without SO_REUSEPORT, or not local).
    """
    parent = bind_reuse_port(host, port, listen=False)
    return parent, WorkerListener(host, parent.getsockname()[1])
