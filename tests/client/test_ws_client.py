"""The WebSocket client (sq_ws_connect) through sqws: echo of text and
binary messages of every length class, close codes both ways, pings both
ways, subprotocols, extra headers, connect failures (refused, not a
WebSocket, a bad Sec-WebSocket-Accept, a connect timeout, TLS), wss://, and
masked client frames — against squall's demo server, a Python `websockets`
server and raw socket servers."""
import asyncio
import socket
import time

import pytest

from scripted import server_ctx
from sqws import (PyWsServer, RawServer, accept_key, connect_error, data, fnv1a, generated, read_frame,
                  read_head, request_header, sqws, wait_until)

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


# ---- fixtures ---------------------------------------------------------------

@pytest.fixture
def make_pyws():
    servers = []

    def make(handler, **kw):
        s = PyWsServer(handler, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def make_raw():
    servers = []

    def make(script):
        s = RawServer(script)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


async def echo(ws, server):
    """Echoes every message; records the client's close frame."""
    from websockets.exceptions import ConnectionClosed
    server.seen["headers"] = ws.request.headers
    server.seen["path"] = ws.request.path
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass
    rcvd = ws.protocol.close_rcvd
    server.seen["close"] = (rcvd.code, rcvd.reason) if rcvd else None


@pytest.fixture
def pyecho(make_pyws):
    return make_pyws(echo)


@pytest.fixture(params=["demo", "websockets"])
def echo_url(request):
    """The echo endpoint of squall's demo server, then of a Python server."""
    if request.param == "demo":
        return f"ws://127.0.0.1:{request.getfixturevalue('demo')}/ws/echo"
    return request.getfixturevalue("pyecho").url("/echo")


def closed_normally(run):
    c = run.one("close")
    assert c["code"] == 1000 and run.rc == 0 and not run.of("error"), str(run)
    return c


# ---- echo ---------------------------------------------------------------------

def test_text_echo(echo_url):
    texts = ["hello", "", "héllo wörld ✓ 🌪", "x" * 125, "y" * 126]
    args = []
    for t in texts:
        args += ["-t", t]
    run = sqws(*args, echo_url)
    assert run.one("open")["protocol"] == "", str(run)
    got = run.messages
    assert [m["opcode"] for m in got] == [1] * len(texts), str(run)
    assert [data(m).decode("utf-8") for m in got] == texts, str(run)
    assert [m["len"] for m in got] == [len(t.encode()) for t in texts], str(run)
    closed_normally(run)


def test_binary_echo_from_hex(echo_url):
    payloads = [b"", b"\x00", bytes(range(256)), b"\xff" * 125, b"\x80\x00" * 63]
    args = []
    for p in payloads:
        args += ["-b", p.hex()]
    run = sqws(*args, echo_url)
    got = run.messages
    assert [m["opcode"] for m in got] == [2] * len(payloads), str(run)
    assert [data(m) for m in got] == payloads, str(run)
    closed_normally(run)


@pytest.mark.parametrize("size", SIZES)
def test_binary_echo_sizes(echo_url, size):
    run = sqws("--hash", "-g", size, echo_url, timeout=30)
    m = run.one("message")
    assert m["opcode"] == 2 and m["len"] == size, str(run)
    assert m["fnv1a"] == fnv1a(generated(size)), str(run)
    closed_normally(run)


def test_several_large_messages_in_order(echo_url):
    sizes = [65536, 3, 1 << 20, 126, 0]
    args = ["--hash"]
    for s in sizes:
        args += ["-g", s]
    run = sqws(*args, echo_url, timeout=30)
    assert [m["len"] for m in run.messages] == sizes, str(run)
    assert [m["fnv1a"] for m in run.messages] == [fnv1a(generated(s)) for s in sizes], str(run)
    closed_normally(run)


def test_websockets_server_receives_exact_messages(make_pyws):
    async def record(ws, server):
        server.seen["msgs"] = [await ws.recv() for _ in range(3)]
        await ws.send("done")
        await ws.wait_closed()
    s = make_pyws(record)
    run = sqws("-t", "ünï", "-b", "00ff10", "--hash", "-g", 70000, "--expect", 1, s.url())
    assert run.messages and run.messages[0]["fnv1a"] == fnv1a(b"done"), str(run)
    wait_until(lambda: "msgs" in s.seen, what="the server's messages")
    assert s.seen["msgs"] == ["ünï", b"\x00\xff\x10", generated(70000)]
    closed_normally(run)


# ---- close codes ----------------------------------------------------------------

def test_client_close_code_and_reason_reach_the_server(pyecho):
    run = sqws("-t", "x", "--close", 4001, "going away now", pyecho.url())
    c = run.one("close")
    assert c["code"] == 4001 and data(c) == b"going away now", f"the server echoes the close\n{run}"
    assert run.rc == 0, str(run)
    wait_until(lambda: "close" in pyecho.seen, what="the server's close record")
    assert pyecho.seen["close"] == (4001, "going away now")


def test_client_close_to_the_demo_server(demo):
    run = sqws("-t", "x", "--close", 4001, "bye now", f"ws://127.0.0.1:{demo}/ws/echo")
    c = run.one("close")
    assert c["code"] == 4001 and data(c) == b"bye now", str(run)


def test_server_close_code_and_reason(make_pyws):
    async def closer(ws, server):
        server.seen["got"] = await ws.recv()
        await ws.close(4002, "bye")
    s = make_pyws(closer)
    run = sqws("-t", "first", "--expect", 0, "--wait-close", s.url())
    c = run.one("close")
    assert c["code"] == 4002 and data(c) == b"bye", str(run)
    assert run.rc == 0 and not run.messages, str(run)
    assert s.seen["got"] == "first"


def test_server_dropping_the_connection_is_1006(make_raw):
    def script(conn, server):
        head = read_head(conn)
        key = request_header(head, "Sec-WebSocket-Key")
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")
        read_frame(conn)
    s = make_raw(script)
    run = sqws("-t", "hi", "--expect", 0, "--wait-close", s.url(), timeout=15)
    assert run.one("close")["code"] == 1006, str(run)
    assert s.error is None, repr(s.error)


# ---- pings ----------------------------------------------------------------------

def test_client_ping_gets_a_pong_with_the_same_data(echo_url):
    run = sqws("--ping", "are you there?", echo_url)
    p = run.one("pong")
    assert data(p) == b"are you there?", str(run)
    closed_normally(run)


def test_server_ping_reaches_on_ping_and_is_answered(make_pyws):
    async def pinger(ws, server):
        waiter = await ws.ping(b"srv-ping")
        try:
            server.seen["latency"] = await asyncio.wait_for(waiter, 5)
        except asyncio.TimeoutError:
            server.seen["latency"] = None
        await ws.close(4002, "bye")
    s = make_pyws(pinger)
    run = sqws("--wait-close", s.url())
    assert data(run.one("ping")) == b"srv-ping", str(run)
    assert run.one("close")["code"] == 4002, str(run)
    assert s.seen.get("latency") is not None, "the client answered the ping with a pong"


# ---- subprotocols and headers ----------------------------------------------------

def test_subprotocol_negotiated(make_pyws):
    def select(conn, offered):
        conn.offered = list(offered)
        return "beta"

    async def handler(ws, server):
        server.seen["offered"] = ws.offered
        server.seen["chosen"] = ws.subprotocol
        await echo(ws, server)
    s = make_pyws(handler, select_subprotocol=select)
    run = sqws("--protocol", "alpha,beta,gamma", "-t", "x", s.url())
    assert run.one("open")["protocol"] == "beta", str(run)
    closed_normally(run)
    assert s.seen["offered"] == ["alpha", "beta", "gamma"]
    assert s.seen["chosen"] == "beta"


def test_no_subprotocol_when_the_server_picks_none(make_pyws):
    s = make_pyws(echo, select_subprotocol=lambda conn, offered: None)
    run = sqws("--protocol", "alpha", "-t", "x", s.url())
    assert run.one("open")["protocol"] == "", str(run)
    closed_normally(run)


def test_subprotocol_not_offered_is_an_error(make_pyws):
    s = make_pyws(echo, select_subprotocol=lambda conn, offered: "zeta")
    run = sqws("--protocol", "alpha,beta", "-t", "x", s.url())
    e = connect_error(run, "SQ_ERR_PROTOCOL")
    assert "zeta" in e["message"], str(run)


def test_subprotocol_chosen_without_any_offered_is_an_error(make_pyws):
    async def handler(ws, server):
        await ws.wait_closed()

    def process_response(conn, request, response):
        response.headers["Sec-WebSocket-Protocol"] = "zeta"
    s = make_pyws(handler, process_response=process_response)
    connect_error(sqws("-t", "x", s.url()), "SQ_ERR_PROTOCOL")


def test_extra_headers_reach_the_server(pyecho):
    run = sqws("-H", "X-Token: abc 123", "-H", "User-Agent: sqws-test/1", "-t", "x",
               pyecho.url("/echo?room=7"))
    closed_normally(run)
    h = pyecho.seen["headers"]
    assert h["X-Token"] == "abc 123"
    assert h.get_all("User-Agent") == ["sqws-test/1"], "the caller's User-Agent replaces the default"
    assert h["Sec-WebSocket-Version"] == "13"
    assert pyecho.seen["path"] == "/echo?room=7"


def test_default_user_agent(pyecho):
    closed_normally(sqws("-t", "x", pyecho.url()))
    assert pyecho.seen["headers"]["User-Agent"].startswith("squall/")


# ---- connect failures -------------------------------------------------------------

def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = sqws(f"ws://127.0.0.1:{port}/", timeout=15)
    connect_error(run, "SQ_ERR_CONNECT")
    assert run.elapsed < 5, str(run)


def test_not_a_websocket_endpoint(demo):
    e = connect_error(sqws(f"ws://127.0.0.1:{demo}/no-such-page", timeout=15), "SQ_ERR_PROTOCOL")
    assert "404" in e["message"], e


def test_http_route_without_upgrade(demo):
    connect_error(sqws(f"ws://127.0.0.1:{demo}/", timeout=15), "SQ_ERR_PROTOCOL")


def test_bad_accept_key(make_raw):
    def script(conn, server):
        head = read_head(conn)
        server.seen["key"] = request_header(head, "Sec-WebSocket-Key")
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(b"dGhlIHNhbXBsZSBub25jZQ==").encode() + b"\r\n\r\n")
        server.seen["after"] = conn.recv(100)
    s = make_raw(script)
    e = connect_error(sqws("-t", "x", s.url(), timeout=15), "SQ_ERR_PROTOCOL")
    assert "accept" in e["message"].lower(), e
    s.done.wait(10)
    assert s.seen["key"] and len(s.seen["key"]) == 24
    assert s.seen.get("after", b"") == b"", "no frame is sent after a failed handshake"


