"""https: verification against the system's roots by default, --cacert to
trust the test CA, errors for an unknown CA or a wrong name."""
import json

from scripted import server_ctx
from sqf import body, failed, header, ok, sqfetch


def test_https_with_the_test_ca(tls_srv, pki):
    r = ok(sqfetch("--cacert", pki["ca_pem"], tls_srv.url("/echo")))
    assert r["status"] == 200 and json.loads(body(r))["method"] == "GET"
    t = r["timing"]
    assert t["connect"] <= t["tls"] <= t["first_byte"] <= t["total"], t


def test_https_localhost(tls_srv, pki):
    r = ok(sqfetch("--cacert", pki["ca_pem"], f"https://localhost:{tls_srv.port}/echo"))
    assert header(json.loads(body(r))["headers"], "Host") == f"localhost:{tls_srv.port}"


def test_https_post_keep_alive_and_big_body(tls_srv, pki):
    run = sqfetch("--cacert", pki["ca_pem"], "-n", 5, "-X", "POST", "-d", "secret", tls_srv.url("/echo"))
    assert run.rc == 0 and len(run.results) == 5, str(run)
    assert {json.loads(body(r))["body"] for r in run.results} == {"secret"}
    assert len(tls_srv.conn_ids()) == 1
    r = ok(sqfetch("--cacert", pki["ca_pem"], tls_srv.url("/big?n=2000000&chunked=1")))
    assert r["body_len"] == 2000000


def test_https_gzip(tls_srv, pki):
    from scripted import PAYLOAD
    assert body(ok(sqfetch("--cacert", pki["ca_pem"], tls_srv.url("/gzip")))) == PAYLOAD


def test_wrong_ca(tls_srv, pki):
    failed(sqfetch("--cacert", pki["other_ca_pem"], tls_srv.url("/echo"), timeout=15), "SQ_ERR_TLS")
    assert tls_srv.seen() == []


def test_default_roots_do_not_trust_the_test_ca(tls_srv):
    failed(sqfetch(tls_srv.url("/echo"), timeout=15), "SQ_ERR_TLS")
    assert tls_srv.seen() == []


def test_wrong_name(make_server, pki):
    s = make_server(ssl_ctx=server_ctx(pki["wrong_name_leaf"]))
    failed(sqfetch("--cacert", pki["ca_pem"], s.url("/echo"), timeout=15), "SQ_ERR_TLS")
    assert s.seen() == []


def test_https_to_a_plain_http_server(srv, pki):
    run = sqfetch("--cacert", pki["ca_pem"], f"https://127.0.0.1:{srv.port}/echo", timeout=15)
    r = run.one()
    assert r["error"] in ("SQ_ERR_TLS", "SQ_ERR_PROTOCOL", "SQ_ERR_CLOSED"), str(run)


def test_redirect_from_https_to_http_other_origin_drops_credentials(tls_srv, srv, pki):
    from urllib.parse import quote
    r = ok(sqfetch("--cacert", pki["ca_pem"], "-H", "Authorization: Bearer t",
                   tls_srv.url("/redirect/302?to=" + quote(srv.url("/echo"), safe=""))))
    assert header(json.loads(body(r))["headers"], "Authorization") is None


def test_missing_cacert_file_is_an_error(tls_srv, tmp_path):
    run = sqfetch("--cacert", tmp_path / "nope.pem", tls_srv.url("/echo"), timeout=15)
    assert run.rc in (1, 2), str(run)
