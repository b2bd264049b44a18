"""A scripted HTTP/1.1 server for the client tests, on http.server.

Every request is recorded (method, path, headers as received, body, which
connection it came on and its number on that connection), and the server
keeps gauges of simultaneous connections and requests, so a test can see
what the client did on the wire. Routes are listed in Handler.ROUTES."""
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# A text body the compression routes send (compressible, not trivial).
PAYLOAD = b"".join(b"line %05d: the quick brown fox jumps over the lazy dog\n" % i for i in range(400))

# The static file the nginx fixture serves.
NGINX_FILE = b"".join(b"static line %05d of a file nginx serves\n" % i for i in range(2000))


def pattern(n: int) -> bytes:
    """n bytes of a repeating 0..255 pattern (every byte value appears)."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


_bomb = None
_bomb_lock = threading.Lock()
BOMB_SIZE = 256 << 20  # decompressed size of /bomb


def gzip_bomb() -> bytes:
    """BOMB_SIZE zero bytes, gzip-compressed (about 260 KB); built once."""
    global _bomb
    with _bomb_lock:
        if _bomb is None:
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            zeros = bytes(1 << 20)
            parts = [c.compress(zeros) for _ in range(BOMB_SIZE >> 20)]
            parts.append(c.flush())
            _bomb = b"".join(parts)
        return _bomb


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class Server:
    """One scripted server on an ephemeral port of `host`.

    ssl_ctx: serve https with this server context.
    idle_timeout: close a keep-alive connection idle this long (seconds).
    close_after_response: close every connection right after its first
        response, without announcing it (no "Connection: close").
    drop_second: on every connection, read the second request and close the
        connection without answering it."""

    def __init__(self, host="127.0.0.1", ssl_ctx=None, idle_timeout=None,
                 close_after_response=False, drop_second=False):
        self.host = host
        self.ssl_ctx = ssl_ctx
        self.close_after_response = close_after_response
        self.drop_second = drop_second
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.requests = []
        self.connections = 0
        self.tls_failures = 0
        self.active_conns = self.max_conns = 0
        self.active_reqs = self.max_reqs = 0
        handler = type("BoundHandler", (Handler,), {"timeout": idle_timeout})
        cls = _HTTPServer6 if ":" in host else _HTTPServer
        self.httpd = cls((host, 0), handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        scheme = "https" if self.ssl_ctx else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def url(self, path="/") -> str:
        return self.origin + path

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- what the tests read ----
    def seen(self, path_prefix=None):
        with self.lock:
            return [r for r in self.requests if path_prefix is None or r["path"].startswith(path_prefix)]

    def conn_ids(self):
        with self.lock:
            return sorted({r["conn"] for r in self.requests})

    def _conn_open(self):
        with self.lock:
            self.connections += 1
            self.active_conns += 1
            self.max_conns = max(self.max_conns, self.active_conns)
            return self.connections

    def _conn_close(self):
        with self.lock:
            self.active_conns -= 1


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def server_ctx(leaf):
    """A server-side TLS context with a trustme leaf certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    return ctx


