"""Reads "<id> <hex>" lines on stdin; decodes each input as one connection's
bytes with h11 (a server-side Connection) and prints one transcript line per
input in the harness's format (tests/http_differential.rs):
"<id> <end> <reason> <n> <request>*", byte strings in hex, "-" when empty."""
import sys

import h11


def hx(b: bytes) -> str:
    return b.hex() if b else "-"


def transcript(data: bytes) -> str:
    conn = h11.Connection(our_role=h11.SERVER)
    requests = []
    cur = None
    end, reason = "clean", b""
    # No EOF is given: a message cut short is "partial", as for the others.
    conn.receive_data(data)
    try:
        while True:
            ev = conn.next_event()
            if isinstance(ev, h11.Request):
                cur = [ev, []]
            elif isinstance(ev, h11.Data):
                cur[1].append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                requests.append(cur)
                cur = None
                if conn.their_state is h11.MUST_CLOSE:
                    end = "closed"
                    break
                # answer, so the connection can take the next request
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE:
                    end = "closed"
                    break
                conn.start_next_cycle()
            elif isinstance(ev, h11.ConnectionClosed):
                end = "partial" if cur is not None else "clean"
                break
            elif ev is h11.NEED_DATA:
                # clean when nothing of a next request has arrived
                left = bytes(conn.trailing_data[0])
                end = "partial" if cur is not None or left else "clean"
                break
            elif ev is h11.PAUSED:
                end = "upgrade"
                break
    except h11.RemoteProtocolError as e:
        end, reason = "refused", str(e).encode()
    out = [end, hx(reason), str(len(requests))]
    for req, body in requests:
        keep = "0" if conn_closes(req) else "1"
        out += [hx(req.method), hx(req.target), req.http_version.decode(), keep, str(len(req.headers))]
        for name, value in req.headers.raw_items():
            out += [hx(bytes(name)), hx(bytes(value))]
        out.append(hx(b"".join(body)))
    return " ".join(out)


def conn_closes(req) -> bool:
    tokens = set()
    for name, value in req.headers:
        if name == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    if req.http_version == b"1.0":
        return b"keep-alive" not in tokens or b"close" in tokens
    return b"close" in tokens


def main():
    out = []
    for line in sys.stdin:
        ident, data = line.split()
        out.append(f"{ident} {transcript(b'' if data == '-' else bytes.fromhex(data))}")
        if len(out) >= 256:
            sys.stdout.write("\n".join(out) + "\n")
            out.clear()
    if out:
        sys.stdout.write("\n".join(out) + "\n")


main()
