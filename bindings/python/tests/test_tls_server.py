"""TLS from Python: ``HTTPServer(app, ssl_options={...})`` and
``Application.listen(..., ssl_options=...)`` as Tornado takes them, with a
test CA made at test time (trustme), a wss route, request.protocol; what
cannot be honoured (an SSLContext, client certificates, ciphers) fails with
a message naming the dict form."""
import asyncio
import http.client
import ssl

import pytest

APP = r'''
import os
from squall import ioloop, web, websocket, httpserver

class Main(web.RequestHandler):
    def get(self):
        self.write(self.request.protocol + " " + self.request.full_url())

class Echo(websocket.WebSocketHandler):
    def on_message(self, m):
        self.write_message(m, binary=isinstance(m, bytes))

app = web.Application([(r"/", Main), (r"/ws", Echo)])
opts = {"certfile": os.environ["CERT"], "keyfile": os.environ["KEY"]}
if os.environ.get("VIA") == "listen":
    app.listen(int(os.environ["PORT"]), "127.0.0.1", ssl_options=opts)
else:
    server = httpserver.HTTPServer(app, ssl_options=opts)
    server.listen(int(os.environ["PORT"]), "127.0.0.1")
ioloop.IOLoop.current().start()
'''


@pytest.mark.parametrize("via", ["server", "listen"])
def test_https_and_wss(run_server, pki, via):
    srv = run_server(APP, env={"CERT": pki["cert"], "KEY": pki["key"], "VIA": via})
    ctx = ssl.create_default_context(cafile=pki["ca"])
    c = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=10)
    c.request("GET", "/")
    r = c.getresponse()
    assert r.status == 200
    assert r.read().decode() == f"https https://localhost:{srv.port}/"
    c.close()

    import websockets

    async def ws():
        async with websockets.connect(f"wss://localhost:{srv.port}/ws", ssl=ctx) as w:
            await w.send("over tls")
            return await w.recv()

    assert asyncio.run(ws()) == "over tls"


def test_what_cannot_be_honoured_is_a_clear_error(pki):
    from squall import httpserver, web
    app = web.Application([])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with pytest.raises(ValueError, match=r"SSLContext.*'certfile'"):
        httpserver.HTTPServer(app, ssl_options=ctx)
    with pytest.raises(ValueError, match="client certificates"):
        httpserver.HTTPServer(app, ssl_options={"certfile": pki["cert"], "keyfile": pki["key"],
                                                "cert_reqs": ssl.CERT_REQUIRED})
    with pytest.raises(ValueError, match=r"ciphers cannot be honoured.*'certfile'"):
        httpserver.HTTPServer(app, ssl_options={"certfile": pki["cert"], "ciphers": "HIGH"})
    with pytest.raises(ValueError, match="needs 'certfile'"):
        httpserver.HTTPServer(app, ssl_options={"keyfile": pki["key"]})
    # accepted as Tornado takes it: the key in the certificate file
    assert httpserver.tls_files({"certfile": pki["cert"], "ssl_version": ssl.PROTOCOL_TLS_SERVER}) == \
        [(pki["cert"], pki["cert"])]


def test_bad_key_file_fails_at_listen(run_server, pki, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    src = r'''
import os
from squall import web, ioloop
app = web.Application([])
try:
    app.listen(int(os.environ["PORT"]), "127.0.0.1", ssl_options={"certfile": os.environ["CERT"], "keyfile": os.environ["KEY"]})
except ValueError as e:
    print("refused:", e, flush=True)
'''
    srv = run_server(src, env={"CERT": pki["cert"], "KEY": str(bad)}, wait=False)
    srv.proc.wait(30)
    assert "refused: ssl_options:" in srv.log() and "private key" in srv.log(), srv.log()


def test_chat_room_over_https_and_wss(run_server, pki, tmp_path):
    """The chat room with --certfile/--keyfile: the page over https, then a
    message round trip over wss."""
    import json
    from conftest import ROOT, free_port
    port = free_port()
    srv = run_server(path=str(ROOT / "examples" / "python" / "chat" / "chat.py"), port=port,
                     args=(f"--port={port}", "--address=127.0.0.1", f"--certfile={pki['cert']}",
                           f"--keyfile={pki['key']}"))
    ctx = ssl.create_default_context(cafile=pki["ca"])
    c = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=10)
    c.request("GET", "/")
    r = c.getresponse()
    assert r.status == 200 and b"<html" in r.read().lower()
    c.close()
    assert f"chat room on https://127.0.0.1:{srv.port}/" in srv.log()

    import websockets

    async def chat():
        async with websockets.connect(f"wss://localhost:{srv.port}/message?name=tls", ssl=ctx) as w:
            welcome = json.loads(await w.recv())
            assert welcome["type"] == "welcome", welcome
            await w.send(json.dumps({"body": "over wss"}))
            while True:
                ev = json.loads(await asyncio.wait_for(w.recv(), 10))
                if ev.get("type") == "message":
                    return ev

    ev = asyncio.run(chat())
    assert ev["body"] == "over wss" and ev["from"] == "tls"


def test_python_demo_serves_https(run_server, pki):
    from conftest import ROOT
    srv = run_server(path=str(ROOT / "examples" / "python" / "demo_server.py"),
                     env={"SQUALL_TLS_CERT": pki["cert"], "SQUALL_TLS_KEY": pki["key"]})
    ctx = ssl.create_default_context(cafile=pki["ca"])
    c = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=10)
    c.request("GET", "/")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"Hello, world")
    c.close()
    assert f"on https://127.0.0.1:{srv.port}/" in srv.log()
