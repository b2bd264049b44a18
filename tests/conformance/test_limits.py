"""Running out of file descriptors: with RLIMIT_NOFILE at 64 the demo cannot
accept every connection; it must neither spin nor die, and must serve the
waiting clients once descriptors are free again."""
import select
import socket
import time

import pytest

from conftest import TLS, Demo
from httpraw import Raw


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


@pytest.mark.skipif(TLS, reason="over TLS no request can be sent before the server accepts (the handshake needs "
                    "it), which this test relies on; the accept back-off is the same code")
def test_emfile_backs_off_and_recovers():
    d = Demo(nofile=64)
    try:
        held = []
        for _ in range(90):  # more than the server can hold open
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(s)
        time.sleep(0.5)
        readable, _, _ = select.select(held, [], [], 0.5)
        served = [s for s in held if s in readable]
        waiting = [s for s in held if s not in readable]
        for s in served:
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        assert served and waiting, f"{len(served)} served, {len(waiting)} waiting"
        # out of descriptors, the accept loop must not spin
        c0 = cpu_seconds(d.proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(d.proc.pid) - c0 < 0.3, "accept loop spins on EMFILE"
        assert d.alive()
        for s in served:
            s.close()
        # the waiting clients are accepted and answered once descriptors free up
        for s in waiting:
            s.settimeout(5)
            data = s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200"), data[:40]
            s.close()
        raw = Raw(d.port)
        raw.send(b"GET /args/ok/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.read_response().body == b"a=ok b=1"
        raw.close()
        assert d.alive()
    finally:
        d.stop()