def test_missing_upgrade_header(make_raw):
    def script(conn, server):
        key = request_header(read_head(conn), "Sec-WebSocket-Key")
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")
        conn.recv(100)
    s = make_raw(script)
    connect_error(sqws("-t", "x", s.url(), timeout=15), "SQ_ERR_PROTOCOL")


def test_server_closing_during_the_handshake(make_raw):
    def script(conn, server):
        read_head(conn)
    s = make_raw(script)
    connect_error(sqws("-t", "x", s.url(), timeout=15), "SQ_ERR_CLOSED")


def test_connect_timeout(full_backlog):
    run = sqws("--connect-timeout", 400, f"ws://127.0.0.1:{full_backlog}/", timeout=15)
    connect_error(run, "SQ_ERR_TIMEOUT")
    assert 0.35 <= run.elapsed < 3.0, f"{run.elapsed:.2f} s for a 400 ms connect timeout\n{run}"


def test_handshake_timeout(make_raw):
    """The connect timeout also bounds a server that accepts and never answers."""
    def script(conn, server):
        read_head(conn)
        time.sleep(3)
    s = make_raw(script)
    run = sqws("--connect-timeout", 400, "-t", "x", s.url(), timeout=15)
    connect_error(run, "SQ_ERR_TIMEOUT")
    assert 0.35 <= run.elapsed < 2.5, f"{run.elapsed:.2f} s\n{run}"


