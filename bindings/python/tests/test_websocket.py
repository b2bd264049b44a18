"""squall.websocket: handlers, topics and the client, against the
`websockets` package and squall's own client."""
import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import child_env, launch

APP = r'''
import asyncio, os, threading
from squall import web, websocket, ioloop

EVENTS = []

class Echo(websocket.WebSocketHandler):
    def open(self): EVENTS.append("open")
    def on_message(self, m):
        if m == "close-me": self.close(4001, "bye now"); return
        if m == "raise": raise RuntimeError("handler failed")
        if m == "dict": self.write_message({"k": 1}); return
        if m == "ping": self.ping(b"srv"); return
        self.write_message(m, binary=isinstance(m, bytes))
    def on_pong(self, data): self.write_message("pong:" + data.decode())
    def on_ping(self, data): EVENTS.append("ping:" + data.decode())
    def on_close(self):
        EVENTS.append(f"close:{self.close_code}:{self.close_reason}")
        try:
            self.write_message("x")
        except websocket.WebSocketClosedError:
            EVENTS.append("closed-error")

class Events(web.RequestHandler):
    def get(self): self.write({"events": EVENTS})

class Ordered(websocket.WebSocketHandler):
    async def on_message(self, m):
        await asyncio.sleep(0.01 if int(m) % 2 else 0)
        self.write_message(m)

class Origins(websocket.WebSocketHandler):
    def check_origin(self, origin): return origin == "http://trusted.test"
    def on_message(self, m): self.write_message(m)

class Proto(websocket.WebSocketHandler):
    def select_subprotocol(self, offered): return "two" if "two" in offered else None
    def open(self): self.write_message("proto:" + str(self.selected_subprotocol))
    def on_message(self, m): pass

class Small(websocket.WebSocketHandler):
    max_message_size = 1024
    def on_message(self, m): self.write_message(m)

class Room(websocket.WebSocketHandler):
    def open(self, room): self.room = room; self.subscribe(room)
    def on_message(self, m):
        if m == "leave": self.unsubscribe(self.room); self.write_message("left"); return
        if m == "from-thread":
            threading.Thread(target=lambda: self.application.publish(self.room, "threaded")).start(); return
        self.application.publish(self.room, m)

class Deflate(Echo):
    def get_compression_options(self): return {}

class DeflateRoom(Room):
    def get_compression_options(self): return {}

class DeflateSecret(websocket.WebSocketHandler):
    # each message comes back twice: first never compressed, then as usual;
    # "pub:..." the same through a topic the socket subscribes to
    def get_compression_options(self): return {}
    def open(self): self.subscribe("secrets")
    def on_message(self, m):
        if m.startswith("pub:"):
            self.publish("secrets", m, compress=False)
            self.publish("secrets", m)
            return
        self.write_message(m, compress=False)
        self.write_message(m)

class DeflateDedicated(Echo):
    def get_compression_options(self):
        return {"mode": "dedicated", "window_bits": 12, "mem_level": 5, "compression_level": 9}

class DeflateDedicatedSmall(Echo):
    def get_compression_options(self):
        return {"mode": "dedicated", "window_bits": 9, "mem_level": 1, "client_no_context_takeover": True}

app = web.Application([(r"/echo", Echo), (r"/events", Events), (r"/ordered", Ordered), (r"/origins", Origins),
                       (r"/proto", Proto), (r"/small", Small), (r"/room/(\w+)", Room),
                       (r"/deflate", Deflate), (r"/droom/(\w+)", DeflateRoom),
                       (r"/dsecret", DeflateSecret), (r"/ddedicated", DeflateDedicated),
                       (r"/dsmall", DeflateDedicatedSmall)],
                      websocket_ping_interval=float(os.environ.get("PING", "0")) or None)
app.listen(int(os.environ["PORT"]), "127.0.0.1")
ioloop.IOLoop.current().start()
'''


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("wsapp"), APP, name="app")
    yield server.port
    server.stop_cleanly()


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(port, path, **kw):
    kw.setdefault("origin", None)
    return websockets.connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5, close_timeout=3, **kw)


def events(port):
    import urllib.request
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/events", timeout=5).read())["events"]


def test_echo_text_binary_dict(port):
    async def main():
        async with connect(port, "/echo") as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01bin")
            assert await ws.recv() == b"\x00\x01bin"
            await ws.send("dict")
            assert json.loads(await ws.recv()) == {"k": 1}
            big = "x" * 200_000
            await ws.send(big)
            assert await ws.recv() == big
    run(main())


