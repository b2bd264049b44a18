"""squall.iostream / tcpserver / tcpclient: Tornado's raw TCP API over
squall's TCP streams, through real sockets on 127.0.0.1 (squall's own client
and server, and plain Python sockets on the other end)."""
import asyncio
import hashlib
import logging
import socket
import struct
import threading

import pytest

from squall.ioloop import IOLoop
from squall.iostream import IOStream, StreamClosedError, UnsatisfiableReadError, StreamBufferFullError
from squall.tcpclient import TCPClient
from squall.tcpserver import TCPServer


def run(coro_fn, timeout=30):
    loop = IOLoop()
    try:
        return loop.run_sync(coro_fn, timeout=timeout)
    finally:
        loop.close()


class Echo(TCPServer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.streams = []

    async def handle_stream(self, stream, address):
        self.streams.append((stream, address))
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass


def listen(server):
    """Listens on a free 127.0.0.1 port through squall; returns the port."""
    return server._listen_sq("127.0.0.1", 0)


def test_echo_through_squall_client_and_server():
    async def main():
        srv = Echo()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        await c.write(b"hello\nworld\n")
        assert await c.read_until(b"\n") == b"hello\n"
        assert await c.read_bytes(6) == b"world\n"
        assert srv.streams[0][1][0] == "127.0.0.1"
        c.close()
        srv.stop()
    run(main)


def test_echo_with_a_plain_socket_client():
    # the peer is a blocking Python socket in a thread: squall's server side
    # against a client that is not squall's
    got = {}

    async def main():
        srv = Echo()
        port = listen(srv)

        def client():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"one\ntw")
                s.sendall(b"o\n")
                data = b""
                while data.count(b"\n") < 2:
                    data += s.recv(100)
                got["data"] = data
        t = threading.Thread(target=client)
        t.start()
        while t.is_alive():
            await asyncio.sleep(0.01)
        srv.stop()
    run(main)
    assert got["data"] == b"one\ntwo\n"


def test_iostream_socket_connect_goes_through_squall():
    async def main():
        srv = Echo()
        port = listen(srv)
        s = IOStream(socket.socket())
        assert await s.connect(("127.0.0.1", port)) is s
        assert s.socket is None  # the placeholder socket is closed: squall connected
        s.write(b"ping\n")
        assert await s.read_until(b"\n") == b"ping\n"
        s.close()
        srv.stop()
    run(main)


def test_read_until_max_bytes_closes_the_stream():
    result = {}

    class Reader(TCPServer):
        async def handle_stream(self, stream, address):
            try:
                await stream.read_until(b"\n", max_bytes=8)
            except StreamClosedError as e:
                result["real"] = e.real_error
            result["closed"] = stream.closed()

    async def main():
        srv = Reader()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        c.write(b"0123456789abcdef")  # no delimiter within 8 bytes
        assert await c.read_until_close() == b""  # the server closed
        srv.stop()
    run(main)
    assert isinstance(result["real"], UnsatisfiableReadError)
    assert result["closed"]


def test_read_until_max_bytes_satisfied_and_regex():
    async def main():
        srv = Echo()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        c.write(b"abc\n")
        assert await c.read_until(b"\n", max_bytes=4) == b"abc\n"
        c.write(b"x=12;\n")
        assert await c.read_until_regex(rb"=\d+;") == b"x=12;"
        assert await c.read_bytes(1) == b"\n"
        c.close()
        srv.stop()
    run(main)


def test_read_bytes_partial_and_read_into():
    async def main():
        srv = Echo()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        await c.write(b"12345\n")
        first = await c.read_bytes(100, partial=True)
        assert 0 < len(first) <= 6 and b"12345\n".startswith(first)
        rest = b"12345\n"[len(first):]
        if rest:
            assert await c.read_bytes(len(rest)) == rest
        buf = bytearray(4)
        c.write(b"abcd\n")
        assert await c.read_into(buf) == 4
        assert buf == b"abcd"
        assert await c.read_bytes(1) == b"\n"
        c.close()
        srv.stop()
    run(main)


def test_close_callbacks_and_pending_read():
    events = []

    class Holder(TCPServer):
        async def handle_stream(self, stream, address):
            stream.set_close_callback(lambda: events.append("server-closed"))
            try:
                await stream.read_bytes(10)
            except StreamClosedError:
                events.append("read-failed")

    async def main():
        srv = Holder()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        c.set_close_callback(lambda: events.append("client-closed"))
        await c.write(b"abc")  # fewer than the 10 the server waits for
        await asyncio.sleep(0.05)
        c.close()
        assert c.closed()
        with pytest.raises(StreamClosedError):
            c.write(b"late")
        for _ in range(200):
            if len(events) == 3:
                break
            await asyncio.sleep(0.01)
        srv.stop()
    run(main)
    assert sorted(events) == ["client-closed", "read-failed", "server-closed"]


