"""GET /metrics on a demo server (C, Python or Go: each serves squall's own
counters): Prometheus' text format checked by promtool, the counters
checked against known traffic, and a real Prometheus server scraping the
demo on loopback, asked over its HTTP API."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

import conftest
from conftest import Demo, free_port
from wsraw import TEXT, WsRaw


def scrape(port: int) -> tuple[http.client.HTTPResponse, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r, body


def samples(text: str) -> dict[str, float]:
    """Every sample line: 'name{labels}' -> value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def get(port: int, path: str, headers=None) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def raw_status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def plain_get(port: int, path: str) -> bytes:
    """A GET over plain HTTP/1.0 to 127.0.0.1 (Prometheus' own API), on a
    socket made by hand: the suite over TLS wraps every connection made
    with socket.create_connection."""
    with socket.socket() as s:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
        raise ValueError(head[:100])
    return body


@pytest.fixture(scope="module")
def demo():
    d = Demo()
    yield d
    d.stop()


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is not installed (Debian's prometheus package; .ci/run installs it)"
    return path


def test_the_text_is_valid_for_promtool(demo):
    r, text = scrape(demo.port)
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    check = subprocess.run([promtool(), "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert text.endswith("\n")
    assert "# TYPE squall_http_request_duration_seconds histogram" in text


def test_counters_follow_known_traffic(demo):
    before = samples(scrape(demo.port)[1])
    for _ in range(20):
        assert get(demo.port, "/") == 200
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (80 << 10) + b"\r\n\r\n"
    assert raw_status(demo.port, big) == 431
    assert raw_status(demo.port, big) == 431
    assert get(demo.port, "/error") == 500
    ws = WsRaw.connect(demo.port, "/ws/echo")
    for m in ("one", "two!", "three"):
        ws.send_text(m)
        assert ws.recv_message() == (TEXT, m.encode())
    ws.send_close(1000)
    ws.recv_close()
    ws.sock.close()
    deadline = time.monotonic() + 10
    while True:
        after = samples(scrape(demo.port)[1])
        d = {k: after[k] - before.get(k, 0) for k in after}
        if d['squall_websocket_closed_total{code="1000"}'] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # GETs: 20 to /, /error, the WebSocket's upgrade, and each scrape after
    # the first (a request is counted once its head is read, so a scrape
    # counts itself)
    scrapes = d['squall_http_requests_total{method="GET"}'] - 22
    assert scrapes >= 1, d
    assert d['squall_http_refused_total{status="431"}'] == 2, d
    assert d['squall_http_responses_total{class="5xx"}'] == 1, d
    # each scrape's own response is counted once it is done: the first one's
    # in this snapshot, the last one's not yet
    assert d['squall_http_responses_total{class="2xx"}'] == 20 + scrapes, d
    assert d['squall_http_responses_total{class="4xx"}'] == 2, d
    assert d['squall_websocket_opened_total'] == 1, d
    assert d['squall_websocket_messages_total{direction="in"}'] == 3, d
    assert d['squall_websocket_messages_total{direction="out"}'] == 3, d
    assert d['squall_websocket_payload_bytes_total{direction="in"}'] == len("onetwo!three"), d
    # the frames: the client's masked (6 bytes of header each, the close's 2
    # bytes of code too), the server's not (2 each, its close 2 + 2)
    assert d['squall_websocket_wire_bytes_total{direction="in"}'] == len("onetwo!three") + 3 * 6 + 8, d
    assert d['squall_websocket_wire_bytes_total{direction="out"}'] == len("onetwo!three") + 3 * 2 + 4, d
    assert d['squall_websocket_closed_total{code="1000"}'] == 1, d
    assert d['squall_connections_closed_total{reason="limit"}'] == 2, d
    assert d["squall_http_request_duration_seconds_count"] == 20 + 2 + 1 + scrapes, d
    assert after['squall_http_request_duration_seconds_bucket{le="+Inf"}'] == after["squall_http_request_duration_seconds_count"]


def test_a_prometheus_server_scrapes_it(demo, tmp_path):
    """Prometheus (Debian's package) started on loopback, scraping the demo
    every 200 ms; its HTTP API must return the demo's 431 count."""
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is not installed (Debian's prometheus package; .ci/run installs it)"
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (80 << 10) + b"\r\n\r\n"
    want = samples(scrape(demo.port)[1])['squall_http_refused_total{status="431"}'] + 3
    for _ in range(3):
        assert raw_status(demo.port, big) == 431
    web = free_port()
    tls = ""
    if conftest.TLS:  # the suite over TLS: Prometheus scrapes https, trusting the test CA
        tls = f"    scheme: https\n    tls_config:\n      ca_file: {conftest.CURL_TLS[1]}\n"
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
        "scrape_configs:\n  - job_name: squall\n" + tls + "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{demo.port}']\n")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        query = urllib.parse.urlencode({"query": 'squall_http_refused_total{job="squall",status="431"}'})
        deadline = time.monotonic() + 60
        value = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, "prometheus exited"
            try:
                answer = json.loads(plain_get(web, "/api/v1/query?" + query))
                result = answer["data"]["result"]
                if result:
                    value = float(result[0]["value"][1])
                    if value == want:
                        break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        log.seek(0)
        assert value == want, f"Prometheus says {value}, the demo counted {want}; log:\n{log.read().decode()[-2000:]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