def test_bad_urls():
    for url in ["http://127.0.0.1:1/", "ws://", "not a url"]:
        run = sqws(url, timeout=10)
        e = run.one("error")
        assert e["status"] == "refused" and run.rc == 1, str(run)


# ---- TLS ------------------------------------------------------------------------

@pytest.fixture
def tls_echo(make_pyws, pki):
    return make_pyws(echo, ssl=server_ctx(pki["leaf"]))


def test_wss_echo(tls_echo, pki):
    run = sqws("--cacert", pki["ca_pem"], "-t", "secret", "--hash", "-g", 70000, tls_echo.url("/tls"))
    m = run.messages
    assert len(m) == 2 and m[0]["fnv1a"] == fnv1a(b"secret"), str(run)
    assert m[1]["len"] == 70000 and m[1]["fnv1a"] == fnv1a(generated(70000)), str(run)
    closed_normally(run)
    assert tls_echo.seen["path"] == "/tls"


def test_wss_wrong_ca(tls_echo, pki):
    connect_error(sqws("--cacert", pki["other_ca_pem"], "-t", "x", tls_echo.url(), timeout=15), "SQ_ERR_TLS")


def test_wss_default_roots_do_not_trust_a_test_ca(tls_echo):
    connect_error(sqws("-t", "x", tls_echo.url(), timeout=15), "SQ_ERR_TLS")


