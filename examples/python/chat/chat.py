#!/usr/bin/env python3
"""A chat room on squall: one page, one WebSocket, one topic.

    PYTHONPATH=bindings/python python3 examples/python/chat/chat.py --port=8888

``GET /`` renders ``templates/index.html`` with the last ``HISTORY`` messages
(so a new page sees what was said before it came), a name box and a message
box; ``static/chat.js`` connects to the WebSocket ``/message`` and
``static/chat.css`` styles it. Nothing is loaded from another site.

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
"""
from __future__ import annotations

import asyncio
import collections
import html
import itertools
import json
import logging
import os
import re
import time
from typing import Any, Optional

from squall import ioloop, options, web, websocket

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "chat"
HISTORY = 100           # messages kept in memory and rendered into the page
MAX_BODY = 4096         # bytes of UTF-8 in one message body
MAX_FRAME = 64 * 1024   # a bigger frame closes the connection (1009)
NAME_MAX = 32

log = logging.getLogger("chat")

options.define("port", default=8888, type=int, help="port to listen on")
options.define("address", default="127.0.0.1", help="address to listen on")
options.define("certfile", default="", help="PEM certificate chain: serve https and wss (with --keyfile)")
options.define("keyfile", default="", help="PEM private key of --certfile")

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

    def __init__(self) -> None:
        self.app: Optional[web.Application] = None   # set once the application exists
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.members: dict[int, str] = {}   # id(handler) -> name
        self._ids = itertools.count(1)
        self._guests = itertools.count(1)
        self.last_id = 0

    def guest_name(self) -> str:
        return "guest-%d" % next(self._guests)

    def online(self) -> list[str]:
        return sorted(self.members.values(), key=str.lower)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.last_id = next(self._ids)
        event = {"type": kind, "id": self.last_id}
        event.update(fields)
        event["ts"] = round(time.time(), 3)
        return event

    def _publish(self, event: dict[str, Any]) -> None:
        assert self.app is not None
        self.app.publish(TOPIC, json.dumps(event, ensure_ascii=False))

    def say(self, name: str, text: str) -> None:
        event = self._event("message", **{"from": name, "body": html.escape(text)})
        # The page renders history through Jinja2's autoescape, so it keeps
        # the raw text too (escaping it twice would show "&amp;lt;").
        self.history.append(dict(event, text=text, clock=time.strftime("%H:%M", time.localtime(event["ts"]))))
        self._publish(event)

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

    def open(self) -> None:
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


def make_app(**settings: Any) -> web.Application:
    settings.setdefault("template_path", os.path.join(HERE, "templates"))
    # index.html is a Jinja2 template (squall's default is Tornado's template
    # language; a Jinja2 loader as template_loader selects Jinja2)
    import jinja2
    settings.setdefault("template_loader", jinja2.FileSystemLoader(settings["template_path"]))
    settings.setdefault("static_path", os.path.join(HERE, "static"))
    settings.setdefault("static_url_prefix", "/static/")
    room = Room()
    app = web.Application([(r"/", MainHandler, dict(room=room)),
                           (r"/message", MessageSocket, dict(room=room))], **settings)
    room.app = app
    return app


def main() -> None:
    options.parse_command_line()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    app = make_app()
    o = options.options
    tls = {"certfile": o.certfile, "keyfile": o.keyfile or o.certfile} if o.certfile else None
    app.listen(o.port, o.address, ssl_options=tls)
    host = o.address
    shown = "[%s]" % host if ":" in host else host
    log.info("chat room on %s://%s:%d/", "https" if tls else "http", shown, o.port)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
