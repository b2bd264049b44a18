"""IOLoop on asyncio: callbacks from threads, timers, coexistence with other
asyncio code, garbage collection under traffic, the log bridge. Each test
runs in a fresh subprocess so that it has its own loops."""
import subprocess
import sys
import textwrap

from conftest import child_env


def run_py(code, timeout=60):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env(), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_run_sync_result_exception_timeout():
    out = run_py('''
        import asyncio
        from squall.ioloop import IOLoop
        loop = IOLoop.current()
        assert IOLoop.current() is loop
        async def f(): await asyncio.sleep(0.01); return 42
        assert loop.run_sync(f) == 42
        assert loop.run_sync(lambda: 7) == 7
        async def bad(): raise KeyError("x")
        try: loop.run_sync(bad); raise SystemExit("no exception")
        except KeyError: pass
        async def slow(): await asyncio.sleep(5)
        try: loop.run_sync(slow, timeout=0.1); raise SystemExit("no timeout")
        except asyncio.TimeoutError: pass
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_add_callback_from_8_threads():
    out = run_py('''
        import threading
        from squall.ioloop import IOLoop
        from squall import web
        loop = IOLoop.current()
        seen = []
        main_thread = threading.get_ident()
        def cb(t, i):
            assert threading.get_ident() == main_thread
            seen.append((t, i))
            if len(seen) == 8000: loop.stop()
        async def start():
            web.Application([]).listen(0, "127.0.0.1")  # the squall loop is attached
            def producer(t):
                for i in range(1000): loop.add_callback(cb, t, i)
            for t in range(8): threading.Thread(target=producer, args=(t,)).start()
        loop.add_callback(start)
        loop.call_later(30, loop.stop)
        loop.start()
        assert len(seen) == 8000 and len(set(seen)) == 8000
        for t in range(8):  # FIFO per producer
            assert [i for (tt, i) in seen if tt == t] == list(range(1000))
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_timers_and_periodic_callback():
    out = run_py('''
        import time
        from squall.ioloop import IOLoop, PeriodicCallback
        loop = IOLoop.current()
        fired = []
        loop.call_later(0.05, fired.append, "later")
        loop.call_at(loop.time() + 0.02, fired.append, "at")
        h = loop.call_later(0.03, fired.append, "removed")
        loop.remove_timeout(h)
        ticks = []
        pc = PeriodicCallback(lambda: ticks.append(1), 10)
        pc.start()
        assert pc.is_running()
        loop.call_later(0.2, pc.stop)
        loop.call_later(0.3, loop.stop)
        loop.start()
        assert fired == ["at", "later"], fired
        assert 8 <= len(ticks) <= 22, len(ticks)
        fut = loop.run_sync(lambda: loop.run_in_executor(None, lambda: 5))
        assert fut == 5
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_asyncio_coexistence_and_gc_under_traffic():
    out = run_py('''
        import asyncio, gc, threading, http.client
        from squall import web, websocket, ioloop

        class H(web.RequestHandler):
            async def get(self):
                await asyncio.sleep(0)
                self.write("n=" + self.get_argument("n"))
        class E(websocket.WebSocketHandler):
            def on_message(self, m): self.write_message(m)

        async def echo_server(reader, writer):
            while data := await reader.read(100):
                writer.write(data.upper()); await writer.drain()
            writer.close()

        async def main():
            srv = web.Application([(r"/", H), (r"/ws", E)]).listen(0, "127.0.0.1")
            port = srv.ports[0]
            aserver = await asyncio.start_server(echo_server, "127.0.0.1", 0)
            aport = aserver.sockets[0].getsockname()[1]
            stop = False
            collections = [0]
            def collector():
                while not stop:
                    gc.collect(); collections[0] += 1
            threading.Thread(target=collector, daemon=True).start()

            def http_load(errors):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for i in range(500):
                    c.request("GET", f"/?n={i}")
                    body = c.getresponse().read()
                    if body != f"n={i}".encode(): errors.append(body)
            errors = []
            threads = [threading.Thread(target=http_load, args=(errors,)) for _ in range(4)]
            for t in threads: t.start()

            # an asyncio client in the same loop, while squall serves
            r, w = await asyncio.open_connection("127.0.0.1", aport)
            for i in range(50):
                w.write(b"abc"); await w.drain()
                assert await r.readexactly(3) == b"ABC"
            w.close()

            from squall.websocket import websocket_connect
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            for i in range(200):
                conn.write_message(f"m{i}")
                assert await conn.read_message() == f"m{i}"
            conn.close()
            while any(t.is_alive() for t in threads):
                await asyncio.sleep(0.02)
            stop = True
            aserver.close()
            assert not errors, errors[:3]
            assert collections[0] > 10
            return "ok"

        print(ioloop.IOLoop.current().run_sync(main, timeout=60))
    ''', timeout=90)
    assert out.strip().endswith("ok")


def test_library_log_records_reach_logging():
    out = run_py('''
        import logging
        records = []
        class H(logging.Handler):
            def emit(self, r): records.append(r)
        logging.getLogger("squall.general").addHandler(H())
        logging.getLogger("squall.general").setLevel(logging.INFO)
        from squall import web, ioloop
        async def main():
            web.Application([]).listen(0, "127.0.0.1")
        ioloop.IOLoop.current().run_sync(main)
        assert any("listening on http://127.0.0.1:" in r.getMessage() for r in records), [r.getMessage() for r in records]
        print("ok")
    ''')
    assert out.strip() == "ok"
