"""The connection pool: caps and queueing, reuse, and pooled connections the
server closed."""
import json
from urllib.parse import quote

import pytest

from sqf import body, ok, sqfetch


def all_ok(run, n):
    assert run.rc == 0, str(run)
    s = run.summary
    assert s["count"] == n and s["ok"] == n and s["errors"] == {}, str(run)


def test_max_clients_caps_200_concurrent_fetches(srv):
    run = sqfetch("-n", 200, "-c", 200, "--max-clients", 10, "--quiet", srv.url("/echo?ms=20"), timeout=40)
    all_ok(run, 200)
    assert len(srv.seen()) == 200
    assert srv.max_conns <= 10, f"{srv.max_conns} simultaneous connections with --max-clients 10"
    assert srv.max_reqs <= 10, f"{srv.max_reqs} simultaneous requests with --max-clients 10"
    assert srv.max_reqs >= 5, f"only {srv.max_reqs} requests at once: the fetches did not run concurrently"
    assert srv.connections <= 20, f"{srv.connections} connections for 200 requests: the pool did not reuse them"


def test_max_per_host(srv):
    run = sqfetch("-n", 40, "-c", 40, "--max-per-host", 3, "--max-clients", 100, "--quiet",
                  srv.url("/echo?ms=20"), timeout=30)
    all_ok(run, 40)
    assert srv.max_conns <= 3 and srv.max_reqs <= 3, (srv.max_conns, srv.max_reqs)
    assert srv.max_reqs >= 2


def test_program_concurrency_c(srv):
    run = sqfetch("-n", 24, "-c", 4, "--max-clients", 100, "--max-per-host", 100, "--quiet",
                  srv.url("/echo?ms=20"), timeout=30)
    all_ok(run, 24)
    assert 2 <= srv.max_reqs <= 4, srv.max_reqs


def test_queued_requests_report_queue_time(srv):
    run = sqfetch("-n", 6, "-c", 6, "--max-clients", 1, srv.url("/echo?ms=50"), timeout=30)
    assert run.rc == 0 and len(run.results) == 6, str(run)
    assert srv.max_conns == 1 and srv.connections == 1
    queues = sorted(r["timing"]["queue"] for r in run.results)
    assert queues[-1] >= 150, f"the last of 6 requests through one connection waited: {queues}"


@pytest.mark.parametrize("idle_ms, delay_ms, want_conns", [(100, 400, 3), (5000, 200, 1)])
def test_the_pools_own_idle_timeout(srv, idle_ms, delay_ms, want_conns):
    """Sequential requests with pauses between them: a connection idle for
    longer than the pool's idle timeout is closed by the client (a new one
    for the next request); a shorter pause reuses it."""
    run = sqfetch("-n", 3, "--idle-timeout", idle_ms, "--delay", delay_ms, srv.url("/echo"), timeout=30)
    assert run.rc == 0 and len(run.results) == 3, str(run)
    assert srv.connections == want_conns, f"{srv.connections} connections (idle timeout {idle_ms} ms, pause {delay_ms} ms)"
    assert not any(r["error"] for r in run.results)


def test_pooled_connection_closed_after_response_is_retried_for_get(make_server):
    # the server closes each connection right after its response without
    # saying so: the next request finds a dead pooled connection
    s = make_server(close_after_response=True)
    run = sqfetch("-n", 5, s.url("/echo"), timeout=20)
    assert run.rc == 0 and len(run.results) == 5, str(run)
    assert all(r["status"] == 200 for r in run.results)
    assert len({json.loads(body(r))["conn"] for r in run.results}) == 5


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pooled_connection_closed_while_idle_is_not_used(make_server, method):
    # A (idle keep-alive timeout 0.2 s) redirects to B, which waits 0.5 s and
    # redirects back to A: meanwhile A closed the pooled connection. The
    # client must notice the close before sending (a POST too: 307 keeps it).
    a = make_server(idle_timeout=0.2)
    b = make_server()
    back = a.url("/echo/back")
    via_b = b.url("/redirect/307?ms=500&to=" + quote(back, safe=""))
    data = ["-X", "POST", "-d", "body"] if method == "POST" else []
    r = ok(sqfetch(*data, a.url("/redirect/307?to=" + quote(via_b, safe="")), timeout=20))
    assert r["redirects"] == 2 and r["effective_url"] == back
    e = json.loads(body(r))
    assert e["method"] == method and e["body"] == ("body" if data else "")
    assert [s["path"] for s in a.seen()] == ["/redirect/307", "/echo/back"], "the request was sent once"
    assert len(a.conn_ids()) == 2


def test_request_sent_then_connection_dropped_get_is_retried(make_server):
    # the second request on each connection is read, then the connection
    # closes without an answer: safe to retry an idempotent GET once
    s = make_server(drop_second=True)
    run = sqfetch("-n", 2, s.url("/echo"), timeout=20)
    assert run.rc == 0 and len(run.results) == 2, str(run)
    assert all(r["status"] == 200 for r in run.results)
    seen = s.seen()
    assert len(seen) == 3 and len(s.conn_ids()) == 2, seen


def test_request_sent_then_connection_dropped_post_is_not_retried(make_server):
    s = make_server(drop_second=True)
    run = sqfetch("-n", 2, "-X", "POST", "-d", "once", s.url("/echo"), timeout=20)
    seen = [(r["method"], r["conn"], r["conn_req"]) for r in s.seen()]
    assert len(seen) == 2, f"a POST that was sent and got no answer must not be sent again: {seen}"
    assert run.rc == 1 and len(run.results) == 2, str(run)
    errors = sorted(str(r["error"]) for r in run.results)
    assert errors == ["None", "SQ_ERR_CLOSED"], str(run)
    assert run.summary["errors"] == {"SQ_ERR_CLOSED": 1}
    assert [r["method"] for r in s.seen()] == ["POST", "POST"], "the POST was not sent twice"
