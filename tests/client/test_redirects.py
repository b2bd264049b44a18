"""Redirects: method and body rules per status, credentials across origins,
limits, unsupported schemes."""
import json
from urllib.parse import quote

import pytest

from sqf import body, failed, header, ok, sqfetch


def echo(r):
    return json.loads(body(r))


@pytest.mark.parametrize("code", [301, 302, 303])
def test_post_becomes_get_without_body(srv, code):
    r = ok(sqfetch("-X", "POST", "-d", "form=data", "-H", "Content-Type: application/x-www-form-urlencoded",
                   srv.url(f"/redirect/{code}?to=/echo/target")))
    assert r["status"] == 200 and r["redirects"] == 1
    assert r["effective_url"] == srv.url("/echo/target") and r["url"] == srv.url(f"/redirect/{code}?to=/echo/target")
    e = echo(r)
    assert e["method"] == "GET" and e["path"] == "/echo/target" and e["body"] == ""
    assert header(e["headers"], "Content-Length") in (None, "0")
    assert header(e["headers"], "Transfer-Encoding") is None
    first = srv.seen()[0]
    assert first["method"] == "POST" and first["body"] == "form=data"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_head_stays_head(srv, code):
    r = ok(sqfetch("-X", "HEAD", srv.url(f"/redirect/{code}?to=/head")))
    assert r["status"] == 200 and r["redirects"] == 1 and r["body_len"] == 0
    assert [s["method"] for s in srv.seen()] == ["HEAD", "HEAD"]


@pytest.mark.parametrize("code", [307, 308])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_307_308_keep_method_and_body(srv, code, method):
    r = ok(sqfetch("-X", method, "-d", "the body", srv.url(f"/redirect/{code}?to=/echo/target")))
    assert r["redirects"] == 1 and r["status"] == 200
    e = echo(r)
    assert e["method"] == method and e["body"] == "the body" and e["path"] == "/echo/target"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_get_follows_each_kind(srv, code):
    r = ok(sqfetch(srv.url(f"/redirect/{code}?to=/echo/x")))
    assert r["redirects"] == 1 and echo(r)["path"] == "/echo/x" and echo(r)["method"] == "GET"
    # the redirect's own body was consumed: both requests on one connection
    assert len(srv.conn_ids()) == 1


def test_chain_of_redirects_counts(srv):
    hop3 = "/redirect/307?to=/echo/end"
    hop2 = "/redirect/302?to=" + quote(hop3, safe="")
    r = ok(sqfetch(srv.url("/redirect/301?to=" + quote(hop2, safe=""))))
    assert r["redirects"] == 3 and r["effective_url"] == srv.url("/echo/end")


def credential_args(_server):
    return ["-H", "Authorization: Bearer secret-token", "-H", "Cookie: session=abc", "-H", "X-Other: kept"]


def test_cross_origin_other_port_drops_authorization_and_cookie(make_server):
    a, b = make_server(), make_server()
    r = ok(sqfetch(*credential_args(a), a.url("/redirect/302?to=" + quote(b.url("/echo"), safe=""))))
    assert r["effective_url"] == b.url("/echo") and r["redirects"] == 1
    first = a.seen()[0]["headers"]
    assert header(first, "Authorization") == "Bearer secret-token" and header(first, "Cookie") == "session=abc"
    seen = echo(r)["headers"]
    assert header(seen, "Authorization") is None and header(seen, "Cookie") is None
    assert header(seen, "X-Other") == "kept"
    assert header(seen, "Host") == f"127.0.0.1:{b.port}"


def test_cross_origin_other_host_drops_authorization_and_cookie(srv):
    # 127.0.0.1 -> localhost, same port: another origin
    target = f"http://localhost:{srv.port}/echo"
    r = ok(sqfetch(*credential_args(srv), srv.url("/redirect/307?to=" + quote(target, safe=""))))
    seen = echo(r)["headers"]
    assert header(seen, "Host") == f"localhost:{srv.port}"
    assert header(seen, "Authorization") is None and header(seen, "Cookie") is None
    assert header(seen, "X-Other") == "kept"


def test_cross_origin_drops_basic_auth_from_user_option(make_server):
    a, b = make_server(), make_server()
    r = ok(sqfetch("--user", "u:p", a.url("/redirect/302?to=" + quote(b.url("/echo"), safe=""))))
    assert header(a.seen()[0]["headers"], "Authorization") is not None
    assert header(echo(r)["headers"], "Authorization") is None


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_same_origin_keeps_authorization_and_cookie(srv, absolute):
    to = srv.url("/echo") if absolute else "/echo"
    r = ok(sqfetch(*credential_args(srv), srv.url("/redirect/301?to=" + quote(to, safe=""))))
    seen = echo(r)["headers"]
    assert header(seen, "Authorization") == "Bearer secret-token"
    assert header(seen, "Cookie") == "session=abc"
    assert header(seen, "X-Other") == "kept"


def test_same_origin_keeps_basic_auth_from_user_option(srv):
    r = ok(sqfetch("--user", "u:p", srv.url("/redirect/302?to=/echo")))
    assert header(echo(r)["headers"], "Authorization") == "Basic dTpw"


def test_redirect_loop_stops_at_the_maximum(srv):
    run = sqfetch("--max-redirects", 3, srv.url("/loop"), timeout=15)
    r = failed(run, "SQ_ERR_LIMIT")
    assert "redirect" in r["message"].lower(), r["message"]
    assert len(srv.seen()) == 4, "the first request and 3 followed redirects"


def test_redirect_loop_default_maximum_is_5(srv):
    failed(sqfetch(srv.url("/loop"), timeout=15), "SQ_ERR_LIMIT")
    assert len(srv.seen()) == 6


def test_exactly_the_maximum_is_allowed(srv):
    hop2 = "/redirect/302?to=/echo/end"
    r = ok(sqfetch("--max-redirects", 2, srv.url("/redirect/302?to=" + quote(hop2, safe=""))))
    assert r["redirects"] == 2


def test_max_redirects_0_returns_the_3xx(srv):
    r = ok(sqfetch("--max-redirects", 0, srv.url("/redirect/302?to=/echo")))
    assert r["status"] == 302 and r["redirects"] == 0
    assert header(r["headers"], "Location") == "/echo"
    assert body(r) == b"redirecting\n"
    assert len(srv.seen()) == 1


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/file", "file:///etc/passwd", "javascript:alert(1)"])
def test_redirect_to_unsupported_scheme_is_an_error(srv, target):
    run = sqfetch(srv.url("/redirect/302?to=" + quote(target, safe="")), timeout=15)
    failed(run, "SQ_ERR_INVALID_ARG")
    assert len(srv.seen()) == 1
