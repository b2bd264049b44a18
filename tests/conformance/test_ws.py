"""WebSocket conformance of a demo server (DESIGN §6: WS /ws/echo and
/ws/chat, messages up to 64 MiB; RFC 6455). The handshake, framing and error
cases use the raw client in wsraw.py; echo and the chat fan-out are also
checked with the `websockets` package, a real client that offers
permessage-deflate like a browser does.

Every read is bounded (socket timeouts, asyncio.wait_for), so a server that
hangs fails the test instead of the suite.

Needs `pip install "websockets>=15.0"` (the asyncio client with the proxy
option) besides pytest."""
import asyncio
import base64
import collections
import random
import signal
import socket
import time
import uuid

import pytest

try:
    from websockets.asyncio.client import connect
except ImportError:  # the raw-client tests still run; the others fail saying why
    connect = None

from conftest import CLIENT_SSL, WS_SCHEME, Demo, rss_kib
from wsraw import (BINARY, CLOSE, CONT, PING, PONG, RSV1, RSV2, RSV3, TEXT, WsRaw, accept_key, close_payload,
                   frame, new_key, upgrade_request)

MAX_MESSAGE = 64 * 1024 * 1024  # the demo's WebSocket message limit


@pytest.fixture(autouse=True)
def _close_raw_sockets():
    yield
    WsRaw.close_all()


