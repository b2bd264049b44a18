"""Content decoding (gzip, deflate), the decompression cap and the body cap."""
import gzip

import pytest

from scripted import BOMB_SIZE, PAYLOAD, gzip_bomb, pattern
from sqf import body, failed, header, ok, sqfetch


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_decoded(srv, coding):
    r = ok(sqfetch(srv.url(f"/{coding}")))
    assert body(r) == PAYLOAD and r["body_len"] == len(PAYLOAD)
    sent = srv.seen()[0]["headers"]
    ae = header(sent, "Accept-Encoding")
    assert ae is not None and {t.strip() for t in ae.split(",")} >= {"gzip", "deflate"}, ae


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_decoded_when_streamed(srv, coding):
    r = ok(sqfetch("--stream", srv.url(f"/{coding}")))
    assert body(r) == PAYLOAD and r["chunks"] >= 1


def test_no_decompress_sends_no_accept_encoding_and_keeps_the_bytes(srv):
    r = ok(sqfetch("--no-decompress", srv.url("/gzip")))
    assert header(srv.seen()[0]["headers"], "Accept-Encoding") is None
    assert body(r) == PAYLOAD, "the server sent identity: nothing to decode"
    r = ok(sqfetch("--no-decompress", srv.url("/gzip?force=1")))
    assert header(r["headers"], "Content-Encoding") == "gzip"
    assert gzip.decompress(body(r)) == PAYLOAD, "sent as received, not decoded"


def test_caller_accept_encoding_is_sent_as_is(srv):
    ok(sqfetch("-H", "Accept-Encoding: identity", srv.url("/echo")))
    values = [v for n, v in srv.seen()[0]["headers"] if n.lower() == "accept-encoding"]
    assert values == ["identity"]


def test_decoded_on_a_kept_alive_connection(srv):
    run = sqfetch("-n", 4, srv.url("/deflate"))
    assert run.rc == 0 and len(run.results) == 4, str(run)
    assert all(body(r) == PAYLOAD for r in run.results)
    assert len(srv.conn_ids()) == 1


@pytest.fixture
def bomb_srv(srv):
    gzip_bomb()  # built before the clock starts
    return srv


@pytest.fixture
def baseline_rss_kb(srv):
    """The program's max RSS for a small plain fetch."""
    run = sqfetch(srv.url("/echo"))
    assert run.rc == 0, str(run)
    return run.maxrss_kb


def test_gzip_bomb_is_capped_quickly_and_in_little_memory(bomb_srv, baseline_rss_kb):
    srv = bomb_srv
    run = sqfetch("--max-decompressed", 1 << 20, srv.url("/bomb"), timeout=20)
    r = failed(run, "SQ_ERR_LIMIT")
    assert "decompress" in r["message"].lower(), r["message"]
    # BOMB_SIZE (256 MiB) of zeros: decompressing them all would take
    # seconds and, if buffered, hundreds of MB
    assert run.elapsed < 2.0, f"{run.elapsed:.2f} s"
    assert run.maxrss_kb < baseline_rss_kb + 24 * 1024, \
        f"max RSS {run.maxrss_kb} KB for a 1 MiB cap ({baseline_rss_kb} KB for a small fetch)"
    assert BOMB_SIZE >= 200 << 20


def test_gzip_bomb_capped_when_streamed(bomb_srv, baseline_rss_kb):
    srv = bomb_srv
    run = sqfetch("--stream", "--max-decompressed", 1 << 20, srv.url("/bomb"), timeout=20)
    failed(run, "SQ_ERR_LIMIT")
    assert run.elapsed < 2.0 and run.maxrss_kb < baseline_rss_kb + 24 * 1024, (run.elapsed, run.maxrss_kb)


def test_decompressed_under_the_cap_is_fine(srv):
    r = ok(sqfetch("--max-decompressed", len(PAYLOAD), srv.url("/gzip")))
    assert body(r) == PAYLOAD
    failed(sqfetch("--max-decompressed", len(PAYLOAD) - 1, srv.url("/gzip")), "SQ_ERR_LIMIT")


@pytest.mark.parametrize("chunked", ["0", "1"], ids=["content-length", "chunked"])
def test_body_over_max_body_is_an_error_not_a_truncation(srv, chunked):
    n = 300000
    run = sqfetch("--max-body", 100000, srv.url(f"/big?n={n}&chunked={chunked}"), timeout=15)
    r = failed(run, "SQ_ERR_LIMIT")
    assert "body" in r["message"].lower(), r["message"]
    r = ok(sqfetch("--max-body", n, srv.url(f"/big?n={n}&chunked={chunked}")))
    assert body(r) == pattern(n)


def test_max_body_when_streamed(srv):
    failed(sqfetch("--stream", "--max-body", 100000, srv.url("/big?n=300000&chunked=1"), timeout=15), "SQ_ERR_LIMIT")
