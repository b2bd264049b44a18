"""Porting: programs written for Tornado 6 run on squall with only their
imports changed, and behave the same (each runs under both)."""
import asyncio
import difflib
import http.client
import re
import subprocess
import sys

import pytest
import websockets

from conftest import child_env, launch

HELLO = '''
import tornado.ioloop
import tornado.web
import os

class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("Hello, " + self.get_argument("name", "world"))

class JsonHandler(tornado.web.RequestHandler):
    async def post(self, item):
        self.set_status(201)
        self.write({"item": item, "len": len(self.request.body)})

def make_app():
    return tornado.web.Application([
        (r"/", MainHandler),
        (r"/items/([0-9]+)", JsonHandler),
    ])

if __name__ == "__main__":
    app = make_app()
    app.listen(int(os.environ["PORT"]), "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()
'''

ECHO = '''
import os
import tornado.ioloop
import tornado.web
import tornado.websocket

class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def open(self):
        self.write_message("welcome")

    def on_message(self, message):
        self.write_message(u"You said: " + message)

    def on_close(self):
        pass

application = tornado.web.Application([(r"/websocket", EchoWebSocket)])
application.listen(int(os.environ["PORT"]), "127.0.0.1")
tornado.ioloop.IOLoop.current().start()
'''

FETCH = '''
import asyncio, sys
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

async def main():
    http_client = AsyncHTTPClient()
    response = await http_client.fetch(sys.argv[1])
    print(response.code, response.body.decode())
    try:
        await http_client.fetch(sys.argv[1] + "nope")
    except HTTPClientError as e:
        print("error", e.code)

asyncio.run(main())
'''


def to_squall(src):
    """Rewrites the import lines only: ``from tornado.x import y`` →
    ``from squall.x import y``; ``import tornado.x`` → ``import squall.x``
    plus one ``import squall as tornado`` so the code's ``tornado.web.…``
    names resolve unchanged."""
    lines, aliased = [], False
    for line in src.splitlines():
        m = re.match(r"^(\s*)(import|from)\s+tornado\b(.*)$", line)
        if m:
            lines.append(f"{m.group(1)}{m.group(2)} squall{m.group(3)}")
            if m.group(2) == "import" and not aliased:
                lines.append(f"{m.group(1)}import squall as tornado")
                aliased = True
        else:
            lines.append(line)
    out = "\n".join(lines) + "\n"
    changed = [l for l in difflib.unified_diff(src.splitlines(), out.splitlines(), lineterm="", n=0)
               if l.startswith(("+", "-")) and not l.startswith(("+++", "---"))]
    assert changed, "nothing to port?"
    for line in changed:
        assert re.match(r"^[+-]\s*(import|from)\s", line), "only import lines may change: " + line
    return out


def hello_results(port):
    out = []
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for method, path, body in (("GET", "/", None), ("GET", "/?name=squall", None), ("POST", "/items/42", b"abcd"),
                               ("GET", "/items/42", None), ("GET", "/missing", None)):
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        # error pages differ (squall's router answers an unrouted path itself): status only
        out.append((r.status, r.getheader("Content-Type"), data) if r.status < 400 else (r.status,))
    return out


@pytest.mark.parametrize("program", ["hello", "echo"])
def test_same_behaviour_on_tornado_and_squall(tmp_path, program):
    pytest.importorskip("tornado")
    src = HELLO if program == "hello" else ECHO
    results = {}
    for flavour, code in (("tornado", src), ("squall", to_squall(src))):
        server = launch(tmp_path, code, name=f"{flavour}_{program}")
        port = server.port
        try:
            if program == "hello":
                results[flavour] = hello_results(port)
            else:
                async def talk():
                    async with websockets.connect(f"ws://127.0.0.1:{port}/websocket", origin=None) as ws:
                        got = [await ws.recv()]
                        for m in ("one", "two"):
                            await ws.send(m)
                            got.append(await ws.recv())
                        return got
                results[flavour] = asyncio.run(asyncio.wait_for(talk(), 10))
        finally:
            server.stop()
    assert results["squall"] == results["tornado"]
    if program == "echo":
        assert results["squall"] == ["welcome", "You said: one", "You said: two"]
    else:
        assert results["squall"][1][2] == b"Hello, squall"


def test_async_http_client_fetch_ports(tmp_path):
    pytest.importorskip("tornado")
    server = launch(tmp_path, to_squall(HELLO), name="target")
    port = server.port
    try:
        outs = []
        for code in (FETCH, to_squall(FETCH)):
            r = subprocess.run([sys.executable, "-c", code, f"http://127.0.0.1:{port}/"], env=child_env(),
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            outs.append(r.stdout)
        assert outs[0] == outs[1] == "200 Hello, world\nerror 404\n"
    finally:
        server.stop()
