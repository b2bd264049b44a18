#!/usr/bin/env python3
"""A chat room on squall: one page, one WebSocket, one topic.

    PYTHONPATH=bindings/python python3 examples/python/chat/chat.py --port=8888

``GET /`` renders ``templates/index.html`` with the last ``HISTORY`` messages
(so a new page sees what was said before it came), a name box and a message
box; ``static/chat.js`` connects to the WebSocket ``/message`` and
``static/chat.css`` styles it. Nothing is loaded from another site.
``GET /metrics`` is squall's counters in Prometheus' text format.

Names
    A participant's name comes from ``?name=`` on the WebSocket URL (the page
    passes the name it keeps in localStorage, or the page's own ``?name=``).
    Names are cleaned: runs of white space made one space, control
    characters, lone surrogates and ``<>&"'`` removed, at most ``NAME_MAX``
    (32) characters; none left means the room picks ``guest-N``.

The protocol on ``/message`` (every frame is a JSON object in a text frame)

    client -> server
        {"body": "text"}     say something: at most MAX_BODY (4096) bytes of
                             UTF-8 once trimmed; empty or blank bodies are
                             dropped silently; a frame over MAX_FRAME (64 KiB)
                             closes the connection (1009)
        {"name": "new name"} change one's name

    server -> everyone (published to the topic "chat", the sender included)
        {"type": "message", "id": 7, "from": "ann", "body": "&lt;b&gt;hi",
         "ts": 1700000000.123}
        {"type": "join",   "id": 8, "name": "bob", "ts": ..., "online": [...]}
        {"type": "leave",  "id": 9, "name": "bob", "ts": ..., "online": [...]}
        {"type": "rename", "id": 10, "from": "bob", "name": "rob", "ts": ...,
         "online": [...]}

    server -> one client
        {"type": "welcome", "you": "guest-3", "online": ["ann", "guest-3"],
         "last_id": 9, "max_body": 4096}
            first frame after the handshake. With ``?since=ID`` on the URL
            the messages after ID still in the history follow as "message"
            frames (how a page that reconnects fills its gap).
        {"type": "renamed", "you": "rob"}
            the name it asked for, as cleaned; the "rename" event follows.
        {"type": "error", "error": "too_long" | "bad_request", "detail": "..."}
            the sender's frame was refused; no one else hears of it.

    ``id`` counts up over every published event, so a client drops an event
    whose id it has already seen. ``body`` is HTML-escaped (``&<>"'``); the
    page decodes the entities and inserts the text with ``textContent``, so
    markup in a message is shown as text, never run. ``online`` is the sorted
    list of names connected now. ``ts`` is seconds since the epoch.

A client that goes away, cleanly or in the middle of a frame, only
unsubscribes: the fan-out to the topic happens in squall's Rust core, which
drops a closed socket without bothering the others.

Several processes: ``--cluster=redis://127.0.0.1:6379``
    The room spans every process joined to the same Redis (squall's
    cluster carries the topic "chat" between them; ``make demo-cluster``
    runs two behind nginx). Then:

    - ids are unique across processes: milliseconds since 2025 (strictly
      increasing in each process) times 4096, plus the process's node
      number (random, 0-4095); pages drop an id they have seen, so an event
      heard twice is shown once;
    - each process listens to the room as a client of its own, on a
      loopback listener of its own (``?listener=<token>``, never a member):
      what the other processes publish goes into its history (so a page
      loaded on any process shows the room's recent messages) and its
      knowledge of who is where;
    - every join/leave/rename event and a "presence" event every
      PRESENCE_EVERY seconds carry ``node`` and ``here`` (the names on that
      process); ``online`` is the union of this process's members and what
      the others said within PRESENCE_TTL;
    - when the cluster says ``resynced`` or ``gap`` (Redis came back, or
      messages were lost), the process publishes its own recent messages
      and its presence again: pages fill what they missed and drop what
      they have.
"""
from __future__ import annotations

import asyncio
import collections
import html
import bisect
import itertools
import json
import logging
import os
import re
import secrets
import signal
import time
from typing import Any, Optional

from squall import ioloop, metrics, options, web, websocket

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "chat"
HISTORY = 100           # messages kept in memory and rendered into the page
MAX_BODY = 4096         # bytes of UTF-8 in one message body
MAX_FRAME = 64 * 1024   # a bigger frame closes the connection (1009)
NAME_MAX = 32
NODES = 4096            # cluster mode: ids are ms * NODES + node
EPOCH = 1735689600.0    # 2025-01-01 UTC: keeps ids below 2**53 for 69 years
PRESENCE_EVERY = 10.0   # seconds between a process's presence events
PRESENCE_TTL = 30.0     # a process not heard from this long is gone