def test_compression_options_negotiate_permessage_deflate(port):
    async def main():
        async with connect(port, "/deflate") as ws:  # websockets offers deflate by default
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate"), ext
            for m in ["hello", b"\x00\x01bin", json.dumps({"k": list(range(5000))}), bytes(range(256)) * 1000]:
                await ws.send(m)
                assert await ws.recv() == m
        # get_compression_options() returning None (the default) declines
        async with connect(port, "/echo") as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            await ws.send("plain")
            assert await ws.recv() == "plain"
        # a topic reaches a compressing and a plain subscriber alike
        a = await connect(port, "/droom/z")
        b = await connect(port, "/droom/z", compression=None)
        assert b.response.headers.get("Sec-WebSocket-Extensions") is None
        text = "chat line, " * 500
        await a.send(text)
        assert await a.recv() == text and await b.recv() == text
        await a.close()
        await b.close()
    run(main())


def test_server_close_and_closed_error(port):
    async def main():
        async with connect(port, "/echo") as ws:
            await ws.send("close-me")
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 4001 and e.value.rcvd.reason == "bye now"
    run(main())
    ev = events(port)
    assert "closed-error" in ev


def test_client_close_code_reaches_the_handler(port):
    async def main():
        async with connect(port, "/echo") as ws:
            await ws.send("a")
            await ws.recv()
            await ws.close(4002, "client says bye")
    run(main())
    import time
    deadline = time.monotonic() + 5
    while "close:4002:client says bye" not in events(port):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_pings_both_ways(port):
    async def main():
        async with connect(port, "/echo") as ws:
            pong = await ws.ping(b"cli")
            await asyncio.wait_for(pong, 5)
            await ws.send("ping")  # the server pings; websockets answers; on_pong echoes
            assert await ws.recv() == "pong:srv"
    run(main())
    assert "ping:cli" in events(port)


def test_exception_in_on_message_is_1011_and_server_goes_on(port):
    async def main():
        async with connect(port, "/echo") as ws:
            await ws.send("raise")
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1011
        async with connect(port, "/echo") as ws:
            await ws.send("still")
            assert await ws.recv() == "still"
    run(main())


def test_async_on_message_keeps_order(port):
    async def main():
        async with connect(port, "/ordered") as ws:
            for i in range(20):
                await ws.send(str(i))
            got = [await ws.recv() for _ in range(20)]
            assert got == [str(i) for i in range(20)]
    run(main())


def test_origin_checks(port):
    async def main():
        with pytest.raises(InvalidStatus) as e:
            async with connect(port, "/echo", origin="http://evil.test"):
                pass
        assert e.value.response.status_code == 403
        async with connect(port, "/echo", origin=f"http://127.0.0.1:{port}") as ws:
            await ws.send("same")
            assert await ws.recv() == "same"
        async with connect(port, "/origins", origin="http://trusted.test") as ws:
            await ws.send("t")
            assert await ws.recv() == "t"
        # Tornado 6.6: a same-origin handshake never reaches check_origin
        async with connect(port, "/origins", origin=f"http://127.0.0.1:{port}") as ws:
            await ws.send("s")
            assert await ws.recv() == "s"
        # a cross-site fetch with no Origin is refused (Sec-Fetch-Site decides)
        with pytest.raises(InvalidStatus) as e:
            async with connect(port, "/echo", additional_headers={"Sec-Fetch-Site": "cross-site"}):
                pass
        assert e.value.response.status_code == 403
    run(main())


def test_malformed_query_refuses_the_handshake_and_server_goes_on(port):
    async def main():
        with pytest.raises(InvalidStatus) as e:
            async with connect(port, "/echo?" + "&".join(["q=1"] * 1001)):
                pass
        assert 400 <= e.value.response.status_code < 500
        async with connect(port, "/echo?" + "&".join(["q=1"] * 1000)) as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(main())


def test_select_subprotocol(port):
    async def main():
        async with connect(port, "/proto", subprotocols=["one", "two"]) as ws:
            assert ws.subprotocol == "two"
            assert await ws.recv() == "proto:two"
        async with connect(port, "/proto") as ws:
            assert await ws.recv() == "proto:None"
    run(main())


def test_max_message_size_is_1009(port):
    async def main():
        async with connect(port, "/small") as ws:
            await ws.send("y" * 1024)
            assert len(await ws.recv()) == 1024
            await ws.send("y" * 1025)
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1009
    run(main())


def test_topics_50_clients(port):
    async def main():
        clients = [await connect(port, "/room/lobby") for _ in range(50)]
        other = await connect(port, "/room/other")
        leaver = await connect(port, "/room/lobby")
        await leaver.send("leave")
        assert await leaver.recv() == "left"
        for i in range(5):
            await clients[0].send(f"m{i}")
        for c in clients:
            assert [await c.recv() for _ in range(5)] == [f"m{i}" for i in range(5)]
        await clients[1].send("from-thread")
        for c in clients:
            assert await c.recv() == "threaded"
        for c in (other, leaver):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.recv(), 0.3)
        for c in clients + [other, leaver]:
            await c.close()
    run(main(), timeout=40)


