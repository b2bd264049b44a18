"""Reads "<id> <methods> <hex>" lines on stdin; decodes each input as one
connection's bytes (then its end) with h11 as a client, the responses
answering requests whose methods <methods> gives ("G" GET, "H" HEAD; past
its end GET), and prints one transcript line per input in the harness's
format (tests/http_response_differential.rs):
"<id> <end> <reason> <n> <response>*", byte strings in hex, "-" when empty."""
import sys

import h11


def hx(b: bytes) -> str:
    return b.hex() if b else "-"


def transcript(data: bytes, methods: str) -> str:
    conn = h11.Connection(our_role=h11.CLIENT)
    responses = []
    cur = None
    end, reason = "clean", b""

    def ask():
        method = "HEAD" if methods[len(responses):len(responses) + 1] == "H" else "GET"
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "h")]))
        conn.send(h11.EndOfMessage())

    ask()
    if data:
        conn.receive_data(data)
    eof = False
    interim = False
    try:
        while True:
            ev = conn.next_event()
            if isinstance(ev, h11.InformationalResponse):
                # 1xx but 101 is skipped; a 101 to a request that did not
                # ask to upgrade is reported as a final response.
                interim = True
                if ev.status_code == 101:
                    responses.append([ev, [], False])
                    end = "upgrade"
                    break
            elif isinstance(ev, h11.Response):
                cur = [ev, [], False]
                interim = False
            elif isinstance(ev, h11.Data):
                cur[1].append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                # kept alive when h11 would start the next cycle
                # (a body that needed the end of the connection ended by it)
                cur[2] = not eof and conn.their_state is h11.DONE and conn.our_state is h11.DONE
                responses.append(cur)
                cur = None
                if not responses[-1][2]:
                    end = "closed"
                    break
                conn.start_next_cycle()
                ask()
            elif isinstance(ev, h11.ConnectionClosed):
                end = "partial" if cur is not None else "clean"
                break
            elif ev is h11.NEED_DATA:
                if cur is None and not interim and not conn.trailing_data[0]:
                    end = "clean"
                    break
                if eof:
                    end = "partial"
                    break
                # The connection ends after the input: a body read until
                # close is complete then, anything else is cut short.
                conn.receive_data(b"")
                eof = True
            elif ev is h11.PAUSED:
                end = "upgrade"
                break
    except h11.RemoteProtocolError as e:
        if eof:
            end = "partial"
        else:
            end, reason = "refused", str(e).encode()
    out = [end, hx(reason), str(len(responses))]
    for resp, body, keep in responses:
        out += [str(resp.status_code), resp.http_version.decode(), "1" if keep else "0", str(len(resp.headers))]
        for name, value in resp.headers.raw_items():
            out += [hx(bytes(name)), hx(bytes(value))]
        out.append(hx(b"".join(body)))
    return " ".join(out)


def main():
    out = []
    for line in sys.stdin:
        ident, methods, data = line.split()
        out.append(f"{ident} {transcript(b'' if data == '-' else bytes.fromhex(data), methods)}")
        if len(out) >= 256:
            sys.stdout.write("\n".join(out) + "\n")
            out.clear()
    if out:
        sys.stdout.write("\n".join(out) + "\n")


main()
