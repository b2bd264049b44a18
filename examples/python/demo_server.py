"""demo_server.py: the demo route contract (DESIGN.md §6) with squall's
Tornado-shaped Python API; the same conformance suite runs against it and
against the C demo (examples/c/demo_server.c).

    make && PYTHONPATH=bindings/python PORT=8888 python3 examples/python/demo_server.py

Environment (as the C demo): PORT (default 8888), SQUALL_IO_THREADS,
SQUALL_HEADER_TIMEOUT_MS / SQUALL_BODY_TIMEOUT_MS / SQUALL_IDLE_TIMEOUT_MS,
SQUALL_STATIC_DIR (served under /static/ by squall's Rust static files:
the RustStaticFileHandler opt-in, so the suite measures the same path as the C demo),
SQUALL_WS_PING_MS / SQUALL_WS_IDLE_MS, SQUALL_SHUTDOWN_MS (the graceful
shutdown's deadline on SIGTERM/SIGINT, default 5000), SQUALL_TLS_CERT and
SQUALL_TLS_KEY (PEM files: serve https and wss), SQUALL_CLUSTER=redis://...
or rediss://... (/ws/chat spans every process joined to that Redis; GET /cluster shows the
cluster's state and counters; each state change is printed as
"cluster <state>"). Request bodies and WebSocket messages up to 64 MiB.
"""
import asyncio
import os
import signal
import sys
import threading

from squall import httpserver, ioloop, metrics, web, websocket

MIB = 1 << 20


def env_ms(name):
    v = os.environ.get(name)
    return int(v) / 1000.0 if v else None


class Text(web.RequestHandler):
    def set_default_headers(self):
        self.set_header("Content-Type", "text/plain")


class Hello(Text):
    def get(self):
        self.write("Hello, world")

    head = get  # squall sends the head only


class Echo(web.RequestHandler):
    def post(self):
        ctype = self.request.headers.get("Content-Type")
        if ctype is None:
            self.clear_header("Content-Type")
        else:
            self.set_header("Content-Type", ctype)
        self.write(self.request.body)

    def compute_etag(self):
        return None


class Args(Text):
    def get(self, a, b):
        self.write(f"a={a} b={b}")


class Query(Text):
    def get(self):
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.write("name=" + self.get_argument("name", strip=False))


class Stream(Text):
    async def get(self):
        for i in range(5):
            self.write(f"chunk {i}\n")
            await self.flush()


class Slow(Text):
    async def get(self):
        ms = self.get_argument("ms", "")
        if not ms.isdigit() or len(ms) > 9:
            raise web.HTTPError(400, reason="ms must be a number of milliseconds")
        await asyncio.sleep(int(ms) / 1000.0)
        self.write(f"slept {ms}")


class Defer(Text):
    def get(self):
        # Tornado's idiom: work on another thread, then hand the answer back
        # to the IOLoop's thread with add_callback (the only thread-safe call).
        loop = ioloop.IOLoop.current()
        self._auto_finish = False

        def work():
            loop.add_callback(self.finish, "deferred")

        threading.Thread(target=work, daemon=True).start()


class Headers(Text):
    def get(self):
        self.set_header("X-Echo", self.request.headers.get("X-Test", ""))
        self.write("ok")


class Status(Text):
    def get(self, code):
        c = int(code)
        if len(code) != 3 or c < 200:
            raise web.HTTPError(400, reason="status must have 3 digits, 200 or more")
        self.set_status(c)
        if c not in (204, 304):
            self.write("status")

    def compute_etag(self):
        return None


class Fail(Text):
    def get(self):
        raise RuntimeError("this handler fails on purpose")


class WsBase(websocket.WebSocketHandler):
    max_message_size = 64 * MIB
    max_backpressure = 80 * MIB  # room for one 64 MiB echo and then some
    ping_interval = env_ms("SQUALL_WS_PING_MS")
    idle_timeout = env_ms("SQUALL_WS_IDLE_MS")

    def get_compression_options(self):
        return {}  # permessage-deflate when the client offers it (shared mode)


class WsEcho(WsBase):
    def on_message(self, message):
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except websocket.BackpressureError:
            pass  # a client that does not read: the route's policy drops the message
        except websocket.WebSocketClosedError:
            pass


class WsChat(WsBase):
    def open(self):
        self.subscribe("chat")

    def on_message(self, message):
        try:
            self.application.publish("chat", message, binary=isinstance(message, bytes))
        except web.ClusterOutboxFull as e:
            print(f"publish: {e}", file=sys.stderr, flush=True)


COUNTERS = ("published", "outbox_full", "outbox", "received", "delivered", "echo", "gaps",
            "repeats", "junk", "oversized", "bad_topic", "reconnects", "subscribed")


class ClusterInfo(Text):
    def get(self):
        app = self.application
        self.write(f"state {app.cluster_state()}\n")
        for name in COUNTERS:
            self.write(f"{name} {app.cluster_counter(name)}\n")


def on_cluster_state(state):
    # One write of the whole line: print() writes the text and the newline
    # apart, and a log line from another thread can land between them.
    sys.stdout.write(f"cluster {state}\n")
    sys.stdout.flush()


def make_app():
    settings = {}
    static = os.environ.get("SQUALL_STATIC_DIR")
    if static:
        settings.update(static_path=static, static_url_prefix="/static/",
                        static_handler_class=web.RustStaticFileHandler)
    routes = []
    cluster = os.environ.get("SQUALL_CLUSTER")
    if cluster:
        settings.update(cluster=cluster, cluster_state_callback=on_cluster_state)
        routes.append((r"/cluster", ClusterInfo))
    return web.Application(routes + [
        (r"/", Hello),
        (r"/echo", Echo),
        (r"/args/([a-z0-9]+)/(\d+)", Args),
        (r"/query", Query),
        (r"/stream", Stream),
        (r"/slow", Slow),
        (r"/defer", Defer),
        (r"/headers", Headers),
        (r"/status/(\d+)", Status),
        (r"/error", Fail),
        (r"/metrics", metrics.MetricsHandler),
        (r"/ws/echo", WsEcho),
        (r"/ws/chat", WsChat),
    ], **settings)


def main():
    port = int(os.environ.get("PORT", "8888"))
    cert, key = os.environ.get("SQUALL_TLS_CERT"), os.environ.get("SQUALL_TLS_KEY")
    tls = {"certfile": cert, "keyfile": key} if cert and key else None
    server = httpserver.HTTPServer(
        make_app(), max_body_size=64 * MIB, ssl_options=tls,
        header_timeout=env_ms("SQUALL_HEADER_TIMEOUT_MS"),
        body_timeout=env_ms("SQUALL_BODY_TIMEOUT_MS"),
        idle_connection_timeout=env_ms("SQUALL_IDLE_TIMEOUT_MS"))
    try:
        bound = server.listen(port, "127.0.0.1")
    except ValueError as e:  # a SQUALL_CLUSTER URL that does not parse
        print(f"SQUALL_CLUSTER: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    loop = ioloop.IOLoop.current()
    deadline = env_ms("SQUALL_SHUTDOWN_MS") or 5.0
    stopping = []

    async def shutdown():
        server.stop(deadline=deadline)
        await server.close_all_connections()
        loop.stop()

    def on_signal():
        if stopping:  # a second signal stops at once
            loop.stop()
            return
        stopping.append(True)
        asyncio.ensure_future(shutdown())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.asyncio_loop.add_signal_handler(sig, on_signal)
    scheme = "https" if tls else "http"
    print(f"squall demo server (Python) on {scheme}://127.0.0.1:{bound}/", flush=True)
    loop.start()


if __name__ == "__main__":
    main()