def test_squall_client_against_squall_and_websockets(port):
    code = r'''
import asyncio, sys
import websockets
from squall import ioloop, websocket

async def peer(ws):
    async for m in ws:
        await ws.send(m)

async def main():
    conn = await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}/echo")
    conn.write_message("hi")
    assert await conn.read_message() == "hi"
    conn.write_message(b"\x01\x02", binary=True)
    assert await conn.read_message() == b"\x01\x02"
    conn.close(1000, "done")
    assert await conn.read_message() is None
    try:
        conn.write_message("late")
        raise SystemExit("no WebSocketClosedError")
    except websocket.WebSocketClosedError:
        pass
    got = []
    done = asyncio.get_event_loop().create_future()
    def on_msg(m):
        got.append(m)
        if m is None and not done.done(): done.set_result(None)
    async with websockets.serve(peer, "127.0.0.1", 0) as server:
        p = server.sockets[0].getsockname()[1]
        c = await websocket.websocket_connect(f"ws://127.0.0.1:{p}/", on_message_callback=on_msg)
        c.write_message("to websockets")
        await asyncio.sleep(0.2)
        c.close()
        await asyncio.wait_for(done, 5)
    assert got == ["to websockets", None], got
    try:
        await websocket.websocket_connect("ws://127.0.0.1:1/")
        raise SystemExit("connected to port 1?")
    except ConnectionRefusedError:
        pass
    print("client ok")

ioloop.IOLoop.current().run_sync(main, timeout=20)
'''
    r = subprocess.run([sys.executable, "-c", code, str(port)], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr


def raw_deflate_frames(port, path, text, count):
    """A raw client that offers permessage-deflate, sends one masked text
    frame and reads `count` frames back: [(rsv1, fin, opcode, payload)]."""
    import base64, socket
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, buf
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert b" 101 " in head and b"permessage-deflate" in head, head
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def need(k):
        nonlocal buf
        while len(buf) < k:
            chunk = s.recv(65536)
            assert chunk, "connection ended"
            buf += chunk

    frames = []
    for _ in range(count):
        need(2)
        b0, b1 = buf[0], buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            need(4); n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            need(10); n, off = int.from_bytes(buf[2:10], "big"), 10
        need(off + n)
        frames.append((bool(b0 & 0x40), bool(b0 & 0x80), b0 & 0x0F, buf[off:off + n]))
        buf = buf[off + n:]
    s.close()
    return frames


def test_write_message_compress_false_sends_rsv1_clear(port):
    import zlib
    text = "the secret sits next to what an attacker chose, " * 40
    plain, compressed = raw_deflate_frames(port, "/dsecret", text, 2)
    # compress=False: RSV1 clear, the payload as it is
    assert plain == (False, True, 1, text.encode()), plain[:3]
    # the same message without the flag: RSV1 set, smaller, inflates to it
    rsv1, fin, op, payload = compressed
    assert (rsv1, fin, op) == (True, True, 1) and len(payload) < len(text) // 4, (rsv1, fin, op, len(payload))
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff").decode() == text
    # the same through a topic: publish(..., compress=False) reaches the
    # subscriber with RSV1 clear, a plain publish compressed
    text = "pub:" + text
    plain, compressed = raw_deflate_frames(port, "/dsecret", text, 2)
    assert plain == (False, True, 1, text.encode()), plain[:3]
    rsv1, fin, op, payload = compressed
    assert (rsv1, fin, op) == (True, True, 1) and len(payload) < len(text) // 4, (rsv1, fin, op, len(payload))
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff").decode() == text


def test_dedicated_compression_keeps_context(port):
    async def main():
        async with connect(port, "/ddedicated") as ws:  # websockets keeps its context by default
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate"), ext
            assert "no_context_takeover" not in ext, ext
            assert "server_max_window_bits=12" in ext, ext
            line = json.dumps({"user": "ann", "room": "lobby", "text": "hello again"})
            for i in range(300):
                m = f"{line} #{i}" if i % 3 else bytes(range(256)) * (i % 7 + 1)
                await ws.send(m)
                assert await ws.recv() == m, i
            big = "x" * 300_000 + "y" * 1000
            await ws.send(big)
            assert await ws.recv() == big
        # a client asking for no context takeover gets it on the same route
        async with connect(port, "/ddedicated", compression=None,
                           extensions=[websockets.extensions.permessage_deflate.ClientPerMessageDeflateFactory(
                               server_no_context_takeover=True, client_no_context_takeover=True)]) as ws:
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "server_no_context_takeover" in ext and "client_no_context_takeover" in ext, ext
            for i in range(50):
                await ws.send(f"again {i} " * 50)
                assert await ws.recv() == f"again {i} " * 50
        # a route that takes the client's context away: answered although
        # websockets did not offer it; the server keeps its own
        async with connect(port, "/dsmall") as ws:
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "client_no_context_takeover" in ext and "server_no_context_takeover" not in ext, ext
            for i in range(50):
                await ws.send(f"again {i} " * 50)
                assert await ws.recv() == f"again {i} " * 50
    run(main())


def test_compression_options_refuse_bad_values():
    from squall import _bindings as b, websocket
    o = b.sq_ws_options()
    websocket._set_compression(o, {"mode": "dedicated", "window_bits": 10, "mem_level": 3, "compression_level": 1})
    assert (o.compression, o.compression_window_bits, o.compression_mem_level, o.compression_level) == \
        (b.SQ_WS_COMPRESSION_DEDICATED, 10, 3, 1)
    websocket._set_compression(o, {"compression_level": 5})  # Tornado's dict: the shared mode
    assert o.compression == b.SQ_WS_COMPRESSION_SHARED
    for bad in [{"mode": "dedicated", "window_bits": 8}, {"mode": "dedicated", "mem_level": 0},
                {"mode": "dedicated", "compression_level": 10}, {"mode": "private"}]:
        with pytest.raises(ValueError):
            websocket._set_compression(b.sq_ws_options(), bad)


def test_squall_client_compression_options_against_squall_and_websockets(port):
    code = r'''
import asyncio, sys
import websockets
from squall import ioloop, websocket

async def peer(ws):
    await ws.send("ext:" + str(ws.response.headers.get("Sec-WebSocket-Extensions")))
    async for m in ws:
        await ws.send(m)

async def main():
    text = "the same chat line again and again, " * 200
    # squall's shared-mode route: no context takeover either way
    conn = await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}/deflate", compression_options={})
    for m in [text, text, b"\\x00" * 5000, "short"]:
        conn.write_message(m, binary=isinstance(m, bytes))
        assert await conn.read_message() == m
    conn.close()
    # websockets keeps its context both ways: the client inflates with history
    async with websockets.serve(peer, "127.0.0.1", 0) as server:
        p = server.sockets[0].getsockname()[1]
        c = await websocket.websocket_connect(f"ws://127.0.0.1:{p}/", compression_options={})
        ext = await c.read_message()
        assert ext.startswith("ext:permessage-deflate"), ext
        for i in range(20):
            m = text + str(i)
            c.write_message(m)
            assert await c.read_message() == m
        c.close()
        # client_no_context_takeover offered: websockets agrees, and the
        # client's messages (each compressed afresh) still inflate there
        c = await websocket.websocket_connect(f"ws://127.0.0.1:{p}/",
                                              compression_options={"client_no_context_takeover": True})
        ext = await c.read_message()
        assert ext.startswith("ext:permessage-deflate") and "client_no_context_takeover" in ext, ext
        for i in range(5):
            m = text + str(i)
            c.write_message(m)
            assert await c.read_message() == m
        c.close()
        # without compression_options nothing is offered
        c = await websocket.websocket_connect(f"ws://127.0.0.1:{p}/")
        assert await c.read_message() == "ext:None"
        c.close()
    print("client ok")

ioloop.IOLoop.current().run_sync(main, timeout=20)
'''
    r = subprocess.run([sys.executable, "-c", code, str(port)], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr


# --- a second application: async open, handshake data, how sockets end,
# pings on a timer, topic bookkeeping, the client's pings --------------------

APP2 = r'''
import asyncio, os, threading
from squall import web, websocket, ioloop

CLOSES = []

class AsyncOpen(websocket.WebSocketHandler):
    async def open(self):
        self.ready = False
        await asyncio.sleep(0.2)
        self.ready = True
        self.write_message("opened")
    def on_message(self, m): self.write_message(f"{m}:{self.ready}")

class Handshake(websocket.WebSocketHandler):
    def open(self, room):
        self.write_message({"room": room, "q": self.get_argument("q", None), "ua": self.request.headers.get("User-Agent"),
                            "cookie": self.get_cookie("k"), "path_args": self.path_args})
    def on_message(self, m): pass

class Ends(websocket.WebSocketHandler):
    def open(self): self.write_message("hi")
    def on_message(self, m):
        if m == "close-default": self.close()
    def on_close(self): CLOSES.append([self.get_argument("tag"), self.close_code, self.close_reason])

class OpenFails(websocket.WebSocketHandler):
    def open(self): raise RuntimeError("open failed")
    def on_message(self, m): self.write_message(m)

class Awaits(websocket.WebSocketHandler):
    async def on_message(self, m):
        await self.write_message("first:" + m)
        await self.write_message(m.encode(), binary=True)

class Pongs(websocket.WebSocketHandler):
    def open(self): self.pongs = 0
    def on_pong(self, data): self.pongs += 1
    def on_message(self, m): self.write_message(str(self.pongs))

class Topics(websocket.WebSocketHandler):
    def open(self):
        self.subscribe("news")
        self.subscribe("news")  # twice: still one copy of each message
    def on_message(self, m):
        if m == "count": self.write_message(str(self.application.subscribers("news")))
        elif m == "unsub-unknown": self.unsubscribe("never-subscribed"); self.write_message("ok")
        elif m.startswith("pub-bytes:"): self.write_message(str(self.application.publish("news", m[10:].encode())))
        elif m.startswith("pub-dict:"): self.write_message(str(self.application.publish("news", {"d": m[9:]})))
        elif m.startswith("pub:"): self.publish("news", m[4:])

AFTER_FAILURE = []

class FailsOnce(websocket.WebSocketHandler):
    def open(self): self.failed = False
    def on_message(self, m):
        if self.failed:
            AFTER_FAILURE.append(m)
        if m == "boom":
            self.failed = True
            raise RuntimeError("on_message failed")

class State(web.RequestHandler):
    def get(self): self.write({"closes": CLOSES, "after_failure": AFTER_FAILURE})

class Flood(websocket.WebSocketHandler):
    high_water = 65536
    # the client stops reading on purpose: no pong could come back, and
    # the app's 0.2 s pings would close the socket under a loaded machine
    ping_interval = 0
    async def on_message(self, m):
        waited = 0
        for i in range(int(m)):
            f = self.write_message(i.to_bytes(4, "big") + b"z" * 65532, binary=True)
            if not f.done():
                waited += 1
            await f
        self.write_message("done waited=%d" % waited)

class BigEcho(websocket.WebSocketHandler):
    max_message_size = 8 * 1024 * 1024
    def on_message(self, m): self.write_message(m, binary=isinstance(m, bytes))

class Cancels(websocket.WebSocketHandler):
    # a CancelledError out of on_message is its failure: logged, 1011
    def on_message(self, m):
        if m == "sync":
            raise asyncio.CancelledError()
        return self._cancel_async()
    async def _cancel_async(self):
        fut = asyncio.get_running_loop().create_future()
        fut.cancel()
        await fut

class AfterOpen(websocket.WebSocketHandler):
    # once open, the HTTP response's methods raise; ws_connection is the
    # protocol object while the socket is open
    def open(self):
        raised = []
        for name in ("write", "redirect", "set_header", "set_cookie", "set_status", "flush", "finish"):
            try:
                getattr(self, name)("x") if name in ("write", "redirect") else (
                    getattr(self, name)("X-A", "b") if name in ("set_header", "set_cookie") else (
                        getattr(self, name)(503) if name == "set_status" else getattr(self, name)()))
            except RuntimeError:
                raised.append(name)
        self.write_message({"raised": raised, "protocol": type(self.ws_connection).__name__,
                            "closing": self.ws_connection.is_closing()})

class AsyncPrepare(websocket.WebSocketHandler):
    # the upgrade waits for a coroutine prepare(); what it sets goes into
    # the 101; an HTTPError it raises refuses the handshake with its status
    def set_default_headers(self):
        self.set_header("X-Default", "d")
    async def prepare(self):
        await asyncio.sleep(0.05)
        if self.get_argument("deny", None):
            raise web.HTTPError(401)
        self.set_header("X-Prepared", "p")
        self.prepared = True
    def open(self):
        self.write_message("prepared=%s" % self.prepared)
    def on_message(self, m):
        self.write_message(m)

class SyncPrepareRefuses(websocket.WebSocketHandler):
    def prepare(self):
        if self.get_argument("boom", None):
            raise RuntimeError("prepare failed")
        raise web.HTTPError(429)
    def on_message(self, m):
        pass

app = web.Application([(r"/asyncopen", AsyncOpen), (r"/hs/(\w+)", Handshake), (r"/ends", Ends),
                       (r"/openfails", OpenFails), (r"/awaits", Awaits), (r"/pongs", Pongs), (r"/topics", Topics),
                       (r"/state", State), (r"/flood", Flood), (r"/bigecho", BigEcho),
                       (r"/failsonce", FailsOnce), (r"/cancels", Cancels), (r"/afteropen", AfterOpen),
                       (r"/asyncprepare", AsyncPrepare), (r"/syncrefuses", SyncPrepareRefuses)],
                      websocket_ping_interval=0.2, websocket_max_message_size=4096)
app.listen(int(os.environ["PORT"]), "127.0.0.1")
ioloop.IOLoop.current().start()
'''


@pytest.fixture(scope="module")
def port2(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("wsapp2"), APP2, name="app")
    yield server.port
    server.stop_cleanly()


def state(port):
    import urllib.request
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=5).read())


