"""The chat room (examples/python/chat/chat.py), run as a user would run it:
``python3 chat.py --port=N`` in a subprocess, driven over HTTP with
``http.client`` and over its WebSocket with the ``websockets`` client and
with raw sockets that misbehave.

One server serves the whole module (``chat``); each test tells its own
traffic apart from the others' by unique names and message texts, so the
tests do not depend on their order. ``start_chat`` is also what the browser
test (test_chat_browser.py) uses.
"""
from __future__ import annotations

import asyncio
import base64
import html
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, TypeVar

import pytest
import websockets

PKG = Path(__file__).resolve().parents[1]          # bindings/python
ROOT = PKG.parents[1]                               # the repository
CHAT_DIR = ROOT / "examples" / "python" / "chat"
CHAT = CHAT_DIR / "chat.py"

MAX_BODY = 4096
STEP = 5.0          # seconds any single expected event may take
T = TypeVar("T")


# --- the server -----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChatServer:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/" % self.port

    @property
    def ws_url(self) -> str:
        return "ws://127.0.0.1:%d/message" % self.port

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> Optional[int]:
        """Stops the process this object started, by its PID."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def stop_cleanly(self) -> None:
        """``stop``, failing unless chat.py ended by that SIGTERM or with
        status 0, within the wait: not killed after hanging, not crashed,
        not exited early with an error."""
        running = self.alive()
        code = self.stop()
        ok = (0, -signal.SIGTERM) if running else (0,)
        assert code in ok, ("chat.py on port %d did not stop cleanly: exit status %s\n%s"
                            % (self.port, code, self.log()))


def start_chat(log_dir: Path, timeout: float = 20.0, args: tuple[str, ...] = ()) -> ChatServer:
    """``python3 chat.py --port=<free port>``, returned once the port accepts
    connections. The caller stops it (``ChatServer.stop``)."""
    port = free_port()
    env = dict(os.environ)  # SQUALL_LIBRARY, when set, goes through as it is
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PKG), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    log_path = log_dir / ("chat-%d.log" % port)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(CHAT), "--port=%d" % port, "--address=127.0.0.1", *args],
                                cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    srv = ChatServer(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("chat.py exited with %s before listening:\n%s" % (proc.returncode, srv.log()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return srv
        except OSError:
            pass
        if time.monotonic() > deadline:
            srv.stop()
            raise RuntimeError("chat.py did not accept on port %d within %.0fs:\n%s" % (port, timeout, srv.log()))
        time.sleep(0.05)


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory):
    srv = start_chat(tmp_path_factory.mktemp("chat"))
    try:
        yield srv
    finally:
        srv.stop_cleanly()


@pytest.fixture
def healthy(chat: ChatServer):
    """Each test leaves the server running, and adds no traceback to its log."""
    start = len(chat.log())
    yield chat
    assert chat.alive(), "chat.py died:\n" + chat.log()
    log = chat.log()[start:]
    assert "Traceback" not in log and "Uncaught exception" not in log, log


# --- helpers --------------------------------------------------------------------

def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    """Runs a test's coroutine with a bound on the whole of it."""
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def tag(prefix: str = "m") -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def get(srv: ChatServer, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=STEP)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


async def connect(srv: ChatServer, **query: Any) -> Any:
    """A client that has had its welcome (returned as ``ws.welcome``)."""
    q = "&".join("%s=%s" % (k, v) for k, v in query.items())
    # max_queue=None: a client that a test leaves unread must still see the
    # server's close frame (a full queue would stop websockets reading).
    url = srv.ws_url + ("?" + q if q else "")
    ws = await asyncio.wait_for(websockets.connect(url, max_size=None, max_queue=None), STEP)
    ws.welcome = await next_event(ws)
    assert ws.welcome["type"] == "welcome", ws.welcome
    return ws


async def next_event(ws: Any, timeout: float = STEP) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, str), "the room sends text frames only"
    ev = json.loads(raw)
    assert isinstance(ev, dict)
    return ev


