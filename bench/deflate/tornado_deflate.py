"""Tornado with permessage-deflate: /ws/echo and /ws/chat (every message to
every connection), compression accepted when offered
(get_compression_options returns {}: Tornado's defaults). The anchor of
bench/deflate_bench.py.

Usage: python3 tornado_deflate.py PORT
"""
import asyncio
import sys

import tornado.web
import tornado.websocket


class Deflate(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def get_compression_options(self):
        return {}


class Echo(Deflate):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class Chat(Deflate):
    members = set()

    def open(self):
        Chat.members.add(self)

    def on_close(self):
        Chat.members.discard(self)

    def on_message(self, message):
        for m in list(Chat.members):
            try:
                m.write_message(message)
            except tornado.websocket.WebSocketClosedError:
                Chat.members.discard(m)


async def main():
    app = tornado.web.Application([(r"/ws/echo", Echo), (r"/ws/chat", Chat)])
    app.listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