def test_async_open_runs_before_any_message(port2):
    async def main():
        async with connect(port2, "/asyncopen") as ws:
            await ws.send("early")
            assert await ws.recv() == "opened"
            assert await ws.recv() == "early:True"
    run(main())


def test_handshake_request_is_readable_in_open(port2):
    async def main():
        async with connect(port2, "/hs/blue?q=7", user_agent_header="ua/ws", additional_headers={"Cookie": "k=cv"}) as ws:
            assert json.loads(await ws.recv()) == {"room": "blue", "q": "7", "ua": "ua/ws", "cookie": "cv",
                                                   "path_args": ["blue"]}
    run(main())


def test_how_sockets_end(port2):
    async def main():
        async with connect(port2, "/ends?tag=default") as ws:
            assert await ws.recv() == "hi"
            await ws.send("close-default")
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1000
        ws = await connect(port2, "/ends?tag=dropped")
        assert await ws.recv() == "hi"
        ws.transport.abort()  # no close frame at all
        async with connect(port2, "/ends?tag=going-away") as ws:
            assert await ws.recv() == "hi"
            await ws.close(1001)
    run(main())
    import time
    deadline = time.monotonic() + 5
    while len(state(port2)["closes"]) < 3:
        assert time.monotonic() < deadline, state(port2)
        time.sleep(0.05)
    closes = {tag: (code, reason) for tag, code, reason in state(port2)["closes"]}
    assert closes["default"][0] == 1000 and closes["going-away"] == (1001, "")
    assert closes["dropped"][0] in (None, 1006)


