"""A raw WebSocket client over a socket (RFC 6455), for what a well-behaved
client library will not send: unmasked frames, reserved bits, lying lengths,
control frames between fragments, frames pipelined behind the handshake.

The handshake response is read with httpraw.Raw; bytes that follow it in the
same read stay in the buffer and are parsed as frames."""
import base64
import hashlib
import os
import socket
import struct
import weakref

from httpraw import Raw

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x4, 0x2, 0x1  # values of the `rsv` argument of frame()


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key, done on one big integer (fast for megabytes)."""
    n = len(data)
    if n == 0 or key == b"\0\0\0\0":  # an all-zero key is legal and leaves data as is
        return bytes(data)
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None, mask_key: bytes | None = None, with_payload: bool = True) -> bytes:
    """One frame as a client would write it. `rsv` is a mask of RSV1|RSV2|RSV3;
    `length` overrides the declared payload length (the real payload is still
    appended unless with_payload=False, which gives only the header)."""
    declared = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)])
    mbit = 0x80 if mask else 0
    if declared < 126:
        head.append(mbit | declared)
    elif declared < 1 << 16:
        head.append(mbit | 126)
        head += struct.pack("!H", declared)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", declared)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        head += key
        body = apply_mask(payload, key)
    else:
        body = payload
    return bytes(head) + (body if with_payload else b"")


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def parse_close(payload: bytes):
    """(code, reason) of a close frame's payload; (None, "") when empty."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", errors="replace")


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        return parse_close(self.payload)[0]

    @property
    def close_reason(self):
        return parse_close(self.payload)[1]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, masked={self.masked}, payload={p!r})"


def upgrade_request(path: str, port: int, key: str | None, *, version: str | None = "13",
                    origin: str | None = None, host: str | None = None, extra=()) -> bytes:
    """A client handshake; key/version None leave that header out. `extra` is
    a sequence of (name, value) pairs appended as they are."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host if host is not None else f'127.0.0.1:{port}'}",
             "Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if origin is not None:
        lines.append(f"Origin: {origin}")
    lines += [f"{n}: {v}" for n, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WsRaw(Raw):
    """A socket with a WebSocket on it. Every read honours the socket timeout,
    so a silent server raises socket.timeout rather than hanging a test."""

    _open = weakref.WeakSet()

    def __init__(self, port, timeout=5.0):
        super().__init__(port, timeout=timeout)
        self.port = port
        self.key = None
        self.interleaved = []
        WsRaw._open.add(self)

    @classmethod
    def close_all(cls):
        """Close every socket still open (after a test failed half-way), so
        the server is not left waiting on a client that is gone."""
        for ws in list(cls._open):
            ws.close()
        cls._open.clear()

    # ---- handshake -----------------------------------------------------------

    def handshake(self, path="/ws/echo", key=None, *, request: bytes | None = None, after: bytes = b"", **kw):
        """Send an upgrade request (built by upgrade_request unless given) plus
        `after` in the same write; return the httpraw Response."""
        self.key = key if key is not None else new_key()
        req = request if request is not None else upgrade_request(path, self.port, self.key, **kw)
        self.send(req + after)
        return self.read_response()

    @classmethod
    def connect(cls, port, path="/ws/echo", timeout=5.0, **kw):
        """Open a WebSocket; asserts the 101 and its accept key."""
        ws = cls(port, timeout=timeout)
        r = ws.handshake(path, **kw)
        assert r.status == 101, f"expected 101, got {r.status} {r.reason}"
        assert r.header("Sec-WebSocket-Accept") == accept_key(ws.key)
        return ws

    # ---- frames --------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(frame(opcode, payload, **kw))

    def send_text(self, text: str | bytes):
        self.send_frame(TEXT, text.encode() if isinstance(text, str) else text)

    def send_binary(self, data: bytes):
        self.send_frame(BINARY, data)

    def send_close(self, code=None, reason=b""):
        self.send_frame(CLOSE, close_payload(code, reason))

    def recv_frame(self) -> Frame:
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        masked = bool(b1 & 0x80)
        key = self._exact(4) if masked else None
        payload = self._exact(n)
        if masked:
            payload = apply_mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0xF, masked, payload)

    def _exact(self, n) -> bytes:
        # Raw._exact with a list of chunks: megabyte payloads without
        # quadratic copying.
        if len(self.buf) >= n:
            out, self.buf = self.buf[:n], self.buf[n:]
            return out
        parts, have = [self.buf], len(self.buf)
        while have < n:
            chunk = self.sock.recv(max(65536, min(n - have, 1 << 20)))
            if not chunk:
                self.buf = b"".join(parts)
                raise ConnectionError(f"closed with {have} of {n} bytes read")
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self.buf = data[:n], data[n:]
        return out

    def recv_message(self):
        """The next message as (opcode, payload): a control frame as it comes,
        a data message with its fragments joined. Control frames that arrive
        between fragments are appended to self.interleaved (use recv_frame to
        check the exact order of frames)."""
        f = self.recv_frame()
        if f.opcode >= 0x8 or f.fin:
            return f.opcode, f.payload
        opcode, parts = f.opcode, [f.payload]
        while True:
            f = self.recv_frame()
            if f.opcode >= 0x8:
                self.interleaved.append(f)
                continue
            assert f.opcode == CONT, f"a new message inside a fragmented one: {f}"
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def recv_close(self):
        """Skip to the close frame; return (code, reason). Raises if the
        connection ends (or times out) before one arrives."""
        while True:
            f = self.recv_frame()
            if f.opcode == CLOSE:
                assert not f.masked, "server frames must not be masked"
                return parse_close(f.payload)