def test_wss_to_a_plain_server(pyecho):
    run = sqws("--connect-timeout", 5000, "-t", "x", f"wss://127.0.0.1:{pyecho.port}/", timeout=15)
    # the server drops the connection on the ClientHello: reported as a failed connect
    assert run.one("error")["status"] in ("SQ_ERR_TLS", "SQ_ERR_CLOSED", "SQ_ERR_CONNECT"), str(run)
    assert not run.of("open"), str(run)


# ---- masking ----------------------------------------------------------------------

def test_client_frames_are_masked(make_raw):
    def script(conn, server):
        key = request_header(read_head(conn), "Sec-WebSocket-Key")
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")
        frames = []
        while True:
            f = read_frame(conn)
            frames.append(f)
            if f[1] == 8:
                break
        server.seen["frames"] = frames
        conn.sendall(b"\x88\x02\x03\xe8")  # the close reply, unmasked as a server's must be
    s = make_raw(script)
    run = sqws("-t", "hello", "-g", 70000, "-g", 200, "--expect", 0, "--close", 1000, "done", s.url(), timeout=15)
    assert run.one("close")["code"] == 1000, str(run)
    s.done.wait(10)
    assert s.error is None, repr(s.error)
    frames = s.seen["frames"]
    assert [(fin, op) for fin, op, _, _ in frames] == [(True, 1), (True, 2), (True, 2), (True, 8)]
    assert all(masked for _, _, masked, _ in frames), "every client frame is masked"
    assert frames[0][3] == b"hello"
    assert frames[1][3] == generated(70000)
    assert frames[2][3] == generated(200)
    assert frames[3][3] == b"\x03\xe8done"


# ---- what the server sends --------------------------------------------------------

def test_fragmented_message_is_reassembled(make_pyws):
    async def fragments(ws, server):
        await ws.recv()
        await ws.send(["frag", "mented ", "téxt"])
        await ws.send([b"\x01", b"", b"\x02\x03"])
        await ws.wait_closed()
    s = make_pyws(fragments)
    run = sqws("-t", "go", "--expect", 2, s.url())
    assert [(m["opcode"], data(m)) for m in run.messages] == [(1, "fragmented téxt".encode()), (2, b"\x01\x02\x03")], str(run)
    closed_normally(run)


def test_message_over_max_message_closes_with_1009(make_pyws):
    async def big(ws, server):
        await ws.recv()
        await ws.send(b"z" * 2000)
        try:
            await ws.recv()
        except Exception:
            pass
        rcvd = ws.protocol.close_rcvd
        server.seen["close"] = rcvd.code if rcvd else None
    s = make_pyws(big)
    run = sqws("--max-message", 1000, "-t", "go", "--expect", 1, s.url(), timeout=15)
    assert not run.messages, str(run)
    assert run.one("close")["code"] == 1009, str(run)
    wait_until(lambda: "close" in s.seen, what="the server's close record")
    assert s.seen["close"] == 1009


def raw_upgrade(conn):
    key = request_header(read_head(conn), "Sec-WebSocket-Key")
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")


