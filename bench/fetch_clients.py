#!/usr/bin/env python3
"""Python HTTP clients for the fetch benchmark: N GETs of one URL, C in flight.

  python3 bench/fetch_clients.py --impl simple|curl|aiohttp -n N -c 64 [--size BYTES] URL

  simple   Tornado AsyncHTTPClient, the default SimpleAsyncHTTPClient
           (max_clients=C; one new connection per request: it keeps none alive)
  curl     Tornado CurlAsyncHTTPClient (pycurl; max_clients=C; libcurl keeps
           connections alive)
  aiohttp  aiohttp ClientSession with TCPConnector(limit=C)

C workers each loop over GETs until N have been started, so C requests are in
flight at all times. A response counts as ok when its status is 200 and, with
--size, its body has that many bytes. The last line on stdout is one JSON
object, the same shape sqfetch prints:
  {"summary": true, "count", "ok", "errors": {kind: n}, "elapsed_s", "req_per_s", "cpu_s"}
elapsed_s and cpu_s cover the requests only (not start-up and imports);
127.0.0.1 URLs only.
"""
import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter


def cpu_now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Tally:
    def __init__(self, n, size):
        self.left, self.size = n, size
        self.ok = 0
        self.errors = Counter()

    def take(self):
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def result(self, status, body_len):
        if status != 200:
            self.errors[f"status {status}"] += 1
        elif self.size is not None and body_len != self.size:
            self.errors["body length"] += 1
        else:
            self.ok += 1


async def run_tornado(args, tally, curl):
    from tornado.httpclient import AsyncHTTPClient

    if curl:
        AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=args.c)
    client = AsyncHTTPClient(max_clients=args.c)

    async def worker():
        while tally.take():
            try:
                r = await client.fetch(args.url, raise_error=False, request_timeout=30)
                if r.code == 599:  # tornado's code for "no HTTP response"
                    tally.errors[type(r.error).__name__ if r.error else "599"] += 1
                else:
                    tally.result(r.code, len(r.body or b""))
            except Exception as e:  # noqa: BLE001
                tally.errors[type(e).__name__] += 1

    await asyncio.gather(*(worker() for _ in range(args.c)))
    client.close()


async def run_aiohttp(args, tally):
    import aiohttp

    conn = aiohttp.TCPConnector(limit=args.c)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async def worker():
            while tally.take():
                try:
                    async with session.get(args.url) as r:
                        body = await r.read()
                        tally.result(r.status, len(body))
                except Exception as e:  # noqa: BLE001
                    tally.errors[type(e).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(args.c)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--impl", required=True, choices=("simple", "curl", "aiohttp"))
    p.add_argument("-n", type=int, required=True, help="requests in all")
    p.add_argument("-c", type=int, default=64, help="requests in flight")
    p.add_argument("--size", type=int, help="expected body length in bytes")
    p.add_argument("url")
    args = p.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        p.error("127.0.0.1 URLs only")
    # import the client's modules before the clock starts
    if args.impl == "aiohttp":
        import aiohttp  # noqa: F401
    else:
        import tornado.httpclient  # noqa: F401
        if args.impl == "curl":
            import tornado.curl_httpclient  # noqa: F401

    tally = Tally(args.n, args.size)
    c0, t0 = cpu_now(), time.perf_counter()
    if args.impl == "aiohttp":
        asyncio.run(run_aiohttp(args, tally))
    else:
        asyncio.run(run_tornado(args, tally, args.impl == "curl"))
    t1, c1 = time.perf_counter(), cpu_now()
    done = tally.ok + sum(tally.errors.values())
    print(json.dumps({"summary": True, "impl": args.impl, "count": done, "ok": tally.ok,
                      "errors": dict(tally.errors), "elapsed_s": round(t1 - t0, 4),
                      "req_per_s": round(tally.ok / (t1 - t0), 1) if t1 > t0 else None,
                      "cpu_s": round(c1 - c0, 4)}))
    return 0 if done == args.n and not tally.errors else 1


if __name__ == "__main__":
    sys.exit(main())