def text_of(n: int) -> bytes:
    """Valid UTF-8 of exactly n bytes, with 1- to 4-byte characters."""
    unit = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    s = (unit * (n // 10)).encode()
    return s + b"x" * (n - len(s))


def binary_of(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def echo_once(port, opcode=TEXT, payload=b"still serving"):
    ws = WsRaw.connect(port)
    try:
        ws.send_frame(opcode, payload)
        assert ws.recv_message() == (opcode, payload)
    finally:
        ws.close()


def close_cleanly(ws):
    ws.send_close(1000)
    assert ws.recv_close()[0] == 1000
    ws.close()


def refused(ws: WsRaw, response, status):
    assert response.status == status, f"expected {status}, got {response.status} {response.reason}"
    assert response.header("Sec-WebSocket-Accept") is None
    ws.close()


# ---- the opening handshake ---------------------------------------------------

def test_accept_key_rfc_example(demo):
    ws = WsRaw(demo.port)
    r = ws.handshake("/ws/echo", key="dGhlIHNhbXBsZSBub25jZQ==")
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert r.status == 101 and r.version == "HTTP/1.1"
    assert r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert (r.header("Upgrade") or "").lower() == "websocket"
    assert "upgrade" in [t.strip().lower() for t in (r.header("Connection") or "").split(",")]
    assert r.header("Sec-WebSocket-Extensions") is None, "no extension was offered"
    ws.send_text("after the handshake")
    assert ws.recv_message() == (TEXT, b"after the handshake")
    close_cleanly(ws)


def test_upgrade_and_connection_are_case_insensitive_token_lists(demo):
    ws = WsRaw(demo.port)
    key = new_key()
    req = (f"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1:{demo.port}\r\nUpgrade: WebSocket\r\n"
           f"Connection: keep-alive, UPGRADE\r\nsec-websocket-key: {key}\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n")
    r = ws.handshake(key=key, request=req.encode())
    assert r.status == 101 and r.header("Sec-WebSocket-Accept") == accept_key(key)
    close_cleanly(ws)


@pytest.mark.parametrize("version", ["8", "14", "", None], ids=["8", "14", "empty", "missing"])
def test_unsupported_version_is_426_naming_13(demo, version):
    ws = WsRaw(demo.port)
    r = ws.handshake(version=version)
    refused(ws, r, 426)
    assert r.header("Sec-WebSocket-Version") == "13"
    echo_once(demo.port)


@pytest.mark.parametrize("key", [
    None,
    "",
    "short",
    "dGhlIHNhbXBsZSBub25jZQ",                      # 16 bytes but the padding is missing
    base64.b64encode(b"fifteen bytes!!").decode(),  # 15 bytes
    base64.b64encode(b"seventeen bytes!!").decode(),  # 17 bytes
    "!!!!!!!!!!!!!!!!!!!!!!==",                    # not base64
], ids=["missing", "empty", "short", "unpadded", "15-bytes", "17-bytes", "not-base64"])
def test_bad_key_is_400(demo, key):
    ws = WsRaw(demo.port)
    r = ws.handshake(request=upgrade_request("/ws/echo", demo.port, key))
    refused(ws, r, 400)
    echo_once(demo.port)


def test_plain_get_on_a_websocket_route_is_400(demo):
    ws = WsRaw(demo.port)
    r = ws.handshake(request=f"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1:{demo.port}\r\n\r\n".encode())
    refused(ws, r, 400)
    echo_once(demo.port)


@pytest.mark.parametrize("origin", ["http://evil.example", "other-port", "null"])
def test_cross_origin_is_403(demo, origin):
    if origin == "other-port":
        origin = f"http://127.0.0.1:{demo.port % 65535 + 1}"
    ws = WsRaw(demo.port)
    refused(ws, ws.handshake(origin=origin), 403)
    echo_once(demo.port)


@pytest.mark.parametrize("origin", [None, "same"], ids=["no-origin", "same-origin"])
def test_same_origin_or_no_origin_is_accepted(demo, origin):
    if origin == "same":
        origin = f"http://127.0.0.1:{demo.port}"
    ws = WsRaw.connect(demo.port, origin=origin)
    ws.send_text("ok")
    assert ws.recv_message() == (TEXT, b"ok")
    close_cleanly(ws)


def test_frames_pipelined_behind_the_handshake_are_processed(demo):
    ws = WsRaw(demo.port)
    r = ws.handshake(after=frame(TEXT, b"right behind") + frame(BINARY, b"\x00\x01\x02"))
    assert r.status == 101 and r.header("Sec-WebSocket-Accept") == accept_key(ws.key)
    assert ws.recv_message() == (TEXT, b"right behind")
    assert ws.recv_message() == (BINARY, b"\x00\x01\x02")
    close_cleanly(ws)


# ---- echo and framing --------------------------------------------------------

SIZES = [0, 125, 126, 65535, 65536, 1_000_000, 1 << 20]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_echo_sizes(demo, opcode, size):
    payload = text_of(size) if opcode == TEXT else binary_of(size)
    ws = WsRaw.connect(demo.port, timeout=10)
    ws.send_frame(opcode, payload)
    got_opcode, got = ws.recv_message()
    assert got_opcode == opcode and len(got) == size and got == payload
    assert not ws.interleaved
    close_cleanly(ws)


def test_message_of_exactly_the_limit_is_echoed(demo):
    payload = binary_of(MAX_MESSAGE)
    ws = WsRaw.connect(demo.port, timeout=20)
    ws.send(frame(BINARY, b"", length=MAX_MESSAGE, mask_key=b"\0\0\0\0", with_payload=False))
    ws.send(payload)  # an all-zero mask key leaves the payload as is
    assert ws.recv_message() == (BINARY, payload)
    close_cleanly(ws)


def test_server_frames_are_unmasked_and_well_formed(demo):
    ws = WsRaw.connect(demo.port)
    ws.send_text("héllo")
    f = ws.recv_frame()
    assert (f.fin, f.rsv, f.opcode, f.masked, f.payload) == (True, 0, TEXT, False, "héllo".encode())
    close_cleanly(ws)


def test_several_frames_in_one_write_are_echoed_in_order(demo):
    ws = WsRaw.connect(demo.port)
    msgs = [(TEXT if i % 2 else BINARY, f"message {i}".encode() * (i + 1)) for i in range(20)]
    ws.send(b"".join(frame(op, p) for op, p in msgs))
    assert [ws.recv_message() for _ in msgs] == msgs
    close_cleanly(ws)


def test_frame_written_one_byte_at_a_time(demo):
    ws = WsRaw.connect(demo.port)
    ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = frame(TEXT, text_of(300))  # a 16-bit length
    for i in range(len(data)):
        ws.send(data[i:i + 1])
    assert ws.recv_message() == (TEXT, text_of(300))
    close_cleanly(ws)


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_fragments_with_a_ping_between(demo, opcode):
    whole = "three fragments, a € split across two of them".encode()
    cut1, cut2 = whole.index("€".encode()) + 1, len(whole) - 7  # the first cut is inside the €
    ws = WsRaw.connect(demo.port)
    ws.send_frame(opcode, whole[:cut1], fin=False)
    ws.send_frame(CONT, whole[cut1:cut2], fin=False)
    ws.send_frame(PING, b"between fragments")
    ws.send_frame(CONT, whole[cut2:], fin=True)
    pong = ws.recv_frame()
    assert (pong.opcode, pong.fin, pong.payload) == (PONG, True, b"between fragments"), pong
    assert ws.recv_message() == (opcode, whole)
    close_cleanly(ws)


def test_ping_gets_a_pong_with_the_same_payload(demo):
    ws = WsRaw.connect(demo.port)
    ws.send_frame(PING, bytes(range(125)))
    f = ws.recv_frame()
    assert (f.opcode, f.payload) == (PONG, bytes(range(125)))
    close_cleanly(ws)


def test_close_handshake(demo):
    ws = WsRaw.connect(demo.port)
    ws.send_text("before close")
    assert ws.recv_message() == (TEXT, b"before close")
    ws.send_close(1000, "bye")
    f = ws.recv_frame()
    assert f.opcode == CLOSE and not f.masked and f.close_code == 1000, f
    assert ws.closed_by_peer(timeout=3.0), "the server closes TCP after the close handshake"
    assert ws.buf == b"", "nothing after the close frame"
    ws.close()


# ---- protocol errors ---------------------------------------------------------

def expect_failure(ws: WsRaw, code):
    got, reason = ws.recv_close()
    assert got == code, f"expected close {code}, got {got} {reason!r}"
    assert ws.closed_by_peer(timeout=3.0), "the server closes TCP after failing the connection"
    ws.close()


@pytest.mark.parametrize("data", [
    [frame(TEXT, b"\xff")],
    [frame(TEXT, b"\xc0\xaf")],              # overlong '/'
    [frame(TEXT, b"\xed\xa0\x80")],          # UTF-16 surrogate
    [frame(TEXT, b"caf\xc3")],               # truncated at the end of the message
    [frame(TEXT, b"caf", fin=False), frame(CONT, b"\xc3", fin=True)],
], ids=["ff", "overlong", "surrogate", "truncated", "truncated-fragmented"])
def test_invalid_utf8_is_1007(demo, data):
    ws = WsRaw.connect(demo.port)
    ws.send(b"".join(data))
    expect_failure(ws, 1007)
    echo_once(demo.port)


PROTOCOL_VIOLATIONS = {
    "unmasked": [frame(TEXT, b"not masked", mask=False)],
    "rsv1": [frame(TEXT, b"x", rsv=RSV1)],
    "rsv2": [frame(TEXT, b"x", rsv=RSV2)],
    "rsv3": [frame(TEXT, b"x", rsv=RSV3)],
    "rsv1-ping": [frame(PING, b"x", rsv=RSV1)],
    "opcode-3": [frame(0x3, b"x")],
    "opcode-b": [frame(0xB, b"x")],
    "fragmented-ping": [frame(PING, b"x", fin=False)],
    "ping-126-bytes": [frame(PING, b"x" * 126)],
    "continuation-first": [frame(CONT, b"x")],
    "text-inside-text": [frame(TEXT, b"a", fin=False), frame(TEXT, b"b")],
}


@pytest.mark.parametrize("name", list(PROTOCOL_VIOLATIONS))
def test_protocol_violation_is_1002(demo, name):
    ws = WsRaw.connect(demo.port)
    ws.send(b"".join(PROTOCOL_VIOLATIONS[name]))
    expect_failure(ws, 1002)
    echo_once(demo.port)


def test_oversized_message_is_refused_from_the_header_with_1009(demo):
    ws = WsRaw.connect(demo.port)
    # only the header: a server that waited for the payload would time out here
    ws.send(frame(BINARY, b"", length=MAX_MESSAGE + 1, with_payload=False))
    expect_failure(ws, 1009)
    echo_once(demo.port, BINARY, b"new connections still served")


# ---- graceful shutdown ---------------------------------------------------------

def test_sigterm_closes_open_websockets_with_1001():
    d = Demo()
    try:
        echo, chat = WsRaw.connect(d.port, "/ws/echo"), WsRaw.connect(d.port, "/ws/chat")
        echo.send_text("up")
        assert echo.recv_message() == (TEXT, b"up")
        chat.send_frame(PING, b"up")
        assert chat.recv_message() == (PONG, b"up")
        d.proc.send_signal(signal.SIGTERM)
        for ws in (echo, chat):
            code, reason = ws.recv_close()
            assert code == 1001, f"going away expected, got {code} {reason!r}"
            try:
                ws.send(frame(CLOSE, close_payload(1001)))  # complete the close handshake
            except OSError:
                pass  # the server need not wait for it
            assert ws.closed_by_peer(timeout=5.0)
            ws.close()
        assert d.proc.wait(timeout=10) == 0
    finally:
        d.stop()


# ---- with a real client: the `websockets` package ------------------------------

def run(coro, timeout=20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_connect(port, path):
    if connect is None:
        pytest.fail('these tests need the websockets package: pip install "websockets>=15.0"')
    tls = {"ssl": CLIENT_SSL} if CLIENT_SSL else {}
    return connect(f"{WS_SCHEME}://127.0.0.1:{port}{path}", max_size=MAX_MESSAGE, open_timeout=5, close_timeout=3,
                   ping_interval=None, max_queue=None, proxy=None, **tls)


def test_client_library_echo(demo):
    async def main():
        async with ws_connect(demo.port, "/ws/echo") as ws:
            for msg in ["hello", "héllo wörld €", "", "x" * 70000, text_of(1 << 20).decode()]:
                await ws.send(msg)
                got = await ws.recv()
                assert isinstance(got, str) and got == msg
            for msg in [b"\x00\xff", b"", binary_of(70000), binary_of(1 << 20)]:
                await ws.send(msg)
                got = await ws.recv()
                assert isinstance(got, bytes) and got == msg
            await ws.send(["frag", "mented ", "€"])  # a fragmented message
            assert await ws.recv() == "fragmented €"
            await pinged(ws)
    run(main())


CLIENTS = 50


async def open_room(port, tag):
    """Connect CLIENTS clients to /ws/chat and return them once every one of
    them is provably subscribed. A ping answered is not proof (the server may
    answer it before its open handler has subscribed the client), so one
    client then sends sync messages until each client has received one: a
    client that saw a message is in the room, and will see all later ones."""
    opening = [asyncio.create_task(opened(port, "/ws/chat")) for _ in range(CLIENTS)]
    await asyncio.wait(opening)
    clients = [t.result() for t in opening if not t.cancelled() and t.exception() is None]
    waiting = []
    try:
        for t in opening:
            t.result()  # raises the first failure, if any
        await asyncio.gather(*(pinged(ws) for ws in clients))

        async def synced(ws):
            while not (await ws.recv()).startswith(f"{tag} sync"):
                pass

        waiting = [asyncio.create_task(synced(ws)) for ws in clients]
        deadline = asyncio.get_running_loop().time() + 5
        k = 0
        while not all(t.done() for t in waiting) and asyncio.get_running_loop().time() < deadline:
            await clients[0].send(f"{tag} sync {k}")
            k += 1
            await asyncio.wait(waiting, timeout=0.05)
        missing = [i for i, t in enumerate(waiting) if not t.done()]
        assert not missing, (f"clients {missing} (0 is the sender) got none of {k} messages sent to the room "
                             "within 5 s")
        for t in waiting:
            t.result()
        return clients
    except BaseException:
        for t in waiting:
            t.cancel()
        await close_all(clients)
        raise


async def opened(port, path):
    return await ws_connect(port, path)


async def pinged(ws):
    await asyncio.wait_for(await ws.ping(), 5)


async def read_until(ws, tag, done):
    """Messages of this run (sync messages left out) until done(messages)."""
    out = []
    while not done(out):
        m = await ws.recv()
        if m.startswith(tag) and not m.startswith(f"{tag} sync"):
            out.append(m)
    return out


async def close_all(clients):
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)


def test_chat_one_sender_fans_out_to_all_in_order(demo):
    n = 100

    async def main():
        tag = uuid.uuid4().hex
        clients = await open_room(demo.port, tag)
        try:
            readers = [asyncio.create_task(read_until(ws, tag, lambda out: len(out) >= n)) for ws in clients]
            sender = clients[7]
            for i in range(n):
                await sender.send(f"{tag} msg {i}")
            expected = [f"{tag} msg {i}" for i in range(n)]
            results = await asyncio.gather(*readers)
            for i, got in enumerate(results):
                assert got == expected, f"client {i}{' (the sender)' if i == 7 else ''} got {got[:5]}..."
        finally:
            await close_all(clients)

    run(main())


def test_chat_many_senders_every_message_exactly_once(demo):
    senders, per_sender = 5, 20

    async def main():
        tag = uuid.uuid4().hex
        clients = await open_room(demo.port, tag)
        try:
            def all_done(out):
                return sum(1 for m in out if " done " in m) == senders

            readers = [asyncio.create_task(read_until(ws, tag, all_done)) for ws in clients]

            async def send_all(s):
                ws = clients[s * (CLIENTS // senders)]
                for i in range(per_sender):
                    await ws.send(f"{tag} from {s} #{i}")
                await ws.send(f"{tag} done {s}")

            await asyncio.gather(*(send_all(s) for s in range(senders)))
            results = await asyncio.gather(*readers)
            # a last message from one sender: a duplicate delivered late would
            # show up before it
            await clients[0].send(f"{tag} end")
            tails = await asyncio.gather(*(read_until(ws, tag, lambda out: f"{tag} end" in out) for ws in clients))
            for c, tail in enumerate(tails):
                assert tail == [f"{tag} end"], f"client {c}: extra messages {tail[:5]}"
            expected = collections.Counter(f"{tag} from {s} #{i}" for s in range(senders) for i in range(per_sender))
            for c, got in enumerate(results):
                data = [m for m in got if " done " not in m]
                assert collections.Counter(data) == expected, f"client {c}: not every message exactly once"
                for s in range(senders):
                    mine = [m for m in data if f" from {s} #" in m]
                    assert mine == [f"{tag} from {s} #{i}" for i in range(per_sender)], f"client {c}: order of {s}"
        finally:
            await close_all(clients)

    run(main())


# ---- keep-alive, idle timeout, a client that stops reading ---------------------

def test_server_pings_and_closes_a_peer_that_stops_answering():
    d = Demo({"SQUALL_WS_PING_MS": "300"})
    try:
        alive = WsRaw.connect(d.port, "/ws/echo")
        silent = WsRaw.connect(d.port, "/ws/echo")
        # the live client answers every ping for 1.5 s and stays open
        t_end = time.monotonic() + 1.5
        pings = 0
        alive.sock.settimeout(1.0)
        while time.monotonic() < t_end:
            try:
                f = alive.recv_frame()
            except socket.timeout:
                continue
            assert f.opcode == PING, f
            pings += 1
            alive.send_frame(PONG, f.payload)
        assert pings >= 3, f"only {pings} pings in 1.5 s at a 300 ms interval"
        # the silent one (never answers, never reads) was dropped by then:
        # ping at ~300 ms, no pong within 300 ms, swept within 250 ms
        assert silent.closed_by_peer(timeout=1.0), "a peer that does not answer pings stays open"
        alive.send_text("still here")
        while True:
            op, data = alive.recv_message()
            if op != PING:
                break
        assert (op, data) == (TEXT, b"still here")
        alive.close()
        silent.close()
    finally:
        d.stop()


def test_idle_timeout_closes_with_1001():
    d = Demo({"SQUALL_WS_IDLE_MS": "400"})
    try:
        ws = WsRaw.connect(d.port, "/ws/echo")
        busy = WsRaw.connect(d.port, "/ws/echo")
        t0 = time.monotonic()
        # the busy client keeps sending; the idle one gets a 1001 close
        while time.monotonic() - t0 < 0.9:
            busy.send_text("x")
            assert busy.recv_message() == (TEXT, b"x")
            time.sleep(0.1)
        code, reason = ws.recv_close()
        assert code == 1001, (code, reason)
        assert time.monotonic() - t0 < 2.0
        busy.send_text("y")
        assert busy.recv_message() == (TEXT, b"y")
        ws.close()
        busy.close()
    finally:
        d.stop()


def test_a_client_that_stops_reading_keeps_server_memory_bounded(demo):
    """The client floods /ws/echo and never reads: once a megabyte of echoes
    waits for it, the server stops reading from it (its sends block), its
    memory stays bounded and it goes on serving others."""
    ws = WsRaw.connect(demo.port, "/ws/echo")
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    base = rss_kib(demo.proc.pid)
    chunk = frame(BINARY, b"s" * (1 << 20))
    ws.sock.settimeout(1.0)
    sent = 0
    for _ in range(400):  # up to 400 MiB offered
        try:
            ws.sock.sendall(chunk)
            sent += 1
        except socket.timeout:
            break  # the server stopped reading
    assert sent < 100, f"the server read {sent} MiB from a client that reads nothing"
    time.sleep(0.3)
    grown = rss_kib(demo.proc.pid) - base
    # 1 MiB of output and 1 MiB for the host each way, the message being
    # read, what the kernel buffers, allocator slack
    assert grown < 48 * 1024, f"server grew {grown} KiB for a client that does not read"
    other = WsRaw.connect(demo.port, "/ws/echo")
    other.send_text("fine")
    assert other.recv_message() == (TEXT, b"fine")
    other.close()
    ws.close()