def test_large_write_with_backpressure_both_ways():
    size = 16 * 1024 * 1024  # 10 MB and more: more than loopback buffers take while the reader waits
    payload = bytes(range(256)) * (size // 256)
    digest = hashlib.sha256(payload).hexdigest()
    seen = {}

    class Sender(TCPServer):
        async def handle_stream(self, stream, address):
            fut = stream.write(payload)
            # squall took what fits under its high-water mark and said
            # SQ_BACKPRESSURE: the rest waits here and the write is not done
            seen["done_at_once"] = fut.done()
            seen["waiting_here"] = stream._wq_size
            seen["writing"] = stream.writing()
            await fut
            stream.close()

    async def main():
        srv = Sender()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port, max_buffer_size=1024 * 1024)
        await asyncio.sleep(0.5)
        # reading paused at max_buffer_size: not the whole 10 MB is buffered here
        seen["buffered"] = len(c._buf)
        chunks = []
        while True:
            try:
                chunks.append(await c.read_bytes(256 * 1024, partial=True))
            except StreamClosedError:
                break
        data = b"".join(chunks)
        seen["len"] = len(data)
        seen["digest"] = hashlib.sha256(data).hexdigest()
        srv.stop()
    run(main, timeout=60)
    assert seen["done_at_once"] is False and seen["writing"] is True
    assert seen["waiting_here"] > 0  # (the reactor thread drains into the kernel meanwhile)
    assert seen["buffered"] < 2 * 1024 * 1024
    assert seen["len"] == size and seen["digest"] == digest


def test_read_until_close_over_max_buffer_size_fails():
    async def main():
        srv = Echo()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port, max_buffer_size=64 * 1024)
        fut = c.read_until_close()
        c.write(b"y" * (256 * 1024) + b"\n")
        with pytest.raises(StreamClosedError) as ei:
            await fut
        assert isinstance(ei.value.real_error, StreamBufferFullError)
        srv.stop()
    run(main)


def test_peer_reset():
    result = {}

    class Holder(TCPServer):
        async def handle_stream(self, stream, address):
            stream.set_close_callback(lambda: result.setdefault("closed", True))
            try:
                await stream.read_bytes(100)
            except StreamClosedError as e:
                result["real"] = e.real_error
            result["error"] = stream.error

    async def main():
        srv = Holder()
        port = listen(srv)
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"abc")
        await asyncio.sleep(0.1)
        # SO_LINGER 0: close sends a reset (RST), not a FIN
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        for _ in range(300):
            if "closed" in result and "error" in result:
                break
            await asyncio.sleep(0.01)
        srv.stop()
    run(main)
    assert result.get("closed") is True
    assert isinstance(result["error"], ConnectionResetError), result
    assert isinstance(result["real"], ConnectionResetError)


def test_handle_stream_exception_is_logged_and_server_goes_on(caplog):
    class Flaky(TCPServer):
        n = 0

        async def handle_stream(self, stream, address):
            Flaky.n += 1
            if Flaky.n == 1:
                raise RuntimeError("boom in handler")
            await stream.write(b"fine")
            stream.close()

    class Sync(TCPServer):
        def handle_stream(self, stream, address):
            raise ValueError("sync boom")

    async def main():
        srv, sync = Flaky(), Sync()
        port, port2 = listen(srv), listen(sync)
        c1 = await TCPClient().connect("127.0.0.1", port)
        c2 = await TCPClient().connect("127.0.0.1", port)
        assert await c2.read_until_close() == b"fine"
        c3 = await TCPClient().connect("127.0.0.1", port2)
        await asyncio.sleep(0.1)
        c1.close(), c3.close()
        srv.stop(), sync.stop()
    with caplog.at_level(logging.ERROR):
        run(main)
    text = caplog.text
    assert "boom in handler" in text and "sync boom" in text


def test_misuse_raises_python_errors():
    async def main():
        srv = Echo()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        c.read_bytes(1)
        with pytest.raises(AssertionError):
            c.read_bytes(1)  # one read at a time, as Tornado
        with pytest.raises(ValueError):
            IOStream(None).read_bytes(-1)
        c2 = await TCPClient().connect("127.0.0.1", port)
        with pytest.raises(TypeError):
            c2.read_until_regex("a str pattern")  # bytes are read, not str
        c2.write(b"still usable\n")
        assert await c2.read_until(b"\n") == b"still usable\n"
        with pytest.raises(TypeError):
            c2.write("a str")
        c2.close()
        c.close()
        with pytest.raises(StreamClosedError):
            await c.read_bytes(1)
        with pytest.raises(ValueError):
            await TCPClient().connect("127.0.0.1", 0)
        with pytest.raises(OSError):
            await TCPClient().connect("127.0.0.1", free_refused_port())
        with pytest.raises(OSError):
            TCPServer().listen(port, "256.1.1.1")
        srv.stop()
        srv.stop()  # twice is harmless
    run(main)