def test_exception_in_open_is_1011(port2):
    async def main():
        async with connect(port2, "/openfails") as ws:
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1011
    run(main())


def test_awaiting_write_message(port2):
    async def main():
        async with connect(port2, "/awaits") as ws:
            for i in range(5):
                await ws.send(str(i))
            got = [await ws.recv() for _ in range(10)]
            assert got == [x for i in range(5) for x in (f"first:{i}", str(i).encode())]
    run(main())


def test_application_max_message_size_setting(port2):
    async def main():
        async with connect(port2, "/awaits") as ws:
            await ws.send("z" * 4096)
            assert await ws.recv() == "first:" + "z" * 4096
            await ws.recv()
            await ws.send("z" * 4097)
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1009
    run(main())


def test_ping_interval_pings_the_client(port2):
    async def main():
        async with connect(port2, "/pongs", ping_interval=None) as ws:
            await asyncio.sleep(1.2)
            await ws.send("n")
            n = int(await ws.recv())
            assert 2 <= n <= 8, n
    run(main())


def test_topic_bookkeeping(port2):
    async def main():
        a = await connect(port2, "/topics")
        b = await connect(port2, "/topics")
        # the count includes subscriptions in progress: the second, duplicate
        # subscribe() counts until the reactor has dropped it
        for _ in range(100):
            await a.send("count")
            if (n := await a.recv()) == "2":
                break
            await asyncio.sleep(0.01)
        assert n == "2"
        await a.send("unsub-unknown")
        assert await a.recv() == "ok"
        await a.send("pub:once")
        assert await a.recv() == "once" and await b.recv() == "once"
        await a.send("pub-bytes:raw")
        got_a = [await a.recv(), await a.recv()]
        assert sorted(map(repr, got_a)) == sorted(map(repr, [b"raw", "2"]))
        assert await b.recv() == b"raw"
        await a.send("pub-dict:v")
        got_a = [await a.recv(), await a.recv()]
        assert '{"d": "v"}' in got_a and json.loads(await b.recv()) == {"d": "v"}
        await b.close()
        for _ in range(100):
            await a.send("count")
            if (n := await a.recv()) == "1":
                break
            await asyncio.sleep(0.01)
        assert n == "1"
        with pytest.raises(asyncio.TimeoutError):  # nothing arrived twice
            await asyncio.wait_for(a.recv(), 0.2)
        await a.close()
    run(main())


