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
        # as Tornado: a plain function may return None or something a
        # coroutine could yield; anything else is BadYieldError
        assert loop.run_sync(lambda: None) is None
        from squall.gen import BadYieldError
        try: loop.run_sync(lambda: 7); raise SystemExit("no BadYieldError")
        except BadYieldError: pass
        assert loop.run_sync(lambda: [f(), f()]) == [42, 42]
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
        import asyncio, gc, threading, http.client, time
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
                # a pause between collections: a thread that never lets go of
                # the GIL makes every switch to the loop thread wait the 5 ms
                # switch interval (Tornado too), which only makes this slow
                while not stop:
                    gc.collect(); collections[0] += 1
                    time.sleep(0.0005)
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
        logging.getLogger("squall.general").setLevel(logging.DEBUG)
        from squall import web, ioloop
        async def main():
            web.Application([]).listen(0, "127.0.0.1")
        ioloop.IOLoop.current().run_sync(main)
        # the library's INFO records arrive at DEBUG (Tornado logs nothing at INFO on listen)
        assert any("listening on http://127.0.0.1:" in r.getMessage() and r.levelno == logging.DEBUG
                   for r in records), [r.getMessage() for r in records]
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_spawn_callback_current_and_coroutine_callbacks():
    out = run_py('''
        import asyncio, threading
        from squall.ioloop import IOLoop
        loop = IOLoop.current()
        got = []
        async def co(tag):
            await asyncio.sleep(0.01)
            got.append((tag, IOLoop.current() is loop, threading.get_ident() == threading.main_thread().ident))
        loop.spawn_callback(co, "spawned")
        loop.add_callback(co, "added")
        def boom(): raise RuntimeError("a failing callback is logged, not fatal")
        loop.add_callback(boom)
        async def failing(): raise RuntimeError("a failing coroutine callback too")
        loop.spawn_callback(failing)
        threading.Thread(target=lambda: loop.add_callback(co, "from thread")).start()
        async def main():
            assert IOLoop.current() is loop
            fut = loop.run_in_executor(None, lambda: threading.get_ident())
            done = []
            loop.add_future(fut, lambda f: done.append(f.result()))
            await asyncio.sleep(0.2)
            return done
        done = loop.run_sync(main)
        assert len(done) == 1 and done[0] != threading.get_ident()
        assert sorted(got) == [("added", True, True), ("from thread", True, True), ("spawned", True, True)], got
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_timer_variants_and_stop_from_a_thread():
    out = run_py('''
        import datetime, threading, time
        from squall.ioloop import IOLoop, PeriodicCallback
        loop = IOLoop.current()
        fired = []
        loop.add_timeout(datetime.timedelta(milliseconds=30), fired.append, "timedelta")
        loop.add_timeout(loop.time() + 0.01, lambda tag, n=0: fired.append(f"{tag}{n}"), "deadline", n=1)
        h = loop.call_later(0.02, fired.append, "fired-then-removed")
        loop.call_later(0.05, loop.remove_timeout, h)  # removing a fired timeout is harmless
        failing = [0]
        def bad():
            failing[0] += 1
            raise ValueError("the periodic callback goes on after this")
        pc = PeriodicCallback(bad, datetime.timedelta(milliseconds=10))
        pc.start()
        loop.call_later(0.15, pc.stop)
        try:
            PeriodicCallback(bad, 0)
            raise SystemExit("callback_time 0 accepted")
        except ValueError:
            pass
        threading.Timer(0.3, loop.stop).start()
        t0 = time.monotonic()
        loop.start()
        took = time.monotonic() - t0
        assert 0.25 < took < 2, took
        assert fired == ["deadline1", "fired-then-removed", "timedelta"], fired
        assert 5 <= failing[0] <= 17 and not pc.is_running(), failing
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_run_sync_timeout_with_a_server_then_serving_again():
    out = run_py('''
        import asyncio, http.client, threading
        from squall import web, ioloop
        class H(web.RequestHandler):
            def get(self): self.write("up")
        loop = ioloop.IOLoop.current()
        holder = {}
        async def setup():
            holder["port"] = web.Application([(r"/", H)]).listen(0, "127.0.0.1").ports[0]
        loop.run_sync(setup)
        async def forever(): await asyncio.sleep(10)
        try:
            loop.run_sync(forever, timeout=0.2)
            raise SystemExit("no timeout")
        except asyncio.TimeoutError:
            pass
        def fetch(result):
            c = http.client.HTTPConnection("127.0.0.1", holder["port"], timeout=5)
            c.request("GET", "/")
            result.append(c.getresponse().read())
        result = []
        async def main():
            t = threading.Thread(target=fetch, args=(result,))
            t.start()
            while t.is_alive():
                await asyncio.sleep(0.01)
        loop.run_sync(main, timeout=10)
        assert result == [b"up"], result
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_raw_http_from_an_asyncio_task_in_the_same_loop():
    # the handler and the client share one thread: the handler awaits asyncio
    # too, and 100 requests on one keep-alive connection plus 20 in parallel
    out = run_py('''
        import asyncio
        from squall import web, ioloop
        class H(web.RequestHandler):
            async def get(self, n):
                await asyncio.sleep(0.001)
                self.write("n=" + n)

        async def one_connection(port, start, count):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            for i in range(start, start + count):
                w.write(f"GET /n/{i} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
                await w.drain()
                head = await r.readuntil(b"\\r\\n\\r\\n")
                length = int([l for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
                body = await r.readexactly(length)
                assert head.startswith(b"HTTP/1.1 200") and body == f"n={i}".encode(), (head, body)
            w.close()
            return count

        async def main():
            port = web.Application([(r"/n/(\\d+)", H)]).listen(0, "127.0.0.1").ports[0]
            assert await one_connection(port, 0, 100) == 100
            done = await asyncio.gather(*[one_connection(port, k * 1000, 10) for k in range(20)])
            return 100 + sum(done)
        print(ioloop.IOLoop.current().run_sync(main, timeout=30))
    ''')
    assert out.strip() == "300"


GC_STRESS = '''
    import asyncio, gc, http.client, threading
    from squall import web, websocket, ioloop
    from squall.ioloop import PeriodicCallback

    class H(web.RequestHandler):
        async def get(self, n):
            self.write({"n": int(n), "q": self.get_argument("q")})
    class E(websocket.WebSocketHandler):
        async def on_message(self, m):
            await asyncio.sleep(0)
            self.write_message(m[::-1])

    def http_load(port, k, errors):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(500):
            c.request("GET", f"/n/{k * 1000 + i}?q={i}")
            r = c.getresponse()
            body = r.read()
            if r.status != 200 or body != ('{"n": %d, "q": "%d"}' % (k * 1000 + i, i)).encode():
                errors.append((r.status, body))
        c.close()

    async def main():
        port = web.Application([(r"/n/(\\d+)", H), (r"/ws", E)]).listen(0, "127.0.0.1").ports[0]
        collections = [0]
        def collect():
            gc.collect()
            collections[0] += 1
        pc = PeriodicCallback(collect, 1)
        pc.start()
        errors = []
        threads = [threading.Thread(target=http_load, args=(port, k, errors)) for k in range(4)]
        for t in threads:
            t.start()
        from squall.websocket import websocket_connect
        conns = [await websocket_connect(f"ws://127.0.0.1:{port}/ws") for _ in range(4)]
        for i in range(50):
            for j, c in enumerate(conns):
                c.write_message(f"{i}-{j}")
            for j, c in enumerate(conns):
                assert await c.read_message() == f"{i}-{j}"[::-1]
        for c in conns:
            c.close()
        while any(t.is_alive() for t in threads):
            await asyncio.sleep(0.01)
        pc.stop()
        assert not errors, errors[:3]
        assert collections[0] > 20, collections[0]
        return "ok"

    print(ioloop.IOLoop.current().run_sync(main, timeout=60))
'''


def test_gc_every_millisecond_during_traffic_io_threads_1():
    out = run_py(GC_STRESS, timeout=90)
    assert out.strip().endswith("ok")


def test_gc_every_millisecond_during_traffic_io_threads_0():
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(GC_STRESS)], env=child_env(SQUALL_IO_THREADS="0"),
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_ioloop_in_a_background_thread():
    # the pattern of many test setups: serve from a thread, stop it from the main thread
    out = run_py('''
        import asyncio, http.client, threading
        from squall import web, ioloop
        class H(web.RequestHandler):
            def get(self): self.write(str(threading.get_ident() == threading.main_thread().ident))
        holder = {}
        ready = threading.Event()
        def serve():
            asyncio.set_event_loop(asyncio.new_event_loop())
            loop = ioloop.IOLoop.current()
            holder["loop"] = loop
            holder["port"] = web.Application([(r"/", H)]).listen(0, "127.0.0.1").ports[0]
            loop.add_callback(ready.set)
            loop.start()
            loop.close()
            holder["closed"] = True
        t = threading.Thread(target=serve)
        t.start()
        assert ready.wait(10)
        c = http.client.HTTPConnection("127.0.0.1", holder["port"], timeout=5)
        for _ in range(3):
            c.request("GET", "/")
            assert c.getresponse().read() == b"False"  # the handler ran on the server's thread
        holder["loop"].add_callback(holder["loop"].stop)
        t.join(10)
        assert not t.is_alive() and holder.get("closed")
        print("ok")
    ''')
    assert out.strip() == "ok"


def test_make_current_sets_and_close_restores_the_event_loop():
    out = run_py('''
        import asyncio, threading
        from squall.ioloop import IOLoop
        before = asyncio.new_event_loop()
        asyncio.set_event_loop(before)
        loop = IOLoop()  # make_current=True: the thread's loop now
        assert asyncio.get_event_loop() is loop.asyncio_loop
        assert IOLoop.current() is loop
        loop.close()
        assert asyncio.get_event_loop() is before, "close() gives the old event loop back"
        other = IOLoop(make_current=False)
        assert asyncio.get_event_loop() is before
        assert IOLoop.current(instance=False) is not other
        # a callback added from another thread after close() is dropped, not raised
        other.close()
        errors = []
        def add():
            try:
                for _ in range(100):
                    other.add_callback(lambda: None)
            except Exception as e:
                errors.append(e)
        t = threading.Thread(target=add); t.start(); t.join()
        assert not errors, errors
        before.close()
        print("ok")
    ''')
    assert out.strip() == "ok"
