"""Failures: timeouts, refused and unresolvable hosts, early close, malformed
responses."""
import socket
import time

import pytest

from sqf import failed, sqfetch


def test_connect_timeout(full_backlog):
    run = sqfetch("--connect-timeout", 400, f"http://127.0.0.1:{full_backlog}/", timeout=15)
    r = failed(run, "SQ_ERR_TIMEOUT")
    assert "connect" in r["message"].lower(), r["message"]
    assert 0.35 <= run.elapsed < 3.0, f"{run.elapsed:.2f} s for a 400 ms connect timeout"


def test_whole_request_timeout_also_bounds_the_connect(full_backlog):
    run = sqfetch("--timeout", 400, f"http://127.0.0.1:{full_backlog}/", timeout=15)
    failed(run, "SQ_ERR_TIMEOUT")
    assert 0.35 <= run.elapsed < 3.0, f"{run.elapsed:.2f} s"


@pytest.mark.parametrize("mode", ["nothing", "headers", "body"])
def test_request_timeout_on_a_stalling_server(srv, mode):
    run = sqfetch("--timeout", 500, srv.url(f"/stall?mode={mode}"), timeout=15)
    r = failed(run, "SQ_ERR_TIMEOUT")
    assert "connect" not in r["message"].lower(), f"a request timeout, not a connect one: {r['message']}"
    assert 0.45 <= run.elapsed < 3.0, f"{run.elapsed:.2f} s for a 500 ms timeout"


def test_connect_timeout_does_not_limit_a_slow_response(srv):
    run = sqfetch("--connect-timeout", 100, srv.url("/echo?ms=400"), timeout=15)
    assert run.rc == 0 and run.one()["status"] == 200, str(run)


@pytest.mark.parametrize("path", ["/cut", "/cut-chunked"])
def test_server_closing_mid_body(srv, path):
    run = sqfetch(srv.url(path), timeout=15)
    failed(run, "SQ_ERR_CLOSED")
    assert run.elapsed < 5


def test_server_closing_mid_body_when_streamed(srv):
    r = failed(sqfetch("--stream", srv.url("/cut"), timeout=15), "SQ_ERR_CLOSED")
    assert r["status"] == 0


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on the port now
    run = sqfetch(f"http://127.0.0.1:{port}/", timeout=15)
    failed(run, "SQ_ERR_CONNECT")
    assert run.elapsed < 5


def test_unknown_host():
    run = sqfetch("--timeout", 10000, "http://no-such-host.invalid/", timeout=20)
    failed(run, "SQ_ERR_RESOLVE")


def test_malformed_response(srv):
    failed(sqfetch(srv.url("/garbage"), timeout=15), "SQ_ERR_PROTOCOL")


def test_errors_do_not_spoil_the_next_requests(srv):
    run = sqfetch("-n", 3, srv.url("/cut"), timeout=15)
    assert run.rc == 1 and run.summary["errors"] == {"SQ_ERR_CLOSED": 3}, str(run)
    run = sqfetch("-n", 3, srv.url("/echo"), timeout=15)
    assert run.rc == 0 and run.summary["ok"] == 3, str(run)