def read_until_close(conn):
    """The client's frames up to its close frame; the close payload."""
    while True:
        _, op, _, payload = read_frame(conn)
        if op == 8:
            return payload


@pytest.mark.parametrize("frame, code", [
    (b"\x81\x82abcd" + bytes(c ^ k for c, k in zip(b"hi", b"ab")), 1002),  # a masked server frame
    (b"\x81\x02\xc3\x28", 1007),                                          # text that is not UTF-8
    (b"\x83\x00", 1002),                                                  # a reserved opcode
])
def test_bad_server_frames(make_raw, frame, code):
    def script(conn, server):
        raw_upgrade(conn)
        conn.sendall(frame)
        server.seen["close"] = read_until_close(conn)
    s = make_raw(script)
    run = sqws("--expect", 1, "--wait-close", s.url(), timeout=15)
    assert not run.messages, str(run)
    assert run.one("close")["code"] == code, str(run)
    s.done.wait(10)
    assert s.error is None, repr(s.error)
    assert s.seen["close"][:2] == code.to_bytes(2, "big"), "the client's close frame carries the code"


def test_data_right_after_the_101_is_not_lost(make_raw):
    """A frame in the same segment as the handshake response."""
    def script(conn, server):
        key = request_header(read_head(conn), "Sec-WebSocket-Key")
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n\x81\x05early")
        server.seen["close"] = read_until_close(conn)
        conn.sendall(b"\x88\x02\x03\xe8")
    s = make_raw(script)
    run = sqws("--expect", 1, s.url(), timeout=15)
    assert [data(m) for m in run.messages] == [b"early"], str(run)
    assert run.one("close")["code"] == 1000, str(run)


def test_demo_chat_room_echoes_to_the_sender(demo):
    run = sqws("-t", "hello room", f"ws://127.0.0.1:{demo}/ws/chat")
    assert [data(m) for m in run.messages] == [b"hello room"], str(run)
    closed_normally(run)


@pytest.mark.parametrize("io_threads", [0, 2])
def test_io_threads(echo_url, io_threads):
    run = sqws("--io-threads", io_threads, "-t", "a", "--hash", "-g", 100000, echo_url)
    assert [m["len"] for m in run.messages] == [1, 100000], str(run)
    closed_normally(run)


def test_header_lines_separated_by_lf_and_protocols_with_spaces(make_pyws):
    def select(conn, offered):
        conn.offered = list(offered)
        return offered[-1]

    async def handler(ws, server):
        server.seen["offered"] = ws.offered
        await echo(ws, server)
    s = make_pyws(handler, select_subprotocol=select)
    run = sqws("--protocol", "alpha, beta", "-H", "X-A: 1\nX-B: 2", "-H", "X-C:   spaced  ", "-t", "x", s.url())
    assert run.one("open")["protocol"] == "beta", str(run)
    closed_normally(run)
    h = s.seen["headers"]
    assert (h["X-A"], h["X-B"], h["X-C"]) == ("1", "2", "spaced")
    assert s.seen["offered"] == ["alpha", "beta"]


def test_longest_close_reason(pyecho):
    reason = "r" * 123
    run = sqws("--close", 4999, reason, "-t", "x", pyecho.url())
    c = run.one("close")
    assert c["code"] == 4999 and c["reason"] == reason, str(run)
    wait_until(lambda: "close" in pyecho.seen, what="the server's close record")
    assert pyecho.seen["close"] == (4999, reason)


def test_unanswered_close_gives_up_after_5_s(make_raw):
    def script(conn, server):
        raw_upgrade(conn)
        server.seen["close"] = read_until_close(conn)
        server.seen["eof"] = conn.recv(1)  # never answers; returns once the client gives up
    s = make_raw(script)
    run = sqws("--expect", 0, "--close", 4001, "x", s.url(), timeout=15)
    assert run.one("close")["code"] == 1006, str(run)
    assert 4.5 <= run.elapsed < 8, f"{run.elapsed:.2f} s\n{run}"
    assert s.seen["close"] == b"\x0f\xa1x"
    s.done.wait(10)
    assert s.seen.get("eof") == b"", "the client dropped the connection"
