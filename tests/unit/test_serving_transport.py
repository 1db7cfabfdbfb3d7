"""The serving process's socket layer: one write per response, one listening socket per worker.

``CoalescingTransport`` is checked against a recording transport (what reaches the socket, in which writes);
the SO_REUSEPORT listeners against the kernel itself: real sockets on 127.0.0.1, real connections.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
from typing import Any

import pytest

from leadscore.serving.http_protocol import CoalescingTransport
from leadscore.serving.listeners import WorkerListener, bind_reuse_port, reserve

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    """The transport methods CoalescingTransport uses, recording every write as one entry."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        self.writes.append(b"".join(lines))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def run(check: Any) -> None:
    async def main() -> None:
        raw = RecordingTransport()
        await check(CoalescingTransport(raw, asyncio.get_running_loop()), raw)

    asyncio.run(main())


def test_a_head_and_its_body_leave_in_one_write() -> None:
    async def check(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        assert raw.writes == []
        assert transport.get_write_buffer_size() == len(HEAD)
        transport.write(b"{}")
        assert raw.writes == [HEAD + b"{}"]
        transport.write(memoryview(HEAD))  # the next response on a keep-alive connection
        transport.write(bytearray(b"[]"))
        assert raw.writes == [HEAD + b"{}", HEAD + b"[]"]
        await asyncio.sleep(0)  # the cancelled end-of-iteration flushes must not send anything again
        assert len(raw.writes) == 2

    run(check)


def test_a_held_head_goes_out_at_the_end_of_the_loop_iteration_when_no_body_follows() -> None:
    async def check(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        await asyncio.sleep(0)
        assert raw.writes == [HEAD]
        transport.write(b"{}")  # a body that comes later (streaming) is written as it comes
        assert raw.writes == [HEAD, b"{}"]

    run(check)


def test_other_writes_pass_straight_through_and_order_is_kept() -> None:
    async def check(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(b"HTTP/1.1 400 Bad Request\r\n")  # not a complete head: not held
        assert raw.writes == [b"HTTP/1.1 400 Bad Request\r\n"]
        transport.write(HEAD)
        transport.writelines([b"a", b"b"])
        assert raw.writes[1:] == [HEAD, b"ab"]

    run(check)


def test_close_flushes_first_abort_drops_and_a_closing_transport_gets_nothing() -> None:
    async def check(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        transport.close()
        assert raw.writes == [HEAD]
        assert raw.events == ["close"]
        raw.closing = False
        transport.write(HEAD)
        transport.abort()
        assert raw.writes == [HEAD]
        assert raw.events == ["close", "abort"]
        await asyncio.sleep(0)
        assert raw.writes == [HEAD]
        raw.closing = True
        transport.write(HEAD)
        await asyncio.sleep(0)
        assert raw.writes == [HEAD]  # the connection went away meanwhile
        assert transport.get_extra_info("peername") == "extra:peername"  # the rest is the transport's

    run(check)


def test_a_worker_listener_unpickles_into_a_listening_socket_on_the_reserved_port() -> None:
    reserved, listener = reserve("127.0.0.1", 0)
    port = reserved.getsockname()[1]
    with reserved:
        assert isinstance(listener, WorkerListener)
        assert listener.port == port
        with pickle.loads(pickle.dumps(listener)) as worker:
            assert worker.getsockname()[1] == port
            assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            assert worker.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        # The parent's socket is bound but never listens, so the kernel never hands it a connection.
        assert reserved.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0


def test_the_kernel_spreads_a_burst_of_connections_over_the_workers_sockets() -> None:
    reserved, listener = reserve("127.0.0.1", 0)
    with reserved:
        workers = [pickle.loads(pickle.dumps(listener)) for _ in range(2)]
        clients = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(32)]
        try:
            accepted = []
            for worker in workers:
                worker.setblocking(False)
                count = 0
                while True:
                    try:
                        conn, _ = worker.accept()
                    except BlockingIOError:
                        break
                    conn.close()
                    count += 1
                accepted.append(count)
        finally:
            for sock in (*clients, *workers):
                sock.close()
    # All 32 accepted, by both sockets (one socket taking all: probability 2 / 2**32).
    assert sum(accepted) == 32
    assert min(accepted) > 0, accepted


def test_an_address_in_use_without_reuse_port_is_refused() -> None:
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        with pytest.raises(OSError, match="in use"):
            reserve("127.0.0.1", plain.getsockname()[1])
    with pytest.raises(OSError, match="assign"):
        bind_reuse_port("192.0.2.1", 0)  # not an address of this machine
