"""A raw HTTP/1.1 client over a socket, for what http.client will not send
(malformed requests, pipelining) and for exact framing checks."""
import socket


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers, self.body, self.version = status, reason, headers, body, version

    def header(self, name):
        for n, v in reversed(self.headers):
            if n.lower() == name.lower():
                return v
        return None


class Raw:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("closed while reading a line")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("closed while reading a body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request=False) -> Response:
        status_line = self._line().decode("latin-1")
        version, status, *reason = status_line.split(" ", 2)
        headers = []
        while True:
            line = self._line()
            if not line:
                break
            n, v = line.decode("latin-1").split(":", 1)
            headers.append((n, v.strip()))
        resp = Response(int(status), reason[0] if reason else "", headers, b"", version)
        code = int(status)
        if head_request or code < 200 or code in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te and te.lower() == "chunked":
            body = b""
            resp.chunks = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                data = self._exact(size)
                resp.chunks.append(data)
                body += data
                assert self._exact(2) == b"\r\n"
            resp.body = body
        elif cl is not None:
            resp.body = self._exact(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def closed_by_peer(self, timeout=3.0) -> bool:
        """True when the server closes the connection (EOF or reset) within
        timeout; what arrives until then is kept in the buffer."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()