def test_publish_many_messages_to_50_clients_in_order(port):
    async def main():
        clients = [await connect(port, "/room/bulk") for _ in range(50)]
        for i in range(30):
            await clients[i % 50].send(f"n{i}")
        for c in clients:
            assert [await c.recv() for _ in range(30)] == [f"n{i}" for i in range(30)]
        for c in clients:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.recv(), 0.01)
            await c.close()
    run(main(), timeout=40)


def test_squall_client_pings_and_is_pinged(port2):
    code = r'''
import asyncio, sys
from squall import ioloop, websocket

async def main():
    # the server pings every 0.2 s; the client answers and goes on working
    conn = await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}/pongs")
    pongs, pings = [], []
    conn.on_pong = pongs.append
    conn.on_ping = pings.append
    conn.ping(b"from client")
    await asyncio.sleep(0.7)
    assert pongs == [b"from client"] and len(pings) >= 1, (pongs, pings)
    conn.write_message("n")
    n = int(await conn.read_message())
    assert n >= 1, n
    conn.write_message({"as": "dict"})  # a dict goes as JSON; the handler answers it too
    assert int(await conn.read_message()) >= n
    conn.close(4005, "client done")
    assert await conn.read_message() is None
    assert conn.close_code == 4005 and conn.close_reason == "client done", (conn.close_code, conn.close_reason)
    for path in ("/nope", "/state"):
        try:
            await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}{path}")
            raise SystemExit("connected to " + path)
        except websocket.WebSocketError as e:
            assert "404" in str(e) or "200" in str(e), e
    print("client ok")

ioloop.IOLoop.current().run_sync(main, timeout=20)
'''
    r = subprocess.run([sys.executable, "-c", code, str(port2)], env=child_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr


def test_squall_client_sees_the_server_close_code(port):
    code = r'''
import sys
from squall import ioloop, websocket

async def main():
    conn = await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}/echo")
    conn.write_message("close-me")
    assert await conn.read_message() is None
    assert (conn.close_code, conn.close_reason) == (4001, "bye now"), (conn.close_code, conn.close_reason)
    print("close ok")

ioloop.IOLoop.current().run_sync(main, timeout=20)
'''
    r = subprocess.run([sys.executable, "-c", code, str(port)], env=child_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "close ok" in r.stdout, r.stdout + r.stderr


def test_large_messages(port2):
    async def main():
        async with connect(port2, "/bigecho", max_size=None) as ws:
            big = bytes(range(256)) * (5 * 4096)  # 5 MiB
            await ws.send(big)
            assert await ws.recv() == big
            text = "\u00e9" * (2 * 1024 * 1024)  # 4 MiB of UTF-8
            await ws.send(text)
            assert await ws.recv() == text
    run(main(), timeout=30)


def test_write_message_backpressure_is_awaitable(port2):
    async def main():
        async with connect(port2, "/flood", max_size=None) as ws:
            await ws.send("200")
            await asyncio.sleep(0.5)  # the client does not read: the server's output fills up
            got = 0
            while True:
                m = await ws.recv()
                if isinstance(m, str):
                    break
                assert int.from_bytes(m[:4], "big") == got and len(m) == 65536
                got += 1
            assert got == 200
            assert m.startswith("done waited=") and int(m.split("=")[1]) > 0, m
    run(main(), timeout=30)


def test_no_message_is_delivered_after_on_message_failed(port2):
    async def main():
        async with connect(port2, "/failsonce") as ws:
            await ws.send("boom")
            for i in range(20):
                await ws.send(str(i))
            with pytest.raises(ConnectionClosed) as e:
                while True:
                    await ws.recv()
            assert e.value.rcvd.code == 1011
    run(main())
    assert state(port2)["after_failure"] == []


def test_squall_client_connect_timeout_and_bad_urls():
    code = r'''
import asyncio, socket, time
from squall import ioloop, websocket
async def main():
    silent = socket.socket()  # accepts (backlog) but never answers the handshake
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    t0 = time.monotonic()
    try:
        await websocket.websocket_connect(f"ws://127.0.0.1:{silent.getsockname()[1]}/", connect_timeout=0.5)
        raise SystemExit("no timeout")
    except asyncio.TimeoutError:
        took = time.monotonic() - t0
        assert 0.4 < took < 3, took
    for bad in ("http://127.0.0.1/", "ws://127.0.0.1:99999/"):
        try:
            websocket.websocket_connect(bad)
            raise SystemExit("accepted " + bad)
        except ValueError:
            pass
    print("timeouts ok")
ioloop.IOLoop.current().run_sync(main, timeout=20)
'''
    r = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "timeouts ok" in r.stdout, r.stdout + r.stderr


def test_squall_client_subprotocols(port):
    code = r'''
import sys
from squall import ioloop, websocket
async def main():
    conn = await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}/proto", subprotocols=["one", "two"])
    assert conn.selected_subprotocol == "two", conn.selected_subprotocol
    assert await conn.read_message() == "proto:two"
    conn.close()
    conn = await websocket.websocket_connect(f"ws://127.0.0.1:{sys.argv[1]}/proto")
    assert conn.selected_subprotocol is None
    assert await conn.read_message() == "proto:None"
    conn.close()
    print("subprotocols ok")
ioloop.IOLoop.current().run_sync(main, timeout=20)
'''
    r = subprocess.run([sys.executable, "-c", code, str(port)], env=child_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "subprotocols ok" in r.stdout, r.stdout + r.stderr


def test_xheaders_of_the_httpserver_apply_to_websockets(run_server):
    # Tornado's way: HTTPServer(app, xheaders=True), not an application setting
    srv = run_server('''
import os
from squall import web, websocket, httpserver, ioloop
class Who(websocket.WebSocketHandler):
    def open(self): self.write_message({"ip": self.request.remote_ip, "protocol": self.request.protocol})
    def on_message(self, m): pass
class WhoHTTP(web.RequestHandler):
    def get(self): self.write({"ip": self.request.remote_ip, "protocol": self.request.protocol})
server = httpserver.HTTPServer(web.Application([(r"/ws", Who), (r"/http", WhoHTTP)]), xheaders=True)
server.listen(int(os.environ["PORT"]), "127.0.0.1")
ioloop.IOLoop.current().start()
''')
    headers = {"X-Real-Ip": "203.0.113.9", "X-Forwarded-Proto": "https"}
    import urllib.request
    r = urllib.request.urlopen(urllib.request.Request(f"{srv.url}/http", headers=headers), timeout=5)
    assert json.loads(r.read()) == {"ip": "203.0.113.9", "protocol": "https"}

    async def main():
        async with connect(srv.port, "/ws", additional_headers=headers) as ws:
            assert json.loads(await ws.recv()) == {"ip": "203.0.113.9", "protocol": "https"}
    run(main())


@pytest.mark.parametrize("how", ["sync", "async"])
def test_cancelled_error_in_on_message_is_1011(port2, how):
    async def main():
        async with connect(port2, "/cancels") as ws:
            await ws.send(how)
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1011
    run(main())


def test_http_methods_raise_once_open_and_ws_connection(port2):
    async def main():
        async with connect(port2, "/afteropen") as ws:
            got = json.loads(await ws.recv())
            assert got == {"raised": ["write", "redirect", "set_header", "set_cookie", "set_status", "flush",
                                      "finish"], "protocol": "WebSocketProtocol13", "closing": False}
    run(main())


def test_protocol_object_and_ping_sleep_time():
    from squall.websocket import WebSocketProtocol13
    assert WebSocketProtocol13.ping_sleep_time(last_ping_time=100.0, interval=10, now=106.0) == 4
    assert WebSocketProtocol13.ping_sleep_time(last_ping_time=100.0, interval=10, now=125.0) == 0


def test_async_prepare_holds_the_upgrade_and_its_headers_go_into_the_101(port2):
    async def main():
        async with connect(port2, "/asyncprepare") as ws:
            assert ws.response.status_code == 101
            assert ws.response.headers["X-Prepared"] == "p"
            assert ws.response.headers["X-Default"] == "d"
            assert "Content-Type" not in ws.response.headers
            assert await ws.recv() == "prepared=True"
            await ws.send("echo")
            assert await ws.recv() == "echo"
        with pytest.raises(InvalidStatus) as e:
            async with connect(port2, "/asyncprepare?deny=1"):
                pass
        assert e.value.response.status_code == 401
    run(main())


def test_squall_client_headers_and_stream_close(port2):
    code = f"""
import asyncio
from squall import websocket, ioloop
async def main():
    ws = await websocket.websocket_connect("ws://127.0.0.1:{port2}/asyncprepare")
    assert ws.headers["X-Prepared"] == "p", dict(ws.headers)
    assert ws.headers["Upgrade"].lower() == "websocket"
    assert await ws.read_message() == "prepared=True"
    assert type(ws.protocol).__name__ == "WebSocketProtocol13"
    assert not ws.stream.closed()
    ws.write_message("a")
    ws.stream.close()  # the TCP connection goes at once, no close frame
    assert ws.stream.closed()
    # an echo of "a" may have come in before the abort went through
    got = [await ws.read_message() for _ in range(2)]
    assert got[-1] is None, got
    assert ws.close_code == 1006, ws.close_code
    print("ok")
ioloop.IOLoop.current().run_sync(main, timeout=10)
"""
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "ok"


def test_a_refusal_in_prepare_answers_its_status(port2):
    async def main():
        with pytest.raises(InvalidStatus) as e:
            async with connect(port2, "/syncrefuses"):
                pass
        assert e.value.response.status_code == 429
        with pytest.raises(InvalidStatus) as e:
            async with connect(port2, "/syncrefuses?boom=1"):
                pass
        assert e.value.response.status_code == 500
        async with connect(port2, "/asyncprepare") as ws:  # the server goes on
            assert await ws.recv() == "prepared=True"
    run(main())