log = logging.getLogger("chat")

options.define("port", default=8888, type=int, help="port to listen on")
options.define("address", default="127.0.0.1", help="address to listen on")
options.define("certfile", default="", help="PEM certificate chain: serve https and wss (with --keyfile)")
options.define("keyfile", default="", help="PEM private key of --certfile")
options.define("cluster", default="", help="redis://host:port[/db][?prefix=...]: one room across every process "
               "joined to this Redis (default: this process alone)")

_NAME_DROP = re.compile(r"[\x00-\x1f\x7f-\x9f<>&\"'\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
# JSON's "\ud800" escapes decode to lone surrogates, which no UTF-8 encoder
# takes: they would fail the publish and then every rendering of the page.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_name(raw: Optional[str]) -> str:
    """The name as shown to everyone, or "" when nothing usable is left."""
    if not raw:
        return ""
    name = _NAME_DROP.sub("", _SPACES.sub(" ", raw)).strip()
    return name[:NAME_MAX].strip()


class Room:
    """Who is here, the recent messages, and the event counter."""

    def __init__(self, cluster: bool = False) -> None:
        self.app: Optional[web.Application] = None   # set once the application exists
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.members: dict[int, str] = {}   # id(handler) -> name
        self._ids = itertools.count(1)
        self._guests = itertools.count(1)
        self.last_id = 0
        self.cluster = cluster
        self.node = secrets.randbelow(NODES) if cluster else 0
        self.token = secrets.token_urlsafe(16)   # the room's own listener says it
        self._last_ms = 0
        self._history_ids: set[int] = set()
        self.presence: dict[int, tuple[list[str], float]] = {}   # other node -> (names, when heard)

    def _next_id(self) -> int:
        if not self.cluster:
            return next(self._ids)
        ms = max(int((time.time() - EPOCH) * 1000), self._last_ms + 1)
        self._last_ms = ms
        return ms * NODES + self.node

    def guest_name(self) -> str:
        if self.cluster:  # unique across the processes too
            return "guest-%d-%d" % (self.node, next(self._guests))
        return "guest-%d" % next(self._guests)

    def here(self) -> list[str]:
        """The names connected to this process."""
        return sorted(self.members.values(), key=str.lower)

    def online(self) -> list[str]:
        """Everyone in the room: here, and on the processes heard lately."""
        names = list(self.members.values())
        now = time.monotonic()
        for node, (others, heard) in list(self.presence.items()):
            if now - heard > PRESENCE_TTL:
                del self.presence[node]
            else:
                names += others
        return sorted(names, key=str.lower)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.last_id = max(self.last_id, self._next_id())
        event = {"type": kind, "id": self.last_id}
        event.update(fields)
        event["ts"] = round(time.time(), 3)
        if self.cluster:
            event["node"] = self.node
            event["here"] = self.here()
        return event

    def _remember(self, entry: dict[str, Any]) -> None:
        """Keeps a message in the history, in id order, once."""
        if entry["id"] in self._history_ids:
            return
        if len(self.history) == HISTORY:
            self._history_ids.discard(self.history[0]["id"])
        ordered = list(self.history)
        bisect.insort(ordered, entry, key=lambda m: m["id"])
        self.history = collections.deque(ordered[-HISTORY:], maxlen=HISTORY)
        self._history_ids = {m["id"] for m in self.history}

    def _publish(self, event: dict[str, Any]) -> None:
        assert self.app is not None
        self.app.publish(TOPIC, json.dumps(event, ensure_ascii=False))

    def say(self, name: str, text: str) -> None:
        event = self._event("message", **{"from": name, "body": html.escape(text)})
        # The page renders history through Jinja2's autoescape, so it keeps
        # the raw text too (escaping it twice would show "&amp;lt;").
        self._remember(dict(event, text=text, clock=time.strftime("%H:%M", time.localtime(event["ts"]))))
        self._publish(event)

    def heard(self, event: dict[str, Any]) -> None:
        """An event of the room as its listener heard it (cluster mode):
        another process's goes into the history and the presence."""
        node = event.get("node")
        if not isinstance(node, int) or node == self.node:
            return
        if isinstance(event.get("here"), list):
            self.presence[node] = ([str(n) for n in event["here"]], time.monotonic())
        if event.get("type") == "message" and isinstance(event.get("id"), int):
            text = html.unescape(str(event.get("body", "")))
            ts = float(event.get("ts", time.time()))
            self._remember(dict(wire(event), text=text, clock=time.strftime("%H:%M", time.localtime(ts))))
            self.last_id = max(self.last_id, event["id"])

    def announce(self) -> None:
        """This process's presence (cluster mode), for the others and the pages."""
        self._publish({"type": "presence", "node": self.node, "here": self.here(), "online": self.online()})

    def resend(self) -> None:
        """After a gap: this process's recent messages and presence again."""
        for m in self.history:
            if m.get("node") == self.node:
                self._publish(dict(wire(m), node=self.node))
        self.announce()

    def on_cluster_state(self, state: str) -> None:
        log.info("cluster %s", state)
        if state in ("resynced", "gap"):
            self.resend()

    def join(self, handler: "MessageSocket") -> None:
        self.members[id(handler)] = handler.name
        self._publish(self._event("join", name=handler.name, online=self.online()))

    def leave(self, handler: "MessageSocket") -> None:
        if self.members.pop(id(handler), None) is not None:
            self._publish(self._event("leave", name=handler.name, online=self.online()))

    def rename(self, handler: "MessageSocket", new: str) -> None:
        old, handler.name = handler.name, new
        self.members[id(handler)] = new
        self._publish(self._event("rename", online=self.online(), **{"from": old, "name": new}))

    def since(self, last_seen: int) -> list[dict[str, Any]]:
        return [m for m in self.history if m["id"] > last_seen]


def wire(message: dict[str, Any]) -> dict[str, Any]:
    """A history entry as it went out on the topic."""
    return {k: message[k] for k in ("type", "id", "from", "body", "ts")}


class MainHandler(web.RequestHandler):
    def initialize(self, room: Room) -> None:
        self.room = room

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.render("index.html", messages=list(self.room.history), last_id=self.room.last_id,
                    name=clean_name(self.get_argument("name", "")), max_body=MAX_BODY)


class MessageSocket(websocket.WebSocketHandler):
    max_message_size = MAX_FRAME

    def initialize(self, room: Room) -> None:
        self.room = room
        self.name = ""
        self.listener = False

    def get_compression_options(self) -> dict[str, Any]:
        # permessage-deflate when the browser offers it (every browser does):
        # squall's shared mode, no zlib state per idle member; a message
        # that does not shrink goes uncompressed.
        return {}

    def open(self) -> None:
        if self.room.cluster and secrets.compare_digest(self.get_argument("listener", ""), self.room.token):
            # the room's own listener (cluster mode): hears the topic, is no member
            self.listener = True
            try:
                self.subscribe(TOPIC)
            except websocket.WebSocketClosedError:
                pass
            return
        self.name = clean_name(self.get_argument("name", "")) or self.room.guest_name()
        here = sorted(self.room.online() + [self.name], key=str.lower)
        self.tell({"type": "welcome", "you": self.name, "online": here, "last_id": self.room.last_id,
                   "max_body": MAX_BODY})
        since = self.get_argument("since", "")
        if since.isdigit():
            for m in self.room.since(int(since)):
                self.tell(wire(m))
        try:
            self.subscribe(TOPIC)
        except websocket.WebSocketClosedError:
            return  # gone already: its on_close follows, with nothing to undo
        self.room.join(self)

    def on_message(self, message: Any) -> None:
        if self.listener:
            return
        if not isinstance(message, str):
            return self.refuse("bad_request", "send JSON in text frames")
        try:
            frame = json.loads(message)
        except ValueError:
            return self.refuse("bad_request", "not JSON")
        if not isinstance(frame, dict):
            return self.refuse("bad_request", "send a JSON object")
        if "name" in frame:
            new = clean_name(frame["name"]) if isinstance(frame["name"], str) else ""
            if not new:
                return self.refuse("bad_request", "that name is empty once cleaned")
            if new != self.name:
                self.tell({"type": "renamed", "you": new})
                self.room.rename(self, new)
            return None
        body = frame.get("body")
        if not isinstance(body, str):
            return self.refuse("bad_request", 'expected {"body": "..."} or {"name": "..."}')
        body = _SURROGATE.sub("\ufffd", body.strip())
        if not body:
            return None
        size = len(body.encode("utf-8"))
        if size > MAX_BODY:
            return self.refuse("too_long", "a message is at most %d bytes; that one was %d" % (MAX_BODY, size))
        self.room.say(self.name, body)
        return None

    def on_close(self) -> None:
        self.unsubscribe(TOPIC)
        if not self.listener:
            self.room.leave(self)

    def tell(self, event: dict[str, Any]) -> None:
        """A frame for this client only; quietly nothing if it has gone (or,
        too far behind, had the frame dropped)."""
        try:
            sent = self.write_message(json.dumps(event, ensure_ascii=False))
        except websocket.WebSocketError:
            return
        # The future, when there is one, fails if the client goes before the
        # frame is out: look at its outcome so that nothing is logged for it.
        if sent is not None and hasattr(sent, "add_done_callback"):
            sent.add_done_callback(_outcome_seen)

    def refuse(self, error: str, detail: str) -> None:
        self.tell({"type": "error", "error": error, "detail": detail})


def _outcome_seen(fut: Any) -> None:
    try:
        fut.exception()
    except asyncio.CancelledError:
        pass


def make_app(cluster: str = "", **settings: Any) -> web.Application:
    settings.setdefault("template_path", os.path.join(HERE, "templates"))
    # index.html is a Jinja2 template (squall's default is Tornado's template
    # language; a Jinja2 loader as template_loader selects Jinja2)
    import jinja2
    settings.setdefault("template_loader", jinja2.FileSystemLoader(settings["template_path"]))
    settings.setdefault("static_path", os.path.join(HERE, "static"))
    settings.setdefault("static_url_prefix", "/static/")
    room = Room(cluster=bool(cluster))
    if cluster:
        settings["cluster"] = cluster
        settings["cluster_state_callback"] = room.on_cluster_state
    app = web.Application([(r"/", MainHandler, dict(room=room)),
                           (r"/message", MessageSocket, dict(room=room)),
                           (r"/metrics", metrics.MetricsHandler)], **settings)
    room.app = app
    app.room = room  # type: ignore[attr-defined]
    return app


async def listen_to_room(room: Room, port: int) -> None:
    """Cluster mode: the room's own listener, a WebSocket client of this
    process on its loopback listener, reconnecting while the process runs."""
    url = "ws://127.0.0.1:%d/message?listener=%s" % (port, room.token)
    while True:
        try:
            conn = await websocket.websocket_connect(url)
            while True:
                msg = await conn.read_message()
                if msg is None:
                    break
                try:
                    event = json.loads(msg)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    room.heard(event)
        except Exception:
            log.exception("the room's listener failed; again in 1 s")
        await asyncio.sleep(1.0)


def main() -> None:
    options.parse_command_line()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    o = options.options
    app = make_app(cluster=o.cluster)
    tls = {"certfile": o.certfile, "keyfile": o.keyfile or o.certfile} if o.certfile else None
    server = app.listen(o.port, o.address, ssl_options=tls)
    loop = ioloop.IOLoop.current()
    if o.cluster:
        room: Room = app.room  # type: ignore[attr-defined]
        # the room's listener connects here: plain, loopback only, whatever
        # the public listener is
        inner = app.listen(0, "127.0.0.1")
        asyncio.ensure_future(listen_to_room(room, inner.ports[0]))
        ioloop.PeriodicCallback(room.announce, PRESENCE_EVERY * 1000).start()
        log.info("node %d of the cluster %s", room.node, o.cluster)
    stopping: list[bool] = []

    async def drain() -> None:
        # the listener closes at once (a proxy sends new connections to
        # another process), requests in flight finish within 5 s,
        # WebSockets get 1001 (their pages reconnect)
        servers = [server] + ([inner] if o.cluster else [])
        for s in servers:
            s.stop(deadline=5.0)
        for s in servers:
            await s.close_all_connections()
        loop.stop()

    def on_signal() -> None:
        if stopping:  # a second signal stops at once
            loop.stop()
            return
        stopping.append(True)
        log.info("draining (SIGTERM or Ctrl-C again stops at once)")
        asyncio.ensure_future(drain())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.asyncio_loop.add_signal_handler(sig, on_signal)
    host = o.address
    shown = "[%s]" % host if ":" in host else host
    log.info("chat room on %s://%s:%d/", "https" if tls else "http", shown, o.port)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
