"""A typed user program built from the README's Python examples: `make
test-python-types` runs mypy --strict over it against the package's own
annotations (py.typed), so a user's type checker accepts what the README
shows and refuses what the API does not take."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from squall import httpclient, httpserver, ioloop, web, websocket


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write("Hello, world")


class Echo(websocket.WebSocketHandler):
    def open(self, *args: str, **kwargs: str) -> None:
        self.subscribe("room")

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message)

    def on_close(self) -> None:
        self.unsubscribe("room")


# The top-level README's Python example, annotated as a --strict user writes it.
class Main(web.RequestHandler):
    async def get(self) -> None:
        self.write({"hello": self.get_argument("name", "world")})


class Chat(websocket.WebSocketHandler):
    def open(self) -> None:
        self.subscribe("room")

    def on_message(self, message: str | bytes) -> None:
        self.application.publish("room", message)


def readme_app() -> None:
    app = web.Application([(r"/", Main), (r"/chat", Chat)])
    app.route("/ping", lambda req: b"pong")
    app.listen(8888, "127.0.0.1")
    ioloop.IOLoop.current().start()


def make_app() -> web.Application:
    return web.Application([(r"/", Hello), (r"/ws", Echo)])


async def fetch(url: str) -> Optional[bytes]:
    client = httpclient.AsyncHTTPClient()
    response = await client.fetch(url, raise_error=False)
    body: Optional[bytes] = response.body
    return body


def main() -> None:
    app = make_app()
    server: httpserver.HTTPServer = app.listen(0, "127.0.0.1")
    port: int = server.ports[0]
    count: int = app.publish("room", {"hello": "everyone"})
    loop = ioloop.IOLoop.current()
    assert loop is not None
    loop.call_later(0.1, loop.stop)
    extra: dict[str, Any] = {"port": port, "count": count}
    print(extra)
    asyncio.run(asyncio.sleep(0))


if __name__ == "__main__":
    main()
