"""/ws/chat across demo processes joined to one real redis-server
(SQUALL_CLUSTER), with Python's websockets as the client, and the faults a
deployment meets: Redis killed and restarted, pub/sub clients killed, Redis
asleep past the liveness timeout, Redis cutting off a slow process, a wrong
password, a URL that does not parse, junk on the channel prefix; and Redis
over TLS (rediss://), trusted through ca= or not at all."""
import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
from websockets.sync.client import connect

from conftest import Redis, make_certs, wait_for

CHAT = "squall:chat"


@pytest.fixture
def chat():
    """Opens a client on a demo's /ws/chat; all are closed at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda demo: stack.enter_context(
            connect(f"ws://127.0.0.1:{demo.port}/ws/chat", open_timeout=5, max_size=None))


def both_connected(a, b):
    a.wait_state("connected")
    b.wait_state("connected")


def metrics(demo) -> dict:
    """The demo's GET /metrics, unlabelled samples only: name -> value."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{demo.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines()
            if ln and not ln.startswith("#") and "{" not in ln}


def collect(ws, n, timeout=10.0):
    got = []
    end = time.monotonic() + timeout
    while len(got) < n:
        got.append(ws.recv(timeout=max(0.01, end - time.monotonic())))
    return got


def test_a_message_in_either_process_reaches_both_in_order_byte_for_byte(redis, demos, chat):
    a, b = demos(redis.url()), demos(redis.url())
    both_connected(a, b)
    wa, wb = chat(a), chat(b)
    wait_for("both processes subscribed in Redis", lambda: redis.numsub(CHAT) == 2)
    every_byte = bytes(range(256))
    sent = []
    for i in range(100):
        for tag, ws in (("a", wa), ("b", wb)):
            if i % 2:
                m = f"{tag}{i} héllo ☃ 𝄞 \x00 end"
            else:
                m = tag.encode() + i.to_bytes(2, "big") + every_byte * (1 + i % 3)
            ws.send(m)
            sent.append(m)
    for who, ws in (("a", wa), ("b", wb)):
        got = collect(ws, len(sent))
        for tag in ("a", "b"):
            mine = [m for m in got if (m[:1] == tag.encode() if isinstance(m, bytes) else m.startswith(tag))]
            want = [m for m in sent if (m[:1] == tag.encode() if isinstance(m, bytes) else m.startswith(tag))]
            assert mine == want, f"{tag}'s messages as {who}'s client saw them: in order, none twice, every byte"
    ia, ib = a.info(), b.info()
    assert ia["echo"] == 100 and ib["echo"] == 100, (ia, ib)
    assert ia["delivered"] == 100 and ib["delivered"] == 100, (ia, ib)
    assert ia["gaps"] + ib["gaps"] + ia["repeats"] + ib["repeats"] == 0, (ia, ib)
    # the same counters in the demo's /metrics text (squall_cluster_*)
    for d in (a, b):
        m = metrics(d)
        assert m["squall_cluster_published_total"] == 100, m
        assert m["squall_cluster_echo_total"] == 100 and m["squall_cluster_delivered_total"] == 100, m
        assert m["squall_cluster_received_total"] == 200, m
        assert m["squall_cluster_connected"] == 1 and m["squall_cluster_gaps_total"] == 0, m
    wa.close()
    wb.close()
    wait_for("the channel released when the last local subscriber left", lambda: redis.numsub(CHAT) == 0)


def test_redis_killed_mid_traffic_then_restarted(redis, demos, chat):
    a, b = demos(redis.url()), demos(redis.url())
    both_connected(a, b)
    wa, wb = chat(a), chat(b)
    wait_for("both subscribed", lambda: redis.numsub(CHAT) == 2)
    stop = threading.Event()
    sent = []

    def talk():
        i = 0
        while not stop.is_set() and i < 2000:
            wa.send(f"m{i}")
            sent.append(f"m{i}")
            i += 1
            time.sleep(0.002)
    t = threading.Thread(target=talk)
    t.start()
    time.sleep(0.2)
    redis.kill9()
    a.wait_state("lost")
    b.wait_state("lost")
    time.sleep(0.3)
    stop.set()
    t.join()
    assert a.info()["state"] == "lost"
    held = a.info()["outbox"]
    assert held > 0, "publishes made while Redis was down wait in the outbox"
    # Local delivery went on: a's own client got every message, in order.
    assert collect(wa, len(sent)) == sent
    r2 = Redis(port=redis.port)
    try:
        a.wait_state("resynced", timeout=15)
        b.wait_state("resynced", timeout=15)
        wait_for("a's outbox replayed", lambda: a.info()["outbox"] == 0)
        wa.send("last")  # a loss at the end shows as a gap too
        assert collect(wa, 1) == ["last"]
        got = []
        while not got or got[-1] != "last":
            got.append(wb.recv(timeout=10))
        nums = [int(m[1:]) for m in got[:-1]]
        assert nums == sorted(set(nums)), "in order, none twice"
        assert set(nums) <= set(range(len(sent)))
        assert len(got) + b.info()["gaps"] == len(sent) + 1, "b's gap counter says exactly what it missed"
        assert a.info()["outbox_full"] == 0
    finally:
        r2.stop()


def test_client_kill_type_pubsub_resubscribes(redis, demos, chat):
    a, b = demos(redis.url()), demos(redis.url())
    both_connected(a, b)
    wa, wb = chat(a), chat(b)
    wait_for("both subscribed", lambda: redis.numsub(CHAT) == 2)
    assert int(redis.cli("CLIENT", "KILL", "TYPE", "pubsub")) == 2
    a.wait_state("lost")
    b.wait_state("lost")
    a.wait_state("resynced")
    b.wait_state("resynced")
    wait_for("both subscribed again", lambda: redis.numsub(CHAT) == 2)
    wb.send("after the kill")
    assert collect(wa, 1) == ["after the kill"]
    assert collect(wb, 1) == ["after the kill"]
    assert a.info()["reconnects"] == 1, "only the subscribing connection came back"