def header(headers, name):
    """The value of `name` in a [[name, value], ...] list (case-insensitive), or None."""
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scripted/1"
    sys_version = ""

    def log_message(self, *args):
        pass

    def setup(self):
        self.owner = self.server.owner
        self.tls_failed = False
        self.conn_id = self.owner._conn_open()
        self.conn_req = 0
        if self.owner.ssl_ctx is not None:
            self.request.settimeout(5)
            try:
                self.request = self.owner.ssl_ctx.wrap_socket(self.request, server_side=True)
                self.request.settimeout(self.timeout)
            except (ssl.SSLError, OSError):
                self.tls_failed = True
                with self.owner.lock:
                    self.owner.tls_failures += 1
                return
        super().setup()

    def handle(self):
        if not self.tls_failed:
            try:
                super().handle()
            except (ConnectionError, ssl.SSLError, TimeoutError):
                pass

    def finish(self):
        if not self.tls_failed:
            try:
                super().finish()
            except OSError:
                pass
        self.owner._conn_close()

    # every method goes through dispatch
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def dispatch(self):
        body = self.read_body()
        self.conn_req += 1
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        rec = {
            "method": self.command, "path": u.path, "query": q, "target": self.path,
            "headers": [[k, v] for k, v in self.headers.items()], "body": body.decode("latin-1"),
            "conn": self.conn_id, "conn_req": self.conn_req,
            "peer": [self.client_address[0], self.client_address[1]],
        }
        o = self.owner
        with o.lock:
            o.requests.append(rec)
            o.active_reqs += 1
            o.max_reqs = max(o.max_reqs, o.active_reqs)
        try:
            if o.drop_second and self.conn_req == 2:
                self.close_connection = True
                return
            route = self.ROUTES.get(u.path)
            if route is None:
                for prefix, fn in self.PREFIX_ROUTES:
                    if u.path.startswith(prefix):
                        route = fn
                        break
            if route is None:
                self.send(404, b"not found\n")
            else:
                route(self, rec, q)
            if o.close_after_response:
                self.close_connection = True
        finally:
            with o.lock:
                o.active_reqs -= 1

    # ---- helpers ----
    def send(self, code, body=b"", headers=(), ctype="text/plain"):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def wait(self, seconds):
        self.owner.stopping.wait(seconds)

    # ---- routes ----
    def r_echo(self, rec, q):
        if "ms" in q:
            time.sleep(int(q["ms"]) / 1000)
        body = json.dumps(rec).encode()
        extra = []
        if q.get("close") == "1":
            extra = [("Connection", "close")]
            self.close_connection = True
        self.send(200, body, [("X-Conn", str(self.conn_id)), ("X-Conn-Req", str(self.conn_req)),
                              ("X-MiXed-Case", "Kept")] + extra, "application/json")

    def r_big(self, rec, q):
        n = int(q.get("n", 1 << 20))
        data = pattern(n)
        if q.get("chunked") == "1":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 65536
            for i in range(0, n, step):
                part = data[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send(200, data, ctype="application/octet-stream")

    CHUNKS = [b"hello ", b"chunked ", b"world", b"!" * 1000]

    def r_chunked(self, rec, q):
        ext = q.get("ext") == "1"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        if ext:
            self.send_header("Trailer", "X-Trailer")
        self.end_headers()
        for c in self.CHUNKS:
            self.wfile.write(b"%x%s\r\n%s\r\n" % (len(c), b";name=value" if ext else b"", c))
            time.sleep(0.005)
        self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n" if ext else b"0\r\n\r\n")

    def r_interim(self, rec, q):
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        time.sleep(0.01)
        self.send(200, b"final body", [("X-Final", "yes")])

    def r_status(self, rec, q):
        code = int(rec["path"].rsplit("/", 1)[1])
        self.send_response(code)
        if code == 304:
            # the length of the representation, not of this (empty) body
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "20")
        elif code != 204:
            self.send_header("Content-Length", "6")
        self.end_headers()
        if code not in (204, 304) and self.command != "HEAD":
            self.wfile.write(b"status")

    def r_head(self, rec, q):
        # HEAD: a Content-Length for a body that is not sent
        self.send(200, pattern(5000), ctype="application/octet-stream")

    def r_redirect(self, rec, q):
        code = int(rec["path"].rsplit("/", 1)[1])
        if "ms" in q:
            time.sleep(int(q["ms"]) / 1000)
        self.send(code, b"redirecting\n", [("Location", q.get("to", "/echo"))])

    def r_loop(self, rec, q):
        self.send(302, b"again\n", [("Location", "/loop")])

    def _compressed(self, coding, q):
        ae = (self.headers.get("Accept-Encoding") or "").lower()
        if q.get("force") != "1" and coding not in ae:
            self.send(200, PAYLOAD)
            return
        if coding == "gzip":
            data = gzip.compress(PAYLOAD)
        else:
            data = zlib.compress(PAYLOAD)  # "deflate" is the zlib format (RFC 9110)
        self.send(200, data, [("Content-Encoding", coding), ("Vary", "Accept-Encoding")])

    def r_gzip(self, rec, q):
        self._compressed("gzip", q)

    def r_deflate(self, rec, q):
        self._compressed("deflate", q)

    def r_bomb(self, rec, q):
        data = gzip_bomb()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(0, len(data), 16384):
                self.wfile.write(data[i:i + 16384])
        except OSError:
            self.close_connection = True

    def r_stall(self, rec, q):
        if q.get("mode") == "headers":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
        elif q.get("mode") == "body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
        self.wait(30)
        self.close_connection = True

    def r_cut(self, rec, q):
        # Content-Length larger than what is sent, then close
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(pattern(1000))
        time.sleep(0.05)
        self.close_connection = True

    def r_cut_chunked(self, rec, q):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\nhello\r\n5\r\nworld\r\n")
        time.sleep(0.05)
        self.close_connection = True

    def r_until_close(self, rec, q):
        # neither Content-Length nor chunked: the body runs until the close
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(pattern(50000))
        self.close_connection = True

    def r_garbage(self, rec, q):
        self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
        time.sleep(0.05)
        self.close_connection = True

    ROUTES = {
        "/echo": r_echo, "/big": r_big, "/chunked": r_chunked, "/interim": r_interim,
        "/head": r_head, "/loop": r_loop, "/gzip": r_gzip, "/deflate": r_deflate, "/bomb": r_bomb,
        "/stall": r_stall, "/cut": r_cut, "/cut-chunked": r_cut_chunked, "/garbage": r_garbage,
        "/until-close": r_until_close,
    }
    PREFIX_ROUTES = [("/status/", r_status), ("/redirect/", r_redirect), ("/echo/", r_echo)]