def free_refused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_add_sockets_keeps_the_program_socket_usable():
    from squall.netutil import bind_sockets

    async def main():
        socks = bind_sockets(0, "127.0.0.1", socket.AF_INET)
        srv = Echo()
        srv.add_sockets(socks)
        port = socks[0].getsockname()[1]
        c = await TCPClient().connect("127.0.0.1", port)
        c.write(b"via add_sockets\n")
        assert await c.read_until(b"\n") == b"via add_sockets\n"
        c.close()
        srv.stop()
    run(main)


def test_connected_socket_and_pipe_streams():
    import os
    from squall.iostream import PipeIOStream

    async def main():
        a, b = socket.socketpair()
        sa, sb = IOStream(a), IOStream(b)
        await sa.write(b"over a socketpair\n")
        assert await sb.read_until(b"\n") == b"over a socketpair\n"
        sa.close()
        assert await sb.read_until_close() == b""
        sb.close()
        r, w = os.pipe()
        pr, pw = PipeIOStream(r), PipeIOStream(w)
        await pw.write(b"pipe")
        pw.close()
        assert await pr.read_until_close() == b"pipe"
        pr.close()
    run(main)


# --- TLS: Python's ssl over squall's streams, against squall's Rust TLS -------

def test_tls_client_against_squall_tls_server(pki):
    import ssl

    async def main():
        # the server's TLS is squall's (Rust); the client's is Python's ssl
        # over a squall TCP stream, verifying the certificate and the name
        srv = Echo(ssl_options={"certfile": pki["cert"], "keyfile": pki["key"]})
        port = listen(srv)
        ctx = ssl.create_default_context(cafile=pki["ca"])
        c = await TCPClient().connect("localhost", port, ssl_options=ctx)
        big = b"z" * (3 * 1024 * 1024) + b"\n"
        c.write(b"over tls\n")
        assert await c.read_until(b"\n") == b"over tls\n"
        c.write(big)
        assert await c.read_until(b"\n", max_bytes=4 * 1024 * 1024) == big
        c.close()
        # a client that does not trust the CA fails with the ssl error
        with pytest.raises(ssl.SSLError):
            await TCPClient().connect("localhost", port, ssl_options=ssl.create_default_context())
        # and a name the certificate does not carry
        with pytest.raises(ssl.SSLError):
            await _connect_with_name(port, ctx, "not-localhost.example")
        srv.stop()
    run(main)


async def _connect_with_name(port, ctx, name):
    from squall.iostream import SSLIOStream
    s = SSLIOStream(socket.socket(), ssl_options=ctx)
    return await s.connect(("127.0.0.1", port), server_hostname=name)


def test_start_tls_between_two_squall_streams(pki):
    import ssl

    class StartTLS(TCPServer):
        async def handle_stream(self, stream, address):
            assert await stream.read_until(b"\n") == b"STARTTLS\n"
            await stream.write(b"GO\n")
            tls = await stream.start_tls(True, {"certfile": pki["cert"], "keyfile": pki["key"]})
            line = await tls.read_until(b"\n")
            await tls.write(line.upper())
            tls.close()

    async def main():
        srv = StartTLS()
        port = listen(srv)
        c = await TCPClient().connect("127.0.0.1", port)
        c.write(b"STARTTLS\n")
        assert await c.read_until(b"\n") == b"GO\n"
        tls = await c.start_tls(False, ssl.create_default_context(cafile=pki["ca"]), "localhost")
        with pytest.raises(StreamClosedError):
            c.write(b"old stream")  # the plain stream is gone once TLS starts
        tls.write(b"secret\n")
        assert await tls.read_until(b"\n") == b"SECRET\n"
        assert await tls.read_until_close() == b""
        srv.stop()
    run(main)


def test_tcp_server_with_an_ssl_context_hands_out_ssl_streams(pki):
    import ssl
    from squall.iostream import SSLIOStream
    seen = {}

    class Server(TCPServer):
        async def handle_stream(self, stream, address):
            seen["type"] = type(stream)
            await stream.wait_for_handshake()
            seen["handshake"] = True
            await stream.write(await stream.read_until(b"\n"))
            stream.close()

    async def main():
        # an ssl.SSLContext cannot go to squall's Rust TLS: Python's ssl serves it
        sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sctx.load_cert_chain(pki["cert"], pki["key"])
        srv = Server(ssl_options=sctx)
        port = listen(srv)
        c = await TCPClient().connect("localhost", port, ssl_options=ssl.create_default_context(cafile=pki["ca"]))
        c.write(b"context\n")
        assert await c.read_until(b"\n") == b"context\n"
        c.close()
        srv.stop()
    run(main)
    assert seen == {"type": SSLIOStream, "handshake": True}
