"""The chat room in a real browser: Debian's headless Chromium driven by
Selenium through /usr/bin/chromedriver, two separate browser sessions (two
people) on one chat.py.

Nothing is downloaded: the browser and the driver are the system's, given to
Selenium by path, and SE_OFFLINE=1 keeps Selenium Manager off the network.
When Chromium, chromedriver or Selenium is missing the test is skipped, or
fails when SQUALL_REQUIRE_BROWSER=1 (CI sets it and installs them with
tests/browser-deps.sh).

Screenshots of both pages go to build/artifacts/chat-a.png and chat-b.png
(relative to the repository root).
"""
from __future__ import annotations

import os
import struct
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from test_chat import ROOT, ChatServer, start_chat

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "build" / "artifacts"
WAIT = 20.0   # seconds for anything the page must do


def _missing() -> list[str]:
    missing = []
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            missing.append("%s (Debian package %s)" % (path, pkg))
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the Python package selenium")
    return missing


def require_browser() -> None:
    """Skips, or fails under SQUALL_REQUIRE_BROWSER=1, when a piece is missing.
    Called from the test itself so that CI reports a failure, not an error."""
    missing = _missing()
    if not missing:
        return
    msg = ("the browser test needs " + ", ".join(missing) +
           "; install them with `bash tests/browser-deps.sh`")
    if os.environ.get("SQUALL_REQUIRE_BROWSER") == "1":
        pytest.fail("SQUALL_REQUIRE_BROWSER=1 but " + msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def start_server(tmp_path: Path):
    """Starts chat.py when called; stops it (by its PID) at the end."""
    started: list[ChatServer] = []

    def start(*args: str) -> ChatServer:
        srv = start_chat(tmp_path, args=args)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop_cleanly()


@pytest.fixture
def open_browser(tmp_path: Path):
    """Starts a headless Chromium session (its own profile, so its own
    localStorage: a separate person); every one started is quit at the end."""
    os.environ["SE_OFFLINE"] = "1"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def start(label: str, *extra: str) -> Any:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1100,760", "--no-first-run", "--no-default-browser-check",
                     "--disable-extensions", "--disable-background-networking", "--disable-sync",
                     "--user-data-dir=%s" % (tmp_path / ("profile-" + label)), *extra):
            opts.add_argument(flag)
        service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / ("chromedriver-%s.log" % label)))
        driver = webdriver.Chrome(service=service, options=opts)
        drivers.append(driver)
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        return driver

    yield start
    for d in drivers:
        try:
            d.quit()
        except Exception:
            pass


def wait_for(driver: Any, what: str, cond: Callable[[Any], Any]) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(cond)
    except TimeoutException:
        raise AssertionError("page did not show %s within %.0fs; page text:\n%s\nconsole:\n%s"
                             % (what, WAIT, _text(driver), _console(driver))) from None


def _text(driver: Any) -> str:
    try:
        return driver.find_element("tag name", "body").text
    except Exception as e:  # pragma: no cover - diagnostics only
        return "(no text: %s)" % e


def _console(driver: Any) -> str:
    try:
        return "\n".join(str(e) for e in driver.get_log("browser"))
    except Exception:
        return "(no console log)"