async def expect(ws: Any, pred: Callable[[dict[str, Any]], bool], timeout: float = STEP,
                 seen: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """Reads events until one matches (others, e.g. other tests' joins, are
    skipped but kept in ``seen``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no matching event within %.1fs; saw %r" % (timeout, seen))
        ev = await next_event(ws, left)
        if pred(ev):
            return ev
        if seen is not None:
            seen.append(ev)


def said(body: str) -> Callable[[dict[str, Any]], bool]:
    return lambda ev: ev.get("type") == "message" and ev.get("body") == html.escape(body)


async def say(ws: Any, body: str) -> None:
    await ws.send(json.dumps({"body": body}))


async def close_all(*socks: Any) -> None:
    for ws in socks:
        await asyncio.wait_for(ws.close(), STEP)


# --- the page and its files ------------------------------------------------------

def test_start_logs_the_url(healthy: ChatServer) -> None:
    # the line follows the listen by a moment: the fixture only waited for the port
    line = "chat room on http://127.0.0.1:%d/" % healthy.port
    deadline = time.monotonic() + 10
    while line not in healthy.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert line in healthy.log()


def test_page_renders(healthy: ChatServer) -> None:
    status, headers, body = get(healthy)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode("utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    for needle in ('id="messageform"', 'id="message"', 'id="name"', 'id="inbox"'):
        assert needle in page
    # Nothing comes from another site: no CDN, no web fonts.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page, re.I), page
    assert "@import" not in page and "fonts.googleapis" not in page
    css = (CHAT_DIR / "static" / "chat.css").read_text()
    assert "url(" not in css and "@import" not in css and "@font-face" not in css


def test_static_files_served_with_their_types(healthy: ChatServer) -> None:
    _, _, body = get(healthy)
    page = body.decode("utf-8")
    css_url = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    js_url = re.search(r'<script src="([^"]+)"', page).group(1)
    assert css_url.startswith("/static/chat.css") and js_url.startswith("/static/chat.js")
    assert "?v=" in css_url and "?v=" in js_url, "static_url adds a version"
    for url, name, types in ((css_url, "chat.css", ("text/css",)),
                             (js_url, "chat.js", ("text/javascript", "application/javascript"))):
        status, headers, data = get(healthy, url)
        assert status == 200, url
        assert headers["content-type"].split(";")[0].strip() in types, headers
        assert data == (CHAT_DIR / "static" / name).read_bytes()
    status, _, _ = get(healthy, "/static/nope.js")
    assert status == 404


def test_new_page_shows_history(healthy: ChatServer) -> None:
    text = tag("history") + " café & <friends>"

    async def body() -> None:
        ws = await connect(healthy, name="historian")
        await say(ws, text)
        await expect(ws, said(text))
        await close_all(ws)
    run(body())
    _, _, page = get(healthy)
    page_s = page.decode("utf-8")
    escaped = html.escape(text)
    assert escaped in page_s or escaped.replace("&#x27;", "&#39;") in page_s
    # the line carries its sender and an id the page dedupes against
    line = page_s[:page_s.index(html.escape(text.split(" ")[0]))].rsplit('<div class="line message"', 1)[1]
    assert 'class="from">historian<' in line
    last = int(re.search(r'data-last-id="(\d+)"', page_s).group(1))
    ids = [int(i) for i in re.findall(r'class="line message" data-id="(\d+)"', page_s)]
    assert ids and ids == sorted(ids) and max(ids) <= last


def test_history_keeps_the_last_100(healthy: ChatServer) -> None:
    marks = [tag("h%03d" % i) for i in range(105)]

    async def body() -> None:
        ws = await connect(healthy, name="flood")
        for m in marks:
            await say(ws, m)
        await expect(ws, said(marks[-1]), timeout=20)
        await close_all(ws)
    run(body())
    _, _, page = get(healthy)
    page_s = page.decode("utf-8")
    assert page_s.count('class="line message"') == 100
    assert not any(m in page_s for m in marks[:5])
    assert all(m in page_s for m in marks[5:])


def test_since_fills_the_gap(healthy: ChatServer) -> None:
    first, second = tag("before"), tag("after")

    async def body() -> None:
        a = await connect(healthy, name="gap-a")
        await say(a, first)
        ev = await expect(a, said(first))
        await say(a, second)
        await expect(a, said(second))
        # A page that saw `first` reconnects: it gets what followed, then live events.
        b = await connect(healthy, name="gap-b", since=ev["id"])
        missed = await next_event(b)
        assert missed["type"] == "message" and missed["body"] == second
        await close_all(a, b)
    run(body())


# --- the room ------------------------------------------------------------------

def test_two_clients_both_receive_sender_included(healthy: ChatServer) -> None:
    one, two = tag("from-a"), tag("from-b")

    async def body() -> None:
        a = await connect(healthy, name="alice")
        b = await connect(healthy, name="bob")
        await say(a, one)
        ea = await expect(a, said(one))
        eb = await expect(b, said(one))
        assert ea == eb
        assert ea["from"] == "alice"
        assert isinstance(ea["id"], int) and isinstance(ea["ts"], (int, float))
        assert abs(ea["ts"] - time.time()) < 60
        await say(b, two)
        ea2 = await expect(a, said(two))
        eb2 = await expect(b, said(two))
        assert ea2 == eb2 and ea2["from"] == "bob" and ea2["id"] > ea["id"]
        await close_all(a, b)
    run(body())


def test_names(healthy: ChatServer) -> None:
    async def body() -> None:
        named = await connect(healthy, name="Ann%20Smith")
        assert named.welcome["you"] == "Ann Smith"
        assert "Ann Smith" in named.welcome["online"]
        guest = await connect(healthy)
        assert re.fullmatch(r"guest-\d+", guest.welcome["you"]), guest.welcome
        guest2 = await connect(healthy, name="%20%20")
        assert re.fullmatch(r"guest-\d+", guest2.welcome["you"]) and guest2.welcome["you"] != guest.welcome["you"]
        # markup and control characters are taken out, long names cut
        odd = await connect(healthy, name="%3Cb%3Ezed%3C%2Fb%3E%09%22x%22")
        assert odd.welcome["you"] == "bzed/b x"
        long_ = await connect(healthy, name="n" * 80)
        assert long_.welcome["you"] == "n" * 32
        # a rename: told to the renamer, announced to everyone
        me = tag("ren")
        await named.send(json.dumps({"name": "  %s  " % me}))
        assert await expect(named, lambda e: e.get("type") == "renamed") == {"type": "renamed", "you": me}
        ev = await expect(guest, lambda e: e.get("type") == "rename" and e.get("name") == me)
        assert ev["from"] == "Ann Smith" and me in ev["online"] and "Ann Smith" not in ev["online"]
        mark = tag("renamed-says")
        await say(named, mark)
        assert (await expect(guest, said(mark)))["from"] == me
        await named.send(json.dumps({"name": "<>"}))
        err = await expect(named, lambda e: e.get("type") == "error")
        assert err["error"] == "bad_request"
        await close_all(named, guest, guest2, odd, long_)
    run(body())


def test_join_and_leave(healthy: ChatServer) -> None:
    who = tag("joiner")

    async def body() -> None:
        a = await connect(healthy, name="watcher")
        own = await expect(a, lambda e: e.get("type") == "join" and e.get("name") == "watcher")
        assert "watcher" in own["online"]
        b = await connect(healthy, name=who)
        assert "watcher" in b.welcome["online"] and who in b.welcome["online"]
        j = await expect(a, lambda e: e.get("type") == "join" and e.get("name") == who)
        assert who in j["online"] and isinstance(j["id"], int)
        await close_all(b)
        lv = await expect(a, lambda e: e.get("type") == "leave" and e.get("name") == who)
        assert who not in lv["online"] and "watcher" in lv["online"] and lv["id"] > j["id"]
        await close_all(a)
    run(body())


def test_oversize_message_rejected_for_its_sender_only(healthy: ChatServer) -> None:
    big = "x" * (MAX_BODY + 1)
    wide = "é" * (MAX_BODY // 2 + 1)        # under 4096 characters, over 4096 bytes
    fits = "y" * (MAX_BODY - 8) + tag("")[:8]
    after = tag("after-big")

    async def body() -> None:
        a = await connect(healthy, name="reader")
        b = await connect(healthy, name="shouter")
        for text in (big, wide):
            await say(b, text)
            err = await expect(b, lambda e: e.get("type") == "error")
            assert err["error"] == "too_long" and str(MAX_BODY) in err["detail"]
        # the sender is still in the room, and exactly MAX_BODY bytes goes through
        await say(b, fits)
        await expect(b, said(fits))
        await say(b, after)
        await expect(b, said(after))
        seen: list[dict[str, Any]] = []
        await expect(a, said(fits), seen=seen)
        await expect(a, said(after), seen=seen)
        assert not [e for e in seen if e.get("type") == "error"], seen
        assert not [e for e in seen if e.get("type") == "message" and e.get("from") == "shouter"], seen
        await close_all(a, b)
    run(body())


def test_empty_and_blank_messages_dropped(healthy: ChatServer) -> None:
    mark = tag("after-empty")

    async def body() -> None:
        a = await connect(healthy, name="quiet")
        for blank in ("", "   ", "\n\t "):
            await say(a, blank)
        await say(a, mark)
        seen: list[dict[str, Any]] = []
        await expect(a, said(mark), seen=seen)
        assert not [e for e in seen if e.get("from") == "quiet" or e.get("type") == "error"], seen
        await close_all(a)
    run(body())


def test_bad_frames_answered_with_an_error(healthy: ChatServer) -> None:
    mark = tag("still-here")

    async def body() -> None:
        a = await connect(healthy, name="sloppy")
        for frame in ("not json", "[1, 2]", json.dumps({"body": 5}), json.dumps({"other": "x"}), b"\x00\x01binary"):
            await a.send(frame)
            err = await expect(a, lambda e: e.get("type") == "error")
            assert err["error"] == "bad_request", (frame, err)
        await say(a, mark)
        await expect(a, said(mark))
        await close_all(a)
    run(body())


def test_lone_surrogates_do_not_poison_the_room(healthy: ChatServer) -> None:
    """JSON may carry "\\ud800", which decodes to a string no UTF-8 encoder
    takes: the room replaces it instead of failing the publish or, later,
    every rendering of the page."""
    mark = tag("surrogate")

    async def body() -> None:
        a = await connect(healthy, name="lonely")
        await a.send('{"body": "%s \\ud800 and \\udfff"}' % mark)
        ev = await expect(a, lambda e: e.get("type") == "message" and mark in e.get("body", ""))
        assert ev["body"] == mark + " \ufffd and \ufffd"
        await a.send('{"name": "half\\ud83d"}')
        assert (await expect(a, lambda e: e.get("type") == "renamed"))["you"] == "half"
        # a proper pair is one character and goes through as it is
        await a.send('{"body": "%s \\ud83d\\ude00"}' % mark)
        ev = await expect(a, lambda e: e.get("type") == "message" and "\U0001F600" in e.get("body", ""))
        await close_all(a)
    run(body())
    status, _, page = get(healthy)
    assert status == 200
    assert (mark + " \ufffd and \ufffd").encode() in page


def test_frame_over_the_limit_closes_only_that_client(healthy: ChatServer) -> None:
    mark = tag("after-huge")

    async def body() -> None:
        a = await connect(healthy, name="bystander")
        b = await connect(healthy, name="huge")
        await b.send(json.dumps({"body": "z" * (128 * 1024)}))
        with pytest.raises(websockets.ConnectionClosed) as info:
            for _ in range(10):
                await next_event(b)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        await expect(a, lambda e: e.get("type") == "leave" and e.get("name") == "huge")
        await say(a, mark)
        await expect(a, said(mark))
        await close_all(a)
    run(body())


def raw_upgrade(port: int, name: str) -> socket.socket:
    """A WebSocket handshake by hand; returns the socket after the 101."""
    s = socket.create_connection(("127.0.0.1", port), timeout=STEP)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /message?name=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (name, port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def masked_text_header(length: int) -> bytes:
    if length < 126:
        return bytes([0x81, 0x80 | length])
    return bytes([0x81, 0x80 | 126]) + length.to_bytes(2, "big")


def test_client_gone_mid_frame_does_not_break_the_room(healthy: ChatServer) -> None:
    payload = json.dumps({"body": tag("never-finished") + "q" * 300}).encode()
    mask = os.urandom(4)
    frame = masked_text_header(len(payload)) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    mark = tag("room-fine")
    names = [tag("half") for _ in range(4)]

    async def body() -> None:
        a = await connect(healthy, name="survivor")
        b = await connect(healthy, name="survivor-2")
        # half a frame then a FIN; the frame's header only; half a frame then
        # a reset (SO_LINGER 0); the handshake's request cut in the middle.
        cuts = [(names[0], len(frame) // 2, False), (names[1], 1, False), (names[2], len(frame) // 3, True)]
        for name, cut, reset in cuts:
            s = raw_upgrade(healthy.port, name)
            await expect(a, lambda e, n=name: e.get("type") == "join" and e.get("name") == n)
            s.sendall(frame[:cut])
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            await expect(a, lambda e, n=name: e.get("type") == "leave" and e.get("name") == n)
        s = socket.create_connection(("127.0.0.1", healthy.port), timeout=STEP)
        s.sendall(b"GET /message?name=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs" % names[3].encode())
        s.close()
        # and the room goes on
        await say(b, mark)
        assert (await expect(a, said(mark)))["from"] == "survivor-2"
        await expect(b, said(mark))
        await close_all(a, b)
    run(body())
    status, _, page = get(healthy)
    assert status == 200 and b"never-finished" not in page


def test_publishing_to_clients_that_vanished(healthy: ChatServer) -> None:
    """Clients that stop reading and then reset their connection while the
    room is busy: the others keep getting every message, in order."""
    marks = [tag("busy%02d" % i) for i in range(40)]

    async def body() -> None:
        a = await connect(healthy, name="talker")
        b = await connect(healthy, name="listener")
        ghosts = [raw_upgrade(healthy.port, tag("ghost")) for _ in range(5)]
        for i, m in enumerate(marks):
            await say(a, m)
            if i % 8 == 3 and ghosts:
                g = ghosts.pop()
                g.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                g.close()
        got = []
        while len(got) < len(marks):
            ev = await expect(b, lambda e: e.get("type") == "message" and e.get("from") == "talker")
            got.append(ev["body"])
        assert got == marks
        await close_all(a, b)
    run(body())


def test_xss_payload_is_text_everywhere(healthy: ChatServer) -> None:
    mark = tag("xss")
    payload = '<script>window.pwned=1</script><img src=x onerror="alert(1)"> ' + mark

    async def body() -> None:
        a = await connect(healthy, name="%3Cscript%3Emallory")
        assert "<" not in a.welcome["you"] and ">" not in a.welcome["you"]
        await say(a, payload)
        ev = await expect(a, lambda e: e.get("type") == "message" and mark in e.get("body", ""))
        # on the wire the body is HTML-escaped
        assert "<" not in ev["body"] and ">" not in ev["body"] and '"' not in ev["body"]
        assert html.unescape(ev["body"]) == payload
        await close_all(a)
    run(body())
    _, _, page = get(healthy)
    page_s = page.decode("utf-8")
    assert "<script>window.pwned" not in page_s
    assert "<img src=x" not in page_s
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=" in page_s
    # the page's script never hands user data to innerHTML or friends
    js = (CHAT_DIR / "static" / "chat.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink
    assert "textContent" in js