def test_redis_asleep_past_the_liveness_timeout(redis, demos, chat):
    # ping_ms=200, timeout_ms=1000: a 3 s sleep is a dead server.
    a = demos(redis.url())
    a.wait_state("connected")
    wa = chat(a)
    wait_for("subscribed", lambda: redis.numsub(CHAT) == 1)
    t0 = time.monotonic()
    redis.cli("DEBUG", "SLEEP", "3")
    a.wait_state("lost")
    assert time.monotonic() - t0 < 3.5
    a.wait_state("resynced", timeout=15)
    wa.send("awake")
    assert collect(wa, 1) == ["awake"]


def test_redis_cuts_off_a_slow_process(redis, demos, chat):
    a, b = demos(redis.url()), demos(redis.url())
    both_connected(a, b)
    wa, wb = chat(a), chat(b)
    wait_for("both subscribed", lambda: redis.numsub(CHAT) == 2)
    assert redis.cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1") == "OK"
    os.kill(b.proc.pid, signal.SIGSTOP)  # b reads nothing: its Redis output buffer grows
    try:
        for i in range(20):
            wa.send(f"m{i}")
        assert collect(wa, 20) == [f"m{i}" for i in range(20)]
        # Then more than the kernel's socket buffers hold, from redis-cli
        # (not squall's: b will count them as junk if it ever sees them).
        flood = ("PUBLISH " + CHAT + " " + "x" * 65536 + "\n") * 400
        subprocess.run(["redis-cli", "-p", str(redis.port)], input=flood.encode(), capture_output=True, timeout=60)
        wait_for("Redis to cut b's subscribing connection off", lambda: redis.numsub(CHAT) == 1)
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    b.wait_state("lost")
    b.wait_state("resynced", timeout=15)
    wait_for("b subscribed again", lambda: redis.numsub(CHAT) == 2)
    wa.send("after")
    assert collect(wa, 1) == ["after"]
    got = []
    while not got or got[-1] != "after":
        got.append(wb.recv(timeout=10))
    nums = [int(m[1:]) for m in got[:-1]]
    assert nums == list(range(len(nums))), "what b got before the cut, in order"
    assert len(got) + b.info()["gaps"] == 21, "what b got plus what it counted as lost is what was sent"


def test_a_wrong_password_is_lost_and_the_server_goes_on(demos, chat):
    r = Redis(password="s3cret")
    try:
        bad = demos(r.url(auth=":wrong@"))
        bad.wait_state("lost")
        log = r.cli("ACL", "LOG").splitlines()
        assert "reason" in log and log[log.index("reason") + 1] == "auth", f"Redis refused the password: {log}"
        assert bad.info()["state"] == "lost"
        ws = chat(bad)
        ws.send("local still works")
        assert collect(ws, 1) == ["local still works"]
        good = demos(r.url(auth=":s3cret@"))
        good.wait_state("connected")
    finally:
        r.stop()


def test_a_url_that_does_not_parse_is_a_clear_error(demos):
    d = demos("redis://127.0.0.1:6379/notanumber", wait=False)
    assert d.proc.wait(timeout=10) == 2
    assert "cluster URL" in d.output() and "database" in d.output()


def test_junk_on_the_prefix_is_counted_and_dropped(redis, demos, chat):
    a = demos(redis.url())
    a.wait_state("connected")
    wa = chat(a)
    wait_for("subscribed", lambda: redis.numsub(CHAT) == 1)
    assert redis.cli("PUBLISH", CHAT, "not squall's") == "1"
    assert redis.cli("PUBLISH", CHAT, "SQC1\x07" + "a" * 40) == "1"  # unknown flags
    wait_for("junk counted", lambda: a.info()["junk"] == 2)
    wa.send("next")
    assert collect(wa, 1) == ["next"], "the junk never reached the socket"


def test_a_chat_message_crosses_a_tls_redis(demos, chat, tmp_path):
    certs = make_certs(tmp_path)
    r = Redis(tls=certs)
    try:
        ca = urllib.parse.quote(str(certs / "ca.pem"))
        a, b = demos(r.url(opts=f"&ca={ca}")), demos(r.url(opts=f"&ca={ca}"))
        both_connected(a, b)
        wa, wb = chat(a), chat(b)
        wait_for("both subscribed over TLS", lambda: r.numsub(CHAT) == 2)
        wa.send("over TLS: h\u00e9llo \u2603")
        assert collect(wb, 1) == ["over TLS: h\u00e9llo \u2603"], "a's message reached b's process through Redis"
        assert collect(wa, 1) == ["over TLS: h\u00e9llo \u2603"]
        assert b.info()["delivered"] == 1
    finally:
        r.stop()


def test_an_untrusted_tls_redis_is_lost_with_the_reason_in_the_log(demos, chat, tmp_path):
    certs = make_certs(tmp_path)
    r = Redis(tls=certs)
    try:
        other = urllib.parse.quote(str(certs / "other-ca.pem"))
        d = demos(r.url(opts=f"&ca={other}"), extra_env={"SQUALL_LOG": "error"})
        d.wait_state("lost")
        wait_for("the certificate error in the log", lambda: "invalid peer certificate" in d.output())
        assert r.numsub(CHAT) == 0
        ws = chat(d)
        ws.send("local still works")
        assert collect(ws, 1) == ["local still works"]
        assert d.info()["state"] == "lost"
    finally:
        r.stop()