def bodies(driver: Any) -> list[tuple[str, str]]:
    """(sender, text) of every message line on the page, in order."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#inbox .line.message'))"
        ".map(function (l) { return [l.querySelector('.from').textContent, l.querySelector('.body').textContent]; });")


def shows(driver: Any, sender: str, text: str) -> Callable[[Any], bool]:
    return lambda _: [sender, text] in [list(x) for x in bodies(driver)]


def connected(driver: Any) -> Callable[[Any], bool]:
    return lambda _: driver.find_element("id", "status").get_attribute("data-state") == "open"


def texts(driver: Any, selector: str = "#online li") -> list[str]:
    # read in one script: the list is rebuilt on every join and leave
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(function (e) { return e.textContent; });",
        selector)


def named(driver: Any, name: str) -> Callable[[Any], bool]:
    return lambda _: name in texts(driver, "#online li.me")


def post(driver: Any, text: str) -> None:
    from selenium.webdriver.common.keys import Keys
    box = driver.find_element("id", "message")
    box.clear()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_two_browsers_chat(start_server: Callable[[], ChatServer], open_browser: Callable[[str], Any]) -> None:
    require_browser()
    from selenium.webdriver.common.keys import Keys

    chat = start_server()

    run = uuid.uuid4().hex[:6]
    alice, bob = "Alice " + run, "Bob " + run
    hello = "hello from A " + run
    reply = "and hello from B " + run
    markup = '<img src=x onerror="window.__pwned=1"><b>bold?</b> ' + run

    a = open_browser("a")
    b = open_browser("b")

    # A picks a name with the name box (kept in localStorage), B with ?name=.
    a.get(chat.url)
    wait_for(a, "a connection", connected(a))
    box = a.find_element("id", "name")
    box.clear()
    box.send_keys(alice + Keys.ENTER)
    wait_for(a, "the name " + alice, named(a, alice))
    assert a.execute_script("return localStorage.getItem('squall-chat-name')") == alice

    b.get(chat.url + "?name=" + bob.replace(" ", "%20"))
    wait_for(b, "a connection", connected(b))
    wait_for(b, "the name " + bob, named(b, bob))
    wait_for(a, bob + " in the who's-here list",
             lambda _: bob in texts(a))

    # A message typed in A appears in A and in B.
    post(a, hello)
    wait_for(a, "its own message", shows(a, alice, hello))
    wait_for(b, "A's message", shows(b, alice, hello))
    assert a.find_element("id", "message").get_attribute("value") == ""

    # One from B appears in A.
    post(b, reply)
    wait_for(a, "B's message", shows(a, bob, reply))
    wait_for(b, "its own message", shows(b, bob, reply))

    # Both pages negotiated permessage-deflate (Chromium offers it, the room
    # accepts it), and a long repetitive message crosses both ways intact;
    # the room's metrics show both directions went compressed (fewer bytes
    # as frames than the messages' payloads).
    for d in (a, b):
        ext = d.find_element("id", "status").get_attribute("data-extensions")
        assert ext is not None and ext.startswith("permessage-deflate"), ext
    long_a = ("squall compresses this " * 150)[:3000] + run
    long_b = ("and Chromium inflates it " * 150)[:3000] + run
    post(a, long_a)
    wait_for(b, "A's long message", shows(b, alice, long_a))
    post(b, long_b)
    wait_for(a, "B's long message", shows(a, bob, long_b))
    with urllib.request.urlopen(chat.url.rstrip("/") + "/metrics", timeout=5) as r:
        figures = dict(line.rsplit(" ", 1) for line in r.read().decode().splitlines()
                       if line.startswith("squall_websocket_"))
    for way in ("in", "out"):
        wire = float(figures['squall_websocket_wire_bytes_total{direction="%s"}' % way])
        payload = float(figures['squall_websocket_payload_bytes_total{direction="%s"}' % way])
        assert 0 < wire < payload, (way, wire, payload)

    # Markup typed in a message is shown as text, never run.
    post(b, markup)
    wait_for(a, "the markup as text", shows(a, bob, markup))
    for d in (a, b):
        assert d.execute_script("return window.__pwned === undefined")
        assert d.find_elements("css selector", "#inbox img, #inbox b") == []

    # A message over 4 KiB is refused on the page with a word why, and the
    # text stays in the box (the server refuses it too: test_chat.py).
    big = "y" * 5000
    box_b = b.find_element("id", "message")
    b.execute_script("arguments[0].value = arguments[1];", box_b, big)
    box_b.send_keys(Keys.ENTER)
    wait_for(b, "the too-long error", lambda _: "at most 4096 bytes" in b.find_element("id", "error").text)
    assert box_b.get_attribute("value") == big
    box_b.clear()

    # Own messages are marked as such on each side.
    mine_a = texts(a, "#inbox .line.message.mine .body")
    assert hello in mine_a and reply not in mine_a

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = {"a": ARTIFACTS / "chat-a.png", "b": ARTIFACTS / "chat-b.png"}
    for label, driver in (("a", a), ("b", b)):
        shots[label].unlink(missing_ok=True)
        assert driver.save_screenshot(str(shots[label])), "screenshot of page %s failed" % label
    for path in shots.values():
        assert path.is_file(), path
        width, height = png_size(path)
        assert width >= 400 and height >= 300, (path, width, height)
        assert path.stat().st_size > 10_000, "%s is only %d bytes" % (path, path.stat().st_size)

    # A new page (A reloaded) gets its name back and the history from the server.
    a.refresh()
    wait_for(a, "a connection after reload", connected(a))
    assert a.find_element("id", "name").get_attribute("value") == alice
    wait_for(a, "the history", lambda _: all(x in [list(y) for y in bodies(a)]
                                             for x in ([alice, hello], [bob, reply], [bob, markup])))
    assert a.execute_script("return window.__pwned === undefined")
    assert big not in [text for _, text in bodies(a)]
    assert chat.alive(), chat.log()
    assert "Traceback" not in chat.log(), chat.log()


def test_chat_over_https_and_wss(start_server: Callable[..., ChatServer], open_browser: Callable[..., Any],
                                 tmp_path: Path) -> None:
    """chat.py with --certfile/--keyfile (a certificate made now by trustme),
    in Chromium trusting exactly that certificate's key
    (--ignore-certificate-errors-spki-list): the page over https, the
    WebSocket over wss, a message sent and shown."""
    require_browser()
    import base64
    import hashlib

    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    pub = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_key()
    spki = base64.b64encode(hashlib.sha256(pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest())

    chat = start_server("--certfile=%s" % cert, "--keyfile=%s" % key)
    browser = open_browser("tls", "--ignore-certificate-errors-spki-list=" + spki.decode())
    run = uuid.uuid4().hex[:6]
    name, text = "Tess " + run, "sent over wss " + run
    url = "https://localhost:%d/?name=%s" % (chat.port, name.replace(" ", "%20"))
    browser.get(url)
    wait_for(browser, "a connection over wss", connected(browser))
    assert browser.execute_script("return window.location.protocol") == "https:"
    post(browser, text)
    wait_for(browser, "the message", shows(browser, name, text))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "chat-tls.png"))
    assert "chat room on https://127.0.0.1:%d/" % chat.port in chat.log()


def test_two_browsers_on_two_processes_behind_nginx(open_browser: Callable[..., Any], tmp_path: Path) -> None:
    """`make demo-cluster` (examples/python/chat/cluster.py): nginx in front
    of two chat processes joined through a redis-server. Each page's
    WebSocket lands on a different process (read from each one's /metrics),
    and each page shows the other's messages and name."""
    require_browser()
    import http.client
    import re
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "cluster.log", "w+")
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "python" / "chat" / "cluster.py"),
                             "--port=%d" % port], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "Ctrl-C stops it all" not in (log.seek(0) or log.read()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read()
            time.sleep(0.1)
        log.seek(0)
        backends = [int(p) for p in re.search(r"processes \(([\d, ]+)\)", log.read()).group(1).split(", ")]

        def open_sockets(p: int) -> int:
            c = http.client.HTTPConnection("127.0.0.1", p, timeout=5)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
            c.close()
            opened = int(re.search(r"^squall_websocket_opened_total (\d+)$", text, re.M).group(1))
            closed = sum(int(v) for v in re.findall(r"^squall_websocket_closed_total\{[^}]*\} (\d+)$", text, re.M))
            return opened - closed

        run = uuid.uuid4().hex[:6]
        alice, bob = "Alice " + run, "Bob " + run
        url = "http://127.0.0.1:%d/?name=" % port
        a = open_browser("ca")
        a.get(url + alice.replace(" ", "%20"))
        wait_for(a, "a connection", connected(a))
        first = [open_sockets(p) for p in backends]
        assert sorted(first) == [0, 1], first
        b = open_browser("cb")
        for _ in range(6):  # round robin: reload until B's socket is on the other process
            b.get(url + bob.replace(" ", "%20"))
            wait_for(b, "a connection", connected(b))
            if [open_sockets(p) for p in backends] == [1, 1]:
                break
            # a page load is an even number of requests: one more moves
            # nginx's round robin on by one
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/metrics")
            c.getresponse().read()
            c.close()
        assert [open_sockets(p) for p in backends] == [1, 1], "one page on each process"
        wait_for(a, bob + " (on the other process) in the who's-here list", lambda _: bob in texts(a))
        wait_for(b, alice + " (on the other process) in the who's-here list", lambda _: alice in texts(b))
        post(a, "hello across processes " + run)
        wait_for(b, "A's message", shows(b, alice, "hello across processes " + run))
        post(b, "and back " + run)
        wait_for(a, "B's message", shows(a, bob, "and back " + run))
        # pages loaded now, on either process (two requests in a row: nginx's
        # round robin sends them to the two), have both messages in their
        # history. Each process records the other's message when its room
        # listener hears it from Redis, which may be a moment after a page on
        # that process showed it (both are fed by the same publish).
        deadline = time.monotonic() + 5
        in_a_row = 0
        while in_a_row < 2:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            page = c.getresponse().read().decode()
            c.close()
            has_both = "hello across processes " + run in page and "and back " + run in page
            in_a_row = in_a_row + 1 if has_both else 0
            assert has_both or time.monotonic() < deadline, "a page without both messages after 5 s"
            if not has_both:
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
